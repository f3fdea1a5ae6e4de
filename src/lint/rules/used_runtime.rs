//! The runtime of an action a step uses, from the action table (`src/lint/actions.toml`),
//! for references the rule data does not settle: `uses: actions/stale@v8` runs on node16.
//! What the table does not know is left to resolution (`crate::lint::resolve`).

use super::{action_majors, problem, Context, Rule};
use crate::lint::finding::Finding;
use crate::lint::model::{UsesContext, UsesRef};
use crate::lint::source::Span;
use crate::lint::table::Known;
use crate::lint::uses::{is_sha, version_from_comment, Target, Version};

pub struct UsedRuntime;

impl Rule for UsedRuntime {
    fn family(&self) -> &'static str {
        "used-action-runtime"
    }

    fn check(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for uses in &cx.doc.uses {
            let Settled::ByTable { name, shown, known } = settle(cx, uses) else {
                continue;
            };
            let Some(rule) = cx.data.used_runtime(known.using) else {
                continue;
            };
            let upgrade = match known.first_node24 {
                Some(major) => format!("use {name}@v{major} (its first major on node24)"),
                None => format!("use a release of {name} that runs on node24"),
            };
            let message = format!(
                "{shown}: runs.using {} in {shown} action.yml ({}): {} (since {}); {upgrade}",
                known.using, known.checked, rule.meta.what, rule.meta.since
            );
            let span = uses.value.exact.unwrap_or(Span {
                start: uses.value.start,
                end: uses.value.start,
            });
            let mut p = problem(&rule.meta, message);
            if let Some(major) = known.first_node24 {
                p.replacement = Some(format!("v{major}"));
            }
            out.push(p.at(cx.source, span, None));
        }
    }
}

/// How a `uses:` reference is settled without asking GitHub.
pub enum Settled<'c> {
    /// Not an `OWNER/REPO@REF` action (local, Docker, an expression), or a reusable workflow
    /// call: nothing to resolve.
    NotAnAction,
    /// An entry of the rule data matches (it reports).
    ByRule,
    /// The action table knows the major's runtime.
    ByTable {
        name: &'c str,
        shown: String,
        known: Known<'c>,
    },
    /// Only the action's own action.yml can tell.
    Open,
}

/// Whether the rule data or the table settle `uses`. With resolution on, the table settles
/// only floating majors (`@v4`): an exact release (`@v4.1.2`) or a commit is read from the
/// action itself, since a runtime can change within a major.
pub fn settle<'c>(cx: &Context<'c>, uses: &'c UsesRef) -> Settled<'c> {
    if uses.context == UsesContext::ReusableWorkflow {
        return Settled::NotAnAction;
    }
    let Target::Remote { name, git_ref, .. } = Target::parse(&uses.value.value) else {
        return Settled::NotAnAction;
    };
    if git_ref.contains("${{") || name.contains("${{") {
        return Settled::NotAnAction;
    }
    let (version, shown) = if is_sha(git_ref) {
        match uses.comment.as_deref().and_then(version_from_comment) {
            Some(v) => (
                v,
                format!(
                    "{name}@{} (# {})",
                    &git_ref[..12],
                    uses.comment.as_deref().unwrap_or("")
                ),
            ),
            None => return Settled::Open,
        }
    } else {
        match Version::parse(git_ref) {
            Some(v) => (v, format!("{name}@{git_ref}")),
            None => return Settled::Open,
        }
    };
    if action_majors::matching_rule(cx.data, name, &version).is_some() {
        return Settled::ByRule;
    }
    let floating = !version.is_exact() && !is_sha(git_ref);
    if cx.resolving && !floating {
        return Settled::Open;
    }
    match cx.table.lookup(name, &version) {
        Some(known) if known.using != "composite" => Settled::ByTable { name, shown, known },
        _ => Settled::Open,
    }
}
