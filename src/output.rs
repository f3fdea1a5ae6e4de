//! How a command prints its result: for people, or as JSON for programs.

use clap::ValueEnum;

/// `--format human|json` of `deploy`, `rollback`, `status` and `verify-image`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}
