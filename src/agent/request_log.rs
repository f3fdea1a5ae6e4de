//! One line of the proxy's request log ([`super::proxy::LOG_FORMAT`]: `bgreq <end ms>
//! <status> <active ms> <server> <termination>`), read once here for whoever needs it: the
//! canary's response times per server ([`super::canary::analysis::ResponseTimes`]) and the
//! receipt's windows ([`super::receipt`]).

use super::proxy::LOG_PREFIX;

/// One request, as the proxy logged it at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// When the answer ended, in milliseconds since the epoch.
    pub end_ms: i64,
    /// The HTTP status sent to the client; -1 (or 0) when none was.
    pub status: i32,
    /// `%Ta`: the time from the request to the end of its answer; `None` when the request
    /// never completed (`-1`).
    pub active_ms: Option<u64>,
    /// The server (color) that served it; `<NOSRV>` when none did.
    pub server: String,
    /// `%ts`, HAProxy's two-letter termination state (`--` for a normal end).
    pub termination: String,
}

impl LoggedRequest {
    /// Answered 5xx, never answered, or cut by the server.
    pub fn failed(&self) -> bool {
        self.status >= 500 || self.status <= 0 || self.termination.starts_with('S')
    }
}

/// `bgreq 1796325944317 200 3 blue --`; anything else (the proxy's own messages, a line cut
/// short) is `None`.
pub fn parse(line: &str) -> Option<LoggedRequest> {
    let mut words = line.split_whitespace();
    if words.next()? != LOG_PREFIX {
        return None;
    }
    let end_ms = words.next()?.parse().ok()?;
    let status = words.next()?.parse().ok()?;
    let active = words.next()?.parse::<i64>().ok()?;
    let server = words.next()?.to_string();
    let termination = words.next().unwrap_or("--").to_string();
    Some(LoggedRequest {
        end_ms,
        status,
        active_ms: u64::try_from(active).ok(),
        server,
        termination,
    })
}

/// The proxy's request log, followed on a task of its own from when a deploy turned it on:
/// the lines as they come, so the receipt and a canary's intervals find them already read when
/// they need them (no re-reading of the Docker log at the end of a window). Bounded at
/// [`FOLLOWED_MAX`] lines (about a minute at 10,000 requests a second); past that the oldest
/// go, and the reader falls back to the Docker log.
pub struct Follower {
    lines: std::sync::Arc<std::sync::Mutex<Followed>>,
    task: tokio::task::JoinHandle<()>,
}

/// Lines kept by a [`Follower`].
pub const FOLLOWED_MAX: usize = 1_000_000;

#[derive(Default)]
struct Followed {
    lines: std::collections::VecDeque<LoggedRequest>,
    /// The newest line's end, and whether lines were dropped at the bound.
    latest_ms: i64,
    dropped_before_ms: Option<i64>,
}

impl Follower {
    /// Follows `app`'s proxy log from `since` on.
    pub fn start(host: &super::Host, app: &str, since: chrono::DateTime<chrono::Utc>) -> Follower {
        use futures_util::StreamExt;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Followed::default()));
        let kept = lines.clone();
        let docker = host.docker.clone();
        let name = super::state::proxy_name(app);
        let task = tokio::spawn(async move {
            let options = bollard::query_parameters::LogsOptions {
                stdout: true,
                follow: true,
                // Docker's `since` is in whole seconds: one early, the lines filter the rest.
                since: i32::try_from(since.timestamp() - 1).unwrap_or(0),
                ..Default::default()
            };
            let since_ms = since.timestamp_millis();
            let mut stream = docker.logs(&name, Some(options));
            while let Some(Ok(chunk)) = stream.next().await {
                let parsed = chunk
                    .to_string()
                    .lines()
                    .filter_map(parse)
                    .filter(|r| r.end_ms >= since_ms)
                    .collect::<Vec<_>>();
                let Ok(mut f) = kept.lock() else { return };
                for r in parsed {
                    f.latest_ms = f.latest_ms.max(r.end_ms);
                    if f.lines.len() >= FOLLOWED_MAX {
                        let gone = f.lines.pop_front().map(|g| g.end_ms);
                        f.dropped_before_ms = gone.or(f.dropped_before_ms);
                    }
                    f.lines.push_back(r);
                }
            }
        });
        Follower { lines, task }
    }

    /// Waits until the lines reach `to_ms` (a line ended at or after it: the log keeps the
    /// proxy's order), or `expected` lines ended in `[from_ms, to_ms)`, or no line came for
    /// `idle`; then the lines of that window and of the ones given, or `None` when lines of them
    /// were dropped at the bound.
    pub async fn windows(
        &self,
        windows: &[(i64, i64)],
        expected: u64,
        idle: std::time::Duration,
    ) -> Option<Vec<Vec<LoggedRequest>>> {
        let to_ms = windows.first().map_or(0, |w| w.1);
        let (mut seen, mut since) = (self.count(), tokio::time::Instant::now());
        loop {
            let (latest, in_first) = self.progress(windows.first().copied());
            if latest >= to_ms || (expected > 0 && in_first >= expected) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let now = self.count();
            if now != seen {
                (seen, since) = (now, tokio::time::Instant::now());
            } else if since.elapsed() >= idle {
                break;
            }
        }
        let f = self.lines.lock().ok()?;
        let earliest = windows.iter().map(|w| w.0).min().unwrap_or(0);
        if f.dropped_before_ms.is_some_and(|d| d >= earliest) {
            return None;
        }
        Some(
            windows
                .iter()
                .map(|(from, to)| {
                    f.lines
                        .iter()
                        .filter(|r| (*from..*to).contains(&r.end_ms))
                        .cloned()
                        .collect()
                })
                .collect(),
        )
    }

    fn count(&self) -> usize {
        self.lines.lock().map(|f| f.lines.len()).unwrap_or(0)
    }

    /// The newest line's end, and the lines in `window` so far.
    fn progress(&self, window: Option<(i64, i64)>) -> (i64, u64) {
        let Ok(f) = self.lines.lock() else {
            return (0, 0);
        };
        let in_window = window.map_or(0, |(from, to)| {
            f.lines
                .iter()
                .rev()
                .take_while(|r| r.end_ms >= from)
                .filter(|r| r.end_ms < to)
                .count() as u64
        });
        (f.latest_ms, in_window)
    }

    /// The lines that ended in `[from_ms, to_ms)`, as read so far.
    pub fn between(&self, from_ms: i64, to_ms: i64) -> Vec<LoggedRequest> {
        self.lines
            .lock()
            .map(|f| {
                f.lines
                    .iter()
                    .filter(|r| (from_ms..to_ms).contains(&r.end_ms))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_read_and_other_lines_skipped() {
        assert_eq!(
            parse("bgreq 1796325944317 200 3 blue --"),
            Some(LoggedRequest {
                end_ms: 1_796_325_944_317,
                status: 200,
                active_ms: Some(3),
                server: "blue".into(),
                termination: "--".into()
            })
        );
        let cut = parse("bgreq 1796325944317 -1 -1 green SD").unwrap();
        assert!(cut.failed());
        assert_eq!(cut.active_ms, None);
        let nosrv = parse("bgreq 1796325944317 503 2001 <NOSRV> SC").unwrap();
        assert!(nosrv.failed());
        assert_eq!(nosrv.server, "<NOSRV>");
        assert!(!parse("bgreq 1 200 1 blue --").unwrap().failed());
        assert_eq!(parse("[NOTICE] (1) : New worker (8) forked"), None);
        assert_eq!(parse("bgreq not-a-time 200 1 blue --"), None);
        assert_eq!(parse("bgreq 1 200 1"), None, "no server: cut short");
        assert_eq!(parse("bgreq"), None);
    }
}
