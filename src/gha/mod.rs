//! The GitHub Actions runner protocol, as a small library.
//!
//! A container action talks to the runner only through environment variables,
//! files named by environment variables, and workflow commands printed on stdout.
//! This module covers all three so that no other module formats `::` lines or
//! writes `$GITHUB_OUTPUT` by hand.

pub mod commands;
pub mod files;
pub mod inputs;
pub mod runner;

pub use commands::{Annotation, AnnotationLevel};
pub use files::{append_summary, set_output, write_key_value};
pub use inputs::{read_raw_inputs, InputError};
pub use runner::RunnerEnv;
