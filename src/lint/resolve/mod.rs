//! Resolution: the runtime of a used action read from the action itself.
//!
//! For each `uses: OWNER/REPO[/PATH]@REF` that neither the rule data nor the action table
//! settles, read `action.yml` (or `action.yaml`) at REF through the GitHub contents API, take
//! `runs.using`, and follow a composite action's own `uses:` (breadth first, at most
//! [`MAX_DEPTH`] levels, each (repository, path, ref) fetched once, cycles reported). A SHA
//! pin without a version comment is also matched to the tag that points at it. A repository
//! that does not exist or is archived, and a ref that does not exist, are findings; anything
//! that stops resolution (403, rate limit, timeout, a file that does not parse) is a note on
//! the reference, never a crash and never a silent pass. Answers are cached on disk
//! ([`cache`]), so a rerun makes no request.

pub mod cache;
mod collect;
mod fetch;
pub mod github;

use super::finding::Finding;
use super::model;
use super::rules::data::{GoneKind, Meta};
use super::rules::{action_majors, RuleData};
use super::source::SourceFile;
use super::table::Table;
use super::uses::{is_sha, Target, Version};
use cache::Cache;
use collect::{collect, finding, unresolved};
use fetch::RepoInfo;
use github::{Client, ClientConfig, Failure};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Deepest chain of composite actions followed (the action a step uses is level 1).
pub const MAX_DEPTH: usize = 5;
/// Requests in flight at once.
pub const CONCURRENT_REQUESTS: usize = 8;
/// Each request's deadline.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a rate limit is waited out before resolution stops for the run.
pub const MAX_RATE_WAIT: Duration = Duration::from_secs(60);
/// Tag pages read to find the tag of a SHA (100 tags a page).
const TAG_PAGES: usize = 3;

/// How to resolve: `online: None` is `--offline` (the table alone).
#[derive(Debug, Clone, Default)]
pub struct Resolve {
    pub online: Option<Online>,
}

/// Settings of an online run.
#[derive(Debug, Clone)]
pub struct Online {
    /// `GITHUB_API_URL`, e.g. `https://api.github.com`.
    pub api_url: String,
    pub token: String,
    /// `None`: nothing kept on disk.
    pub cache_dir: Option<PathBuf>,
    pub timeout: Duration,
    pub concurrency: usize,
    pub max_rate_wait: Duration,
    pub max_depth: usize,
}

impl Online {
    /// The defaults, for an API URL and a token.
    pub fn new(api_url: impl Into<String>, token: impl Into<String>) -> Online {
        Online {
            api_url: api_url.into(),
            token: token.into(),
            cache_dir: cache::default_dir(),
            timeout: REQUEST_TIMEOUT,
            concurrency: CONCURRENT_REQUESTS,
            max_rate_wait: MAX_RATE_WAIT,
            max_depth: MAX_DEPTH,
        }
    }
}

/// A `uses:` reference in a linted file that only the action itself can settle, with its
/// place already computed (the file's text is not kept).
#[derive(Debug, Clone)]
pub struct Pending {
    /// Where the reference is: a finding without rule, severity or message yet.
    pub at: Finding,
    /// `OWNER/REPO[/PATH]`.
    pub name: String,
    pub git_ref: String,
}

/// What resolution did, for the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// `online` or `offline`.
    pub mode: String,
    /// References only the action itself could settle.
    pub references: usize,
    /// Distinct actions (repository, path, ref) read, composite steps included.
    pub actions: usize,
    /// Requests sent to the API (0 on a warm cache).
    pub requests: usize,
    /// References that got an `action-unresolved` note.
    pub unresolved: usize,
    /// Where answers are cached, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<String>,
}

/// The collected references of one file.
pub fn pending_of(
    source: &SourceFile,
    doc: &model::Document,
    cx: &super::rules::Context<'_>,
) -> Vec<Pending> {
    use super::rules::used_runtime::{settle, Settled};
    doc.uses
        .iter()
        .filter(|u| matches!(settle(cx, u), Settled::Open))
        .filter_map(|u| {
            let Target::Remote { name, git_ref, .. } = Target::parse(&u.value.value) else {
                return None;
            };
            let span = u.value.exact.unwrap_or(super::source::Span {
                start: u.value.start,
                end: u.value.start,
            });
            let placeholder = super::finding::Problem {
                rule_id: String::new(),
                severity: super::Severity::Note,
                message: String::new(),
                replacement: None,
                help_uri: None,
            };
            Some(Pending {
                at: placeholder.at(source, span, None),
                name: name.to_string(),
                git_ref: git_ref.to_string(),
            })
        })
        .collect()
}

/// One action at one ref: the unit fetched and cached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// `owner/repo`, lower-cased (GitHub names are case-insensitive).
    repo: String,
    /// The directory of the action in the repository, `""` for the root.
    path: String,
    git_ref: String,
}

impl Key {
    fn of(name: &str, git_ref: &str) -> Option<Key> {
        let mut parts = name.splitn(3, '/');
        let owner = parts.next().filter(|s| !s.is_empty())?;
        let repo = parts.next().filter(|s| !s.is_empty())?;
        let path = parts.next().unwrap_or("").trim_matches('/');
        Some(Key {
            repo: format!("{owner}/{repo}").to_ascii_lowercase(),
            path: path.to_string(),
            git_ref: git_ref.to_string(),
        })
    }

    /// `actions/stale@v8`, `github/codeql-action/init@v3`.
    fn shown(&self) -> String {
        if self.path.is_empty() {
            format!("{}@{}", self.repo, self.git_ref)
        } else {
            format!("{}/{}@{}", self.repo, self.path, self.git_ref)
        }
    }

    fn file_path(&self, file: &str) -> String {
        if self.path.is_empty() {
            file.to_string()
        } else {
            format!("{}/{file}", self.path)
        }
    }
}
/// What one fetched action is.
#[derive(Debug, Clone)]
enum Node {
    Action {
        file: String,
        using: String,
        children: Vec<Child>,
    },
    RepoMissing,
    RefMissing,
    NoActionFile,
    Failed(String),
    /// Deeper than the depth limit: not followed.
    TooDeep,
}

/// A `uses:` of a composite action, and how it is settled.
#[derive(Debug, Clone)]
enum Child {
    /// An entry of the rule data matches.
    Rule { shown: String, rule_id: String },
    /// The table knows its runtime.
    Table {
        shown: String,
        using: String,
        checked: String,
    },
    /// Fetched in turn.
    Open(Key),
}
/// One problem resolution found for a reference.
struct Hit<'d> {
    meta: &'d Meta,
    message: String,
    /// For runtimes: lower is older (node12 first), so the oldest is reported.
    rank: u32,
}
/// Resolves the references and returns their findings. Runs on a thread of its own with its
/// own runtime, so it can be called from sync code and from inside a Tokio runtime alike.
pub fn resolve(
    pending: &[Pending],
    online: &Online,
    data: &RuleData,
    table: &Table,
) -> (Vec<Finding>, Summary) {
    let mut summary = Summary {
        mode: "online".into(),
        references: pending.len(),
        cache_dir: online.cache_dir.as_ref().map(|d| d.display().to_string()),
        ..Summary::default()
    };
    if pending.is_empty() {
        return (Vec::new(), summary);
    }
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the resolution runtime: {e}"))?;
                runtime.block_on(run(pending, online, data, table))
            })
            .join()
            .unwrap_or_else(|_| Err("internal error while resolving actions".into()))
    });
    match outcome {
        Ok((findings, resolved)) => {
            summary.actions = resolved.actions;
            summary.requests = resolved.requests;
            summary.unresolved = resolved.unresolved;
            (findings, summary)
        }
        Err(why) => {
            let findings: Vec<Finding> = pending
                .iter()
                .filter_map(|p| unresolved(p, data, &why))
                .collect();
            summary.unresolved = findings.len();
            (findings, summary)
        }
    }
}

struct Resolved {
    actions: usize,
    requests: usize,
    unresolved: usize,
}

struct Resolver<'a> {
    client: Client,
    cache: Cache,
    data: &'a RuleData,
    table: &'a Table,
}

async fn run(
    pending: &[Pending],
    online: &Online,
    data: &RuleData,
    table: &Table,
) -> Result<(Vec<Finding>, Resolved), String> {
    let client = Client::new(ClientConfig {
        api_url: online.api_url.clone(),
        token: online.token.clone(),
        timeout: online.timeout,
        concurrency: online.concurrency,
        max_rate_wait: online.max_rate_wait,
    })
    .map_err(|Failure(why)| why)?;
    let resolver = Resolver {
        client,
        cache: Cache::new(online.cache_dir.clone()),
        data,
        table,
    };
    // The tags of SHA pins without a version comment.
    let shas: HashSet<(String, String)> = pending
        .iter()
        .filter(|p| is_sha(&p.git_ref))
        .filter_map(|p| Key::of(&p.name, &p.git_ref).map(|k| (k.repo, k.git_ref)))
        .collect();
    let tag_answers = futures_util::future::join_all(
        shas.iter()
            .map(|(repo, sha)| resolver.tag_of(repo.clone(), sha.clone())),
    )
    .await;
    let tags: HashMap<(String, String), Option<String>> = shas
        .into_iter()
        .zip(tag_answers)
        .map(|(k, t)| (k, t.ok().flatten()))
        .collect();

    // Breadth first over the actions and the actions they use.
    let mut nodes: HashMap<Key, Node> = HashMap::new();
    let mut repos: HashMap<String, Result<RepoInfo, Failure>> = HashMap::new();
    let mut frontier: Vec<Key> = Vec::new();
    let mut seen: HashSet<Key> = HashSet::new();
    for p in pending {
        if let Some(key) = Key::of(&p.name, &p.git_ref) {
            if seen.insert(key.clone()) {
                frontier.push(key);
            }
        }
    }
    for depth in 1..=online.max_depth.max(1) + 1 {
        if frontier.is_empty() {
            break;
        }
        if depth > online.max_depth.max(1) {
            for key in frontier.drain(..) {
                nodes.insert(key, Node::TooDeep);
            }
            break;
        }
        let new_repos: Vec<String> = frontier
            .iter()
            .map(|k| k.repo.clone())
            .filter(|r| !repos.contains_key(r))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let infos =
            futures_util::future::join_all(new_repos.iter().map(|r| resolver.repo_info(r))).await;
        repos.extend(new_repos.into_iter().zip(infos));
        let resolver = &resolver;
        let files = futures_util::future::join_all(frontier.iter().map(|key| {
            let repo = repos.get(&key.repo).cloned();
            async move {
                match repo {
                    Some(Ok(info)) if !info.exists => Node::RepoMissing,
                    Some(Err(Failure(why))) => Node::Failed(why),
                    _ => resolver.action_node(key).await,
                }
            }
        }))
        .await;
        let mut next = Vec::new();
        for (key, node) in frontier.drain(..).zip(files) {
            if let Node::Action { children, .. } = &node {
                for child in children {
                    if let Child::Open(k) = child {
                        if seen.insert(k.clone()) {
                            next.push(k.clone());
                        }
                    }
                }
            }
            nodes.insert(key, node);
        }
        frontier = next;
    }

    let mut findings = Vec::new();
    let mut unresolved_refs = 0;
    for p in pending {
        let Some(key) = Key::of(&p.name, &p.git_ref) else {
            continue;
        };
        let tag = tags
            .get(&(key.repo.clone(), key.git_ref.clone()))
            .cloned()
            .flatten();
        let shown = match &tag {
            Some(tag) => format!(
                "{}@{} (tag {tag})",
                p.name,
                &p.git_ref[..12.min(p.git_ref.len())]
            ),
            None => format!("{}@{}", p.name, p.git_ref),
        };
        // A SHA whose tag the rule data judges (`actions/cache@<sha>` is tag v2: sunset).
        if let Some(version) = tag.as_deref().and_then(Version::parse) {
            if let Some(rule) = action_majors::matching_rule(data, &p.name, &version) {
                let message = format!(
                    "{shown}: {} (since {}); pin the commit of {}@{} and add its version as a comment",
                    rule.meta.what, rule.meta.since, p.name, rule.meta.replacement
                );
                findings.push(finding(p, &rule.meta, message));
                continue;
            }
        }
        let mut hits = Vec::new();
        let mut stack = vec![key.clone()];
        collect(&resolver, &nodes, &repos, &key, &mut stack, "", &mut hits);
        let mut emitted: HashSet<(String, String)> = HashSet::new();
        let oldest_runtime = hits
            .iter()
            .filter(|h| h.rank > 0)
            .min_by_key(|h| h.rank)
            .map(|h| h.message.clone());
        let mut any_unresolved = false;
        for hit in &hits {
            if hit.rank > 0 && Some(&hit.message) != oldest_runtime.as_ref() {
                continue;
            }
            if !emitted.insert((hit.meta.id.clone(), hit.message.clone())) {
                continue;
            }
            any_unresolved |= data
                .gone(GoneKind::Unresolved)
                .is_some_and(|r| r.meta.id == hit.meta.id);
            findings.push(finding(p, hit.meta, format!("{shown}: {}", hit.message)));
        }
        if any_unresolved {
            unresolved_refs += 1;
        }
    }
    Ok((
        findings,
        Resolved {
            actions: nodes.len(),
            requests: resolver.client.requests.load(Ordering::Relaxed),
            unresolved: unresolved_refs,
        },
    ))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_repository_and_path() {
        let k = Key::of("GitHub/codeql-action/init", "v3").unwrap();
        assert_eq!(k.repo, "github/codeql-action");
        assert_eq!(k.path, "init");
        assert_eq!(k.shown(), "github/codeql-action/init@v3");
        assert_eq!(k.file_path("action.yml"), "init/action.yml");
        assert!(Key::of("nobody", "v1").is_none());
        assert_eq!(collect::runtime_rank("node16"), 16);
    }

    #[test]
    fn contents_are_read_raw_or_base64() {
        assert_eq!(fetch::decode_contents("runs: {}".into()), "runs: {}");
        let json = r#"{"content": "cnVuczoKICB1c2luZzogbm9kZTE2Cg==\n", "encoding": "base64"}"#;
        assert_eq!(
            fetch::decode_contents(json.into()),
            "runs:\n  using: node16\n"
        );
    }
}
