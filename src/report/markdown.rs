//! Markdown for people: the job summary and the sticky PR comment, from one set of section
//! renderers so the two never disagree.
//!
//! Size limits are met by trimming detail, never by cutting text: each table shows at most
//! `max_rows` rows and says how many more there are ("... and 12 more"); when a document is
//! still too large it is rendered again with fewer rows. Cells are capped too, so one huge
//! message cannot push a table over the limit.

use crate::report::canary::Interval;
use crate::report::facts::ReportFacts;
use crate::report::hosts::HostRecord;
use crate::report::model::RunReport;
use crate::report::timeline;
use crate::report::units::{human_bytes, human_ms};

/// GitHub drops a step summary above 1 MiB; stay well below so the runner never discards it.
pub const SUMMARY_LIMIT_BYTES: usize = 900 * 1024;
/// GitHub refuses comment bodies above 65,536 characters.
pub const COMMENT_LIMIT_CHARS: usize = 65_536;
/// Rows per table at full detail.
pub const DEFAULT_MAX_ROWS: usize = 100;
/// Characters per table cell; longer text ends with an ellipsis.
pub const CELL_MAX_CHARS: usize = 300;

/// Where the rest of the report lives, for links.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The workflow run (`$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`).
    pub run_url: Option<String>,
    /// The workspace-relative report directory, uploaded as an artifact.
    pub report_dir: String,
    /// The repository's deployments page, when a GitHub deployment is recorded.
    pub deployments_url: Option<String>,
}

/// The hidden marker that identifies the sticky comment of one app and environment.
pub fn comment_marker(app: &str, environment: &str) -> String {
    format!("<!-- bluegreen-action:{app}:{environment} -->")
}

/// The job summary, as large as the detail allows within [`SUMMARY_LIMIT_BYTES`].
pub fn render_summary(report: &RunReport, facts: &ReportFacts, links: &Links) -> String {
    fit(SUMMARY_LIMIT_BYTES, str::len, |rows| {
        summary_at(report, facts, links, rows)
    })
}

/// The PR comment body (marker first), within [`COMMENT_LIMIT_CHARS`].
pub fn render_comment(report: &RunReport, facts: &ReportFacts, links: &Links) -> String {
    fit(
        COMMENT_LIMIT_CHARS,
        |s| s.chars().count(),
        |rows| comment_at(report, facts, links, rows),
    )
}

/// Renders with fewer and fewer table rows until the text fits `limit` (as measured by
/// `size`); the last resort is the headline alone.
fn fit(limit: usize, size: impl Fn(&str) -> usize, render: impl Fn(usize) -> String) -> String {
    let mut rows = DEFAULT_MAX_ROWS;
    loop {
        let text = render(rows);
        if size(&text) <= limit {
            return text;
        }
        if rows == 0 {
            return render_minimal(&text, limit);
        }
        rows /= 2;
    }
}

/// Keeps only whole lines up to the first table, so no table is ever cut.
fn render_minimal(text: &str, limit: usize) -> String {
    let mut out = String::new();
    for line in text.lines().take_while(|l| !l.starts_with('|')) {
        if out.len() + line.len() + 200 > limit {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("\n_The report is too large to show here; see the report artifact._\n");
    out
}

fn summary_at(report: &RunReport, facts: &ReportFacts, links: &Links, rows: usize) -> String {
    [
        title(report),
        headline(report, facts),
        reason_line(report),
        release_section(report),
        pipeline_section(facts, rows),
        timeline_section(facts, rows),
        folded(&host_steps_section(facts, rows)),
        hosts_section(&report.hosts, rows),
        canary_section(&report.hosts, rows),
        receipt_section(report, facts, rows),
        recommendations_section(facts),
        image_section(report),
        lint_section(report, rows),
        footer(links, report),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join("\n")
}

fn comment_at(report: &RunReport, facts: &ReportFacts, links: &Links, rows: usize) -> String {
    [
        comment_marker(&report.app, &report.environment) + "\n",
        title(report),
        headline(report, facts),
        reason_line(report),
        release_section(report),
        hosts_section(&report.hosts, rows),
        canary_section(&report.hosts, rows),
        receipt_section(report, facts, rows),
        recommendations_section(facts),
        timeline_section(facts, rows),
        folded(&pipeline_section(facts, rows)),
        folded(&host_steps_section(facts, rows)),
        footer(links, report),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join("\n")
}

fn title(report: &RunReport) -> String {
    let mark = report.status.mark();
    format!(
        "## {mark} {} → {}: {}\n",
        cell(&report.app),
        cell(&report.environment),
        report.status
    )
}

fn headline(report: &RunReport, facts: &ReportFacts) -> String {
    let image = facts
        .image_ref
        .as_deref()
        .map(|i| format!("`{}`", cell(i)))
        .unwrap_or_else(|| "unknown".to_string());
    format!(
        "Deploy `{}` · {} host(s) · {} · live color **{} → {}** · image {} · rollback {}\n",
        cell(&report.deploy_id),
        report.hosts.len(),
        human_ms(report.duration_ms()),
        facts.live_before.as_str(),
        facts.live_after.as_str(),
        image,
        if report.rolled_back {
            "**performed**"
        } else {
            "not performed"
        }
    )
}

/// Why the run stopped, right under the headline, so nobody has to read the log for it.
fn reason_line(report: &RunReport) -> String {
    report
        .reason
        .as_deref()
        .map(|r| format!("> **Stopped:** {}\n", cell(r)))
        .unwrap_or_default()
}

/// The pipeline's own steps (lint, image, preflight, the rollout as a whole, verify-live).
fn pipeline_section(facts: &ReportFacts, rows: usize) -> String {
    let body = table(
        &["Step", "Status", "Duration", "Detail"],
        facts.steps.iter().filter(|s| s.host().is_none()).map(|s| {
            vec![
                s.step.clone(),
                s.status_word(),
                s.duration_ms.map(human_ms).unwrap_or_default(),
                s.detail.clone(),
            ]
        }),
        rows,
    );
    format!("### Pipeline\n\n{body}")
}

/// Every host step with its detail, host by host.
fn host_steps_section(facts: &ReportFacts, rows: usize) -> String {
    let mut steps: Vec<_> = facts.steps.iter().filter(|s| s.host().is_some()).collect();
    if steps.is_empty() {
        return String::new();
    }
    // Stable: each host's steps stay in time order.
    steps.sort_by_key(|s| s.host());
    let body = table(
        &["Host", "Step", "Status", "Duration", "Detail"],
        steps.iter().map(|s| {
            vec![
                s.host().unwrap_or_default().to_string(),
                s.step.clone(),
                s.status_word(),
                s.duration_ms.map(human_ms).unwrap_or_default(),
                s.detail.clone(),
            ]
        }),
        rows,
    );
    format!("### Host steps ({})\n\n{body}", steps.len())
}

/// The gantt chart of the run and each host's step durations.
fn timeline_section(facts: &ReportFacts, rows: usize) -> String {
    let Some(chart) = facts.timeline.mermaid(rows) else {
        return String::new();
    };
    let (header, host_rows) = timeline::host_rows(&facts.timeline);
    let durations = if host_rows.is_empty() {
        String::new()
    } else {
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        format!("\n{}", table(&header, host_rows.into_iter(), rows))
    };
    format!("### Timeline\n\n{chart}{durations}")
}

/// A section folded in a `<details>` block, its heading as the summary line.
fn folded(section: &str) -> String {
    let Some((heading, body)) = section.split_once("\n\n") else {
        return String::new();
    };
    format!(
        "<details><summary>{}</summary>\n\n{}\n</details>\n",
        heading.trim_start_matches("### "),
        body
    )
}

fn hosts_section(hosts: &[HostRecord], rows: usize) -> String {
    if hosts.is_empty() {
        return "### Hosts\n\nNo host was changed: the run stopped before the deploy.\n".into();
    }
    let body = table(
        &[
            "Host",
            "Outcome",
            "Live before",
            "Live after",
            "Image",
            "Rollback target",
        ],
        hosts.iter().map(|h| {
            vec![
                h.host.clone(),
                h.outcome.clone(),
                color_or_dash(h.live_before),
                color_or_dash(h.live_after),
                h.image.clone().unwrap_or_else(|| "-".into()),
                match &h.rollback_target {
                    Some(t) => format!("{}: {}", t.color, t.image),
                    None => "none yet".to_string(),
                },
            ]
        }),
        rows,
    );
    format!("### Hosts\n\n{body}")
}

/// Each canary host: how its canary ended, then a row per analysis interval (the new
/// version's figures beside the old one's, and the verdict). At most `rows` hosts.
fn canary_section(hosts: &[HostRecord], rows: usize) -> String {
    let canaries: Vec<_> = hosts
        .iter()
        .filter_map(|h| h.canary.as_ref().map(|c| (h, c)))
        .collect();
    if canaries.is_empty() {
        return String::new();
    }
    let mut out = "### Canary\n".to_string();
    for (h, c) in canaries.iter().take(rows.max(1)) {
        out.push_str(&format!("\n`{}`: {}\n", cell(&h.host), inline(&c.line())));
        if c.intervals_left_out > 0 {
            out.push_str(&format!(
                "\n_{} earlier interval(s) are left out of the host's reply._\n",
                c.intervals_left_out
            ));
        }
        if !c.intervals.is_empty() {
            out.push('\n');
            out.push_str(&table(&Interval::HEADER, c.rows(), rows));
        }
    }
    if canaries.len() > rows.max(1) {
        out.push_str(&format!(
            "\n… and {} more canary host(s) in metrics.json\n",
            canaries.len() - rows.max(1)
        ));
    }
    out
}

/// What users saw during each switch: the fleet's sum, then one line per host that switched.
/// The release command: how it ended, and its last lines folded.
fn release_section(report: &RunReport) -> String {
    let Some(r) = &report.release else {
        return String::new();
    };
    let command = serde_json::to_string(&r.command).unwrap_or_default();
    let res = &r.result;
    let how = if res.skipped {
        "not run: this digest was released for this environment before".to_string()
    } else if res.timed_out {
        format!(
            "killed at the release timeout after {}",
            human_ms(res.duration_ms)
        )
    } else if let Some(code) = res.exit_code {
        format!("exited {code} in {}", human_ms(res.duration_ms))
    } else {
        format!("did not run: {}", r.message)
    };
    let mark = if r.succeeded() { "✅" } else { "❌" };
    let mut out = format!(
        "### Release\n\n{mark} `{}` on `{}`: {}\n",
        cell(&command),
        cell(&r.host),
        inline(&how)
    );
    if !res.log_tail.is_empty() {
        let text = res.log_tail.join("\n");
        let fence = "`".repeat(longest_backtick_run(&text).max(2) + 1);
        out.push_str(&format!(
            "\n<details><summary>Its last {} lines</summary>\n\n{fence}text\n{text}\n{fence}\n\n</details>\n",
            res.log_tail.len()
        ));
    }
    out
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn receipt_section(report: &RunReport, facts: &ReportFacts, rows: usize) -> String {
    let Some(fleet) = &facts.receipt else {
        return String::new();
    };
    let switched: Vec<_> = report
        .hosts
        .iter()
        .filter_map(|h| h.receipt.as_ref().map(|r| (h, r)))
        .collect();
    let mut out = format!(
        "### What users saw

**{}**

",
        inline(&fleet.line())
    );
    for (h, r) in switched.iter().take(rows) {
        out.push_str(&format!("- `{}`: {}\n", cell(&h.host), inline(&r.line())));
    }
    if switched.len() > rows {
        out.push_str(&format!(
            "- … and {} more host(s) in metrics.json\n",
            switched.len() - rows
        ));
    }
    out
}

fn recommendations_section(facts: &ReportFacts) -> String {
    if facts.recommendations.is_empty() {
        return String::new();
    }
    let items: String = facts
        .recommendations
        .iter()
        .map(|r| format!("- **{}**: {}\n", r.code, inline(&r.message)))
        .collect();
    format!("### Recommendations\n\n{items}")
}

fn image_section(report: &RunReport) -> String {
    let Some(image) = &report.image else {
        return String::new();
    };
    let mut rows = vec![vec!["Reference".to_string(), image.reference.clone()]];
    let optional = [
        ("Digest", image.digest.clone()),
        ("Size", image.size_bytes.map(human_bytes)),
        ("Pushed", image.pushed_at.map(|t| t.to_rfc3339())),
        (
            "Platforms",
            (!image.platforms.is_empty()).then(|| image.platforms.join(", ")),
        ),
        (
            "Scan",
            image.scan.map(|s| {
                format!(
                    "{} critical, {} high, {} medium, {} low, {} informational",
                    s.critical, s.high, s.medium, s.low, s.informational
                )
            }),
        ),
    ];
    rows.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| vec![k.to_string(), v])),
    );
    format!(
        "### Image\n\n{}",
        table(&["Fact", "Value"], rows.into_iter(), usize::MAX)
    )
}

fn lint_section(report: &RunReport, rows: usize) -> String {
    let Some(lint) = &report.lint else {
        return String::new();
    };
    let counts = format!(
        "**{} error(s), {} warning(s), {} note(s)**, {} deprecated action use(s)\n",
        lint.errors, lint.warnings, lint.notes, lint.deprecated_actions
    );
    if lint.findings.is_empty() {
        return format!("### Lint\n\n{counts}");
    }
    let findings = table(
        &["Rule", "Level", "Location", "Message"],
        lint.findings.iter().map(|f| {
            vec![
                f.rule.clone(),
                f.level.clone(),
                format!("{}:{}", f.file, f.line),
                f.message.clone(),
            ]
        }),
        rows,
    );
    format!("### Lint\n\n{counts}\n{findings}")
}

fn footer(links: &Links, report: &RunReport) -> String {
    let run = links
        .run_url
        .as_deref()
        .map(|u| format!(" of [this run]({u})"))
        .unwrap_or_default();
    let deployment = links
        .deployments_url
        .as_deref()
        .map(|u| {
            format!(
                "Deployment: `{}` on [the deployments page]({u}).\n",
                cell(&report.environment)
            )
        })
        .unwrap_or_default();
    format!(
        "---\n{deployment}Full log and `metrics.json`: the `{}` artifact{run}.\n",
        cell(&links.report_dir)
    )
}

fn color_or_dash(c: Option<crate::agent::protocol::Color>) -> String {
    c.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
}

/// [`host_table`] of a sub-action's hosts, or one row saying no host answered.
pub fn hosts_or_none(hosts: &[HostRecord]) -> String {
    if hosts.is_empty() {
        let none = HostRecord::without_reply("-", "no host answered", "see the step log");
        host_table(&[none])
    } else {
        host_table(hosts)
    }
}

/// One row per host: host, outcome, the color live after the command, message.
pub fn host_table(hosts: &[HostRecord]) -> String {
    let rows = hosts.iter().map(|h| {
        vec![
            h.host.clone(),
            h.outcome.clone(),
            color_or_dash(h.live_after),
            h.message.clone(),
        ]
    });
    table(
        &["host", "outcome", "live after", "message"],
        rows,
        usize::MAX,
    )
}

/// A markdown table of at most `max_rows` rows; the rest become one "... and K more" row.
pub fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>, max_rows: usize) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    let mut hidden = 0usize;
    for (i, row) in rows.enumerate() {
        if i >= max_rows {
            hidden += 1;
            continue;
        }
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    if hidden > 0 {
        let mut more = vec![format!("... and {hidden} more")];
        more.resize(header.len(), String::new());
        out.push_str(&format!("| {} |\n", more.join(" | ")));
    }
    out
}

/// Text safe inside a table cell: no pipes, newlines or HTML, and bounded in length.
fn cell(text: &str) -> String {
    let capped: String = if text.chars().count() > CELL_MAX_CHARS {
        text.chars()
            .take(CELL_MAX_CHARS - 1)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        text.to_string()
    };
    inline(&capped).replace('|', "\\|")
}

/// Text safe on one markdown line.
fn inline(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", " ")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_section_fences_its_output_whatever_it_holds() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/report/run.json"
        ))
        .unwrap();
        let mut report: RunReport = serde_json::from_str(&text).unwrap();
        assert_eq!(release_section(&report), "", "no release, no section");
        report.release = Some(crate::report::ReleaseRecord {
            host: "i-1".into(),
            command: vec!["migrate".into(), "up".into()],
            message: "release command exited 3".into(),
            result: crate::agent::protocol::ReleaseResult {
                exit_code: Some(3),
                duration_ms: 1_200,
                log_tail: vec!["```".into(), "ERROR: relation exists".into()],
                ..crate::agent::protocol::ReleaseResult::skipped()
            },
        });
        if let Some(r) = report.release.as_mut() {
            r.result.skipped = false;
            r.result.ran = true;
        }
        let md = release_section(&report);
        assert!(
            md.contains("❌ `[\"migrate\",\"up\"]` on `i-1`: exited 3 in 1.2 s"),
            "{md}"
        );
        assert!(
            md.contains("\n````text\n```\nERROR: relation exists\n````\n"),
            "{md}"
        );
        assert!(md.contains("<summary>Its last 2 lines</summary>"));
    }

    #[test]
    fn the_host_table_escapes_its_cells() {
        let md = host_table(&[HostRecord {
            live_after: Some(crate::agent::protocol::Color::Blue),
            ..HostRecord::without_reply("i-2", "rolled_back", "a | b")
        }]);
        assert!(
            md.contains("| i-2 | rolled_back | blue | a \\| b |"),
            "{md}"
        );
    }

    #[test]
    fn tables_trim_rows_and_escape_cells() {
        let rows = (0..5).map(|i| vec![format!("a|{i}"), "x\ny<z>".to_string()]);
        let t = table(&["A", "B"], rows, 2);
        assert_eq!(
            t,
            "| A | B |\n|---|---|\n| a\\|0 | x y&lt;z&gt; |\n| a\\|1 | x y&lt;z&gt; |\n| ... and 3 more |  |\n"
        );
    }

    #[test]
    fn when_no_row_count_fits_only_the_text_before_the_first_table_is_kept() {
        let render = |_rows: usize| {
            format!(
                "## title\n\nheadline\n\n| A |\n|---|\n| {} |\n",
                "x".repeat(5_000)
            )
        };
        let text = fit(1_000, str::len, render);
        assert!(text.starts_with("## title\n\nheadline\n"));
        assert!(!text.contains('|'), "no table, not even a cut one: {text}");
        assert!(text.len() <= 1_000);
    }

    #[test]
    fn fit_trims_until_the_limit_is_met() {
        let render = |rows: usize| "x".repeat(10 * rows.min(100));
        assert_eq!(fit(260, str::len, render).len(), 250);
    }
}
