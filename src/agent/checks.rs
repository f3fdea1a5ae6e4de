//! `pre-switch-on: host`: the pre-switch command as a list of HTTP checks the agent runs
//! itself against the idle color, on its loopback port, before traffic moves. No container,
//! no image: for smoke tests that are plain requests. GET only, as a check must not change
//! what it checks.
//!
//! One check a line: `PATH [STATUS]`, the path starting with `/`, the status the answer must
//! have (any 2xx when left out); blank lines and `# comments` are skipped.
//!
//! ```text
//! /health
//! /api/version 200
//! /admin 401
//! ```

use super::http::{self, Probe};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// At most this many checks: a smoke test, not a test suite.
pub const MAX_CHECKS: usize = 50;

/// One request and the answer it expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    pub path: String,
    /// The exact status expected; `None`: any 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl fmt::Display for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "GET {} {s}", self.path),
            None => write!(f, "GET {} 2xx", self.path),
        }
    }
}

/// The check list of an input or flag; the error says which line and what was expected.
pub fn parse(text: &str) -> Result<Vec<HttpCheck>, String> {
    let mut checks = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let check = parse_line(line).map_err(|e| format!("line {}: {line:?}: {e}", n + 1))?;
        checks.push(check);
    }
    check_list(&checks)?;
    Ok(checks)
}

fn parse_line(line: &str) -> Result<HttpCheck, String> {
    let mut words = line.split_whitespace();
    let path = words.next().unwrap_or_default();
    let status = match words.next() {
        None => None,
        Some(s) => Some(
            s.parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or_else(|| {
                    format!("expected an HTTP status (100-599) after the path, got {s:?}")
                })?,
        ),
    };
    if words.next().is_some() {
        return Err("expected `PATH [STATUS]`".into());
    }
    let check = HttpCheck {
        path: path.to_string(),
        status,
    };
    check_one(&check)?;
    Ok(check)
}

/// What the agent checks again on a request that came from elsewhere.
pub fn check_list(checks: &[HttpCheck]) -> Result<(), String> {
    if checks.len() > MAX_CHECKS {
        return Err(format!(
            "expected at most {MAX_CHECKS} checks, got {}",
            checks.len()
        ));
    }
    checks.iter().try_for_each(check_one)
}

fn check_one(c: &HttpCheck) -> Result<(), String> {
    let printable = c.path.chars().all(|ch| ch.is_ascii_graphic());
    if !c.path.starts_with('/') || !printable || c.path.len() > 2048 {
        return Err(format!(
            "expected a path starting with / (printable ASCII, no spaces, at most 2048 characters), got {:?}",
            c.path
        ));
    }
    if c.status.is_some_and(|s| !(100..=599).contains(&s)) {
        return Err(format!(
            "expected an HTTP status 100-599, got {:?}",
            c.status
        ));
    }
    Ok(())
}

/// Runs every check against `127.0.0.1:port` with `host` as the `Host` header, one request
/// each, all within `within`. `Ok(summary)` when every answer was as expected; otherwise the
/// first that was not, and what came back.
pub async fn run(
    checks: &[HttpCheck],
    port: u16,
    host: Option<&str>,
    within: Duration,
) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + within;
    for check in checks {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let probe = Probe {
            path: &check.path,
            host,
        };
        let answer = http::get("127.0.0.1", port, probe, left)
            .await
            .map_err(|e| format!("{check}: {e}"))?;
        let expected = match check.status {
            Some(s) => answer.status == s,
            None => answer.is_success(),
        };
        if !expected {
            return Err(format!("{check}: answered {}", answer.status));
        }
    }
    Ok(format!(
        "{} check(s) passed on 127.0.0.1:{port}",
        checks.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_paths_and_statuses_and_names_a_bad_line() {
        let checks = parse("# smoke\n/health\n\n  /api/version 200 \n/admin 401\n").unwrap();
        assert_eq!(
            checks,
            [
                HttpCheck {
                    path: "/health".into(),
                    status: None
                },
                HttpCheck {
                    path: "/api/version".into(),
                    status: Some(200)
                },
                HttpCheck {
                    path: "/admin".into(),
                    status: Some(401)
                },
            ]
        );
        assert_eq!(checks[0].to_string(), "GET /health 2xx");
        let bad = parse("/health\nhealth").unwrap_err();
        assert!(
            bad.starts_with("line 2: \"health\": expected a path starting with /"),
            "{bad}"
        );
        let bad = parse("/health ok").unwrap_err();
        assert!(bad.contains("expected an HTTP status (100-599)"), "{bad}");
        assert!(parse("/health 200 extra")
            .unwrap_err()
            .contains("PATH [STATUS]"));
        assert!(parse("/a 99").is_err());
        let many = "/x\n".repeat(MAX_CHECKS + 1);
        assert!(parse(&many).unwrap_err().contains("at most 50 checks"));
        assert_eq!(parse("# nothing\n").unwrap(), []);
    }

    #[tokio::test]
    async fn checks_pass_on_the_expected_answers_and_stop_at_the_first_that_is_not() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let status = if head.starts_with("GET /missing ") {
                    404
                } else {
                    200
                };
                let _ = s
                    .write_all(
                        format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                    )
                    .await;
            }
        });
        let within = Duration::from_secs(5);
        let ok = parse("/health\n/missing 404").unwrap();
        assert_eq!(
            run(&ok, port, None, within).await.unwrap(),
            format!("2 check(s) passed on 127.0.0.1:{port}")
        );
        let bad = parse("/health\n/missing\n/never-asked").unwrap();
        assert_eq!(
            run(&bad, port, None, within).await.unwrap_err(),
            "GET /missing 2xx: answered 404"
        );
    }
}
