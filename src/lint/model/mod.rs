//! The part of a workflow or action file the rules look at, with source spans.
//!
//! Parsed with saphyr (a maintained YAML 1.2 parser whose nodes carry markers), then reduced
//! to the few things the rules judge: every `uses:` reference, every `run:` script, every
//! `runs-on` label (also through matrix values) and an action's `runs.using`. Aliases are
//! resolved by the parser, so a finding through an alias points at the anchored value.
//!
//! The parser's start markers are exact but its end markers are not (a quoted scalar ends at
//! the end of its line), so the span of a value is recomputed from the source text and kept
//! only when the source spells the value literally. Values that use escapes or span lines get
//! a position but no exact span, and `--fix` leaves them alone.

mod load;

use super::source::{Position, SourceFile, Span};
use load::{flow_indent_shifts, indent_lines, load, marker_offset, LoadError};
pub use load::{ParseError, MAX_DEPTH};
use saphyr::{MarkedYaml, YamlData};

/// What a file is: decides which keys are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Workflow,
    Action,
}

/// A string value and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub value: String,
    /// Where the value starts (the opening quote of a quoted scalar is skipped).
    pub start: usize,
    /// The exact bytes of the value, when the source spells it literally.
    pub exact: Option<Span>,
}

/// Where a `uses:` appears: the same rules apply, the message says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsesContext {
    /// `jobs.<id>.steps[*].uses` in a workflow.
    Step,
    /// `runs.steps[*].uses` in a composite action.
    CompositeStep,
    /// `jobs.<id>.uses`: a reusable workflow call.
    ReusableWorkflow,
}

/// One `uses:` value and its trailing comment (`# v4.1.0`), if any.
#[derive(Debug, Clone)]
pub struct UsesRef {
    pub value: Located,
    pub context: UsesContext,
    pub comment: Option<String>,
}

/// One `run:` script. `region` is the source text that holds it, for exact command positions.
#[derive(Debug, Clone)]
pub struct RunScript {
    pub value: String,
    pub region: Span,
}

/// One runner label of a `runs-on`, possibly a matrix value the label expression names.
#[derive(Debug, Clone)]
pub struct RunnerLabel {
    pub value: Located,
    /// `Some(key)` when the label came from `strategy.matrix.<key>`.
    pub matrix_key: Option<String>,
}

/// The model of one file.
#[derive(Debug, Clone)]
pub struct Document {
    pub kind: FileKind,
    pub uses: Vec<UsesRef>,
    pub runs: Vec<RunScript>,
    pub labels: Vec<RunnerLabel>,
    /// An action's `runs.using`.
    pub runs_using: Option<Located>,
}

/// The kind a path implies: `action.yml`/`action.yaml` are actions, everything else workflows
/// (and so is every file directly in `.github/workflows/`, whatever its name: GitHub runs
/// `.github/workflows/action.yml` as a workflow).
pub fn kind_of(path: &str) -> FileKind {
    let name = path.rsplit('/').next().unwrap_or(path);
    if (name == "action.yml" || name == "action.yaml") && !is_workflows_file(path) {
        FileKind::Action
    } else {
        FileKind::Workflow
    }
}

/// Parses a file into its [`Document`].
///
/// A file that is not a `.github/workflows/` file, has `runs:` and no `jobs:` is read as action
/// metadata whatever its name (`bluegreen lint my-action/action-v2.yml`); an `action.yml` with
/// `jobs:` and no `runs:` is read as a workflow.
pub fn parse(source: &SourceFile, kind: FileKind) -> Result<Document, ParseError> {
    let relaxed: String;
    let (docs, shifts) = match load(&source.text, source, &[]) {
        Ok(docs) => (docs, Vec::new()),
        Err(LoadError::FlowIndent(first)) => {
            let shifts = flow_indent_shifts(&source.text, first)
                .ok_or_else(|| LoadError::FlowIndent(first).into_parse_error(source, &[]))?;
            relaxed = indent_lines(&source.text, &shifts);
            let docs =
                load(&relaxed, source, &shifts).map_err(|e| e.into_parse_error(source, &shifts))?;
            (docs, shifts)
        }
        Err(e) => return Err(e.into_parse_error(source, &[])),
    };
    let at_start = Position { line: 1, column: 1 };
    let reader = Reader {
        source,
        shifts: &shifts,
    };
    let root = match docs.as_slice() {
        [] => {
            return Err(ParseError {
                message: "the file holds no YAML document".into(),
                position: at_start,
            })
        }
        [root] => root,
        [_, second, ..] => {
            return Err(ParseError {
                message: "the file holds more than one YAML document; GitHub reads exactly one"
                    .into(),
                position: reader.position_of(second),
            })
        }
    };
    if !matches!(root.data, YamlData::Mapping(_)) {
        return Err(ParseError {
            message: "expected a mapping at the top level".into(),
            position: reader.position_of(root),
        });
    }
    let kind = match kind {
        FileKind::Workflow
            if get(root, "jobs").is_none()
                && get(root, "runs").is_some()
                && !is_workflows_file(&source.path) =>
        {
            FileKind::Action
        }
        // An `action.yml` outside `.github/workflows/` that is a workflow (a template, a copy).
        FileKind::Action if get(root, "runs").is_none() && get(root, "jobs").is_some() => {
            FileKind::Workflow
        }
        other => other,
    };
    let mut doc = Document {
        kind,
        uses: Vec::new(),
        runs: Vec::new(),
        labels: Vec::new(),
        runs_using: None,
    };
    match kind {
        FileKind::Workflow => reader.workflow(root, &mut doc)?,
        FileKind::Action => reader.action(root, &mut doc)?,
    }
    Ok(doc)
}

/// A file directly in `.github/workflows/`: GitHub runs it as a workflow, so it must have `jobs:`.
fn is_workflows_file(path: &str) -> bool {
    path.rsplit_once('/')
        .is_some_and(|(dir, _)| dir == ".github/workflows" || dir.ends_with("/.github/workflows"))
}

struct Reader<'s> {
    source: &'s SourceFile,
    /// Columns each line was moved right by before parsing (see [`flow_indent_shifts`]).
    shifts: &'s [usize],
}

impl Reader<'_> {
    fn workflow(&self, root: &MarkedYaml, doc: &mut Document) -> Result<(), ParseError> {
        let Some(jobs) = get(root, "jobs") else {
            return Err(ParseError {
                message: "no `jobs:` key: not a GitHub Actions workflow".into(),
                position: self.position_of(root),
            });
        };
        let YamlData::Mapping(jobs) = &jobs.data else {
            return Err(ParseError {
                message: "`jobs:` must be a mapping of job ids to jobs".into(),
                position: self.position_of(jobs),
            });
        };
        for job in jobs.values() {
            if let Some(uses) = get(job, "uses") {
                self.push_uses(uses, UsesContext::ReusableWorkflow, doc);
            }
            if let Some(runs_on) = get(job, "runs-on") {
                self.runner_labels(job, runs_on, doc);
            }
            self.steps(get(job, "steps"), UsesContext::Step, doc);
        }
        Ok(())
    }

    fn action(&self, root: &MarkedYaml, doc: &mut Document) -> Result<(), ParseError> {
        let Some(runs) = get(root, "runs") else {
            return Err(ParseError {
                message: "no `runs:` key: not a GitHub Action metadata file".into(),
                position: self.position_of(root),
            });
        };
        doc.runs_using = get(runs, "using").and_then(|u| self.located(u));
        self.steps(get(runs, "steps"), UsesContext::CompositeStep, doc);
        Ok(())
    }

    fn steps(&self, steps: Option<&MarkedYaml>, context: UsesContext, doc: &mut Document) {
        let Some(YamlData::Sequence(steps)) = steps.map(|s| &s.data) else {
            return;
        };
        for step in steps {
            if let Some(uses) = get(step, "uses") {
                self.push_uses(uses, context, doc);
            }
            if let Some(run) = get(step, "run") {
                if let Some(value) = run.data.as_str() {
                    doc.runs.push(RunScript {
                        value: value.to_string(),
                        region: self.region(run),
                    });
                }
            }
        }
    }

    fn push_uses(&self, node: &MarkedYaml, context: UsesContext, doc: &mut Document) {
        let Some(value) = self.located(node) else {
            return;
        };
        let comment = value.exact.and_then(|span| self.trailing_comment(span.end));
        doc.uses.push(UsesRef {
            value,
            context,
            comment,
        });
    }

    /// `runs-on` as a string, a list, or `{group, labels}`; `${{ matrix.KEY }}` expands to
    /// the values of `strategy.matrix.KEY` and of `KEY` in `strategy.matrix.include`.
    fn runner_labels(&self, job: &MarkedYaml, runs_on: &MarkedYaml, doc: &mut Document) {
        let nodes: Vec<&MarkedYaml> = match &runs_on.data {
            YamlData::Sequence(items) => items.iter().collect(),
            YamlData::Mapping(_) => match get(runs_on, "labels") {
                Some(labels) => match &labels.data {
                    YamlData::Sequence(items) => items.iter().collect(),
                    _ => vec![labels],
                },
                None => Vec::new(),
            },
            _ => vec![runs_on],
        };
        for node in nodes {
            let Some(label) = self.located(node) else {
                continue;
            };
            match matrix_key(&label.value) {
                Some(key) => self.matrix_labels(job, &key, doc),
                None => doc.labels.push(RunnerLabel {
                    value: label,
                    matrix_key: None,
                }),
            }
        }
    }

    fn matrix_labels(&self, job: &MarkedYaml, key: &str, doc: &mut Document) {
        let Some(matrix) = get(job, "strategy").and_then(|s| get(s, "matrix")) else {
            return;
        };
        let mut values: Vec<&MarkedYaml> = Vec::new();
        if let Some(node) = get(matrix, key) {
            match &node.data {
                YamlData::Sequence(items) => values.extend(items.iter()),
                _ => values.push(node),
            }
        }
        if let Some(YamlData::Sequence(includes)) = get(matrix, "include").map(|i| &i.data) {
            values.extend(includes.iter().filter_map(|entry| get(entry, key)));
        }
        for node in values {
            // A matrix value may itself be a list of labels (`os: [[self-hosted, linux]]`).
            let items: Vec<&MarkedYaml> = match &node.data {
                YamlData::Sequence(items) => items.iter().collect(),
                _ => vec![node],
            };
            for item in items {
                if let Some(value) = self.located(item) {
                    doc.labels.push(RunnerLabel {
                        value,
                        matrix_key: Some(key.to_string()),
                    });
                }
            }
        }
    }

    /// A string scalar with its start and, when the source spells it literally, exact span.
    fn located(&self, node: &MarkedYaml) -> Option<Located> {
        let value = node.data.as_str()?;
        let start = self.offset(node);
        let text = &self.source.text[start..];
        let (start, exact) = match text.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = start + 1;
                let literal = text[1..].starts_with(value)
                    && text[1 + value.len()..].starts_with(q)
                    && !value.contains(['\\', '\'', '\n']);
                (inner, literal.then_some(inner))
            }
            _ => (
                start,
                (text.starts_with(value) && !value.contains('\n')).then_some(start),
            ),
        };
        Some(Located {
            value: value.to_string(),
            start,
            exact: exact.map(|s| Span {
                start: s,
                end: s + value.len(),
            }),
        })
    }

    /// The source text of a scalar, from its first character to the parser's end marker (or
    /// the end of its line, whichever is later).
    fn region(&self, node: &MarkedYaml) -> Span {
        let start = self.offset(node);
        let end = marker_offset(
            self.source,
            self.shifts,
            node.span.end.line(),
            node.span.end.col(),
        )
        .unwrap_or(self.source.text.len());
        Span {
            start,
            end: end.max(self.source.end_of_line(start)),
        }
    }

    /// The `# ...` comment after a value on the same line, e.g. `# v4.1.0`.
    fn trailing_comment(&self, after: usize) -> Option<String> {
        let end = self.source.end_of_line(after);
        let rest = self.source.text[after..end].trim_start_matches(['"', '\'']);
        let rest = rest.trim_start();
        let comment = rest.strip_prefix('#')?.trim();
        (!comment.is_empty()).then(|| comment.to_string())
    }

    fn offset(&self, node: &MarkedYaml) -> usize {
        marker_offset(
            self.source,
            self.shifts,
            node.span.start.line(),
            node.span.start.col(),
        )
        .unwrap_or(0)
    }

    fn position_of(&self, node: &MarkedYaml) -> Position {
        self.source.position(self.offset(node))
    }
}

fn get<'a, 'i>(node: &'a MarkedYaml<'i>, key: &str) -> Option<&'a MarkedYaml<'i>> {
    let YamlData::Mapping(map) = &node.data else {
        return None;
    };
    map.iter()
        .find(|(k, _)| k.data.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// `${{ matrix.os }}` gives `os`. Only a label that is exactly one matrix expression expands.
fn matrix_key(label: &str) -> Option<String> {
    let inner = label.trim().strip_prefix("${{")?.strip_suffix("}}")?.trim();
    let key = inner.strip_prefix("matrix.")?;
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str, kind: FileKind) -> (SourceFile, Document) {
        let source = SourceFile::new("w.yml", text.to_string());
        let doc = parse(&source, kind).unwrap();
        (source, doc)
    }

    #[test]
    fn uses_spans_skip_quotes_and_keep_the_comment() {
        let text = "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: \"actions/cache@abc\" # v2.1.7\n";
        let (source, doc) = doc(text, FileKind::Workflow);
        let uses = &doc.uses[0];
        let span = uses.value.exact.unwrap();
        assert_eq!(&source.text[span.start..span.end], "actions/cache@abc");
        assert_eq!(uses.comment.as_deref(), Some("v2.1.7"));
        assert_eq!(source.position(span.start).column, 16);
    }

    #[test]
    fn matrix_labels_come_from_values_and_include() {
        let text = "on: push\njobs:\n  a:\n    strategy:\n      matrix:\n        os: [ubuntu-20.04, macos-15]\n        include:\n          - os: windows-2019\n    runs-on: ${{ matrix.os }}\n    steps: []\n";
        let (_, doc) = doc(text, FileKind::Workflow);
        let labels: Vec<_> = doc.labels.iter().map(|l| l.value.value.as_str()).collect();
        assert_eq!(labels, ["ubuntu-20.04", "macos-15", "windows-2019"]);
        assert!(doc
            .labels
            .iter()
            .all(|l| l.matrix_key.as_deref() == Some("os")));
    }

    #[test]
    fn escaped_values_have_no_exact_span() {
        let text = "runs:\n  using: composite\n  steps:\n    - uses: \"actions/\\x63ache@v2\"\n";
        let (_, doc) = doc(text, FileKind::Action);
        assert_eq!(doc.uses[0].value.value, "actions/cache@v2");
        assert_eq!(doc.uses[0].value.exact, None);
    }

    #[test]
    fn matrix_key_accepts_only_one_matrix_expression() {
        assert_eq!(matrix_key("${{ matrix.os }}").as_deref(), Some("os"));
        assert_eq!(
            matrix_key("${{matrix.runner-os}}").as_deref(),
            Some("runner-os")
        );
        assert_eq!(matrix_key("${{ matrix.os || 'x' }}"), None);
        assert_eq!(matrix_key("ubuntu-latest"), None);
    }
}
