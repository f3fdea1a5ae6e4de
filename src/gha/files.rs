//! File commands: `$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY` (and `$GITHUB_ENV`/`$GITHUB_STATE`,
//! which share the format).
//!
//! Every value is written in the multi-line form `name<<DELIM\nvalue\nDELIM\n`, which is valid
//! for single-line values too, with a fresh `ghadelimiter_<uuid>` like `@actions/core`.

use anyhow::{bail, Context, Result};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Formats one `name<<DELIM` entry; refuses names or values that contain the delimiter.
pub fn format_key_value(name: &str, value: &str) -> Result<String> {
    let delimiter = format!("ghadelimiter_{}", uuid::Uuid::new_v4());
    if name.contains(&delimiter) || value.contains(&delimiter) {
        bail!("output {name:?} contains the delimiter {delimiter}");
    }
    if name.is_empty() || name.contains('\n') || name.contains("<<") || name.contains('=') {
        bail!("output name {name:?} is not valid: expected a non-empty name without newlines, '=' or '<<'");
    }
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// Appends `name=value` to a runner key-value file (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STATE).
pub fn write_key_value(file: &Path, name: &str, value: &str) -> Result<()> {
    let entry = format_key_value(name, value)?;
    append(file, &entry)
}

/// Sets a step output. Outside a runner (no `GITHUB_OUTPUT`) this is a no-op and returns false.
pub fn set_output(name: &str, value: &str) -> Result<bool> {
    match std::env::var_os("GITHUB_OUTPUT").filter(|v| !v.is_empty()) {
        Some(path) => {
            write_key_value(Path::new(&path), name, value)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Appends markdown to the job summary. Outside a runner this is a no-op and returns false.
pub fn append_summary(markdown: &str) -> Result<bool> {
    match std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) {
        Some(path) => {
            append(Path::new(&path), markdown)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Appends markdown to a given step summary file (the path `GITHUB_STEP_SUMMARY` names).
pub fn append_summary_to(file: &Path, markdown: &str) -> Result<()> {
    append(file, markdown)
}

fn append(file: &Path, text: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .with_context(|| format!("opening runner file {}", file.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing runner file {}", file.display()))
}

/// Parses a key-value file the way the runner does (`EnvFileKeyValuePairs`): `k=v` lines and
/// `k<<DELIM` blocks. Used by tests and by the contract test to read what we wrote.
pub fn parse_key_values(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value_lines = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l.strip_suffix('\r').unwrap_or(l) == delimiter => break,
                    Some(l) => value_lines.push(l.strip_suffix('\r').unwrap_or(l)),
                    None => bail!("Matching delimiter not found '{delimiter}'"),
                }
            }
            out.push((name.to_string(), value_lines.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.to_string(), value.to_string()));
        } else {
            bail!("Invalid format '{line}'");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_value_round_trips_through_the_runner_format() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("output");
        write_key_value(&file, "status", "success").unwrap();
        write_key_value(&file, "log", "line one\nline two\n").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let pairs = parse_key_values(&text).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("status".to_string(), "success".to_string()),
                ("log".to_string(), "line one\nline two\n".to_string())
            ]
        );
        assert!(text.contains("ghadelimiter_"));
    }

    #[test]
    fn bad_output_names_are_refused() {
        assert!(format_key_value("", "v").is_err());
        assert!(format_key_value("a<<b", "v").is_err());
    }
}
