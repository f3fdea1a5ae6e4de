//! Human output of an agent reply: the outcome, the timed steps, the state table, and the
//! failed container's last log lines.

use super::protocol::{AgentReply, AppState, ColorState, Health, HistoryEntry};
use std::fmt::Write;

/// The whole reply as text for a terminal or a CI log.
pub fn reply(r: &AgentReply) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {}: {}", r.host, r.action, r.message);
    let steps: Vec<_> = r
        .events
        .iter()
        .filter(|e| e.duration_ms.is_some() || e.step == "recover")
        .collect();
    // A query's one step says what its message says.
    if !steps.is_empty() && !matches!(r.action.as_str(), "status" | "history") {
        let _ = writeln!(out);
        for e in steps {
            let ms = e.duration_ms.map_or(String::new(), |d| format!("{d} ms"));
            let _ = writeln!(
                out,
                "  {:<12} {:>9}  {:<8} {}",
                e.step,
                ms,
                format!("{:?}", e.status).to_lowercase(),
                e.detail
            );
        }
    }
    if let Some(c) = &r.canary {
        let _ = writeln!(out, "\ncanary: {}", c.line());
        if !c.intervals.is_empty() {
            out.push_str(&canary_table(c));
        }
    }
    if !r.apps.is_empty() {
        let _ = writeln!(out);
        out.push_str(&table(&r.apps));
    }
    if !r.history.is_empty() {
        let _ = writeln!(out);
        out.push_str(&history(&r.history));
    }
    if !r.log_tail.is_empty() {
        let _ = writeln!(out, "\nlast log lines of the failed container:");
        for line in &r.log_tail {
            let _ = writeln!(out, "  | {line}");
        }
    }
    out
}

/// The history table: one row per deploy or rollback, newest first, and under a switch
/// that measured one, its receipt.
pub fn history(entries: &[HistoryEntry]) -> String {
    let mut rows = vec![[
        "FINISHED".to_string(),
        "ACTION".into(),
        "OUTCOME".into(),
        "IMAGE".into(),
        "DIGEST".into(),
        "TOOK".into(),
        "RUN".into(),
    ]];
    let mut receipts = Vec::new();
    for e in entries.iter().rev() {
        rows.push([
            e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.action.clone(),
            crate::report::hosts::wire_name(e.outcome),
            e.image.clone().unwrap_or_else(|| "-".into()),
            short_digest(e.digest.as_deref()),
            crate::report::units::human_ms(e.duration_ms),
            e.run_url.clone().unwrap_or_else(|| "-".into()),
        ]);
        receipts.push(e.receipt.as_ref().map(|r| r.line()));
    }
    let mut out = String::new();
    for (i, line) in columns(&rows).lines().enumerate() {
        let _ = writeln!(out, "{line}");
        if let Some(Some(receipt)) = i.checked_sub(1).and_then(|i| receipts.get(i)) {
            let _ = writeln!(out, "  users saw: {receipt}");
        }
    }
    out
}

/// A canary's intervals as columns: the cells of [`crate::report::canary::Interval::row`].
pub fn canary_table(c: &crate::report::canary::CanaryRun) -> String {
    use crate::report::canary::Interval;
    let mut rows = vec![Interval::HEADER.map(|h| h.to_uppercase())];
    for row in c.rows() {
        let mut cells: [String; 6] = Default::default();
        for (cell, text) in cells.iter_mut().zip(row) {
            *cell = text;
        }
        rows.push(cells);
    }
    columns(&rows)
}

/// The status table: one row per app.
pub fn table(apps: &[AppState]) -> String {
    let mut rows = vec![[
        "APP".to_string(),
        "PORT".into(),
        "LIVE".into(),
        "IMAGE".into(),
        "DIGEST".into(),
        "SINCE".into(),
        "HEALTH".into(),
        "STATE".into(),
        "ROLLBACK TARGET".into(),
    ]];
    for a in apps {
        let (color, image, digest, since, health) = match &a.live {
            Some(l) => (
                l.color.to_string(),
                l.image.clone(),
                short_digest(l.digest.as_deref()),
                l.since
                    .map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string()),
                health(l.health).to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
        };
        rows.push([
            a.app.clone(),
            a.public_port.map_or("-".into(), |p| p.to_string()),
            color,
            image,
            digest,
            since,
            health,
            if a.live.is_none() {
                "-".into()
            } else if a.verified {
                "verified".into()
            } else {
                "unverified".into()
            },
            target(a.rollback_target.as_ref()),
        ]);
    }
    columns(&rows)
}

/// Rows as left-aligned columns two spaces apart.
fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

fn target(t: Option<&ColorState>) -> String {
    match t {
        None => "none".into(),
        Some(t) if t.running => match t.warm_until {
            Some(until) => format!(
                "{} on {} (warm until {})",
                t.image,
                t.color,
                until.format("%H:%M:%SZ")
            ),
            None => format!("{} on {} (warm)", t.image, t.color),
        },
        Some(t) => format!("{} on {} (stopped)", t.image, t.color),
    }
}

fn health(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
        Health::Stopped => "stopped",
        Health::Unknown => "unknown",
    }
}

fn short_digest(d: Option<&str>) -> String {
    d.map_or("-".into(), |d| d.chars().take(19).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_with_a_canary_shows_how_it_ended_and_a_row_per_interval() {
        let mut r = AgentReply::from_stdout(
            r#"@@bluegreen-reply@@ {"host":"i-1","action":"deploy","outcome":"failed","message":"canary aborted"}"#,
        )
        .unwrap();
        r.canary = serde_json::from_value(serde_json::json!({
            "steps": [5, 100], "reached": 1,
            "end": {"verdict": "aborted", "reason": "1 failed interval"},
            "intervals": [{
                "step": 1, "weight": 5,
                "from": "2026-12-03T10:00:00Z", "to": "2026-12-03T10:00:30Z",
                "new": {"requests": 60, "http_5xx": 12, "errors": 0, "timed": 60, "response_ms_sum": 600},
                "old": {"requests": 1140, "http_5xx": 0, "errors": 0, "timed": 1140, "response_ms_sum": 11400},
                "verdict": {"kind": "fail", "reasons": ["failed share 20.0 %"]}
            }]
        }))
        .unwrap();
        let text = reply(&r);
        assert!(
            text.contains("canary: aborted at step 1 of 2 (5 %), 1 interval: 1 failed interval"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().collect();
        let header = lines
            .iter()
            .position(|l| l.starts_with("STEP  WEIGHT"))
            .unwrap();
        assert!(
            lines[header + 1].starts_with("1     5 %     60 / 1,140")
                && lines[header + 1].contains("20.0 % / 0.0 %")
                && lines[header + 1].ends_with("fail: failed share 20.0 %"),
            "{text}"
        );
    }
}
