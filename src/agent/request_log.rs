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
