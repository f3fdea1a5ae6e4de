//! From the fetched actions to findings: walk each reference's chain of actions (depth first,
//! cycles reported), keep the oldest runtime and every gone repository or ref.

use super::github::Failure;
use super::{Child, Hit, Key, Node, Pending, RepoInfo, Resolver};
use crate::lint::finding::Finding;
use crate::lint::rules::data::{GoneKind, Meta};
use crate::lint::rules::{problem, RuleData};
use std::collections::HashMap;

/// The problems of `key` and of the actions it uses, depth first with a cycle check.
pub(super) fn collect<'d>(
    resolver: &Resolver<'d>,
    nodes: &HashMap<Key, Node>,
    repos: &HashMap<String, Result<RepoInfo, Failure>>,
    key: &Key,
    stack: &mut Vec<Key>,
    via: &str,
    hits: &mut Vec<Hit<'d>>,
) {
    let data = resolver.data;
    let gone = |kind: GoneKind, message: String, hits: &mut Vec<Hit<'d>>| {
        if let Some(rule) = data.gone(kind) {
            hits.push(Hit {
                meta: &rule.meta,
                message: format!(
                    "{message}{via}: {} (since {})",
                    rule.meta.what, rule.meta.since
                ),
                rank: 0,
            });
        }
    };
    if let Some(Ok(info)) = repos.get(&key.repo) {
        if info.archived {
            gone(
                GoneKind::RepoArchived,
                format!("repository {} is archived", key.repo),
                hits,
            );
        }
    }
    match nodes.get(key) {
        None => {}
        Some(Node::RepoMissing) => gone(
            GoneKind::RepoMissing,
            format!("repository {} does not exist or is not visible", key.repo),
            hits,
        ),
        Some(Node::RefMissing) => gone(
            GoneKind::RefMissing,
            format!("ref `{}` does not exist in {}", key.git_ref, key.repo),
            hits,
        ),
        Some(Node::NoActionFile) => gone(
            GoneKind::Unresolved,
            format!(
                "no {} or {} in {} at `{}`",
                key.file_path("action.yml"),
                key.file_path("action.yaml"),
                key.repo,
                key.git_ref
            ),
            hits,
        ),
        Some(Node::Failed(why)) => gone(
            GoneKind::Unresolved,
            format!("{} not resolved: {why}", key.shown()),
            hits,
        ),
        Some(Node::TooDeep) => gone(
            GoneKind::Unresolved,
            format!(
                "{} not followed: composite actions nested deeper than {} levels",
                key.shown(),
                stack.len().saturating_sub(1)
            ),
            hits,
        ),
        Some(Node::Action {
            file,
            using,
            children,
        }) => {
            if let Some(rule) = data.used_runtime(using) {
                hits.push(Hit {
                    meta: &rule.meta,
                    message: format!(
                        "runs.using {using} in {} {file}{via}: {} (since {}); use a release that runs on node24",
                        key.shown(),
                        rule.meta.what,
                        rule.meta.since
                    ),
                    rank: runtime_rank(using),
                });
            }
            let via_here = format!(" (used by composite {}{via})", key.shown());
            for child in children {
                match child {
                    Child::Rule { shown, rule_id } => {
                        if let Some(meta) = data.meta(rule_id) {
                            hits.push(Hit {
                                meta,
                                message: format!(
                                    "{shown}{via_here}: {} (since {})",
                                    meta.what, meta.since
                                ),
                                rank: 0,
                            });
                        }
                    }
                    Child::Table {
                        shown,
                        using,
                        checked,
                    } => {
                        if let Some(rule) = data.used_runtime(using) {
                            hits.push(Hit {
                                meta: &rule.meta,
                                message: format!(
                                    "runs.using {using} in {shown} action.yml ({checked}){via_here}: {} (since {})",
                                    rule.meta.what, rule.meta.since
                                ),
                                rank: runtime_rank(using),
                            });
                        }
                    }
                    Child::Open(child) => {
                        if stack.contains(child) {
                            let cycle: Vec<String> = stack
                                .iter()
                                .chain(std::iter::once(child))
                                .map(Key::shown)
                                .collect();
                            gone(
                                GoneKind::Unresolved,
                                format!(
                                    "composite actions use each other in a cycle ({})",
                                    cycle.join(" -> ")
                                ),
                                hits,
                            );
                            continue;
                        }
                        stack.push(child.clone());
                        collect(resolver, nodes, repos, child, stack, &via_here, hits);
                        stack.pop();
                    }
                }
            }
        }
    }
}

/// node12 < node16 < node20: the oldest is the one reported.
pub(super) fn runtime_rank(using: &str) -> u32 {
    using
        .trim()
        .to_ascii_lowercase()
        .strip_prefix("node")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

pub(super) fn finding(p: &Pending, meta: &Meta, message: String) -> Finding {
    let mut f = p.at.clone();
    let found = problem(meta, message);
    f.rule_id = found.rule_id;
    f.severity = found.severity;
    f.message = found.message;
    f.replacement = found.replacement;
    f.help_uri = found.help_uri;
    f
}

pub(super) fn unresolved(p: &Pending, data: &RuleData, why: &str) -> Option<Finding> {
    let rule = data.gone(GoneKind::Unresolved)?;
    Some(finding(
        p,
        &rule.meta,
        format!(
            "{}@{}: not resolved: {why}: {} (since {})",
            p.name, p.git_ref, rule.meta.what, rule.meta.since
        ),
    ))
}
