//! Retired or deprecated majors of actions, in workflow steps, composite actions' own steps
//! and reusable workflow calls. A SHA pin is judged by its version comment (`# v2.1.7`).

use super::data::ActionRule;
use super::{problem, Context, Rule};
use crate::lint::finding::{Edit, Finding};
use crate::lint::model::{UsesContext, UsesRef};
use crate::lint::source::Span;
use crate::lint::uses::{is_sha, version_from_comment, Target, Version};

pub struct ActionMajors;

impl Rule for ActionMajors {
    fn family(&self) -> &'static str {
        "action-majors"
    }

    fn check(&self, cx: &Context<'_>, out: &mut Vec<Finding>) {
        for uses in &cx.doc.uses {
            if let Some(finding) = judge(cx, uses) {
                out.push(finding);
            }
        }
    }
}

/// How the reference pins its version.
enum Pin {
    /// A tag or branch: the version is the ref itself, `--fix` can rewrite it.
    Tag,
    /// A commit SHA with a version comment: the version is the comment's.
    Sha,
}

fn judge(cx: &Context<'_>, uses: &UsesRef) -> Option<Finding> {
    let Target::Remote {
        name,
        git_ref,
        git_ref_offset,
    } = Target::parse(&uses.value.value)
    else {
        return None;
    };
    let (version, pin) = if is_sha(git_ref) {
        (version_from_comment(uses.comment.as_deref()?)?, Pin::Sha)
    } else {
        (Version::parse(git_ref)?, Pin::Tag)
    };
    let rule = most_severe_match(&cx.data.action, name, &version)?;
    let shown = match pin {
        Pin::Tag => format!("{name}@{git_ref}"),
        Pin::Sha => format!("{name}@{} (# {})", short(git_ref), uses.comment.as_deref()?),
    };
    let suggestion = match pin {
        Pin::Tag => format!("use {name}@{}", rule.meta.replacement),
        Pin::Sha => format!(
            "pin {name} to the commit of its {} release and update the comment (`{name}@<commit of {}> # {}.x.y`); no commit is suggested here",
            rule.meta.replacement, rule.meta.replacement, rule.meta.replacement
        ),
    };
    let place = match uses.context {
        UsesContext::Step => "",
        UsesContext::CompositeStep => " (in a composite action's steps)",
        UsesContext::ReusableWorkflow => " (reusable workflow call)",
    };
    let message = format!(
        "{shown}{place}: {} (since {}); {suggestion}",
        rule.meta.what, rule.meta.since
    );
    let span = uses.value.exact.unwrap_or(Span {
        start: uses.value.start,
        end: uses.value.start,
    });
    let edit = match (pin, uses.value.exact) {
        (Pin::Tag, Some(exact)) => Some(Edit {
            span: Span {
                start: exact.start + git_ref_offset,
                end: exact.end,
            },
            replacement: rule.meta.replacement.clone(),
        }),
        _ => None,
    };
    Some(problem(&rule.meta, message).at(cx.source, span, edit))
}

/// The rule of the data that matches `name` at `version`, if any (the most severe).
pub fn matching_rule<'r>(
    data: &'r super::RuleData,
    name: &str,
    version: &Version,
) -> Option<&'r ActionRule> {
    most_severe_match(&data.action, name, version)
}

/// The matching rule with the highest severity (the first in file order among equals).
fn most_severe_match<'r>(
    rules: &'r [ActionRule],
    name: &str,
    version: &Version,
) -> Option<&'r ActionRule> {
    rules
        .iter()
        .filter(|rule| names_match(&rule.action, name) && version_matches(rule, version))
        .fold(None, |best: Option<&ActionRule>, rule| match best {
            Some(b) if b.meta.severity >= rule.meta.severity => Some(b),
            _ => Some(rule),
        })
}

/// `actions/cache` matches `Actions/Cache`; `github/codeql-action` matches
/// `github/codeql-action/init`.
fn names_match(rule: &str, name: &str) -> bool {
    let (rule, name) = (rule.to_ascii_lowercase(), name.to_ascii_lowercase());
    name == rule || name.starts_with(&format!("{rule}/"))
}

fn version_matches(rule: &ActionRule, version: &Version) -> bool {
    if !rule.majors.contains(&version.major) {
        return false;
    }
    match rule.below.as_deref().and_then(Version::parse) {
        Some(below) => version.is_exact() && version.cmp_release(&below).is_lt(),
        None => true,
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
