//! The timestamped log: one line per event and per command run, in time order, and the log
//! tail of every host whose container failed.
//!
//! ```text
//! 2026-11-20T10:00:00.000Z pipeline                   lint                 ok           412 ms  3 workflow files
//! 2026-11-20T10:00:04.520Z host:i-0a1b2c3d4e5f60001   $ docker pull shop@sha256:5f2b... (exit=0, 7.4 s)
//! ```

use crate::report::event::{CommandRun, Event, StepStatus};
use crate::report::model::RunReport;
use crate::report::units::human_ms;
use chrono::{DateTime, SecondsFormat, Utc};

/// Renders the whole log as text (not yet redacted: the caller writes it through the
/// redactor like every other sink).
pub fn render_log(report: &RunReport) -> String {
    let mut lines: Vec<(DateTime<Utc>, String)> = Vec::new();
    lines.extend(report.events.iter().map(|e| (e.ts, event_line(e))));
    lines.extend(report.commands.iter().map(|c| (c.ts, command_line(c))));
    // A stable sort keeps same-instant lines in the order they were recorded.
    lines.sort_by_key(|(ts, _)| *ts);
    let mut out = header(report);
    for (_, line) in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&log_tails(report));
    out
}

/// One command as the log shows it: `$ docker pull shop@sha256:5f2b... (exit=0, 7.4 s)`.
pub fn command_line(c: &CommandRun) -> String {
    let mut how = vec![c
        .exit_code
        .map(|code| format!("exit={code}"))
        .unwrap_or_else(|| "exit=killed".to_string())];
    how.extend(c.duration_ms.map(human_ms));
    if !c.detail.is_empty() {
        how.push(c.detail.clone());
    }
    format!(
        "{} {:<26} $ {} ({})",
        stamp(c.ts),
        c.scope.to_string(),
        c.command,
        how.join(", ")
    )
}

/// One event as the log (and the action log's live view) shows it.
pub fn event_line(e: &Event) -> String {
    let line = format!(
        "{} {:<26} {:<20} {:<8} {:>10}  {}",
        stamp(e.ts),
        e.scope.to_string(),
        e.step,
        status_word(e.status),
        e.duration_ms.map(human_ms).unwrap_or_default(),
        e.detail
    );
    line.trim_end().to_string()
}

fn header(report: &RunReport) -> String {
    let mut out = format!(
        "# bluegreen {} -> {} deploy {} ({}), {} to {}\n",
        report.app,
        report.environment,
        report.deploy_id,
        report.status,
        stamp(report.started_at),
        stamp(report.finished_at)
    );
    if let Some(reason) = &report.reason {
        out.push_str(&format!("# stopped: {reason}\n"));
    }
    out
}

fn log_tails(report: &RunReport) -> String {
    let mut out = String::new();
    if let Some(r) = report
        .release
        .as_ref()
        .filter(|r| !r.result.log_tail.is_empty())
    {
        out.push_str(&format!("# release command output on {}\n", r.host));
        for l in &r.result.log_tail {
            out.push_str(&format!("{} release | {l}\n", r.host));
        }
    }
    for h in report.hosts.iter().filter(|h| !h.log_tail.is_empty()) {
        out.push_str(&format!("# log tail from {}\n", h.host));
        for l in &h.log_tail {
            out.push_str(&format!("{}  | {l}\n", h.host));
        }
    }
    out
}

fn stamp(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn status_word(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Started => "started",
        StepStatus::Ok => "ok",
        StepStatus::Warning => "warning",
        StepStatus::Failed => "FAILED",
        StepStatus::Skipped => "skipped",
    }
}
