//! Which files to lint and reading them safely: size cap, binary, encoding, all reported as
//! a [`FileError`] for that file with a location, never a panic, never a silent skip.

use super::source::{Position, SourceFile};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Files larger than this are refused: no real workflow comes close (GitHub's own largest are
/// tens of KiB), and the cap bounds the parser's memory on hostile input.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

/// Directories never searched for `action.yml`: build output, VCS data, vendored packages.
pub const SKIPPED_DIRS: &[&str] = &["target", ".git", "node_modules"];

/// A file that could not be linted, and where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl FileError {
    pub fn new(file: &str, position: Position, message: impl Into<String>) -> Self {
        FileError {
            file: file.to_string(),
            line: position.line,
            column: position.column,
            message: message.into(),
        }
    }
}

/// The default set: `.github/workflows/*.{yml,yaml}` (GitHub reads no subdirectories there)
/// and every `action.yml`/`action.yaml` in the repository outside [`SKIPPED_DIRS`].
pub fn default_paths(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let workflows = root.join(".github/workflows");
    if let Ok(entries) = std::fs::read_dir(&workflows) {
        out.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && is_yaml(p)),
        );
    }
    let walker = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| !(e.file_type().is_dir() && is_skipped_dir(e.file_name())));
    out.extend(
        walker
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(walkdir::DirEntry::into_path)
            .filter(|p| is_action_file(p)),
    );
    out.sort();
    out.dedup();
    out
}

/// Expands the paths a user gave: files as they are, directories to their YAML files
/// (recursively). A path that does not exist is an error for that path.
pub fn expand(root: &Path, given: &[PathBuf]) -> (Vec<PathBuf>, Vec<FileError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in given {
        let full = if path.is_absolute() {
            path.clone()
        } else {
            root.join(path)
        };
        if full.is_dir() {
            let walker = walkdir::WalkDir::new(&full)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| !(e.file_type().is_dir() && is_skipped_dir(e.file_name())));
            files.extend(
                walker
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_file() && is_yaml(e.path()))
                    .map(walkdir::DirEntry::into_path),
            );
        } else if full.is_file() {
            files.push(full);
        } else {
            errors.push(FileError::new(
                &display(root, &full),
                Position { line: 1, column: 1 },
                "no such file or directory",
            ));
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

/// Reads one file for linting.
pub fn read(root: &Path, path: &Path) -> Result<SourceFile, FileError> {
    let shown = display(root, path);
    let start = Position { line: 1, column: 1 };
    let size = std::fs::metadata(path)
        .map_err(|e| FileError::new(&shown, start, format!("cannot read: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(FileError::new(
            &shown,
            start,
            format!("file is {size} bytes; the limit is {MAX_FILE_BYTES} bytes (2 MiB)"),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| FileError::new(&shown, start, format!("cannot read: {e}")))?;
    decode(&shown, bytes).map(|text| SourceFile::new(shown, text))
}

/// Checks and decodes a file's bytes: not empty, not binary, UTF-8.
pub fn decode(shown: &str, bytes: Vec<u8>) -> Result<String, FileError> {
    let start = Position { line: 1, column: 1 };
    if bytes.is_empty() {
        return Err(FileError::new(
            shown,
            start,
            "empty file: expected a workflow or action definition",
        ));
    }
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        let at = position_in_prefix(&bytes, nul);
        return Err(FileError::new(
            shown,
            at,
            "binary file (NUL byte): expected YAML text",
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        let at = position_in_prefix(&bytes, bad);
        FileError::new(
            shown,
            at,
            format!(
                "not UTF-8: invalid byte 0x{:02x}; GitHub reads workflow files as UTF-8",
                bytes[bad]
            ),
        )
    })
}

/// The position of byte `offset`, counting the valid UTF-8 before it.
fn position_in_prefix(bytes: &[u8], offset: usize) -> Position {
    let prefix = String::from_utf8_lossy(&bytes[..offset]);
    let line = prefix.matches('\n').count() + 1;
    let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Position { line, column }
}

/// `path` relative to `root`, `/`-separated, as findings show it.
pub fn display(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        // Outside the repository (an absolute PATH elsewhere): shown as given.
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

fn is_action_file(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("action.yml" | "action.yaml")
    )
}

fn is_skipped_dir(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| SKIPPED_DIRS.contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_names_the_place_of_bad_bytes() {
        let err = decode("a.yml", b"on: push\njobs:\n  x\xff: 1\n".to_vec()).unwrap_err();
        assert_eq!((err.line, err.column), (3, 4));
        assert!(err.message.contains("0xff"), "{}", err.message);
        let err = decode("a.yml", b"ab\ncd\0".to_vec()).unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
        assert!(decode("a.yml", Vec::new())
            .unwrap_err()
            .message
            .starts_with("empty file"));
    }
}
