//! The one finding model every rule produces and every renderer reads.

use super::source::{SourceFile, Span};
use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Note < Warning < Error`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Note,
    /// The job still runs, GitHub warns.
    Warning,
    /// The job fails.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(name: &str) -> Option<Severity> {
        match name {
            "note" => Some(Severity::Note),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// A byte-exact edit `--fix` applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Span,
    pub replacement: String,
}

/// One problem at one place.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub severity: Severity,
    /// Repository-relative, `/`-separated.
    pub file: String,
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: String,
    /// What to use instead.
    pub replacement: Option<String>,
    pub help_uri: Option<String>,
    /// Whether `--fix` can rewrite this one.
    pub fixable: bool,
    #[serde(skip)]
    pub span: Span,
    #[serde(skip)]
    pub edit: Option<Edit>,
}

/// What a rule knows when it reports: everything but the positions.
#[derive(Debug, Clone)]
pub struct Problem {
    pub rule_id: String,
    pub severity: Severity,
    pub message: String,
    pub replacement: Option<String>,
    pub help_uri: Option<String>,
}

impl Problem {
    /// Places the problem on `span` of `source`.
    pub fn at(self, source: &SourceFile, span: Span, edit: Option<Edit>) -> Finding {
        let start = source.position(span.start);
        let end = source.position(span.end.max(span.start));
        Finding {
            rule_id: self.rule_id,
            severity: self.severity,
            file: source.path.clone(),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            message: self.message,
            replacement: self.replacement,
            help_uri: self.help_uri,
            fixable: edit.is_some(),
            span,
            edit,
        }
    }
}
