//! The github format: `::error file=..,line=..,col=..::` annotations through `crate::gha`.
//!
//! The runner shows at most 10 error, 10 warning and 10 notice annotations per step and drops
//! the rest, so the most severe go first (file errors, then errors, warnings, notes), at most
//! [`PER_LEVEL`] each, and the output ends with how many were left out.

use crate::gha::{Annotation, AnnotationLevel};
use crate::lint::{LintReport, Severity};

/// The runner's per-step limit for each annotation level.
pub const PER_LEVEL: usize = 10;

/// The annotation lines and how many findings did not get one.
pub struct Annotated {
    pub text: String,
    pub not_annotated: usize,
}

pub fn render(report: &LintReport) -> Annotated {
    let mut lines: Vec<String> = Vec::new();
    let mut shown = [0usize; 3];
    let mut not_annotated = 0;
    let mut push = |level: AnnotationLevel, annotation: Annotation| {
        let slot = match level {
            AnnotationLevel::Error => 0,
            AnnotationLevel::Warning => 1,
            AnnotationLevel::Notice => 2,
        };
        if shown[slot] < PER_LEVEL {
            shown[slot] += 1;
            lines.push(annotation.to_string());
        } else {
            not_annotated += 1;
        }
    };
    for e in &report.file_errors {
        let a = Annotation::new(
            AnnotationLevel::Error,
            format!("cannot lint this file: {}", e.message),
        )
        .at(&e.file, e.line, e.column)
        .title("bluegreen lint: file error");
        push(AnnotationLevel::Error, a);
    }
    let mut findings: Vec<_> = report.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for f in findings {
        let level = match f.severity {
            Severity::Error => AnnotationLevel::Error,
            Severity::Warning => AnnotationLevel::Warning,
            Severity::Note => AnnotationLevel::Notice,
        };
        let mut a = Annotation::new(level, f.message.clone())
            .at(&f.file, f.line, f.column)
            .title(format!("bluegreen lint: {}", f.rule_id));
        if f.end_line == f.line && f.end_column > f.column {
            a.end_line = Some(f.end_line);
            a.end_col = Some(f.end_column);
        }
        push(level, a);
    }
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&crate::lint::render::human::summary_line(report));
    if not_annotated > 0 {
        text.push_str(&format!(
            "; {not_annotated} not annotated (the runner shows {PER_LEVEL} per level and step): see the job summary or the SARIF file"
        ));
    }
    text.push('\n');
    Annotated {
        text,
        not_annotated,
    }
}
