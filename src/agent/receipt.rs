//! Measures a switch's receipt ([`crate::report::receipt::Receipt`]): the proxy's counters
//! marked at the switch and read again at the end of the drain, and the response times of the
//! proxy's own log of each request over that window and the same length of time before it.
//!
//! The proxy logs one line per request to its stdout ([`proxy::LOG_FORMAT`], `bgreq <end ms> <status>
//! <active ms> <server> <termination>`), which Docker keeps in a size-bounded log
//! (`proxy::create`). The log is read as a stream into two histograms: bounded memory, however
//! many requests the window held.

use super::proxy;
use super::request_log::{self, LoggedRequest};
use super::{state, stats, Host};
use crate::report::receipt::{Counts, Receipt, Times};
use bollard::query_parameters::LogsOptions;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use std::time::Duration;

/// How long the followed log may stay silent before the read stops: Docker copies the proxy's
/// stdout asynchronously, so the lines of the window's end may come a moment late. The read
/// stops earlier as soon as a line ends past the window or the window holds as many requests
/// as the counters counted, and in any case after [`LOG_READ_MAX`].
const LOG_IDLE: Duration = Duration::from_millis(50);
const LOG_READ_MAX: Duration = Duration::from_secs(10);

/// The counters at the switch.
#[derive(Debug, Clone)]
pub struct Mark {
    pub at: DateTime<Utc>,
    readings: Option<Readings>,
    /// When the proxy began logging requests, if the deploy turned its log on: the baseline
    /// window starts there at the earliest.
    logging_since: Option<DateTime<Utc>>,
}

/// Marks the switch: the time and the proxy's counters (`None` when the proxy did not answer;
/// the receipt then says so).
pub async fn mark(host: &Host, app: &str, logging_since: Option<DateTime<Utc>>) -> Mark {
    Mark {
        at: Utc::now(),
        readings: readings(host, app).await.ok(),
        logging_since,
    }
}

/// The receipt of the window from `mark` to now; the request log's lines from `follower` when
/// the deploy followed the log, else read from the Docker log.
pub async fn take(
    host: &Host,
    app: &str,
    mark: &Mark,
    follower: Option<&request_log::Follower>,
) -> Receipt {
    let to = Utc::now();
    let mut notes = Vec::new();
    let end = readings(host, app).await;
    // The requests that ended in the window, as the log will show them: received in it, plus
    // those in flight at its start, less those still in flight at its end.
    let ended = match (&mark.readings, &end) {
        (Some(before), Ok(after)) => (after.0.counts.requests + before.0.in_flight)
            .checked_sub(before.0.counts.requests + after.0.in_flight),
        _ => None,
    };
    let during = match (mark.readings, end) {
        (Some(before), Ok(after)) => after.since(&before).unwrap_or_else(|| {
            notes.push("the proxy's counters restarted during the switch".to_string());
            after.0.counts
        }),
        (None, _) | (_, Err(_)) => {
            notes.push("the proxy's counters could not be read".to_string());
            Counts::default()
        }
    };
    let length = to - mark.at;
    // The same length of time before the switch, from when the proxy began logging at most.
    let mut baseline_from = mark.at - length;
    if let Some(since) = mark.logging_since {
        baseline_from = baseline_from.max(since);
    }
    let windows = [(mark.at, to), (baseline_from, mark.at)];
    let expected = ended.unwrap_or(during.requests);
    let bounds = windows.map(|(from, to)| (from.timestamp_millis(), to.timestamp_millis()));
    let followed = match follower {
        Some(f) => f.windows(&bounds, expected, LOG_IDLE).await,
        None => None,
    };
    let read = match followed {
        Some(lines) => tallied(&lines),
        None => {
            host.read(
                format!("docker logs --follow {}", state::proxy_name(app)),
                logged(host, app, windows, expected),
            )
            .await
        }
    };
    let (during_times, before) = match read {
        Ok([d, _]) if d.requests == 0 && during.requests > 0 => {
            notes.push(
                "the proxy logs no requests (started by an earlier version): response times \
                 appear once it restarts"
                    .to_string(),
            );
            (None, None)
        }
        Ok([d, b]) => (Some(d), Some(b)),
        Err(e) => {
            notes.push(format!("the proxy's log could not be read ({e:#})"));
            (None, None)
        }
    };
    Receipt {
        from: mark.at,
        to,
        during,
        during_times,
        before,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        held: None,
    }
}

/// Two readings of the counters, [`READING_GAP`] apart. The counters are not read at one
/// instant (each thread of the proxy moves them while `show stat` prints), so a request
/// between being counted received and being counted in flight, or between being counted
/// answered and leaving, can be miscounted by one reading. A request counts as closed without
/// an answer only when it does so in every pairing of the readings at the two ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Readings(Totals, Totals);

const READING_GAP: Duration = Duration::from_millis(5);

async fn readings(host: &Host, app: &str) -> anyhow::Result<Readings> {
    let first = totals(host, app).await?;
    tokio::time::sleep(READING_GAP).await;
    Ok(Readings(first, totals(host, app).await?))
}

impl Readings {
    /// The counts between `before` and `self` by the first readings, with the fewest
    /// requests closed without an answer of any pairing.
    fn since(&self, before: &Readings) -> Option<Counts> {
        let mut counts = self.0.since(&before.0)?;
        for (end, start) in [
            (&self.0, &before.1),
            (&self.1, &before.0),
            (&self.1, &before.1),
        ] {
            let unanswered = end.since(start).map_or(0, |c| c.unanswered);
            counts.unanswered = counts.unanswered.min(unanswered);
        }
        Some(counts)
    }
}

/// The proxy's counters at one moment: totals since it started, and the requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Totals {
    /// `unanswered` is not a counter of the proxy; it stays 0 here.
    counts: Counts,
    /// Answers of every status the frontend sent (`hrsp_1xx` to `hrsp_other`).
    answered: u64,
    /// Requests received and not yet answered: the backend's current sessions and queue.
    in_flight: u64,
}

impl Totals {
    /// The counts between `before` and `self`, or `None` when a counter went down (the proxy
    /// restarted). A request the proxy received and neither answered nor saw the client give
    /// up on, and that is no longer in flight, went unanswered: HAProxy closes the client's
    /// connection without an answer and without a log line when a color stops under a request
    /// on a reused connection (so that the client may retry it), and counts it nowhere else.
    fn since(&self, before: &Totals) -> Option<Counts> {
        let (a, b) = (&self.counts, &before.counts);
        let mut counts = Counts {
            requests: a.requests.checked_sub(b.requests)?,
            http_5xx: a.http_5xx.checked_sub(b.http_5xx)?,
            connection_errors: a.connection_errors.checked_sub(b.connection_errors)?,
            response_errors: a.response_errors.checked_sub(b.response_errors)?,
            client_aborts: a.client_aborts.checked_sub(b.client_aborts)?,
            server_aborts: a.server_aborts.checked_sub(b.server_aborts)?,
            unanswered: 0,
        };
        let answered = self.answered.checked_sub(before.answered)?;
        let settled =
            i128::from(answered) + i128::from(counts.client_aborts) + i128::from(self.in_flight)
                - i128::from(before.in_flight);
        let unanswered = i128::from(counts.requests) - settled;
        counts.unanswered = u64::try_from(unanswered).unwrap_or(0);
        Some(counts)
    }
}

/// The frontend's requests and answers, the backend's errors, aborts and requests in flight,
/// read in one `show stat`.
async fn totals(host: &Host, app: &str) -> anyhow::Result<Totals> {
    let csv = proxy::runtime(host, app, "show stat").await?;
    let field = |row: (&str, &str), name: &str| {
        stats::server_field(&csv, row.0, row.1, name).ok_or_else(|| {
            anyhow::anyhow!("the proxy's stats have no {name} for {}/{}", row.0, row.1)
        })
    };
    let (frontend, backend) = ((proxy::FRONTEND, "FRONTEND"), (proxy::BACKEND, "BACKEND"));
    let mut answered = 0;
    for status in [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ] {
        answered += field(frontend, status)?;
    }
    Ok(Totals {
        counts: Counts {
            requests: field(frontend, "req_tot")?,
            http_5xx: field(frontend, "hrsp_5xx")?,
            connection_errors: field(backend, "econ")?,
            response_errors: field(backend, "eresp")?,
            client_aborts: field(backend, "cli_abrt")?,
            server_aborts: field(backend, "srv_abrt")?,
            unanswered: 0,
        },
        answered,
        in_flight: field(backend, "scur")? + field(backend, "qcur")?,
    })
}

/// The requests of each window (the first is the switch's), read from the proxy container's
/// log, followed until it has caught up with the end of the first: a line ends past it (the
/// log keeps the proxy's order, so every line of both windows came before), or the first holds
/// the `expected` requests that ended in it (by the counters), or no line came for
/// [`LOG_IDLE`].
async fn logged(
    host: &Host,
    app: &str,
    windows: [(DateTime<Utc>, DateTime<Utc>); 2],
    expected: u64,
) -> anyhow::Result<[Times; 2]> {
    let earliest = windows.iter().map(|w| w.0).min().unwrap_or(windows[0].0);
    let options = LogsOptions {
        stdout: true,
        stderr: false,
        // Without requests in the window there is nothing to wait for: the log as it is
        // holds the whole baseline.
        follow: expected > 0,
        // Docker's `since` is in whole seconds: one second early, the lines filter the rest.
        since: i32::try_from(earliest.timestamp() - 1).unwrap_or(0),
        ..Default::default()
    };
    let name = state::proxy_name(app);
    let mut stream = host.docker.logs(&name, Some(options));
    let mut tallies = [Tally::new()?, Tally::new()?];
    let bounds = windows.map(|(from, to)| (from.timestamp_millis(), to.timestamp_millis()));
    let end_ms = bounds[0].1;
    let deadline = tokio::time::Instant::now() + LOG_READ_MAX;
    loop {
        let wait = deadline.min(tokio::time::Instant::now() + LOG_IDLE);
        let chunk = match tokio::time::timeout_at(wait, stream.next()).await {
            // Silent for a while, or the log ended: what was read is the receipt's.
            Err(_) | Ok(None) => break,
            Ok(Some(chunk)) => {
                chunk.map_err(|e| anyhow::anyhow!("cannot read the log of {name}: {e}"))?
            }
        };
        let mut caught_up = false;
        for line in chunk.to_string().lines() {
            let Some(request) = request_log::parse(line) else {
                continue;
            };
            caught_up |= request.end_ms >= end_ms;
            for (tally, (from, to)) in tallies.iter_mut().zip(bounds) {
                if (from..to).contains(&request.end_ms) {
                    tally.add(&request);
                }
            }
        }
        if caught_up || (expected > 0 && tallies[0].requests >= expected) {
            break;
        }
    }
    Ok(tallies.map(|t| t.times()))
}

/// The times of each window's lines.
fn tallied(windows: &[Vec<LoggedRequest>]) -> anyhow::Result<[Times; 2]> {
    let mut out = [Times::default(); 2];
    for (slot, lines) in out.iter_mut().zip(windows) {
        let mut tally = Tally::new()?;
        lines.iter().for_each(|r| tally.add(r));
        *slot = tally.times();
    }
    Ok(out)
}

/// A window's requests: a count, the failures, and a histogram of active times.
struct Tally {
    requests: u64,
    failed: u64,
    times: Histogram<u64>,
}

impl Tally {
    fn new() -> anyhow::Result<Tally> {
        // 1 ms to 1 h at 2 significant digits: a few kilobytes whatever the traffic.
        let times = Histogram::new_with_bounds(1, 3_600_000, 2)
            .map_err(|e| anyhow::anyhow!("cannot size the response time histogram: {e}"))?;
        Ok(Tally {
            requests: 0,
            failed: 0,
            times,
        })
    }

    fn add(&mut self, r: &LoggedRequest) {
        self.requests += 1;
        self.failed += u64::from(r.failed());
        // A request that never completed has no active time: it counts as failed, at 1 ms.
        self.times
            .saturating_record(r.active_ms.unwrap_or(0).max(1));
    }

    fn times(&self) -> Times {
        let q = |q: f64| {
            if self.requests == 0 {
                0
            } else {
                self.times.value_at_quantile(q)
            }
        };
        Times {
            requests: self.requests,
            failed: self.failed,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_gives_percentiles_of_active_time() {
        let mut t = Tally::new().unwrap();
        for ms in 1..=100 {
            t.add(&LoggedRequest {
                end_ms: 0,
                status: if ms == 100 { 502 } else { 200 },
                active_ms: Some(ms),
                server: "blue".into(),
                termination: "--".into(),
            });
        }
        let times = t.times();
        assert_eq!((times.requests, times.failed), (100, 1));
        assert_eq!(times.p50_ms, 50);
        assert_eq!(times.p99_ms, 99);
        assert_eq!(Tally::new().unwrap().times().p99_ms, 0);
    }

    /// The counters at one reading: requests received, answered, in flight.
    fn at(requests: u64, answered: u64, in_flight: u64) -> Totals {
        Totals {
            counts: Counts {
                requests,
                ..Counts::default()
            },
            answered,
            in_flight,
        }
    }

    #[test]
    fn a_request_miscounted_by_one_reading_is_not_unanswered() {
        // At the switch the first reading caught one request answered but not yet gone
        // (counted answered and in flight): by that reading alone, one looks unanswered.
        let before = Readings(at(105, 101, 5), at(107, 103, 4));
        let after = Readings(at(150, 146, 4), at(151, 147, 4));
        assert_eq!(after.0.since(&before.0).unwrap().unanswered, 1);
        assert_eq!(after.since(&before).unwrap().unanswered, 0);
        // 12 in flight at the switch and cut: they show in every pairing.
        let before = Readings(at(112, 100, 12), at(112, 100, 12));
        let cut = Readings(at(124, 100, 12), at(125, 101, 12));
        assert_eq!(cut.since(&before).unwrap().unanswered, 12);
    }

    #[test]
    fn a_counter_that_went_down_is_a_restart() {
        assert_eq!(at(25, 20, 5).since(&at(10, 10, 0)).unwrap().requests, 15);
        assert_eq!(at(10, 10, 0).since(&at(25, 20, 5)), None);
    }

    #[test]
    fn requests_neither_answered_nor_in_flight_went_unanswered() {
        let at = |requests, answered, in_flight, client_aborts| Totals {
            counts: Counts {
                requests,
                client_aborts,
                ..Counts::default()
            },
            answered,
            in_flight,
        };
        // 12 in flight at the switch, 40 more received, 40 answered, 12 in flight at the end.
        let steady = at(140, 140, 12, 0).since(&at(100, 100, 12, 0)).unwrap();
        assert_eq!(steady.unanswered, 0);
        // The 12 in flight at the switch lost: received 12 more, answered none, 12 in flight.
        let cut = at(112, 100, 12, 0).since(&at(100, 100, 12, 0)).unwrap();
        assert_eq!((cut.unanswered, cut.failed()), (12, 12));
        // A client that gave up is its own count, not a failure of the switch.
        let gave_up = at(110, 105, 2, 3).since(&at(100, 100, 0, 0)).unwrap();
        assert_eq!((gave_up.unanswered, gave_up.client_aborts), (0, 3));
        // More settled than received (a request in flight counted twice at an instant) is 0.
        let over = at(100, 101, 1, 0).since(&at(100, 100, 0, 0)).unwrap();
        assert_eq!(over.unanswered, 0);
    }
}
