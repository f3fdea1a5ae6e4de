//! An action's own `runs.using` on a retired Node runtime (local and composite actions are
//! linted as files, so this covers `uses: ./path` too).

use super::{problem, Context, Rule};
use crate::lint::finding::Finding;
use crate::lint::source::Span;

pub struct LocalRuntime;

impl Rule for LocalRuntime {
    fn family(&self) -> &'static str {
        "local-action-runtime"
    }

    fn check(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(using) = &cx.doc.runs_using else {
            return;
        };
        let value = using.value.trim();
        let Some(rule) = cx
            .data
            .runtime
            .iter()
            .find(|r| r.using.eq_ignore_ascii_case(value))
        else {
            return;
        };
        let message = format!(
            "runs.using `{value}`: {} (since {}); move the action to `using: {}`",
            rule.meta.what, rule.meta.since, rule.meta.replacement
        );
        let span = using.exact.unwrap_or(Span {
            start: using.start,
            end: using.start,
        });
        out.push(problem(&rule.meta, message).at(cx.source, span, None));
    }
}
