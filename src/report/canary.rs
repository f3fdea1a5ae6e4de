//! A canary's record: the steps it was given, how far it got, how it ended, and each analysis
//! interval with the figures of both versions and the verdict. The agent measures and judges
//! ([`crate::agent::canary::analysis`]); the reply carries this record
//! ([`crate::agent::protocol::AgentReply::canary`]) into each host's report record, and every
//! sink renders it from here: [`CanaryRun::line`] and [`CanaryRun::rows`] (the job summary,
//! the PR comment, the CLI) and the JSON of `metrics.json`.
//!
//! The figures are the counts themselves (requests, failures, the sum of response times), so
//! the record stays exact and `Eq`; shares and averages are derived when rendered.

use crate::agent::canary::spec::CanaryStep;
use crate::report::units::thousands;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One host's canary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryRun {
    /// The steps as given (`--canary-steps`).
    pub steps: Vec<CanaryStep>,
    /// Steps started, counted from 1 (0: none yet).
    pub reached: usize,
    /// Since when the canary waits at a pause step for promote or abort (in progress only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_since: Option<DateTime<Utc>>,
    /// How it ended; `None` while it is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<CanaryEnd>,
    /// Every analysis interval, oldest first.
    #[serde(default)]
    pub intervals: Vec<Interval>,
    /// Older intervals left out of `intervals` to keep the reply small.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub intervals_left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How a canary ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum CanaryEnd {
    /// It reached 100 % and the deploy went on as a blue-green one does.
    Promoted {
        /// Who promoted it at a pause (`bluegreen promote`), when someone did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The new version's weight went to 0 and the host is as before the deploy.
    Aborted {
        reason: String,
        /// Who aborted it (`bluegreen abort`), when someone did rather than the analysis.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
}

/// One analysis interval: the new version at one weight, beside the old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    /// The step it belongs to, counted from 1 in [`CanaryRun::steps`].
    pub step: usize,
    /// The new version's weight during it, in percent.
    pub weight: u8,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub new: ServerFigures,
    pub old: ServerFigures,
    pub verdict: Verdict,
    /// What the verdict could not take into account, and why (a baseline borrowed from an
    /// earlier interval, response times not compared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One version's counts over an interval: deltas of the proxy's counters for its server, and
/// the response times of its requests in the proxy's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFigures {
    /// Requests the proxy sent it (`stot`; a request redispatched away counts too).
    pub requests: u64,
    /// Answers with a 5xx status (`hrsp_5xx`).
    pub http_5xx: u64,
    /// Requests it failed without a status: response errors (`eresp`), connections that
    /// failed (`econ`) and requests the proxy moved to the other server after a failed
    /// connection (`wredis`).
    pub errors: u64,
    /// Requests with a response time in the proxy's log.
    pub timed: u64,
    /// Their response times added up, in milliseconds.
    pub response_ms_sum: u64,
}

impl ServerFigures {
    /// Failed requests: 5xx answers and errors, at most the requests (a response error may
    /// also have been answered 5xx by the proxy).
    pub fn failed(&self) -> u64 {
        (self.http_5xx + self.errors).min(self.requests)
    }

    /// The share of failed requests, 0 to 1; `None` without requests.
    pub fn failed_share(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.failed() as f64 / self.requests as f64)
    }

    /// The average response time in milliseconds; `None` without a timed request.
    pub fn avg_ms(&self) -> Option<f64> {
        (self.timed > 0).then(|| self.response_ms_sum as f64 / self.timed as f64)
    }
}

/// An interval's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// Each reason names the figure, the limit and how the limit was reached.
    Fail {
        reasons: Vec<String>,
    },
    /// Too little to judge (too few requests, counters reset).
    Inconclusive {
        why: String,
    },
}

impl Verdict {
    /// `pass`, `fail: ...`, `inconclusive: ...`.
    pub fn text(&self) -> String {
        match self {
            Verdict::Pass => "pass".into(),
            Verdict::Fail { reasons } => format!("fail: {}", reasons.join("; ")),
            Verdict::Inconclusive { why } => format!("inconclusive: {why}"),
        }
    }
}

/// `20.0 %`, `0.35 %`, `-` without requests.
pub fn share_text(share: Option<f64>) -> String {
    match share {
        None => "-".into(),
        Some(s) if s > 0.0 && s < 0.01 => format!("{:.2} %", s * 100.0),
        Some(s) => format!("{:.1} %", s * 100.0),
    }
}

/// `12.3 ms`, `-` without a timed request.
pub fn ms_text(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".into(), |ms| format!("{ms:.1} ms"))
}

impl Interval {
    /// The header of [`Interval::row`].
    pub const HEADER: [&'static str; 6] = [
        "Step",
        "Weight",
        "Requests new / old",
        "Failed share new / old",
        "Avg response new / old",
        "Verdict",
    ];

    /// One table row: step, weight, requests, failed share and average response time of the
    /// new version against the old one, and the verdict.
    pub fn row(&self) -> Vec<String> {
        vec![
            self.step.to_string(),
            format!("{} %", self.weight),
            format!(
                "{} / {}",
                thousands(self.new.requests),
                thousands(self.old.requests)
            ),
            format!(
                "{} / {}",
                share_text(self.new.failed_share()),
                share_text(self.old.failed_share())
            ),
            format!(
                "{} / {}",
                ms_text(self.new.avg_ms()),
                ms_text(self.old.avg_ms())
            ),
            self.verdict_cell(),
        ]
    }

    /// The verdict, then what it could not take into account.
    fn verdict_cell(&self) -> String {
        let mut cell = self.verdict.text();
        for note in &self.notes {
            cell.push_str(&format!(" (note: {note})"));
        }
        cell
    }
}

impl CanaryRun {
    /// The steps' weights, `5 %, 25 %, pause, 100 %`.
    pub fn steps_line(&self) -> String {
        crate::agent::canary::spec::steps_text(&self.steps)
    }

    /// The step reached, as `step 2 of 4 (25 %)`.
    pub fn reached_text(&self) -> String {
        let at = self
            .reached
            .checked_sub(1)
            .and_then(|i| self.steps.get(i))
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        format!("step {} of {}{at}", self.reached, self.steps.len())
    }

    /// One sentence: how the canary ended (or where it is), over how many intervals.
    pub fn line(&self) -> String {
        let intervals = match self.intervals.len() + self.intervals_left_out {
            1 => "1 interval".to_string(),
            n => format!("{n} intervals"),
        };
        let by =
            |who: &Option<String>| who.as_ref().map(|w| format!(" by {w}")).unwrap_or_default();
        match &self.end {
            Some(CanaryEnd::Promoted { by: who }) => format!(
                "promoted{} after {}, {intervals}; steps {}",
                by(who),
                self.reached_text(),
                self.steps_line()
            ),
            Some(CanaryEnd::Aborted { reason, by: who }) => format!(
                "aborted{} at {}, {intervals}: {reason}",
                by(who),
                self.reached_text()
            ),
            None if self.paused_since.is_some() => format!(
                "waiting for promote or abort at {}, {intervals}",
                self.reached_text()
            ),
            None => format!("in progress at {}, {intervals}", self.reached_text()),
        }
    }

    /// A row per interval (see [`Interval::HEADER`]).
    pub fn rows(&self) -> impl Iterator<Item = Vec<String>> + '_ {
        self.intervals.iter().map(Interval::row)
    }

    /// Keeps the newest `max` intervals and counts the older ones in `intervals_left_out`.
    pub fn keep_newest_intervals(&mut self, max: usize) {
        let excess = self.intervals.len().saturating_sub(max);
        self.intervals.drain(..excess);
        self.intervals_left_out += excess;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use CanaryStep::{Pause, Weight};

    pub(crate) fn figures(requests: u64, failed: u64, avg_ms: u64) -> ServerFigures {
        ServerFigures {
            requests,
            http_5xx: failed,
            errors: 0,
            timed: requests,
            response_ms_sum: avg_ms * requests,
        }
    }

    fn interval(step: usize, weight: u8, verdict: Verdict) -> Interval {
        let from: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        Interval {
            step,
            weight,
            from,
            to: from + chrono::Duration::seconds(30),
            new: figures(200, 40, 36),
            old: figures(3_800, 4, 12),
            verdict,
            notes: vec![],
        }
    }

    #[test]
    fn a_row_sets_the_new_version_beside_the_old() {
        let i = interval(
            2,
            25,
            Verdict::Fail {
                reasons: vec!["failed share 20.0 % above 1.0 %".into()],
            },
        );
        assert_eq!(
            i.row(),
            [
                "2",
                "25 %",
                "200 / 3,800",
                "20.0 % / 0.11 %",
                "36.0 ms / 12.0 ms",
                "fail: failed share 20.0 % above 1.0 %"
            ]
        );
        let empty = ServerFigures::default();
        assert_eq!((empty.failed_share(), empty.avg_ms()), (None, None));
        let double_counted = ServerFigures {
            requests: 3,
            http_5xx: 3,
            errors: 2,
            ..ServerFigures::default()
        };
        assert_eq!(double_counted.failed(), 3, "never more failed than sent");
    }

    #[test]
    fn the_line_says_how_it_ended() {
        let mut run = CanaryRun {
            steps: vec![Weight(5), Weight(25), Pause, Weight(100)],
            reached: 2,
            paused_since: None,
            end: Some(CanaryEnd::Aborted {
                reason: "1 failed interval (limit 1)".into(),
                by: None,
            }),
            intervals: vec![
                interval(1, 5, Verdict::Pass),
                interval(2, 25, Verdict::Pass),
            ],
            intervals_left_out: 0,
        };
        assert_eq!(
            run.line(),
            "aborted at step 2 of 4 (25 %), 2 intervals: 1 failed interval (limit 1)"
        );
        run.end = Some(CanaryEnd::Promoted {
            by: Some("octocat".into()),
        });
        run.reached = 4;
        assert_eq!(
            run.line(),
            "promoted by octocat after step 4 of 4 (100 %), 2 intervals; steps 5 %, 25 %, pause, 100 %"
        );
        run.end = None;
        run.reached = 3;
        run.paused_since = Some(run.intervals[0].to);
        assert_eq!(
            run.line(),
            "waiting for promote or abort at step 3 of 4 (pause), 2 intervals"
        );
        run.keep_newest_intervals(1);
        assert_eq!((run.intervals.len(), run.intervals_left_out), (1, 1));
        assert_eq!(run.intervals[0].step, 2, "the newest kept");
        assert!(
            run.line().ends_with(", 2 intervals"),
            "the left out still count"
        );
    }

    #[test]
    fn the_record_reads_back_as_written() {
        let run = CanaryRun {
            steps: vec![Weight(50), Weight(100)],
            reached: 1,
            paused_since: None,
            end: Some(CanaryEnd::Aborted {
                reason: "aborted by a person".into(),
                by: Some("octocat".into()),
            }),
            intervals: vec![interval(
                1,
                50,
                Verdict::Inconclusive {
                    why: "12 requests".into(),
                },
            )],
            intervals_left_out: 0,
        };
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["end"]["verdict"], "aborted");
        assert_eq!(json["intervals"][0]["verdict"]["kind"], "inconclusive");
        assert_eq!(json["steps"], serde_json::json!([50, 100]));
        assert_eq!(serde_json::from_value::<CanaryRun>(json).unwrap(), run);
    }
}
