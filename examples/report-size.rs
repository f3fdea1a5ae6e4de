//! Measures what the report sinks produce: sizes of the summary, comment and metrics for the
//! recorded run and for a synthetic run far beyond GitHub's limits, and the time to render.
//! Run through `scripts/bench-report`.

use bluegreen::report::facts::ReportFacts;
use bluegreen::report::markdown::{
    render_comment, render_summary, Links, COMMENT_LIMIT_CHARS, SUMMARY_LIMIT_BYTES,
};
use bluegreen::report::metrics::render_metrics;
use bluegreen::report::RunReport;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let text = std::fs::read_to_string("tests/data/report/run.json")?;
    let recorded: RunReport = serde_json::from_str(&text)?;
    measure("recorded run (tests/data/report/run.json)", &recorded)?;
    measure(
        "synthetic: 3,000 hosts, 20,000 events of 5 KB",
        &recorded.clone().scaled_up(3_000, 20_000, 5_000),
    )?;
    println!(
        "limits: summary {SUMMARY_LIMIT_BYTES} bytes (GitHub: 1,048,576), comment {COMMENT_LIMIT_CHARS} chars"
    );
    Ok(())
}

fn measure(name: &str, report: &RunReport) -> anyhow::Result<()> {
    let links = Links {
        run_url: Some("https://github.com/acme/shop/actions/runs/42".into()),
        report_dir: "bluegreen-report".into(),
        deployments_url: Some("https://github.com/acme/shop/deployments".into()),
    };
    let start = Instant::now();
    let facts = ReportFacts::from_report(report);
    let summary = render_summary(report, &facts, &links);
    let comment = render_comment(report, &facts, &links);
    let metrics = render_metrics(report, &facts)?;
    let took = start.elapsed();
    let trimmed = summary.matches("| ... and ").count();
    println!("{name}:");
    println!(
        "  summary  {:>9} bytes ({trimmed} table(s) trimmed)",
        summary.len()
    );
    println!("  comment  {:>9} chars", comment.chars().count());
    println!("  metrics  {:>9} bytes", metrics.len());
    println!(
        "  render   {:>9.1} ms (facts + summary + comment + metrics)",
        took.as_secs_f64() * 1000.0
    );
    Ok(())
}
