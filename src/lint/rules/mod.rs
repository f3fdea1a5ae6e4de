//! Rule families: each a small module behind [`Rule`], registered in [`registry`].
//!
//! A family knows *how* to look (which part of the model, which positions); the rule data
//! file says *what* is retired. So a new retired major or runner label is a data change.

pub mod action_majors;
pub mod data;
pub mod local_runtime;
pub mod runner_labels;
pub mod used_runtime;
pub mod workflow_commands;

use super::finding::{Finding, Problem};
use super::model::Document;
use super::source::SourceFile;
pub use data::{Meta, RuleData};

/// What a rule family sees of one file.
pub struct Context<'a> {
    pub source: &'a SourceFile,
    pub doc: &'a Document,
    pub data: &'a RuleData,
    /// The action table (`src/lint/actions.toml`).
    pub table: &'a crate::lint::table::Table,
    /// Whether resolution will read the actions the table does not settle.
    pub resolving: bool,
}

/// A rule family.
pub trait Rule: Send + Sync {
    /// The family's name, as docs/lint.md lists it.
    fn family(&self) -> &'static str;
    /// Appends this family's findings for one file.
    fn check(&self, cx: &Context<'_>, out: &mut Vec<Finding>);
}

/// Every rule family, in the order their findings are reported.
pub fn registry() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(action_majors::ActionMajors),
        Box::new(workflow_commands::WorkflowCommands),
        Box::new(runner_labels::RunnerLabels),
        Box::new(local_runtime::LocalRuntime),
        Box::new(used_runtime::UsedRuntime),
    ]
}

/// A problem from a rule's metadata and a message specific to the place.
pub fn problem(meta: &Meta, message: String) -> Problem {
    Problem {
        rule_id: meta.id.clone(),
        severity: meta.severity,
        message,
        replacement: Some(meta.replacement.clone()),
        help_uri: Some(meta.link.clone()),
    }
}
