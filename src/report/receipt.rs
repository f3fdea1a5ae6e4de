//! What users saw while a host switched: the proxy's receipt.
//!
//! Every host's proxy sees every user request, so each deploy reports, from real traffic, what
//! happened between its switch and the end of its drain. The counts are the proxy's own
//! counters (`show stat`, as deltas over the window), which never miss a request; the response
//! times come from the proxy's log of each request, over the window and over the same length
//! of time before the switch (the baseline). The agent measures ([`crate::agent::receipt`]);
//! every sink renders [`Receipt::line`] and [`FleetReceipt::line`].

use crate::report::units::{human_ms, thousands};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One host's receipt of one switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The switch.
    pub from: DateTime<Utc>,
    /// The end of the drain (or of the switch back, when the deploy rolled itself back).
    pub to: DateTime<Utc>,
    /// The proxy's counters over the window.
    pub during: Counts,
    /// Response times of the window's requests, from the proxy's log.
    #[serde(default)]
    pub during_times: Option<Times>,
    /// The same length of time before the switch, from the proxy's log.
    #[serde(default)]
    pub before: Option<Times>,
    /// What is missing and why (a proxy that does not log its requests, counters reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The old color's requests and connections at the switch, and those its drain deadline
    /// closed (long-lived connections: WebSocket, server-sent events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
}

/// What the old color held when traffic left it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Sessions the proxy counted on it at the switch.
    pub open_at_switch: u64,
    /// Sessions still open at its drain deadline, closed by the proxy.
    pub cut_at_deadline: u64,
}

/// Counter deltas of the proxy's frontend (requests, 5xx answers) and of the backend holding
/// both colors (connection and response errors, aborts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Requests the proxy received (`req_tot` of the frontend).
    pub requests: u64,
    /// Answers with a 5xx status, the app's own and the proxy's (`hrsp_5xx` of the frontend).
    pub http_5xx: u64,
    /// Connections to a color that failed (`econ`).
    pub connection_errors: u64,
    /// Responses that failed or were cut (`eresp`).
    pub response_errors: u64,
    /// Transfers the client gave up on (`cli_abrt`).
    pub client_aborts: u64,
    /// Transfers a color cut (`srv_abrt`).
    pub server_aborts: u64,
    /// Requests the proxy received and closed without an answer (a color stopped under them;
    /// HAProxy then closes the client's connection silently, logs nothing and counts nothing
    /// else): received, less answered, given up by the client and still in flight.
    #[serde(default)]
    pub unanswered: u64,
}

impl Counts {
    /// Requests a user saw fail: 5xx answers, the transfers a color cut after its answer
    /// began (those may carry a 2xx status), and the requests closed without an answer.
    pub fn failed(&self) -> u64 {
        self.http_5xx + self.server_aborts + self.unanswered
    }

    /// `5xx 3, closed without an answer 1, client aborts 2`: the counts that are not 0.
    pub fn breakdown(&self) -> String {
        [
            ("5xx", self.http_5xx),
            ("closed without an answer", self.unanswered),
            ("server aborts", self.server_aborts),
            ("connection errors", self.connection_errors),
            ("response errors", self.response_errors),
            ("client aborts", self.client_aborts),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what} {}", thousands(n)))
        .collect::<Vec<_>>()
        .join(", ")
    }

    fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.http_5xx += other.http_5xx;
        self.connection_errors += other.connection_errors;
        self.response_errors += other.response_errors;
        self.client_aborts += other.client_aborts;
        self.server_aborts += other.server_aborts;
        self.unanswered += other.unanswered;
    }
}

/// Requests of a window as the proxy's log tells them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Times {
    /// Requests logged in the window.
    pub requests: u64,
    /// Of those, answered 5xx or never answered.
    pub failed: u64,
    /// Median and 99th percentile of the time from the request to the end of its answer.
    pub p50_ms: u64,
    pub p99_ms: u64,
}

impl Receipt {
    pub fn window_ms(&self) -> u64 {
        (self.to - self.from).num_milliseconds().max(0) as u64
    }

    /// `1 of 12,345 requests failed during the switch (2.1 s): 5xx 1; p50 3 ms, p99 41 ms
    /// (before: p50 2 ms, p99 38 ms over 11,900 requests)`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} of {} requests failed during the switch ({}){}",
            thousands(self.during.failed()),
            thousands(self.during.requests),
            human_ms(self.window_ms()),
            errors_phrase(&self.during)
        );
        if let Some(t) = self.during_times.filter(|t| t.requests > 0) {
            line.push_str(&format!("; p50 {} ms, p99 {} ms", t.p50_ms, t.p99_ms));
            if let Some(b) = self.before.filter(|b| b.requests > 0) {
                line.push_str(&format!(
                    " (before: p50 {} ms, p99 {} ms over {} requests)",
                    b.p50_ms,
                    b.p99_ms,
                    thousands(b.requests)
                ));
            }
        }
        if let Some(held) = self
            .held
            .filter(|h| h.open_at_switch + h.cut_at_deadline > 0)
        {
            line.push_str(&format!(
                "; {} open on the old color at the switch, {} closed at its drain deadline",
                thousands(held.open_at_switch),
                thousands(held.cut_at_deadline)
            ));
        }
        if let Some(note) = &self.note {
            line.push_str(&format!("; {note}"));
        }
        line
    }
}

/// The fleet's receipts summed: requests and failures add up; the worst host's p99 stands for
/// the fleet's (a fleet-wide percentile would need every request, which no host sends).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReceipt {
    pub hosts: usize,
    pub during: Counts,
    pub failed: u64,
    pub worst_p99_ms: Option<u64>,
}

impl FleetReceipt {
    pub fn of<'a>(receipts: impl Iterator<Item = &'a Receipt>) -> Option<FleetReceipt> {
        let mut fleet = FleetReceipt {
            hosts: 0,
            during: Counts::default(),
            failed: 0,
            worst_p99_ms: None,
        };
        for r in receipts {
            fleet.hosts += 1;
            fleet.during.add(&r.during);
            let p99 = r.during_times.filter(|t| t.requests > 0).map(|t| t.p99_ms);
            fleet.worst_p99_ms = fleet.worst_p99_ms.max(p99);
        }
        fleet.failed = fleet.during.failed();
        (fleet.hosts > 0).then_some(fleet)
    }

    /// `0 of 45,678 requests failed while 3 hosts switched; worst p99 44 ms` (with the
    /// breakdown after a colon when something failed).
    pub fn line(&self) -> String {
        let hosts = match self.hosts {
            1 => "1 host".to_string(),
            n => format!("{n} hosts"),
        };
        let mut line = format!(
            "{} of {} requests failed while {hosts} switched{}",
            thousands(self.failed),
            thousands(self.during.requests),
            errors_phrase(&self.during)
        );
        if let Some(p99) = self.worst_p99_ms {
            line.push_str(&format!("; worst p99 {p99} ms"));
        }
        line
    }
}

/// `: 5xx 3, connection errors 1, server aborts 2`, or nothing when all are 0.
fn errors_phrase(c: &Counts) -> String {
    match c.breakdown() {
        parts if parts.is_empty() => String::new(),
        parts => format!(": {parts}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(requests: u64, http_5xx: u64, p99: u64) -> Receipt {
        let from = "2026-12-03T10:00:00Z".parse().unwrap();
        Receipt {
            from,
            to: from + chrono::Duration::milliseconds(2_100),
            during: Counts {
                requests,
                http_5xx,
                ..Counts::default()
            },
            during_times: Some(Times {
                requests,
                failed: http_5xx,
                p50_ms: 3,
                p99_ms: p99,
            }),
            before: Some(Times {
                requests: 900,
                failed: 0,
                p50_ms: 2,
                p99_ms: 38,
            }),
            note: None,
            held: None,
        }
    }

    #[test]
    fn a_host_line_says_what_users_saw_and_the_baseline() {
        assert_eq!(
            receipt(12_345, 0, 41).line(),
            "0 of 12,345 requests failed during the switch (2.1 s); p50 3 ms, p99 41 ms \
             (before: p50 2 ms, p99 38 ms over 900 requests)"
        );
        let mut cut = receipt(1_000, 3, 41);
        cut.during.server_aborts = 2;
        assert!(
            cut.line().starts_with(
                "5 of 1,000 requests failed during the switch (2.1 s): 5xx 3, server aborts 2;"
            ),
            "{}",
            cut.line()
        );
        cut.held = Some(Held {
            open_at_switch: 3,
            cut_at_deadline: 2,
        });
        assert!(
            cut.line().contains(
                "; 3 open on the old color at the switch, 2 closed at its drain deadline"
            ),
            "{}",
            cut.line()
        );
    }

    #[test]
    fn the_fleet_sums_requests_and_failures_and_keeps_the_worst_p99() {
        let hosts = [receipt(1_000, 0, 40), receipt(2_500, 2, 95)];
        let fleet = FleetReceipt::of(hosts.iter()).unwrap();
        assert_eq!(fleet.during.requests, 3_500);
        assert_eq!(fleet.failed, 2);
        assert_eq!(fleet.worst_p99_ms, Some(95));
        assert_eq!(
            fleet.line(),
            "2 of 3,500 requests failed while 2 hosts switched: 5xx 2; worst p99 95 ms"
        );
        assert_eq!(FleetReceipt::of([].iter()), None);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
