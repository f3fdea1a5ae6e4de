//! The GitHub reads of resolution, each answer cached: a repository's state, an action's file
//! at a ref, and the tag that points at a SHA.

use super::cache;
use super::github::{encode, Answer, Failure};
use super::{Child, Key, Node, Resolver, TAG_PAGES};
use crate::lint::model::{self, FileKind, UsesContext};
use crate::lint::rules::action_majors;
use crate::lint::source::SourceFile;
use crate::lint::uses::{self, is_sha, Target, Version};
use serde::{Deserialize, Serialize};

/// A repository's state, cached.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct RepoInfo {
    pub(super) exists: bool,
    pub(super) archived: bool,
}

/// An action file at a ref, cached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ActionFile {
    /// `action.yml` or `action.yaml`, and its text.
    pub(super) file: Option<(String, String)>,
    /// Whether the ref exists (asked only when no file was found).
    pub(super) ref_exists: bool,
}

/// `owner/repo` for a URL path, each part percent-encoded.
fn repo_path(repo: &str) -> String {
    repo.split('/').map(encode).collect::<Vec<_>>().join("/")
}

impl Resolver<'_> {
    pub(super) async fn repo_info(&self, repo: &str) -> Result<RepoInfo, Failure> {
        let cache_key = format!("repo:{repo}");
        if let Some(info) = self.cache.get::<RepoInfo>(&cache_key) {
            return Ok(info);
        }
        let url = format!("repos/{}", repo_path(repo));
        let info = match self.client.get(&url, false).await? {
            Answer::NotFound => RepoInfo {
                exists: false,
                archived: false,
            },
            Answer::Found(body) => {
                let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
                    Failure(format!("GET repos/{repo}: the answer is not JSON ({e})"))
                })?;
                RepoInfo {
                    exists: true,
                    archived: json
                        .get("archived")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false),
                }
            }
        };
        self.cache.put(&cache_key, &info, Some(cache::FLOATING_TTL));
        Ok(info)
    }

    pub(super) async fn action_file(&self, key: &Key) -> Result<ActionFile, Failure> {
        let cache_key = format!("action:{}:{}:{}", key.repo, key.path, key.git_ref);
        if let Some(file) = self.cache.get::<ActionFile>(&cache_key) {
            return Ok(file);
        }
        let mut found = None;
        for name in ["action.yml", "action.yaml"] {
            let path = key
                .file_path(name)
                .split('/')
                .map(encode)
                .collect::<Vec<_>>()
                .join("/");
            let url = format!(
                "repos/{}/contents/{path}?ref={}",
                repo_path(&key.repo),
                encode(&key.git_ref)
            );
            if let Answer::Found(body) = self.client.get(&url, true).await? {
                found = Some((name.to_string(), decode_contents(body)));
                break;
            }
        }
        let ref_exists = match found {
            Some(_) => true,
            None => {
                let url = format!(
                    "repos/{}/commits/{}",
                    repo_path(&key.repo),
                    encode(&key.git_ref)
                );
                matches!(self.client.get(&url, false).await?, Answer::Found(_))
            }
        };
        let file = ActionFile {
            file: found,
            ref_exists,
        };
        let ttl = (!is_sha(&key.git_ref)).then_some(cache::FLOATING_TTL);
        self.cache.put(&cache_key, &file, ttl);
        Ok(file)
    }

    pub(super) async fn action_node(&self, key: &Key) -> Node {
        let file = match self.action_file(key).await {
            Ok(f) => f,
            Err(Failure(why)) => return Node::Failed(why),
        };
        let Some((name, text)) = file.file else {
            return if file.ref_exists {
                Node::NoActionFile
            } else {
                Node::RefMissing
            };
        };
        let shown = format!("{}/{}", key.shown(), name);
        let source = SourceFile::new(shown.clone(), text);
        let doc = match model::parse(&source, FileKind::Action) {
            Ok(doc) => doc,
            Err(e) => {
                return Node::Failed(format!(
                    "{shown} could not be read (line {}: {})",
                    e.position.line, e.message
                ))
            }
        };
        let using = doc
            .runs_using
            .as_ref()
            .map(|u| u.value.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let children = doc
            .uses
            .iter()
            .filter(|u| u.context == UsesContext::CompositeStep)
            .filter_map(|u| self.child(&u.value.value, u.comment.as_deref()))
            .collect();
        Node::Action {
            file: name,
            using,
            children,
        }
    }

    /// How a composite action's `uses:` is settled: the rule data, the table, or a fetch.
    pub(super) fn child(&self, value: &str, comment: Option<&str>) -> Option<Child> {
        let Target::Remote { name, git_ref, .. } = Target::parse(value) else {
            return None;
        };
        if value.contains("${{") {
            return None;
        }
        let version = if is_sha(git_ref) {
            comment.and_then(uses::version_from_comment)
        } else {
            Version::parse(git_ref)
        };
        let shown = format!("{name}@{git_ref}");
        if let Some(version) = version {
            if let Some(rule) = action_majors::matching_rule(self.data, name, &version) {
                return Some(Child::Rule {
                    shown,
                    rule_id: rule.meta.id.clone(),
                });
            }
            if !version.is_exact() && !is_sha(git_ref) {
                if let Some(known) = self.table.lookup(name, &version) {
                    if known.using != "composite" {
                        return Some(Child::Table {
                            shown,
                            using: known.using.to_string(),
                            checked: known.checked.to_string(),
                        });
                    }
                }
            }
        }
        Key::of(name, git_ref).map(Child::Open)
    }

    /// The tag that points at `sha` (the most specific one: `v4.1.2` over `v4`).
    pub(super) async fn tag_of(
        &self,
        repo: String,
        sha: String,
    ) -> Result<Option<String>, Failure> {
        let cache_key = format!("tag:{repo}:{sha}");
        if let Some(tag) = self.cache.get::<Option<String>>(&cache_key) {
            return Ok(tag);
        }
        #[derive(Deserialize)]
        struct Tag {
            name: String,
            commit: TagCommit,
        }
        #[derive(Deserialize)]
        struct TagCommit {
            sha: String,
        }
        let mut best: Option<String> = None;
        for page in 1..=TAG_PAGES {
            let url = format!("repos/{}/tags?per_page=100&page={page}", repo_path(&repo));
            let Answer::Found(body) = self.client.get(&url, false).await? else {
                break;
            };
            let tags: Vec<Tag> = serde_json::from_str(&body)
                .map_err(|e| Failure(format!("GET {url}: unexpected answer ({e})")))?;
            let count = tags.len();
            for tag in tags {
                if tag.commit.sha.eq_ignore_ascii_case(&sha)
                    && best
                        .as_ref()
                        .is_none_or(|b| tag.name.matches('.').count() > b.matches('.').count())
                {
                    best = Some(tag.name);
                }
            }
            if count < 100 {
                break;
            }
        }
        // A commit and its tags do not change often; the answer is kept like a floating ref's.
        self.cache.put(&cache_key, &best, Some(cache::FLOATING_TTL));
        Ok(best)
    }
}

/// The contents API answers the raw file for `application/vnd.github.raw+json`; a server
/// that answers the JSON description instead (base64 `content`) is read too.
pub(super) fn decode_contents(body: String) -> String {
    use base64::Engine as _;
    if body.trim_start().starts_with('{') {
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&body) {
            if let (Some(content), Some("base64")) = (
                json.get("content").and_then(serde_json::Value::as_str),
                json.get("encoding").and_then(serde_json::Value::as_str),
            ) {
                let compact: String = content.split_whitespace().collect();
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact) {
                    if let Ok(text) = String::from_utf8(bytes) {
                        return text;
                    }
                }
            }
        }
    }
    body
}
