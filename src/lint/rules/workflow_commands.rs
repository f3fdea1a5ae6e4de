//! Deprecated workflow commands printed by `run:` scripts (`echo "::set-output name=x::y"`),
//! reported at the exact line and column of the `::` inside the script.

use super::{problem, Context, Rule};
use crate::lint::finding::Finding;
use crate::lint::source::Span;

pub struct WorkflowCommands;

impl Rule for WorkflowCommands {
    fn family(&self) -> &'static str {
        "workflow-commands"
    }

    fn check(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for run in &cx.doc.runs {
            for rule in &cx.data.command {
                let needle = format!("::{}", rule.command);
                if !contains_command(&run.value, &needle) {
                    continue;
                }
                let region = &cx.source.text[run.region.start..run.region.end];
                for start in command_offsets(region, &needle) {
                    let span = Span {
                        start: run.region.start + start,
                        end: run.region.start + start + needle.len(),
                    };
                    let message = format!(
                        "`{needle}`: {} (since {}); use {}",
                        rule.meta.what, rule.meta.since, rule.meta.replacement
                    );
                    out.push(problem(&rule.meta, message).at(cx.source, span, None));
                }
            }
        }
    }
}

fn contains_command(script: &str, needle: &str) -> bool {
    command_offsets(script, needle).next().is_some()
}

/// Offsets of `needle` followed by a space or `::` (so `::set-outputs` does not match).
fn command_offsets<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(needle).filter_map(move |(i, _)| {
        let rest = &text[i + needle.len()..];
        (rest.starts_with(' ') || rest.starts_with("::")).then_some(i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_commands_only() {
        let text = "echo ::set-output name=a::b; echo ::set-outputs x; echo ::add-path::/x";
        assert_eq!(
            command_offsets(text, "::set-output").collect::<Vec<_>>(),
            [5]
        );
        assert_eq!(command_offsets(text, "::add-path").count(), 1);
    }
}
