//! The few GitHub REST calls resolution makes, through one client that limits concurrency,
//! times out each request, honours the rate-limit headers and counts what it did.
//!
//! - `GET /repos/{o}/{r}`: does the repository exist, is it archived;
//! - `GET /repos/{o}/{r}/contents/{path}/action.yml?ref=REF` (then `action.yaml`), raw;
//! - `GET /repos/{o}/{r}/commits/{ref}`: does the ref exist (asked only when no action file
//!   was found, to tell a missing ref from a missing file);
//! - `GET /repos/{o}/{r}/tags`: the tag that points at a pinned SHA.

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, USER_AGENT};
use reqwest::StatusCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// Why a request gave no answer: becomes an `action-unresolved` note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

/// An answer: found (the body), or not found (404, or 422 for a ref that is no commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Found(String),
    NotFound,
}

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub api_url: String,
    pub token: String,
    pub timeout: Duration,
    pub concurrency: usize,
    /// The longest a rate limit is waited out (`Retry-After`, `X-RateLimit-Reset`); a longer
    /// one stops resolution for the rest of the run (each reference left gets a note).
    pub max_rate_wait: Duration,
}

pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    permits: Semaphore,
    /// Set once the rate limit is exhausted for longer than `max_rate_wait`.
    exhausted: Mutex<Option<String>>,
    pub requests: AtomicUsize,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, Failure> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| Failure(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            permits: Semaphore::new(config.concurrency.max(1)),
            config,
            exhausted: Mutex::new(None),
            requests: AtomicUsize::new(0),
        })
    }

    /// `GET {api}/{path}`; `raw` asks for the file itself instead of its JSON description.
    pub async fn get(&self, path: &str, raw: bool) -> Result<Answer, Failure> {
        let url = format!("{}/{}", self.config.api_url.trim_end_matches('/'), path);
        // At most two tries: the second only after waiting out a short rate limit.
        for attempt in 0..2 {
            if let Some(why) = self.exhausted_reason() {
                return Err(Failure(why));
            }
            let response = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| Failure("the request queue was closed".into()))?;
                // Another request may have hit the limit while this one waited its turn.
                if let Some(why) = self.exhausted_reason() {
                    return Err(Failure(why));
                }
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.http
                    .get(&url)
                    .header(
                        USER_AGENT,
                        concat!("bluegreen-lint/", env!("CARGO_PKG_VERSION")),
                    )
                    .header(AUTHORIZATION, format!("Bearer {}", self.config.token))
                    .header(
                        ACCEPT,
                        if raw {
                            "application/vnd.github.raw+json"
                        } else {
                            "application/vnd.github+json"
                        },
                    )
                    .header("X-GitHub-Api-Version", "2022-11-28")
                    .send()
                    .await
            };
            let response = match response {
                Ok(r) => r,
                Err(e) if e.is_timeout() => {
                    return Err(Failure(format!(
                        "GET {path} timed out after {:?}",
                        self.config.timeout
                    )))
                }
                Err(e) => return Err(Failure(format!("GET {path} failed: {e}"))),
            };
            let status = response.status();
            let headers = response.headers().clone();
            match status {
                s if s.is_success() => {
                    self.note_remaining(&headers);
                    let body = response.text().await.map_err(|e| {
                        Failure(format!("GET {path}: reading the response failed: {e}"))
                    })?;
                    return Ok(Answer::Found(body));
                }
                StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY => {
                    return Ok(Answer::NotFound)
                }
                StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => {
                    match rate_limit_wait(&headers) {
                        Some(wait) if attempt == 0 && wait <= self.config.max_rate_wait => {
                            tokio::time::sleep(wait).await;
                        }
                        Some(wait) => {
                            let why = format!(
                                "the GitHub API rate limit is exhausted (retry in {}s); \
                                 resolution stopped for this run",
                                wait.as_secs()
                            );
                            self.set_exhausted(&why);
                            return Err(Failure(why));
                        }
                        None => {
                            return Err(Failure(format!(
                                "GET {path}: {status}: the token may not read this repository"
                            )))
                        }
                    }
                }
                other => return Err(Failure(format!("GET {path}: HTTP {other}"))),
            }
        }
        Err(Failure(format!(
            "GET {path}: still rate limited after waiting"
        )))
    }

    fn exhausted_reason(&self) -> Option<String> {
        self.exhausted.lock().ok().and_then(|g| g.clone())
    }

    fn set_exhausted(&self, why: &str) {
        if let Ok(mut g) = self.exhausted.lock() {
            g.get_or_insert_with(|| why.to_string());
        }
    }

    /// A success that used the last request of the window: later requests would be refused,
    /// so stop now rather than send them.
    fn note_remaining(&self, headers: &HeaderMap) {
        if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
            let wait = reset_wait(headers).unwrap_or(Duration::from_secs(3600));
            if wait > self.config.max_rate_wait {
                self.set_exhausted(&format!(
                    "the GitHub API rate limit is used up (resets in {}s); resolution stopped for this run",
                    wait.as_secs()
                ));
            }
        }
    }
}

/// How long the server asks us to wait, when the response is a rate limit: `Retry-After`
/// (secondary limits), or `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset` (primary).
fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Some(Duration::from_secs(secs));
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        return Some(reset_wait(headers).unwrap_or(Duration::from_secs(60)));
    }
    None
}

fn reset_wait(headers: &HeaderMap) -> Option<Duration> {
    let reset = header_u64(headers, "x-ratelimit-reset")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Percent-encodes one path segment or query value (refs may hold `/`, `+`, `#`).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_give_the_wait() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_wait(&h), None);
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(rate_limit_wait(&h), Some(Duration::from_secs(3)));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", "0".parse().unwrap());
        assert_eq!(rate_limit_wait(&h), Some(Duration::ZERO));
        assert_eq!(encode("releases/v3"), "releases%2Fv3");
    }
}
