//! How a command prints its result: for people, or as JSON for programs.

use clap::ValueEnum;

/// `--format human|json` of `deploy`, `rollback`, `status` and `verify-image`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

/// The shape version of every `--format json` document (`deploy`, `rollback`, `status`,
/// `verify-image`, `lint`): it changes only when a field is removed or changes meaning; fields
/// are added freely. The schemas are in `docs/schemas/`.
pub const SCHEMA_VERSION: u32 = 1;

/// `body` as one pretty JSON document with `schema_version` first.
pub fn json_document<T: serde::Serialize>(body: &T) -> serde_json::Result<String> {
    #[derive(serde::Serialize)]
    struct Document<'a, T> {
        schema_version: u32,
        #[serde(flatten)]
        body: &'a T,
    }
    serde_json::to_string_pretty(&Document {
        schema_version: SCHEMA_VERSION,
        body,
    })
}
