//! Loading a file's YAML with saphyr, and the one relaxation GitHub's parser makes that
//! saphyr does not: a flow collection's continuation lines indented less than their key.
//! Such files are re-scanned with those lines shifted right ([`flow_indent_shifts`]), and
//! the markers are mapped back to the real text ([`marker_offset`]).

use crate::lint::source::{Position, SourceFile};
use saphyr::{MarkedYaml, YamlLoader};
use saphyr_parser::{Event, Parser, ScanError, SpannedEventReceiver};

/// Deepest nesting of mappings and sequences accepted. Real workflows nest about 8 levels
/// (jobs, job, strategy, matrix, include, entry, value); the cap stops hostile files such as
/// `- - - - ...` from overflowing the stack when the tree is built, walked or dropped.
pub const MAX_DEPTH: usize = 128;

/// Why a file could not be modelled, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    pub position: Position,
}

/// The most re-scans [`flow_indent_shifts`] makes: each moves one line right by one column,
/// and real files need a handful.
const MAX_FLOW_INDENT_RESCANS: usize = 2_000;

/// Why loading stopped.
pub(super) enum LoadError {
    /// A line inside a flow collection (`[...]`, `{...}`) is indented no deeper than the
    /// block that holds the collection: YAML 1.2 refuses it, saphyr follows the spec, but
    /// GitHub's parser (like libyaml and go-yaml) accepts it. The 0-based line.
    FlowIndent(usize),
    Other(ParseError),
}

impl LoadError {
    pub(super) fn into_parse_error(self, source: &SourceFile, shifts: &[usize]) -> ParseError {
        match self {
            LoadError::Other(mut e) => {
                let line0 = e.position.line.saturating_sub(1);
                let shift = shifts.get(line0).copied().unwrap_or(0);
                let offset = source
                    .offset_of(
                        e.position.line,
                        (e.position.column - 1).saturating_sub(shift),
                    )
                    .unwrap_or(0);
                e.position = source.position(offset);
                e
            }
            LoadError::FlowIndent(line0) => ParseError {
                message: "invalid YAML: invalid indentation inside a flow collection".into(),
                position: Position {
                    line: line0 + 1,
                    column: 1,
                },
            },
        }
    }
}

/// The columns to move each line right by so that every line inside a flow collection is
/// indented deeper than its block. Moving a line inside `[...]`/`{...}` right changes no
/// value: there, indentation is only separation (and leading spaces of a quoted scalar's
/// continuation line are folded away). The scanner reports the line it stopped at, so each
/// step moves exactly that line; a file with another error keeps it (loading the moved text
/// reports it, at its place in the file). `None` after [`MAX_FLOW_INDENT_RESCANS`].
pub(super) fn flow_indent_shifts(text: &str, first: usize) -> Option<Vec<usize>> {
    let lines = text.split('\n').count();
    let mut shifts = vec![0usize; lines];
    let mut line = first;
    for _ in 0..MAX_FLOW_INDENT_RESCANS {
        *shifts.get_mut(line)? += 1;
        let candidate = indent_lines(text, &shifts);
        match scan(&candidate) {
            Err(ScanStop::FlowIndent(next)) if next >= line => line = next,
            _ => return Some(shifts),
        }
    }
    None
}

enum ScanStop {
    FlowIndent(usize),
    Other,
}

/// Runs the scanner and parser over `text` without building a tree.
fn scan(text: &str) -> Result<(), ScanStop> {
    for item in Parser::new_from_str(text) {
        if let Err(e) = item {
            return Err(match flow_indent_line(&e) {
                Some(line) => ScanStop::FlowIndent(line),
                None => ScanStop::Other,
            });
        }
    }
    Ok(())
}

/// The 0-based line of a scan error that is only saphyr's strict flow indentation.
fn flow_indent_line(e: &ScanError) -> Option<usize> {
    matches!(
        e.info(),
        "invalid indentation" | "invalid indentation in flow construct"
    )
    .then(|| e.marker().line().saturating_sub(1))
}

/// `text` with `shifts[i]` spaces put in front of line `i`.
pub(super) fn indent_lines(text: &str, shifts: &[usize]) -> String {
    let extra: usize = shifts.iter().sum();
    let mut out = String::with_capacity(text.len() + extra);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for _ in 0..shifts.get(i).copied().unwrap_or(0) {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// Loads the YAML documents of `text` (the file's text, or it with lines moved right by
/// `shifts`), refusing nesting deeper than [`MAX_DEPTH`] before the tree gets deep: events
/// are fed to saphyr's loader one by one and counted on the way.
pub(super) fn load<'t>(
    text: &'t str,
    source: &SourceFile,
    shifts: &[usize],
) -> Result<Vec<MarkedYaml<'t>>, LoadError> {
    let scan_error = |e: &ScanError| {
        if shifts.is_empty() {
            if let Some(line) = flow_indent_line(e) {
                return LoadError::FlowIndent(line);
            }
        }
        let m = e.marker();
        LoadError::Other(ParseError {
            message: format!("invalid YAML: {}", e.info()),
            position: Position {
                line: m.line().max(1),
                column: m.col() + 1,
            },
        })
    };
    let mut loader: YamlLoader<'t, MarkedYaml<'t>> = YamlLoader::default();
    let mut depth = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| scan_error(&e))?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    let at = marker_offset(source, shifts, span.start.line(), span.start.col())
                        .unwrap_or(0);
                    return Err(LoadError::Other(ParseError {
                        message: format!(
                            "YAML nested deeper than {MAX_DEPTH} levels: not a workflow or action"
                        ),
                        position: source.position(at),
                    }));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        loader.on_event(event, span);
        if let Some(e) = loader.error() {
            return Err(scan_error(e));
        }
    }
    Ok(loader.into_documents())
}

/// The byte offset in the file of a parser marker (1-based line, 0-based column) of the text
/// that was parsed, which has `shifts[i]` more spaces in front of line `i`.
pub(super) fn marker_offset(
    source: &SourceFile,
    shifts: &[usize],
    line: usize,
    col0: usize,
) -> Option<usize> {
    let shift = line
        .checked_sub(1)
        .and_then(|i| shifts.get(i))
        .copied()
        .unwrap_or(0);
    source.offset_of(line, col0.saturating_sub(shift))
}
