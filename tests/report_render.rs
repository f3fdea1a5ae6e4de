//! The summary and the comment as GitHub reads them: parsed by a GFM renderer (comrak, with
//! the table extension), every table is a table whose rows have the header's cell count, the
//! folded blocks are balanced, and the Mermaid block is a gantt chart whose every line is one
//! Mermaid reads (a section, or a task with a start before its end), under Mermaid's size limit.

use bluegreen::report::markdown::{render_comment, render_summary, Links};
use bluegreen::report::timeline::MERMAID_LIMIT_CHARS;
use bluegreen::report::{ReportFacts, RunReport};
use comrak::nodes::NodeValue;
use comrak::{parse_document, Arena, Options};

fn fixture() -> RunReport {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/report/run.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the renderer found in one document.
#[derive(Debug, Default)]
struct Read {
    /// Per table: the header's cell count and each body row's.
    tables: Vec<(usize, Vec<usize>)>,
    /// The literal text of each `mermaid` code block.
    mermaid: Vec<String>,
    /// `<details>` opened and closed.
    details: (usize, usize),
}

fn read(markdown: &str) -> Read {
    let arena = Arena::new();
    let mut options = Options::default();
    options.extension.table = true;
    let root = parse_document(&arena, markdown, &options);
    let mut out = Read::default();
    for node in root.descendants() {
        match &node.data().value {
            NodeValue::Table(_) => {
                // The renderer pads a short row and drops a long row's extra cells, so the cells
                // are counted in the table's own source lines.
                let pos = node.data().sourcepos;
                let lines: Vec<&str> = markdown
                    .lines()
                    .skip(pos.start.line - 1)
                    .take(pos.end.line - pos.start.line + 1)
                    .filter(|l| !l.starts_with("|---"))
                    .collect();
                let rows: Vec<usize> = lines.iter().map(|l| cells(l)).collect();
                let (header, body) = rows.split_first().expect("a table has a header row");
                out.tables.push((*header, body.to_vec()));
            }
            NodeValue::CodeBlock(block) if block.info == "mermaid" => {
                assert!(block.closed, "the mermaid block is closed");
                out.mermaid.push(block.literal.clone());
            }
            NodeValue::HtmlBlock(html) => {
                out.details.0 += html.literal.matches("<details>").count();
                out.details.1 += html.literal.matches("</details>").count();
            }
            _ => {}
        }
    }
    out
}

/// The cells of a source row `| a | b \| c |`: its unescaped pipes, less one.
fn cells(row: &str) -> usize {
    let mut pipes = 0;
    let mut before = ' ';
    for c in row.chars() {
        if c == '|' && before != '\\' {
            pipes += 1;
        }
        before = c;
    }
    pipes.max(1) - 1
}

#[test]
fn a_ragged_or_broken_table_is_seen() {
    let found = read("| A | B |\n|---|---|\n| 1 |\n| 1 \\| 2 | 3 |\n\n| A | B |\n|---|\n| x |\n");
    assert_eq!(found.tables, [(2, vec![1, 2])], "the second is no table");
}

/// Every line of the chart is one Mermaid's gantt grammar reads, and every bar ends after it
/// starts. Returns the sections' titles.
fn check_gantt(chart: &str) -> Vec<String> {
    assert!(
        chart.chars().count() <= MERMAID_LIMIT_CHARS,
        "{}",
        chart.len()
    );
    let mut lines = chart.lines();
    assert_eq!(lines.next(), Some("gantt"));
    let mut sections = Vec::new();
    for line in lines {
        let line = line.trim();
        if let Some(title) = line.strip_prefix("section ") {
            assert!(!title.trim().is_empty() && !title.contains(':'), "{line}");
            sections.push(title.to_string());
            continue;
        }
        if ["dateFormat x", "axisFormat %M:%S"].contains(&line) {
            continue;
        }
        let (title, data) = line
            .split_once(" :")
            .unwrap_or_else(|| panic!("not a task: {line}"));
        assert!(
            !title.is_empty() && !title.contains([':', '#', ';']),
            "{line}"
        );
        let parts: Vec<&str> = data.split(',').map(str::trim).collect();
        let (tags, times) = parts.split_at(parts.len() - 2);
        assert!(
            tags.iter().all(|t| ["done", "active", "crit"].contains(t)),
            "{line}"
        );
        let start: i64 = times[0].parse().unwrap_or_else(|_| panic!("{line}"));
        let end: i64 = times[1].parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(end > start, "{line}");
    }
    sections
}

fn links() -> Links {
    Links {
        run_url: Some("https://github.com/acme/shop/actions/runs/42".into()),
        report_dir: "bluegreen-report".into(),
        deployments_url: None,
    }
}

#[test]
fn the_summary_and_comment_render_as_tables_folds_and_a_gantt_chart() {
    let report = fixture();
    let facts = ReportFacts::from_report(&report);
    for (name, doc) in [
        ("summary", render_summary(&report, &facts, &links())),
        ("comment", render_comment(&report, &facts, &links())),
    ] {
        let found = read(&doc);
        let separators = doc.lines().filter(|l| l.starts_with("|---")).count();
        assert_eq!(found.tables.len(), separators, "{name}: every table parses");
        for (header, rows) in &found.tables {
            assert!(
                rows.iter().all(|r| r == header),
                "{name}: {header} {rows:?}"
            );
        }
        assert_eq!(found.details.0, found.details.1, "{name}: folds balanced");
        assert!(found.details.0 >= 1, "{name}: host steps are folded");
        assert_eq!(found.mermaid.len(), 1, "{name}: one chart");
        let sections = check_gantt(&found.mermaid[0]);
        assert_eq!(
            sections,
            ["pipeline", "i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002"],
            "{name}"
        );
    }
    // The compact table next to the chart: a column per host step and the span.
    let summary = read(&render_summary(&report, &facts, &links()));
    assert!(summary
        .tables
        .iter()
        .any(|(h, rows)| *h == 9 && rows.len() == 2));
}

#[test]
fn a_huge_fleet_keeps_every_table_whole_and_the_chart_under_mermaids_limit() {
    let report = fixture().scaled_up(3_000, 2_000, 100);
    let facts = ReportFacts::from_report(&report);
    for doc in [
        render_summary(&report, &facts, &links()),
        render_comment(&report, &facts, &links()),
    ] {
        let found = read(&doc);
        for (header, rows) in &found.tables {
            assert!(rows.iter().all(|r| r == header));
        }
        assert_eq!(found.mermaid.len(), 1);
        let sections = check_gantt(&found.mermaid[0]);
        let last = sections.last().unwrap();
        assert!(last.ends_with(" more hosts"), "the rest in one row: {last}");
        assert!(sections.len() <= 2 + bluegreen::report::timeline::MAX_CHART_HOSTS);
    }
}

#[test]
fn a_canary_run_renders_one_whole_table_per_host() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/report/canary-run.json"
    );
    let report: RunReport = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let facts = ReportFacts::from_report(&report);
    for doc in [
        render_summary(&report, &facts, &links()),
        render_comment(&report, &facts, &links()),
    ] {
        let found = read(&doc);
        let separators = doc.lines().filter(|l| l.starts_with("|---")).count();
        assert_eq!(found.tables.len(), separators, "every table parses");
        for (header, rows) in &found.tables {
            assert!(rows.iter().all(|r| r == header), "{header} {rows:?}");
        }
        // The two canary tables: a header each, six columns, a row per interval (5 and 2).
        assert_eq!(
            doc.matches("| Step | Weight | Requests new / old | Failed share new / old |")
                .count(),
            2
        );
        let lens: Vec<usize> = found
            .tables
            .iter()
            .filter(|(h, rows)| *h == 6 && rows.len() == 5)
            .map(|(_, rows)| rows.len())
            .collect();
        assert_eq!(lens, [5], "the promoted host's five intervals");
        assert_eq!(found.details.0, found.details.1, "folds balanced");
    }
}
