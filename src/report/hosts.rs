//! The report's own record of one host's part in a command, for hosts that replied and for
//! hosts that never did, and the renderings every command shares: one fleet-color rule
//! ([`FleetColor::of`]) and one host table ([`host_table`]). The rollback sub-action's outputs
//! and job summary are rendered from these.

use super::facts::FleetColor;
use super::markdown::table;
use super::model::RunStatus;
use crate::agent::protocol::{AgentReply, Color};
use crate::exit::ExitCode;

/// One host's result, in a few words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    pub host: String,
    /// The agent's outcome (`rolled_back`, `nothing_to_roll_back`, ...) or, for a host that
    /// never replied, the fleet's word for why (`timed_out`, `not_ready`, `not_started`, ...).
    pub outcome: String,
    /// The color serving after the command, when the host reported it.
    pub live: Option<Color>,
    pub message: String,
}

impl HostRecord {
    /// A host that replied.
    pub fn from_reply(host: &str, reply: &AgentReply) -> HostRecord {
        HostRecord {
            host: host.to_string(),
            outcome: wire_name(reply.outcome),
            live: reply
                .apps
                .first()
                .and_then(|a| a.live.as_ref())
                .map(|l| l.color),
            message: reply.message.clone(),
        }
    }

    /// A host that never replied: `outcome` says why, `message` what is known.
    pub fn without_reply(host: &str, outcome: impl Into<String>, message: &str) -> HostRecord {
        HostRecord {
            host: host.to_string(),
            outcome: outcome.into(),
            live: None,
            message: message.to_string(),
        }
    }
}

/// A unit enum's name as the JSON replies and reports spell it (`rolled_back`).
pub fn wire_name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The color the hosts serve after a command, by the one rule of [`FleetColor::of`].
pub fn fleet_color(hosts: &[HostRecord]) -> FleetColor {
    FleetColor::of(hosts.iter().map(|h| h.live))
}

/// How a rollback ended, as a run status: from the exit code of `bluegreen rollback`.
pub fn rollback_status(exit: ExitCode) -> RunStatus {
    match exit {
        ExitCode::Ok => RunStatus::RolledBack,
        ExitCode::NothingToRollBack => RunStatus::NothingToRollBack,
        ExitCode::Locked => RunStatus::Locked,
        _ => RunStatus::Failure,
    }
}

/// One row per host: host, outcome, the color live after the command, message.
pub fn host_table(hosts: &[HostRecord]) -> String {
    let rows = hosts.iter().map(|h| {
        vec![
            h.host.clone(),
            h.outcome.clone(),
            h.live.map_or_else(|| "-".to_string(), |c| c.to_string()),
            h.message.clone(),
        ]
    });
    table(
        &["host", "outcome", "live after", "message"],
        rows,
        usize::MAX,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(host: &str, live: Option<Color>) -> HostRecord {
        HostRecord {
            host: host.into(),
            outcome: "rolled_back".into(),
            live,
            message: "a | b".into(),
        }
    }

    #[test]
    fn the_fleet_color_ignores_hosts_that_serve_nothing() {
        let one = [record("i-1", Some(Color::Blue)), record("i-2", None)];
        assert_eq!(fleet_color(&one), FleetColor::Blue);
        let split = [
            record("i-1", Some(Color::Blue)),
            record("i-2", Some(Color::Green)),
        ];
        assert_eq!(fleet_color(&split), FleetColor::Mixed);
        assert_eq!(fleet_color(&[]), FleetColor::None);
    }

    #[test]
    fn the_host_table_escapes_its_cells() {
        let md = host_table(&[record("i-2", Some(Color::Blue))]);
        assert!(
            md.contains("| i-2 | rolled_back | blue | a \\| b |"),
            "{md}"
        );
    }
}
