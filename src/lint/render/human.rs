//! The human format: one block per finding with the source line and a caret under the value,
//! like a compiler.

use crate::lint::LintReport;
use std::fmt::Write;

pub fn render(report: &LintReport) -> String {
    let mut out = String::new();
    for error in &report.file_errors {
        let _ = writeln!(out, "error[file]: {}", error.message);
        let _ = writeln!(out, "  --> {}:{}:{}", error.file, error.line, error.column);
        snippet(
            &mut out,
            report,
            &error.file,
            error.line,
            error.column,
            error.line,
            error.column + 1,
        );
        out.push('\n');
    }
    for f in &report.findings {
        let _ = writeln!(out, "{}[{}]: {}", f.severity.as_str(), f.rule_id, f.message);
        let _ = writeln!(out, "  --> {}:{}:{}", f.file, f.line, f.column);
        snippet(
            &mut out,
            report,
            &f.file,
            f.line,
            f.column,
            f.end_line,
            f.end_column,
        );
        if f.fixable {
            let _ = writeln!(
                out,
                "   = fix: `bluegreen lint --fix` rewrites this reference"
            );
        }
        if let Some(link) = &f.help_uri {
            let _ = writeln!(out, "   = see: {link}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary_line(report));
    out
}

/// `2 findings (1 error, 1 warning, 0 notes) in 3 files; 1 file could not be linted`.
pub fn summary_line(report: &LintReport) -> String {
    let c = &report.counts;
    let total = report.findings.len();
    let mut line = format!(
        "{total} finding{} ({} error{}, {} warning{}, {} note{}) in {} file{}",
        plural(total),
        c.error,
        plural(c.error),
        c.warning,
        plural(c.warning),
        c.note,
        plural(c.note),
        report.files_linted,
        plural(report.files_linted),
    );
    if !report.file_errors.is_empty() {
        let n = report.file_errors.len();
        let _ = write!(line, "; {n} file{} could not be linted", plural(n));
    }
    line
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn snippet(
    out: &mut String,
    report: &LintReport,
    file: &str,
    line: usize,
    col: usize,
    end_line: usize,
    end_col: usize,
) {
    let Some(source) = report.sources.get(file) else {
        return;
    };
    let text = source.line_text(line);
    if text.is_empty() && line > 1 {
        return;
    }
    let width = line.to_string().len();
    let gutter = " ".repeat(width);
    let shown: String = text
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    let carets = if end_line == line && end_col > col {
        end_col - col
    } else {
        1
    };
    let _ = writeln!(out, "{gutter} |");
    let _ = writeln!(out, "{line} | {shown}");
    let _ = writeln!(
        out,
        "{gutter} | {}{}",
        " ".repeat(col.saturating_sub(1)),
        "^".repeat(carets)
    );
}
