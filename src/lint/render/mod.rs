//! Renderers: each turns the one [`LintReport`](super::LintReport) into one output format.

pub mod github;
pub mod human;
pub mod json;
pub mod sarif;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Messages with a source snippet and a caret under the value.
    Human,
    /// One JSON document: counts, findings, file errors.
    Json,
    /// SARIF 2.1.0 for GitHub code scanning.
    Sarif,
    /// Workflow-command annotations for the Actions runner.
    Github,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "human" => Some(Format::Human),
            "json" => Some(Format::Json),
            "sarif" => Some(Format::Sarif),
            "github" => Some(Format::Github),
            _ => None,
        }
    }
}

/// Renders a report in a format.
pub fn render(format: Format, report: &super::LintReport) -> anyhow::Result<String> {
    Ok(match format {
        Format::Human => human::render(report),
        Format::Json => json::render(report)?,
        Format::Sarif => sarif::render(report)?,
        Format::Github => github::render(report).text,
    })
}
