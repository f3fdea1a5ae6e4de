//! Retired runner labels in `runs-on`, also when a matrix value supplies the label.

use super::{problem, Context, Rule};
use crate::lint::finding::Finding;
use crate::lint::source::Span;

pub struct RunnerLabels;

impl Rule for RunnerLabels {
    fn family(&self) -> &'static str {
        "runner-labels"
    }

    fn check(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for label in &cx.doc.labels {
            let value = label.value.value.trim();
            let Some(rule) = cx.data.runner.iter().find(|r| {
                r.label.eq_ignore_ascii_case(value)
                    || r.also.iter().any(|a| a.eq_ignore_ascii_case(value))
            }) else {
                continue;
            };
            let via = match &label.matrix_key {
                Some(key) => format!(" (through matrix value `{key}`)"),
                None => String::new(),
            };
            let message = format!(
                "runs-on `{value}`{via}: {} (since {}); use {}",
                rule.meta.what, rule.meta.since, rule.meta.replacement
            );
            let span = label.value.exact.unwrap_or(Span {
                start: label.value.start,
                end: label.value.start,
            });
            out.push(problem(&rule.meta, message).at(cx.source, span, None));
        }
    }
}
