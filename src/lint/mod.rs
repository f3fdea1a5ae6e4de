//! Workflow linting: deprecated and retired actions, workflow commands and runner labels.
//!
//! The flow of `bluegreen lint`: find the files, read each one safely, model it with source
//! spans ([`model`]), run every rule family of the [`rules::registry`] against the embedded
//! rule data, optionally apply the fixes ([`fix`]), render one [`LintReport`] in the chosen
//! format ([`render`]), and exit 0 (clean), 1 (findings at or above `--fail-on`) or 2 (usage
//! error or a file that could not be linted). See `docs/lint.md`.

pub mod action;
pub mod files;
pub mod finding;
pub mod fix;
pub mod model;
pub mod render;
pub mod resolve;
pub mod rules;
pub mod source;
pub mod table;
pub mod uses;

pub use files::FileError;
pub use finding::{Finding, Severity};
pub use render::Format;

use crate::exit::{ExitCode, UsageError};
use anyhow::{Context as _, Result};
use clap::Args;
use serde::Serialize;
use source::SourceFile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Args)]
pub struct LintArgs {
    /// Files or directories to lint (default: .github/workflows and every action.yml/action.yaml).
    pub paths: Vec<PathBuf>,
    /// Output format [default: human; github in action mode].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Exit 1 when a finding has this severity or higher [default: error].
    #[arg(long, value_enum)]
    pub fail_on: Option<Severity>,
    /// Rewrite deprecated references to the supported major in place.
    #[arg(long)]
    pub fix: bool,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Judge actions by the embedded table only: read no action.yml from GitHub (the default
    /// when no token is available).
    #[arg(long)]
    pub offline: bool,
    /// Token for the GitHub API, to read the action.yml of used actions [default: $GITHUB_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    pub github_token: Option<String>,
    /// Where answers of the GitHub API are cached [default: ~/.cache/bluegreen/actions].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl LintArgs {
    /// How to resolve actions: `--offline`, or online when a token is given (flag, then the
    /// `github-token` action input, then `GITHUB_TOKEN`).
    pub fn resolve(&self, input_token: Option<&str>) -> resolve::Resolve {
        if self.offline {
            return resolve::Resolve::default();
        }
        let env_token = std::env::var("GITHUB_TOKEN").ok();
        let token = [
            self.github_token.as_deref(),
            input_token,
            env_token.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|t| !t.is_empty());
        let Some(token) = token else {
            return resolve::Resolve::default();
        };
        let api_url = std::env::var("GITHUB_API_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "https://api.github.com".to_string());
        let mut online = resolve::Online::new(api_url, token);
        if let Some(dir) = &self.cache_dir {
            online.cache_dir = Some(dir.clone());
        }
        resolve::Resolve {
            online: Some(online),
        }
    }
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub error: usize,
    pub warning: usize,
    pub note: usize,
}

/// The outcome of linting a set of files: the one model every renderer reads.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LintReport {
    /// Files read and modelled (file errors not included).
    pub files_linted: usize,
    /// Their shown paths, sorted.
    pub files: Vec<String>,
    /// Sorted by file, line, column.
    pub findings: Vec<Finding>,
    /// Files that could not be linted.
    pub file_errors: Vec<FileError>,
    pub counts: Counts,
    /// The text of every linted file that has findings, by shown path, for snippets and
    /// `--fix` (clean files are not kept: memory stays flat on large repositories).
    #[serde(skip)]
    pub sources: BTreeMap<String, SourceFile>,
    /// What resolution of used actions did (`offline` when it did not run).
    pub resolution: resolve::Summary,
}

impl LintReport {
    /// The exit code for a failure threshold: 2 when a file could not be linted (a file we
    /// could not read may hide a retired action), else 1 when a finding reaches `fail_on`.
    pub fn exit_code(&self, fail_on: Severity) -> ExitCode {
        if !self.file_errors.is_empty() {
            ExitCode::Usage
        } else if self.findings.iter().any(|f| f.severity >= fail_on) {
            ExitCode::Failed
        } else {
            ExitCode::Ok
        }
    }
}

/// Lints `paths` (relative to `root`, or the default set when empty) and returns the report.
/// The pipeline's lint stage calls this.
/// Offline: used actions are judged by the rule data and the action table alone.
pub fn lint_repository(root: &Path, paths: &[PathBuf]) -> Result<LintReport> {
    lint_repository_with(root, paths, &resolve::Resolve::default())
}

/// [`lint_repository`], with resolution of used actions when `resolve.online` is set.
pub fn lint_repository_with(
    root: &Path,
    paths: &[PathBuf],
    resolve: &resolve::Resolve,
) -> Result<LintReport> {
    let data = rules::RuleData::embedded()?;
    let table = table::Table::embedded()?;
    let (files, missing) = if paths.is_empty() {
        (files::default_paths(root), Vec::new())
    } else {
        files::expand(root, paths)
    };
    let resolving = resolve.online.is_some();
    let outcomes = lint_files_parallel(root, &files, data, table, resolving);
    let mut report = LintReport {
        file_errors: missing,
        ..LintReport::default()
    };
    let mut pending = Vec::new();
    let mut open_offline = 0;
    for outcome in outcomes {
        match outcome {
            Ok((source, findings, open)) => {
                report.files_linted += 1;
                report.files.push(source.path.clone());
                // Offline, open references are only counted: no text is kept for them.
                let keep = !findings.is_empty() || resolving && !open.is_empty();
                if keep {
                    report.findings.extend(findings);
                    report.sources.insert(source.path.clone(), source);
                }
                if resolving {
                    pending.extend(open);
                } else {
                    open_offline += open.len();
                }
            }
            Err(failed) => {
                let (e, source) = *failed;
                // Keep the text of a file that failed to parse, for the snippet at the error.
                if let Some(source) = source {
                    report.sources.insert(source.path.clone(), source);
                }
                report.file_errors.push(e);
            }
        }
    }
    report.resolution = match &resolve.online {
        Some(online) => {
            let (found, summary) = resolve::resolve(&pending, online, data, table);
            report.findings.extend(found);
            summary
        }
        None => resolve::Summary {
            mode: "offline".into(),
            references: open_offline,
            ..resolve::Summary::default()
        },
    };
    // Keep only the texts of files that have findings.
    let with_findings: std::collections::BTreeSet<&str> =
        report.findings.iter().map(|f| f.file.as_str()).collect();
    let errored: std::collections::BTreeSet<&str> =
        report.file_errors.iter().map(|e| e.file.as_str()).collect();
    report
        .sources
        .retain(|path, _| with_findings.contains(path.as_str()) || errored.contains(path.as_str()));
    report.findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.rule_id).cmp(&(&b.file, b.line, b.column, &b.rule_id))
    });
    report.file_errors.sort_by(|a, b| a.file.cmp(&b.file));
    report.files.sort();
    report.counts = count(&report.findings);
    if !paths.is_empty() && report.files_linted == 0 && report.file_errors.is_empty() {
        let given: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(crate::exit::UsageError(format!(
            "{}: expected workflow or action files (*.yml, *.yaml) there, found none: nothing was linted",
            given.join(", ")
        ))
        .into());
    }
    Ok(report)
}

/// Said when the default paths hold nothing to lint: a workspace without workflows is most
/// often a job that did not check the repository out.
pub fn nothing_found(root: &Path) -> String {
    format!(
        "no workflow or action files under {} (.github/workflows, action.yml): nothing was \
         linted; in a workflow, run actions/checkout before this step",
        root.display()
    )
}

/// Lints one file's text (no file system): the fuzz target and the tests call this.
/// Offline, with the embedded action table.
pub fn lint_source(source: &SourceFile, data: &rules::RuleData) -> Result<Vec<Finding>, FileError> {
    static EMPTY: std::sync::OnceLock<table::Table> = std::sync::OnceLock::new();
    let table = table::Table::embedded().unwrap_or_else(|_| EMPTY.get_or_init(Default::default));
    lint_source_with(source, data, table, false).map(|(findings, _)| findings)
}

/// Lints one file's text; also returns the `uses:` references that only resolution can
/// settle (none are left open when `resolving` is false and the table knows the action).
pub fn lint_source_with(
    source: &SourceFile,
    data: &rules::RuleData,
    table: &table::Table,
    resolving: bool,
) -> Result<(Vec<Finding>, Vec<resolve::Pending>), FileError> {
    let kind = model::kind_of(&source.path);
    let doc = model::parse(source, kind)
        .map_err(|e| FileError::new(&source.path, e.position, e.message))?;
    let cx = rules::Context {
        source,
        doc: &doc,
        data,
        table,
        resolving,
    };
    let mut findings = Vec::new();
    for rule in rules::registry() {
        rule.check(&cx, &mut findings);
    }
    // An alias repeats its anchor's values: report each place once.
    findings.sort_by(|a, b| (a.span, &a.rule_id).cmp(&(b.span, &b.rule_id)));
    findings.dedup_by(|a, b| a.span == b.span && a.rule_id == b.rule_id);
    let mut pending = resolve::pending_of(source, &doc, &cx);
    pending.sort_by_key(|p| p.at.span);
    pending.dedup_by(|a, b| a.at.span == b.at.span);
    Ok((findings, pending))
}

/// A linted file, or why not (with its text when it could be read).
type FileOutcome =
    Result<(SourceFile, Vec<Finding>, Vec<resolve::Pending>), Box<(FileError, Option<SourceFile>)>>;

/// Reads and lints files on every core; files are independent.
fn lint_files_parallel(
    root: &Path,
    files: &[PathBuf],
    data: &rules::RuleData,
    table: &table::Table,
    resolving: bool,
) -> Vec<FileOutcome> {
    let lint_one = |path: &PathBuf| -> FileOutcome {
        let source = files::read(root, path).map_err(|e| Box::new((e, None)))?;
        match lint_source_with(&source, data, table, resolving) {
            Ok((findings, pending)) => Ok((source, findings, pending)),
            Err(e) => Err(Box::new((e, Some(source)))),
        }
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().div_ceil(64).max(1));
    if workers <= 1 {
        return files.iter().map(lint_one).collect();
    }
    let chunk = files.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(lint_one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .zip(files.chunks(chunk))
            .flat_map(|(h, part)| {
                h.join().unwrap_or_else(|_| {
                    part.iter()
                        .map(|p| {
                            Err(Box::new((
                                FileError::new(
                                    &files::display(root, p),
                                    source::Position { line: 1, column: 1 },
                                    "internal error while linting this file",
                                ),
                                None,
                            )))
                        })
                        .collect()
                })
            })
            .collect()
    })
}

fn count(findings: &[Finding]) -> Counts {
    let mut c = Counts::default();
    for f in findings {
        match f.severity {
            Severity::Error => c.error += 1,
            Severity::Warning => c.warning += 1,
            Severity::Note => c.note += 1,
        }
    }
    c
}

/// What `--fix` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixSummary {
    pub references: usize,
    pub files: usize,
}

/// Applies the report's fixes to the files under `root`.
pub fn apply_fixes(root: &Path, report: &LintReport) -> Result<FixSummary> {
    let mut summary = FixSummary::default();
    for (shown, source) in &report.sources {
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| &f.file == shown)
            .collect();
        let (text, applied) = fix::apply(&source.text, &findings);
        if applied == 0 || text == source.text {
            continue;
        }
        let path = root.join(shown);
        std::fs::write(&path, text)
            .with_context(|| format!("writing the fixed {}", path.display()))?;
        summary.references += applied;
        summary.files += 1;
    }
    Ok(summary)
}

/// `bluegreen lint`: the CLI, or in action mode (`GITHUB_ACTIONS=true`) the workflows-lint step.
pub fn run(args: LintArgs) -> Result<ExitCode> {
    let runner = crate::gha::RunnerEnv::from_env();
    if runner.in_actions {
        return action::run(args, &runner);
    }
    let root = std::env::current_dir().context("reading the current directory")?;
    let resolve = args.resolve(None);
    let asked_offline = args.offline;
    let options = Options {
        paths: args.paths,
        format: args.format.unwrap_or(Format::Human),
        fail_on: args.fail_on.unwrap_or(Severity::Error),
        fix: args.fix,
        resolve,
    };
    let outcome = lint_and_fix(&root, &options)?;
    if options.paths.is_empty() && outcome.report.files_linted == 0 {
        eprintln!("warning: {}", nothing_found(&root));
    }
    let resolution = &outcome.report.resolution;
    if resolution.mode == "offline" && resolution.references > 0 && !asked_offline {
        eprintln!(
            "note: {} used action reference(s) are not in the embedded table and were not \
             resolved (no token): give --github-token or GITHUB_TOKEN to read their action.yml",
            resolution.references
        );
    }
    let text = render::render(options.format, &outcome.report)?;
    emit(&text, args.output.as_deref())?;
    if let Some(fixed) = &outcome.fixed {
        eprintln!(
            "fixed {} reference{} in {} file{}",
            fixed.references,
            if fixed.references == 1 { "" } else { "s" },
            fixed.files,
            if fixed.files == 1 { "" } else { "s" }
        );
    }
    Ok(outcome.report.exit_code(options.fail_on))
}

/// Resolved options, whether from flags or from action inputs.
#[derive(Debug, Clone)]
pub struct Options {
    pub paths: Vec<PathBuf>,
    pub format: Format,
    pub fail_on: Severity,
    pub fix: bool,
    /// Resolution of used actions (offline by default).
    pub resolve: resolve::Resolve,
}

/// A lint run: the report of what remains, and what `--fix` changed.
pub struct Outcome {
    pub report: LintReport,
    pub fixed: Option<FixSummary>,
}

/// Lints; with `fix`, applies the fixes and lints again so the report shows what remains.
pub fn lint_and_fix(root: &Path, options: &Options) -> Result<Outcome> {
    let report = lint_repository_with(root, &options.paths, &options.resolve)?;
    if !options.fix {
        return Ok(Outcome {
            report,
            fixed: None,
        });
    }
    let fixed = apply_fixes(root, &report)?;
    let report = if fixed.references > 0 {
        lint_repository_with(root, &options.paths, &options.resolve)?
    } else {
        report
    };
    Ok(Outcome {
        report,
        fixed: Some(fixed),
    })
}

/// Writes the report to `--output` or stdout (a closed stdout is an error, not a panic).
fn emit(text: &str, output: Option<&Path>) -> Result<()> {
    match output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            anyhow::Error::new(UsageError(format!(
                "--output {}: cannot write the report ({e})",
                path.display()
            )))
        }),
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .context("writing the report to stdout")
        }
    }
}
