//! The canary's analysis, pure: from two readings of the proxy's `show stat` and the response
//! times of the proxy's log, one interval's verdict ([`analyse`]); from the verdicts, what the
//! canary does next ([`Judge`]).
//!
//! The rule (docs/deploy.md, "Canary"): an interval **fails** when the new version's share of
//! failed requests is above max(`--canary-max-error-rate`, 2 x the old version's share in the
//! same interval), or its average response time is above `--canary-max-latency-ratio` x the
//! old version's plus 5 ms, or its container restarted or failed its health check. It is
//! **inconclusive** when the new version got fewer than `--canary-min-requests` requests, or the
//! counters cannot be compared (the proxy restarted and its counters went back, a server's row
//! is missing). Otherwise it **passes**.
//!
//! What counts as failed: 5xx answers, response errors (`eresp`), failed connections (`econ`)
//! and requests the proxy moved to the other server after a connection to the new one failed
//! (`wredis`): a version that refuses connections is broken even when the proxy's retry hides
//! it from users. The old version's requests are counted the same way.
//!
//! The old version is the baseline only when it got at least `--canary-min-requests` requests
//! itself (a share of 1 failure in 3 requests says nothing). Otherwise the loop may pass the
//! last interval whose old version did ([`last_baseline`]): at the 100 % step the old version
//! gets nothing. Without any baseline the share is held to `--canary-max-error-rate` alone and
//! the response times are not compared; the interval's notes say so.

use super::spec::{percent_text, ratio_text, CanarySpec, MAX_INCONCLUSIVE_HOLDS};
use crate::agent::protocol::Color;
use crate::agent::proxy::BACKEND;
use crate::agent::request_log::LoggedRequest;
use crate::agent::stats::server_field;
use crate::report::canary::{share_text, Interval, ServerFigures, Verdict};
use crate::report::units::thousands;
use chrono::{DateTime, Utc};

/// Response time slack above the ratio, so a fast baseline (1 ms against 2 ms) does not fail
/// on noise.
pub const LATENCY_SLACK_MS: f64 = 5.0;

/// One server's counters at one reading: totals since the proxy started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub stot: u64,
    pub hrsp_5xx: u64,
    pub eresp: u64,
    pub econ: u64,
    pub wredis: u64,
}

impl Counters {
    /// The row of `server` in the backend `app` of a `show stat` answer. `stot` and
    /// `hrsp_5xx` are required; the error counters of a server that never had one may be
    /// empty cells, read as 0.
    pub fn read(csv: &str, server: &str) -> Result<Counters, String> {
        let field = |name: &str| server_field(csv, BACKEND, server, name);
        let required = |name: &str| {
            field(name)
                .ok_or_else(|| format!("the proxy's stats have no {name} for {BACKEND}/{server}"))
        };
        Ok(Counters {
            stot: required("stot")?,
            hrsp_5xx: required("hrsp_5xx")?,
            eresp: field("eresp").unwrap_or(0),
            econ: field("econ").unwrap_or(0),
            wredis: field("wredis").unwrap_or(0),
        })
    }

    /// The counts from `before` to `self`, or `None` when a counter went down (the proxy
    /// restarted in between, and what happened before its restart is lost).
    pub fn since(&self, before: &Counters) -> Option<ServerFigures> {
        let errors = self.eresp.checked_sub(before.eresp)?
            + self.econ.checked_sub(before.econ)?
            + self.wredis.checked_sub(before.wredis)?;
        Some(ServerFigures {
            requests: self.stot.checked_sub(before.stot)?,
            http_5xx: self.hrsp_5xx.checked_sub(before.hrsp_5xx)?,
            errors,
            timed: 0,
            response_ms_sum: 0,
        })
    }
}

/// One server's response times over an interval: how many, and their sum in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseTimes {
    pub count: u64,
    pub sum_ms: u64,
}

impl ResponseTimes {
    /// Adds one response time.
    pub fn add(&mut self, ms: u64) {
        self.count += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
    }

    /// The response times of `server`'s requests that ended in `[from, to)`, from the proxy's
    /// log lines ([`crate::agent::request_log::parse`]); requests that never completed have
    /// no response time and are left out (the counters count them as failed).
    pub fn of<'a>(
        requests: impl IntoIterator<Item = &'a LoggedRequest>,
        server: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ResponseTimes {
        let window = from.timestamp_millis()..to.timestamp_millis();
        let mut times = ResponseTimes::default();
        for r in requests {
            if r.server == server && window.contains(&r.end_ms) {
                if let Some(ms) = r.active_ms {
                    times.add(ms);
                }
            }
        }
        times
    }
}

/// What one interval is judged from.
#[derive(Debug, Clone)]
pub struct IntervalInput<'a> {
    /// The step it belongs to, counted from 1, and the new version's weight then.
    pub step: usize,
    pub weight: u8,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `show stat` at the start and at the end of the interval.
    pub before: &'a str,
    pub after: &'a str,
    /// The new version's color; the other one is the old version.
    pub new: Color,
    pub new_times: ResponseTimes,
    pub old_times: ResponseTimes,
    /// What went wrong with the new version's container during the interval (it restarted,
    /// it failed its health check); `None` when nothing did.
    pub new_container_problem: Option<String>,
    /// The old version's figures of an earlier interval, for when it got too few requests in
    /// this one ([`last_baseline`]).
    pub earlier_baseline: Option<ServerFigures>,
}

/// The interval's record and verdict under `spec`'s rule (see the module docs).
pub fn analyse(input: &IntervalInput<'_>, spec: &CanarySpec) -> Interval {
    let mut interval = Interval {
        step: input.step,
        weight: input.weight,
        from: input.from,
        to: input.to,
        new: ServerFigures::default(),
        old: ServerFigures::default(),
        verdict: Verdict::Pass,
        notes: Vec::new(),
    };
    let (new, old) = match deltas(input) {
        Ok(figures) => figures,
        Err(why) => {
            interval.verdict = match &input.new_container_problem {
                Some(problem) => Verdict::Fail {
                    reasons: vec![problem.clone()],
                },
                None => Verdict::Inconclusive { why },
            };
            return interval;
        }
    };
    interval.new = new;
    interval.old = old;
    let baseline = choose_baseline(&old, input.earlier_baseline, spec, &mut interval.notes);
    let mut reasons: Vec<String> = input.new_container_problem.iter().cloned().collect();
    if reasons.is_empty() && new.requests < spec.min_requests {
        interval.verdict = Verdict::Inconclusive {
            why: format!(
                "the new version got {} requests, fewer than {} (--canary-min-requests)",
                thousands(new.requests),
                thousands(spec.min_requests)
            ),
        };
        return interval;
    }
    reasons.extend(error_rate_reason(&new, baseline.as_ref(), spec));
    reasons.extend(latency_reason(
        &new,
        baseline.as_ref(),
        spec,
        &mut interval.notes,
    ));
    if !reasons.is_empty() {
        interval.verdict = Verdict::Fail { reasons };
    }
    interval
}

/// Both servers' counts over the interval, with their response times.
fn deltas(input: &IntervalInput<'_>) -> Result<(ServerFigures, ServerFigures), String> {
    let old_color = input.new.other();
    let one = |color: Color, times: ResponseTimes| -> Result<ServerFigures, String> {
        let before = Counters::read(input.before, color.as_str())?;
        let after = Counters::read(input.after, color.as_str())?;
        let mut figures = after.since(&before).ok_or_else(|| {
            format!(
                "the proxy's counters for {color} went back (the proxy restarted during the \
                 interval): its figures are unknown"
            )
        })?;
        figures.timed = times.count;
        figures.response_ms_sum = times.sum_ms;
        Ok(figures)
    };
    Ok((
        one(input.new, input.new_times)?,
        one(old_color, input.old_times)?,
    ))
}

/// The old version's figures to compare with: this interval's when it got enough requests,
/// else the earlier ones given, else none (a note says which and why).
fn choose_baseline(
    old: &ServerFigures,
    earlier: Option<ServerFigures>,
    spec: &CanarySpec,
    notes: &mut Vec<String>,
) -> Option<ServerFigures> {
    if old.requests >= spec.min_requests {
        return Some(*old);
    }
    let few = format!(
        "the old version got {} requests, fewer than {}",
        thousands(old.requests),
        thousands(spec.min_requests)
    );
    match earlier.filter(|e| e.requests >= spec.min_requests) {
        Some(e) => {
            notes.push(format!(
                "{few}: compared with its figures of an earlier interval ({} requests)",
                thousands(e.requests)
            ));
            Some(e)
        }
        None => {
            notes.push(format!(
                "{few}: the failed share is held to {} alone and response times are not compared",
                percent_text(spec.max_error_rate_bp)
            ));
            None
        }
    }
}

/// Why the new version's failed share fails the interval, if it does.
fn error_rate_reason(
    new: &ServerFigures,
    baseline: Option<&ServerFigures>,
    spec: &CanarySpec,
) -> Option<String> {
    let share = new.failed_share()?;
    let max = f64::from(spec.max_error_rate_bp) / 10_000.0;
    let old_share = baseline.and_then(ServerFigures::failed_share);
    let doubled = old_share.map_or(0.0, |s| 2.0 * s);
    let limit = max.max(doubled);
    if share <= limit {
        return None;
    }
    let how = match old_share {
        Some(old) if doubled > max => format!("twice the old version's {}", share_text(Some(old))),
        Some(old) => format!(
            "--canary-max-error-rate; the old version's {} doubled is lower",
            share_text(Some(old))
        ),
        None => "--canary-max-error-rate".to_string(),
    };
    Some(format!(
        "failed share {} ({} of {}: 5xx {}, errors {}) above {} ({how})",
        share_text(Some(share)),
        thousands(new.failed()),
        thousands(new.requests),
        thousands(new.http_5xx),
        thousands(new.errors),
        share_text(Some(limit)),
    ))
}

/// Why the new version's average response time fails the interval, if it does; a note when
/// it cannot be compared.
fn latency_reason(
    new: &ServerFigures,
    baseline: Option<&ServerFigures>,
    spec: &CanarySpec,
    notes: &mut Vec<String>,
) -> Option<String> {
    let Some(new_avg) = new.avg_ms() else {
        notes.push("no response time of the new version in the proxy's log: not compared".into());
        return None;
    };
    let old_avg = baseline.and_then(ServerFigures::avg_ms)?;
    let ratio = f64::from(spec.max_latency_ratio_milli) / 1_000.0;
    let limit = ratio * old_avg + LATENCY_SLACK_MS;
    (new_avg > limit).then(|| {
        format!(
            "average response time {new_avg:.1} ms above {} x the old version's {old_avg:.1} ms + {LATENCY_SLACK_MS} ms = {limit:.1} ms",
            ratio_text(spec.max_latency_ratio_milli)
        )
    })
}

/// The old version's figures of the newest interval in which it got at least
/// `min_requests`: the baseline of an interval where it got fewer (the 100 % step).
pub fn last_baseline(intervals: &[Interval], min_requests: u64) -> Option<ServerFigures> {
    intervals
        .iter()
        .rev()
        .map(|i| i.old)
        .find(|old| old.requests >= min_requests)
}

/// What the canary does after an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Stay at this step for another interval.
    Hold,
    /// Go to the next step (after the last one: promote).
    Advance,
    /// Put the new version's weight to 0 at once.
    Abort { why: String },
}

/// Turns interval verdicts into decisions: a passing interval advances; a failed one holds
/// the step until `--canary-failure-limit` failed intervals over the whole canary abort it;
/// an inconclusive one holds the step, up to [`MAX_INCONCLUSIVE_HOLDS`] in one step, and the
/// next inconclusive interval of that step aborts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judge {
    failure_limit: u32,
    failures: u32,
    inconclusive_here: u32,
}

impl Judge {
    pub fn new(spec: &CanarySpec) -> Judge {
        Judge {
            failure_limit: spec.failure_limit.max(1),
            failures: 0,
            inconclusive_here: 0,
        }
    }

    /// Failed intervals so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The decision after one more interval.
    pub fn judge(&mut self, verdict: &Verdict) -> Decision {
        match verdict {
            Verdict::Pass => {
                self.inconclusive_here = 0;
                Decision::Advance
            }
            Verdict::Fail { reasons } => {
                self.failures += 1;
                if self.failures < self.failure_limit {
                    return Decision::Hold;
                }
                let intervals = match self.failures {
                    1 => "1 failed interval".to_string(),
                    n => format!("{n} failed intervals"),
                };
                Decision::Abort {
                    why: format!(
                        "{intervals} (--canary-failure-limit {}): {}",
                        self.failure_limit,
                        reasons.join("; ")
                    ),
                }
            }
            Verdict::Inconclusive { why } => {
                self.inconclusive_here += 1;
                if self.inconclusive_here <= MAX_INCONCLUSIVE_HOLDS {
                    return Decision::Hold;
                }
                Decision::Abort {
                    why: format!(
                        "{} inconclusive intervals at this step: {why}",
                        self.inconclusive_here
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::canary::spec::RawCanary;

    fn spec() -> CanarySpec {
        RawCanary {
            strategy: Some("canary"),
            ..RawCanary::default()
        }
        .parse()
        .unwrap()
        .unwrap()
    }

    /// A `show stat` answer with HAProxy's columns in its own order (extra ones between) and
    /// the two servers' counters: `(stot, hrsp_5xx, eresp, econ, wredis)`.
    fn stat(blue: (u64, u64, u64, u64, u64), green: (u64, u64, u64, u64, u64)) -> String {
        let row = |name: &str, c: (u64, u64, u64, u64, u64)| {
            format!(
                "app,{name},0,0,1,4,,{},0,0,,0,{},{},{},0,UP,100,1,0,0,0,0,0,0,{},0\n",
                c.0, c.3, c.2, c.4, c.1
            )
        };
        format!(
            "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,econ,eresp,wredis,wretr,status,weight,act,bck,chkfail,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other\n\
             public,FRONTEND,0,0,3,9,,500,0,0,0,0,,,,,OPEN,,,,,,,,,,\n{}{}\
             app,BACKEND,0,0,3,9,,500,0,0,0,0,0,0,0,0,UP,200,2,0,,0,0,0,0,0,0\n",
            row("blue", blue),
            row("green", green)
        )
    }

    fn times(count: u64, avg_ms: u64) -> ResponseTimes {
        ResponseTimes {
            count,
            sum_ms: count * avg_ms,
        }
    }

    /// An interval at 25 %: green new, blue old; `after` the counters at its end, from 0.
    fn input<'a>(before: &'a str, after: &'a str) -> IntervalInput<'a> {
        let from: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        IntervalInput {
            step: 2,
            weight: 25,
            from,
            to: from + chrono::Duration::seconds(30),
            before,
            after,
            new: Color::Green,
            new_times: times(200, 12),
            old_times: times(600, 11),
            new_container_problem: None,
            earlier_baseline: None,
        }
    }

    fn zero() -> String {
        stat((0, 0, 0, 0, 0), (0, 0, 0, 0, 0))
    }

    fn reasons(i: &Interval) -> Vec<String> {
        match &i.verdict {
            Verdict::Fail { reasons } => reasons.clone(),
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn counters_are_read_by_column_name_and_compared() {
        let csv = stat((600, 1, 0, 0, 0), (200, 40, 2, 1, 3));
        let green = Counters::read(&csv, "green").unwrap();
        assert_eq!(
            green,
            Counters {
                stot: 200,
                hrsp_5xx: 40,
                eresp: 2,
                econ: 1,
                wredis: 3
            }
        );
        let before = Counters {
            stot: 50,
            hrsp_5xx: 10,
            eresp: 0,
            econ: 0,
            wredis: 0,
        };
        let d = green.since(&before).unwrap();
        assert_eq!((d.requests, d.http_5xx, d.errors), (150, 30, 6));
        assert_eq!(
            before.since(&green),
            None,
            "a counter that went down: a restart"
        );
        assert!(Counters::read(&csv, "red").unwrap_err().contains("app/red"));
    }

    #[test]
    fn a_healthy_new_version_passes() {
        let (z, after) = (zero(), stat((600, 1, 0, 0, 0), (200, 0, 0, 0, 0)));
        let i = analyse(&input(&z, &after), &spec());
        assert_eq!(i.verdict, Verdict::Pass, "{i:?}");
        assert_eq!((i.new.requests, i.old.requests), (200, 600));
        assert_eq!((i.new.timed, i.new.response_ms_sum), (200, 2_400));
        assert!(i.notes.is_empty(), "{:?}", i.notes);
    }

    #[test]
    fn a_new_version_answering_one_in_five_with_5xx_fails() {
        let (z, after) = (zero(), stat((600, 1, 0, 0, 0), (200, 40, 0, 0, 0)));
        let i = analyse(&input(&z, &after), &spec());
        assert_eq!(
            reasons(&i),
            [
                "failed share 20.0 % (40 of 200: 5xx 40, errors 0) above 1.0 % \
              (--canary-max-error-rate; the old version's 0.17 % doubled is lower)"
            ]
        );
    }

    #[test]
    fn the_limit_is_twice_the_old_versions_share_when_that_is_higher() {
        // The old version fails 3 % of its requests (a bad downstream): the new one at 5 %
        // is within twice that, at 7 % it is not.
        let z = zero();
        let ok = stat((600, 18, 0, 0, 0), (200, 10, 0, 0, 0));
        assert_eq!(analyse(&input(&z, &ok), &spec()).verdict, Verdict::Pass);
        let bad = stat((600, 18, 0, 0, 0), (200, 14, 0, 0, 0));
        let r = reasons(&analyse(&input(&z, &bad), &spec()));
        assert!(
            r[0].contains("above 6.0 % (twice the old version's 3.0 %)"),
            "{r:?}"
        );
    }

    #[test]
    fn response_and_connection_errors_and_redispatches_count_as_failed() {
        let (z, after) = (zero(), stat((600, 0, 0, 0, 0), (200, 0, 2, 1, 3)));
        let i = analyse(&input(&z, &after), &spec());
        assert_eq!(i.new.failed(), 6);
        assert!(reasons(&i)[0].starts_with("failed share 3.0 % (6 of 200: 5xx 0, errors 6)"));
    }

    #[test]
    fn a_version_three_times_slower_fails_and_the_slack_spares_a_fast_baseline() {
        let (z, after) = (zero(), stat((600, 0, 0, 0, 0), (200, 0, 0, 0, 0)));
        let mut slow = input(&z, &after);
        slow.old_times = times(600, 20);
        slow.new_times = times(200, 60);
        assert_eq!(
            reasons(&analyse(&slow, &spec())),
            ["average response time 60.0 ms above 1.5 x the old version's 20.0 ms + 5 ms = 35.0 ms"]
        );
        // 1 ms against 3 ms is three times slower and well within 1.5 x 1 + 5 ms.
        let mut fast = input(&z, &after);
        fast.old_times = times(600, 1);
        fast.new_times = times(200, 3);
        assert_eq!(analyse(&fast, &spec()).verdict, Verdict::Pass);
        // Exactly at the limit passes.
        fast.old_times = times(600, 10);
        fast.new_times = ResponseTimes {
            count: 200,
            sum_ms: 200 * 20,
        };
        assert_eq!(analyse(&fast, &spec()).verdict, Verdict::Pass);
    }

    #[test]
    fn too_little_traffic_is_inconclusive_unless_the_container_failed() {
        let (z, after) = (zero(), stat((600, 0, 0, 0, 0), (49, 49, 0, 0, 0)));
        let i = analyse(&input(&z, &after), &spec());
        assert_eq!(
            i.verdict,
            Verdict::Inconclusive {
                why: "the new version got 49 requests, fewer than 50 (--canary-min-requests)"
                    .into()
            }
        );
        let mut restarted = input(&z, &after);
        restarted.new_container_problem = Some("the new container restarted".into());
        assert_eq!(
            reasons(&analyse(&restarted, &spec()))[0],
            "the new container restarted"
        );
    }

    #[test]
    fn a_container_problem_fails_even_a_perfect_interval() {
        let (z, after) = (zero(), stat((600, 0, 0, 0, 0), (200, 0, 0, 0, 0)));
        let mut i = input(&z, &after);
        i.new_container_problem = Some("the new container failed its health check".into());
        assert_eq!(
            reasons(&analyse(&i, &spec())),
            ["the new container failed its health check"]
        );
    }

    #[test]
    fn counters_that_went_back_make_the_interval_inconclusive() {
        let before = stat((5_000, 0, 0, 0, 0), (1_000, 0, 0, 0, 0));
        let after = stat((40, 0, 0, 0, 0), (12, 0, 0, 0, 0));
        let i = analyse(&input(&before, &after), &spec());
        match &i.verdict {
            Verdict::Inconclusive { why } => {
                assert!(
                    why.contains("green went back (the proxy restarted"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(i.new, ServerFigures::default(), "no figures invented");
        let mut problem = input(&before, &after);
        problem.new_container_problem = Some("the new container restarted".into());
        assert!(matches!(
            analyse(&problem, &spec()).verdict,
            Verdict::Fail { .. }
        ));
        // A server's row missing (another config loaded) is inconclusive too.
        let no_row = "# pxname,svname,stot,hrsp_5xx\napp,blue,1,0\n";
        let i = analyse(&input(no_row, no_row), &spec());
        assert!(matches!(&i.verdict, Verdict::Inconclusive { why } if why.contains("app/green")));
    }

    #[test]
    fn an_old_version_with_no_requests_leaves_the_absolute_limit_alone() {
        // The 100 % step: the old version gets nothing; 0.5 % failed is within 1 %, and the
        // response times cannot be compared.
        let (z, after) = (zero(), stat((0, 0, 0, 0, 0), (1_000, 5, 0, 0, 0)));
        let mut i = input(&z, &after);
        i.weight = 100;
        i.old_times = ResponseTimes::default();
        i.new_times = times(1_000, 500);
        let done = analyse(&i, &spec());
        assert_eq!(done.verdict, Verdict::Pass);
        assert_eq!(done.old.failed_share(), None);
        assert!(
            done.notes[0].contains("old version got 0 requests, fewer than 50: the failed share is held to 1% alone and response times are not compared"),
            "{:?}",
            done.notes
        );
        // 2 % fails on the absolute limit.
        let after = stat((0, 0, 0, 0, 0), (1_000, 20, 0, 0, 0));
        let r = reasons(&analyse(&input(&z, &after), &spec()));
        assert!(
            r[0].ends_with("above 1.0 % (--canary-max-error-rate)"),
            "{r:?}"
        );
    }

    #[test]
    fn an_earlier_baseline_stands_in_for_an_old_version_without_traffic() {
        let (z, after) = (zero(), stat((3, 0, 0, 0, 0), (1_000, 0, 0, 0, 0)));
        let mut i = input(&z, &after);
        i.new_times = times(1_000, 40);
        i.old_times = times(3, 12);
        // Without it, the response times are not compared: a pass.
        assert_eq!(analyse(&i, &spec()).verdict, Verdict::Pass);
        let earlier = [analyse(
            &input(&zero(), &stat((600, 0, 0, 0, 0), (200, 0, 0, 0, 0))),
            &spec(),
        )];
        i.earlier_baseline = last_baseline(&earlier, 50);
        let done = analyse(&i, &spec());
        assert!(
            reasons(&done)[0].contains("the old version's 11.0 ms"),
            "{done:?}"
        );
        assert!(done.notes[0]
            .contains("compared with its figures of an earlier interval (600 requests)"));
        assert_eq!(last_baseline(&earlier, 601), None);
    }

    #[test]
    fn no_logged_response_time_is_noted_not_failed() {
        let (z, after) = (zero(), stat((600, 0, 0, 0, 0), (200, 0, 0, 0, 0)));
        let mut i = input(&z, &after);
        i.new_times = ResponseTimes::default();
        let done = analyse(&i, &spec());
        assert_eq!(done.verdict, Verdict::Pass);
        assert!(done.notes[0].starts_with("no response time of the new version"));
    }

    #[test]
    fn response_times_are_the_servers_requests_of_the_window() {
        let from: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        let t0 = from.timestamp_millis();
        let lines = [
            format!("bgreq {} 200 10 green --", t0 - 1),
            format!("bgreq {t0} 200 10 green --"),
            format!("bgreq {} 200 30 green --", t0 + 500),
            format!("bgreq {} 200 99 blue --", t0 + 500),
            format!("bgreq {} -1 -1 green SD", t0 + 600),
            format!("bgreq {} 200 50 green --", t0 + 1_000),
            "[WARNING] (1) : Server app/green is DOWN".to_string(),
        ];
        let logged: Vec<_> = lines
            .iter()
            .filter_map(|l| crate::agent::request_log::parse(l))
            .collect();
        let to = from + chrono::Duration::seconds(1);
        assert_eq!(
            ResponseTimes::of(&logged, "green", from, to),
            ResponseTimes {
                count: 2,
                sum_ms: 40
            }
        );
        assert_eq!(ResponseTimes::of(&logged, "blue", from, to).count, 1);
    }

    fn fail() -> Verdict {
        Verdict::Fail {
            reasons: vec!["failed share 20.0 %".into()],
        }
    }

    fn inconclusive() -> Verdict {
        Verdict::Inconclusive {
            why: "12 requests".into(),
        }
    }

    #[test]
    fn the_judge_advances_on_a_pass_and_aborts_at_the_failure_limit() {
        let mut spec = spec();
        let mut judge = Judge::new(&spec);
        assert_eq!(judge.judge(&Verdict::Pass), Decision::Advance);
        assert_eq!(
            judge.judge(&fail()),
            Decision::Abort {
                why: "1 failed interval (--canary-failure-limit 1): failed share 20.0 %".into()
            }
        );
        // With a limit of 3 the failures add up over the whole canary, across steps.
        spec.failure_limit = 3;
        let mut judge = Judge::new(&spec);
        assert_eq!(judge.judge(&fail()), Decision::Hold);
        assert_eq!(judge.judge(&Verdict::Pass), Decision::Advance);
        assert_eq!(judge.judge(&fail()), Decision::Hold);
        assert!(
            matches!(judge.judge(&fail()), Decision::Abort { why } if why.starts_with("3 failed intervals (--canary-failure-limit 3)"))
        );
        assert_eq!(judge.failures(), 3);
    }

    #[test]
    fn inconclusive_intervals_hold_a_step_three_times_then_abort() {
        let mut judge = Judge::new(&spec());
        for _ in 0..MAX_INCONCLUSIVE_HOLDS {
            assert_eq!(judge.judge(&inconclusive()), Decision::Hold);
        }
        assert_eq!(
            judge.judge(&inconclusive()),
            Decision::Abort {
                why: "4 inconclusive intervals at this step: 12 requests".into()
            }
        );
        // A pass resets the count: each step gets its own three.
        let mut judge = Judge::new(&spec());
        for _ in 0..MAX_INCONCLUSIVE_HOLDS {
            assert_eq!(judge.judge(&inconclusive()), Decision::Hold);
        }
        assert_eq!(judge.judge(&Verdict::Pass), Decision::Advance);
        for _ in 0..MAX_INCONCLUSIVE_HOLDS {
            assert_eq!(judge.judge(&inconclusive()), Decision::Hold);
        }
    }
}
