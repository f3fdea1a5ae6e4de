//! The report's own record of one host's part in a command, for hosts that replied and for
//! hosts that never did, and the renderings every command shares: one fleet-color rule
//! ([`FleetColor::of`]) and one host table ([`host_table`]). The run record (`run.json`), the
//! job summary, `metrics.json`, the rollback sub-action and `status` all read these records.

use crate::agent::protocol::{AgentReply, AppState, Color};
use crate::report::canary::CanaryRun;
use crate::report::receipt::Receipt;
use serde::{Deserialize, Serialize};

/// One host's result: what it did, in a few words, and the colors before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    pub host: String,
    /// The agent's outcome (`deployed`, `rolled_back`, `nothing_to_roll_back`, ...) or, for a
    /// host that never replied, the fleet's word for why (`failed`, `skipped`, `not_ready`,
    /// `not_started`).
    pub outcome: String,
    /// False for a host whose agent never answered (the fields below are then what was known
    /// before the command, or nothing).
    #[serde(default)]
    pub replied: bool,
    #[serde(default)]
    pub live_before: Option<Color>,
    /// The color serving after the command, when the host reported it.
    #[serde(default)]
    pub live_after: Option<Color>,
    /// The image and digest the live color runs after the command.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    /// What a rollback would return to.
    #[serde(default)]
    pub rollback_target: Option<RollbackTarget>,
    #[serde(default)]
    pub first_deployment: bool,
    #[serde(default)]
    pub message: String,
    /// The last lines of the new container's log, when the host sent them (a failed start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// What users saw during the host's switch, from its proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// The host's canary: its steps, each interval's figures and verdict, how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryRun>,
}

/// The color and image a rollback would return to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackTarget {
    pub color: Color,
    pub image: String,
}

impl RollbackTarget {
    /// The app's rollback target, when it has one.
    fn of(state: &AppState) -> Option<RollbackTarget> {
        state.rollback_target.as_ref().map(|c| RollbackTarget {
            color: c.color,
            image: c.image.clone(),
        })
    }
}

impl HostRecord {
    /// A host that replied; `app` picks the app's state (the first one when `None`).
    pub fn from_reply(host: &str, app: Option<&str>, reply: &AgentReply) -> HostRecord {
        let of_app = |s: &&AppState| app.is_none_or(|a| s.app == a);
        let before = reply.before.as_ref().filter(of_app);
        let after = reply.apps.iter().find(of_app);
        let live = after.and_then(|s| s.live.as_ref());
        HostRecord {
            host: host.to_string(),
            outcome: wire_name(reply.outcome),
            replied: true,
            live_before: before.and_then(|s| s.live.as_ref()).map(|c| c.color),
            live_after: live.map(|c| c.color),
            image: live.map(|c| c.image.clone()),
            digest: live.and_then(|c| c.digest.clone()),
            rollback_target: after.and_then(RollbackTarget::of),
            first_deployment: reply.first_deployment,
            message: reply.message.clone(),
            log_tail: reply.log_tail.clone(),
            receipt: reply.receipt.clone(),
            canary: reply.canary.clone(),
        }
    }

    /// A host that never replied: `outcome` says why, `message` what is known.
    pub fn without_reply(host: &str, outcome: impl Into<String>, message: &str) -> HostRecord {
        HostRecord {
            host: host.to_string(),
            outcome: outcome.into(),
            replied: false,
            live_before: None,
            live_after: None,
            image: None,
            digest: None,
            rollback_target: None,
            first_deployment: false,
            message: message.to_string(),
            log_tail: Vec::new(),
            receipt: None,
            canary: None,
        }
    }

    /// What serves after the command, as a later reply of the host says (its status, or the
    /// fleet rollback's answer): the live color, its image and digest, the rollback target.
    pub fn serves_as(&mut self, later: HostRecord) {
        self.live_after = later.live_after;
        self.image = later.image;
        self.digest = later.digest;
        self.rollback_target = later.rollback_target;
    }

    /// A host nothing was sent to, with the state a check read before: it serves as it did.
    pub fn untouched(host: &str, outcome: &str, message: &str, state: Option<&AppState>) -> Self {
        let live = state.and_then(|s| s.live.as_ref());
        HostRecord {
            live_before: live.map(|c| c.color),
            live_after: live.map(|c| c.color),
            image: live.map(|c| c.image.clone()),
            digest: live.and_then(|c| c.digest.clone()),
            rollback_target: state.and_then(RollbackTarget::of),
            ..HostRecord::without_reply(host, outcome, message)
        }
    }
}

/// `run.json`'s hosts (`RunReport::hosts`): this layout, or the one before it (`{host, reply}`,
/// the agent's whole reply), which `bluegreen report --run` still reads.
pub fn stored_hosts<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<HostRecord>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Record(Box<HostRecord>),
        Reply {
            host: String,
            reply: Box<AgentReply>,
        },
    }
    let stored = Vec::<Stored>::deserialize(d)?;
    Ok(stored
        .into_iter()
        .map(|s| match s {
            Stored::Record(r) => *r,
            Stored::Reply { host, reply } => HostRecord::from_reply(&host, None, &reply),
        })
        .collect())
}

/// The live color across all hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FleetColor {
    Blue,
    Green,
    /// Hosts disagree (a partial rollout or a partial rollback).
    Mixed,
    /// No host serves this app.
    None,
}

impl FleetColor {
    pub fn as_str(self) -> &'static str {
        match self {
            FleetColor::Blue => "blue",
            FleetColor::Green => "green",
            FleetColor::Mixed => "mixed",
            FleetColor::None => "none",
        }
    }

    /// The color the serving hosts agree on. Hosts that serve nothing (before a first
    /// deployment) do not count; `Mixed` means serving hosts disagree.
    pub fn of(colors: impl Iterator<Item = Option<Color>>) -> FleetColor {
        let mut serving = colors.flatten();
        let Some(first) = serving.next() else {
            return FleetColor::None;
        };
        if serving.any(|c| c != first) {
            return FleetColor::Mixed;
        }
        match first {
            Color::Blue => FleetColor::Blue,
            Color::Green => FleetColor::Green,
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
    FleetColor::of(hosts.iter().map(|h| h.live_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(host: &str, live: Option<Color>) -> HostRecord {
        HostRecord {
            live_after: live,
            ..HostRecord::without_reply(host, "rolled_back", "a | b")
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
    fn a_run_record_of_the_earlier_layout_still_reads() {
        let legacy = serde_json::json!({
            "host": "i-1",
            "reply": {
                "host": "i-1", "action": "deploy", "outcome": "deployed",
                "message": "green serves shop:v2", "first_deployment": false,
                "before": {"app": "shop", "public_port": 8080, "rollback_target": null,
                           "live": {"color": "blue", "image": "shop:v1", "running": true, "health": "healthy"}},
                "apps": [{"app": "shop", "public_port": 8080,
                          "live": {"color": "green", "image": "shop:v2", "digest": "sha256:ab",
                                   "running": true, "health": "healthy"},
                          "rollback_target": {"color": "blue", "image": "shop:v1",
                                              "running": true, "health": "healthy"}}],
                "events": [], "log_tail": ["started"]
            }
        });
        let record = stored_hosts(serde_json::json!([legacy])).unwrap().remove(0);
        assert_eq!(record.outcome, "deployed");
        assert!(record.replied);
        assert_eq!(record.live_before, Some(Color::Blue));
        assert_eq!(record.live_after, Some(Color::Green));
        assert_eq!(record.digest.as_deref(), Some("sha256:ab"));
        assert_eq!(
            record.rollback_target.as_ref().map(|t| t.image.as_str()),
            Some("shop:v1")
        );
        assert_eq!(record.log_tail, ["started"]);
        let again = stored_hosts(serde_json::json!([record])).unwrap().remove(0);
        assert_eq!(again, record, "the current layout reads back as written");
    }

    #[test]
    fn a_host_that_never_replied_keeps_what_was_known() {
        let silent: HostRecord = serde_json::from_str(
            r#"{"host": "i-2", "outcome": "not_ready", "message": "offline"}"#,
        )
        .unwrap();
        assert!(!silent.replied);
        assert_eq!(silent.live_after, None);
        assert_eq!(fleet_color(&[silent]), FleetColor::None);
    }
}
