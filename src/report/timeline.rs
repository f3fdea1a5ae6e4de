//! The run as a picture: a Mermaid gantt chart of every timed step, one section for the
//! pipeline and one per host, and the per-host step durations as a compact table.
//!
//! Built from the run's events (an event's `ts` is its step's start, `duration_ms` its length).
//! GitHub renders Mermaid up to 50,000 characters of diagram text; a larger fleet shows its
//! slowest hosts and one summary row for the rest.

use crate::report::event::{Event, Scope, StepStatus};
use crate::report::model::RunReport;
use crate::report::units::human_ms;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Mermaid's default `maxTextSize`: a longer diagram is not drawn.
pub const MERMAID_LIMIT_CHARS: usize = 50_000;
/// Host sections at most in the chart; the rest become one summary row.
pub const MAX_CHART_HOSTS: usize = 40;
/// The whole command of a host, which the chart leaves out (its steps show it).
const TOTAL_STEP: &str = "total";

/// One timed step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    pub step: String,
    pub status: StepStatus,
    /// Milliseconds since the epoch.
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The pipeline's or one host's steps, in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lane {
    /// `pipeline` or the host.
    pub name: String,
    pub host: bool,
    pub bars: Vec<Bar>,
}

impl Lane {
    fn start_ms(&self) -> i64 {
        self.bars.iter().map(|b| b.start_ms).min().unwrap_or(0)
    }

    fn end_ms(&self) -> i64 {
        self.bars.iter().map(|b| b.end_ms).max().unwrap_or(0)
    }

    /// From the first step's start to the last one's end.
    pub fn span_ms(&self) -> u64 {
        (self.end_ms() - self.start_ms()).max(0) as u64
    }

    /// The longest time of `step` in this lane.
    pub fn duration_of(&self, step: &str) -> Option<u64> {
        self.bars
            .iter()
            .filter(|b| b.step == step)
            .map(|b| (b.end_ms - b.start_ms).max(0) as u64)
            .max()
    }
}

/// The run's lanes: the pipeline first, then the hosts in the order they started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub lanes: Vec<Lane>,
}

impl Timeline {
    pub fn of(report: &RunReport) -> Timeline {
        let mut lanes: Vec<Lane> = Vec::new();
        let mut index: HashMap<&Scope, usize> = HashMap::new();
        let mut events: Vec<&Event> = report.events.iter().filter(|e| timed(e)).collect();
        events.sort_by_key(|e| e.ts);
        for e in events {
            let start_ms = e.ts.timestamp_millis();
            let bar = Bar {
                step: e.step.clone(),
                status: e.status,
                start_ms,
                end_ms: start_ms + e.duration_ms.unwrap_or(0) as i64,
            };
            let lane = *index.entry(&e.scope).or_insert_with(|| {
                let (name, host) = match &e.scope {
                    Scope::Pipeline => ("pipeline".to_string(), false),
                    Scope::Host(h) => (h.clone(), true),
                };
                lanes.push(Lane {
                    name,
                    host,
                    bars: Vec::new(),
                });
                lanes.len() - 1
            });
            lanes[lane].bars.push(bar);
        }
        lanes.sort_by_key(|l| (l.host, l.start_ms()));
        Timeline { lanes }
    }

    pub fn hosts(&self) -> impl Iterator<Item = &Lane> {
        self.lanes.iter().filter(|l| l.host)
    }

    /// The host steps in the order they first ran (`pull`, `start`, `ready`, ...).
    pub fn host_steps(&self) -> Vec<String> {
        let mut steps: Vec<(i64, String)> = Vec::new();
        for lane in self.hosts() {
            for (i, bar) in lane.bars.iter().enumerate() {
                if !steps.iter().any(|(_, s)| *s == bar.step) {
                    steps.push((i as i64, bar.step.clone()));
                }
            }
        }
        steps.sort_by_key(|(i, _)| *i);
        steps.into_iter().map(|(_, s)| s).collect()
    }

    /// The chart as a fenced Mermaid block, at most `max_hosts` host sections (the slowest;
    /// the others as one summary row), and always under [`MERMAID_LIMIT_CHARS`].
    pub fn mermaid(&self, max_hosts: usize) -> Option<String> {
        if self.lanes.is_empty() {
            return None;
        }
        let mut hosts = max_hosts.min(MAX_CHART_HOSTS);
        loop {
            let text = self.mermaid_with(hosts);
            if text.chars().count() <= MERMAID_LIMIT_CHARS || hosts == 0 {
                return Some(format!("```mermaid\n{text}```\n"));
            }
            hosts /= 2;
        }
    }

    fn mermaid_with(&self, max_hosts: usize) -> String {
        let mut by_span: Vec<(usize, &Lane)> = self
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.host)
            .collect();
        by_span.sort_by_key(|(_, l)| std::cmp::Reverse(l.span_ms()));
        let rest: Vec<&Lane> = by_span
            .split_off(by_span.len().min(max_hosts))
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        let shown: HashSet<usize> = by_span.into_iter().map(|(i, _)| i).collect();
        let mut out = String::from("gantt\n  dateFormat x\n  axisFormat %M:%S\n");
        let lanes = self.lanes.iter().enumerate();
        for (_, lane) in lanes.filter(|(i, l)| !l.host || shown.contains(i)) {
            out.push_str(&format!("  section {}\n", label(&lane.name)));
            for bar in &lane.bars {
                out.push_str(&task(&bar.step, bar.status, bar.start_ms, bar.end_ms));
            }
        }
        if let (Some(first), Some(last)) = (
            rest.iter().map(|l| l.start_ms()).min(),
            rest.iter().map(|l| l.end_ms()).max(),
        ) {
            let worst = rest.iter().flat_map(|l| l.bars.iter().map(|b| b.status));
            let status = worst.max_by_key(|s| severity(*s)).unwrap_or(StepStatus::Ok);
            out.push_str(&format!("  section {} more hosts\n", rest.len()));
            out.push_str(&task("all steps", status, first, last));
        }
        out
    }
}

/// Finished steps with a length; `started` markers, untimed events and the host's whole
/// command are left out.
fn timed(e: &Event) -> bool {
    e.status != StepStatus::Started && e.duration_ms.is_some() && e.step != TOTAL_STEP
}

/// `  pull :done, 1763632800000, 1763632807400`; a bar is at least 1 ms long so it shows.
fn task(step: &str, status: StepStatus, start_ms: i64, end_ms: i64) -> String {
    let tag = match status {
        StepStatus::Failed => "crit, ",
        StepStatus::Warning => "active, ",
        StepStatus::Skipped | StepStatus::Started => "",
        StepStatus::Ok => "done, ",
    };
    format!(
        "  {} :{tag}{start_ms}, {}\n",
        label(step),
        end_ms.max(start_ms + 1)
    )
}

fn severity(s: StepStatus) -> u8 {
    match s {
        StepStatus::Failed => 3,
        StepStatus::Warning => 2,
        StepStatus::Ok => 1,
        StepStatus::Skipped | StepStatus::Started => 0,
    }
}

/// A section or task title: Mermaid ends a title at `:` and starts a comment at `%%`, and
/// `#` and `;` are entity and statement marks; they become spaces.
fn label(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            ':' | '#' | ';' | '%' | '\n' | '\r' | '`' => ' ',
            c => c,
        })
        .collect();
    match cleaned.trim() {
        "" => "-".to_string(),
        t => t.to_string(),
    }
}

/// One row per host: its step durations in run order, and its span.
pub fn host_rows(timeline: &Timeline) -> (Vec<String>, Vec<Vec<String>>) {
    let steps = timeline.host_steps();
    let mut header = vec!["Host".to_string()];
    header.extend(steps.iter().cloned());
    header.push("Span".to_string());
    let rows = timeline
        .hosts()
        .map(|lane| {
            let mut row = vec![lane.name.clone()];
            row.extend(steps.iter().map(|s| {
                lane.duration_of(s)
                    .map(human_ms)
                    .unwrap_or_else(|| "-".into())
            }));
            row.push(human_ms(lane.span_ms()));
            row
        })
        .collect();
    (header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn event(scope: Scope, step: &str, at_ms: i64, ms: u64, status: StepStatus) -> Event {
        Event {
            ts: DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000 + at_ms).unwrap(),
            scope,
            step: step.into(),
            status,
            duration_ms: Some(ms),
            detail: String::new(),
        }
    }

    fn host(n: usize) -> Scope {
        Scope::Host(format!("i-{n:04}"))
    }

    fn report(events: Vec<Event>) -> RunReport {
        let mut r: RunReport = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/report/run.json"
            ))
            .unwrap(),
        )
        .unwrap();
        r.events = events;
        r
    }

    #[test]
    fn lanes_hold_the_pipeline_then_hosts_in_start_order_without_totals() {
        let t = Timeline::of(&report(vec![
            event(Scope::Pipeline, "lint", 0, 400, StepStatus::Ok),
            event(host(2), "pull", 500, 1_000, StepStatus::Ok),
            event(host(1), "pull", 450, 2_000, StepStatus::Ok),
            event(host(1), "total", 450, 9_000, StepStatus::Ok),
            event(host(1), "ready", 2_450, 3_000, StepStatus::Warning),
        ]));
        let names: Vec<_> = t.lanes.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["pipeline", "i-0001", "i-0002"]);
        assert_eq!(t.lanes[1].bars.len(), 2, "total is not a bar");
        assert_eq!(t.lanes[1].span_ms(), 5_000);
        assert_eq!(t.host_steps(), ["pull", "ready"]);
        let (header, rows) = host_rows(&t);
        assert_eq!(header, ["Host", "pull", "ready", "Span"]);
        assert_eq!(rows[1], ["i-0002", "1.0 s", "-", "1.0 s"]);
    }

    #[test]
    fn the_chart_marks_status_and_never_has_an_empty_bar() {
        let t = Timeline::of(&report(vec![
            event(Scope::Pipeline, "lint: workflows", 0, 0, StepStatus::Ok),
            event(host(1), "ready", 10, 3_000, StepStatus::Warning),
            event(host(1), "switch", 3_010, 5, StepStatus::Failed),
        ]));
        let chart = t.mermaid(10).unwrap();
        assert!(chart.starts_with("```mermaid\ngantt\n  dateFormat x\n"));
        assert!(chart.contains("  lint  workflows :done, 1800000000000, 1800000000001\n"));
        assert!(chart.contains("  section i-0001\n  ready :active, 1800000000010, 1800000003010\n"));
        assert!(chart.contains("  switch :crit, "));
        assert!(chart.ends_with("```\n"));
    }

    #[test]
    fn a_large_fleet_shows_its_slowest_hosts_and_a_summary_row_within_the_limit() {
        let mut events = vec![event(Scope::Pipeline, "lint", 0, 100, StepStatus::Ok)];
        for n in 0..5_000 {
            for (i, step) in ["pull", "start", "ready", "switch", "verify", "drain"]
                .iter()
                .enumerate()
            {
                let ms = if n == 4_321 { 60_000 } else { 1_000 };
                events.push(event(host(n), step, i as i64 * 60_000, ms, StepStatus::Ok));
            }
        }
        events.push(event(host(77), "rollback", 400_000, 10, StepStatus::Failed));
        let t = Timeline::of(&report(events));
        let chart = t.mermaid(usize::MAX).unwrap();
        assert!(chart.chars().count() <= MERMAID_LIMIT_CHARS + 20);
        let sections = chart.matches("  section ").count();
        assert_eq!(
            sections,
            1 + MAX_CHART_HOSTS + 1,
            "pipeline, hosts, the rest"
        );
        assert!(
            chart.contains("section i-4321\n"),
            "the slowest host is shown"
        );
        assert!(
            chart.contains("section i-0077\n"),
            "the longest span is shown"
        );
        assert!(chart.contains(&format!(
            "  section {} more hosts\n",
            5_000 - MAX_CHART_HOSTS
        )));
    }
}
