//! A person's word on a canary: `bluegreen promote` and `bluegreen abort` (and their
//! sub-actions) write it to `<state>/apps/<app>/canary-decision.json`, and the deploy running
//! the canary reads it.
//!
//! They never take the app's lock: the deploy that runs the canary holds it for its whole
//! length, pauses included. The file is written whole (a temporary file renamed over it), so
//! the loop reads the last decision or none, never half of one; a later decision replaces an
//! earlier one (the last word wins).
//!
//! What the loop does with it (its contract): **abort** puts the new version's weight to 0 at
//! its next check (the end of an interval, or at once during a pause); **promote** ends a
//! pause, and one given while the canary is not paused is kept for its next pause, which then
//! does not wait. A decision names the deploy it is for; one for another deploy is stale and
//! ignored ([`CanaryDecision::for_deploy`]).

use super::{read_json, remove_if_present, write_json_atomic, CanaryProgress};
use crate::agent::protocol::{CanaryDecisionRequest, Outcome};
use crate::agent::{lock, reply, AgentReply, Host};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The decision file in the app's state directory.
pub const DECISION_FILE: &str = "canary-decision.json";

/// Promote or abort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Promote,
    Abort,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Promote => "promote",
            Decision::Abort => "abort",
        }
    }
}

/// A decision as written for the loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryDecision {
    pub decision: Decision,
    /// The deploy whose canary it is for.
    pub deploy_id: String,
    /// When it was given.
    pub at: DateTime<Utc>,
    /// Who gave it (a workflow's actor, a user), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The workflow run that gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
}

impl CanaryDecision {
    /// `<app dir>/canary-decision.json`.
    pub fn path(app_dir: &Path) -> PathBuf {
        app_dir.join(DECISION_FILE)
    }

    /// The decision in `app_dir`, whichever deploy it is for; `None` when there is none.
    pub fn read(app_dir: &Path) -> anyhow::Result<Option<CanaryDecision>> {
        read_json(&Self::path(app_dir))
    }

    /// The decision for `deploy_id`'s canary, if one was given; a decision for another
    /// deploy (stale: its canary ended before it was read) is removed and not returned.
    pub fn for_deploy(app_dir: &Path, deploy_id: &str) -> anyhow::Result<Option<CanaryDecision>> {
        match Self::read(app_dir)? {
            Some(d) if d.deploy_id == deploy_id => Ok(Some(d)),
            Some(_) => Self::remove(app_dir).map(|()| None),
            None => Ok(None),
        }
    }

    /// Writes it whole, replacing an earlier decision.
    pub fn write(&self, app_dir: &Path) -> anyhow::Result<()> {
        write_json_atomic(&Self::path(app_dir), self)
    }

    /// Removes it (the loop acted on it, or the canary ended); no file is not an error.
    pub fn remove(app_dir: &Path) -> anyhow::Result<()> {
        remove_if_present(&Self::path(app_dir))
    }

    /// `promote by octocat at 10:02:03Z`.
    pub fn text(&self) -> String {
        let by = self
            .by
            .as_ref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default();
        format!(
            "{}{by} at {}",
            self.decision.as_str(),
            self.at.format("%H:%M:%SZ")
        )
    }
}

/// What a canary in `app_dir` is, for a decision: in progress (its progress, and the deploy
/// running it holds the app's lock), or not, and why not.
enum Found {
    InProgress(CanaryProgress),
    None(String),
}

fn find(
    app: &str,
    app_dir: &Path,
    lock_path: &Path,
    deploy_id: Option<&str>,
) -> anyhow::Result<Found> {
    let none = format!("no canary in progress for {app} on this host");
    let Some(progress) = CanaryProgress::read(app_dir)? else {
        return Ok(Found::None(none));
    };
    if let Some(id) = deploy_id.filter(|id| *id != progress.deploy_id) {
        return Ok(Found::None(format!(
            "{none} for deploy {id} (the one in progress is deploy {})",
            progress.deploy_id
        )));
    }
    if !lock::is_held(lock_path)? {
        return Ok(Found::None(format!(
            "{none} (deploy {} left its progress file and no longer runs)",
            progress.deploy_id
        )));
    }
    Ok(Found::InProgress(progress))
}

/// `promote` or `abort` on this host: records the decision for the canary in progress and
/// says where that canary is; with none in progress, records nothing and says so
/// ([`Outcome::NoCanary`]).
pub fn request(
    host: &Host,
    decision: Decision,
    asked: &CanaryDecisionRequest,
) -> anyhow::Result<AgentReply> {
    let app = &asked.app;
    let found = find(
        app,
        &host.app_dir(app),
        &host.lock_path(app),
        asked.deploy_id.as_deref(),
    )?;
    let progress = match found {
        Found::InProgress(p) => p,
        Found::None(why) => {
            let message = format!("{why}: nothing recorded");
            return Ok(reply(host, decision.as_str(), Outcome::NoCanary, message));
        }
    };
    let recorded = CanaryDecision {
        decision,
        deploy_id: progress.deploy_id.clone(),
        at: Utc::now(),
        by: asked.by.clone(),
        run_url: asked.run_url.clone(),
    };
    recorded.write(&host.app_dir(app))?;
    let message = recorded_message(app, &recorded, &progress);
    let mut r = reply(host, decision.as_str(), Outcome::DecisionRecorded, message);
    r.canary = Some(progress.run);
    Ok(r)
}

/// What the recorded decision will do, given where the canary is.
fn recorded_message(app: &str, d: &CanaryDecision, p: &CanaryProgress) -> String {
    let what = format!(
        "{} recorded for the canary of {app} (deploy {}) at {}",
        d.decision.as_str(),
        p.deploy_id,
        p.where_text()
    );
    match (d.decision, p.run.paused_since) {
        (Decision::Promote, Some(since)) => format!(
            "{what}, waiting since {}: it goes on to its next step",
            since.format("%H:%M:%SZ")
        ),
        (Decision::Promote, None) => {
            format!("{what}, not waiting at a pause: its next pause goes on without waiting")
        }
        (Decision::Abort, Some(_)) => {
            format!("{what}, waiting at a pause: the new version's weight goes to 0 now")
        }
        (Decision::Abort, None) => format!(
            "{what}: the new version's weight goes to 0 at its next check (within an interval)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::canary::tests::progress;
    use crate::agent::lock::AppLock;
    use std::time::Duration;

    fn decision(deploy_id: &str, d: Decision) -> CanaryDecision {
        CanaryDecision {
            decision: d,
            deploy_id: deploy_id.into(),
            at: "2026-12-03T10:02:03Z".parse().unwrap(),
            by: Some("octocat".into()),
            run_url: None,
        }
    }

    #[test]
    fn a_decision_is_for_one_deploy_and_the_last_word_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CanaryDecision::for_deploy(dir.path(), "d-1").unwrap(), None);
        decision("d-1", Decision::Promote)
            .write(dir.path())
            .unwrap();
        decision("d-1", Decision::Abort).write(dir.path()).unwrap();
        let read = CanaryDecision::for_deploy(dir.path(), "d-1")
            .unwrap()
            .unwrap();
        assert_eq!(read.decision, Decision::Abort);
        assert_eq!(read.text(), "abort by octocat at 10:02:03Z");
        // One for another deploy is stale: removed, not returned.
        assert_eq!(CanaryDecision::for_deploy(dir.path(), "d-2").unwrap(), None);
        assert_eq!(CanaryDecision::read(dir.path()).unwrap(), None);
        let json = serde_json::to_value(decision("d-1", Decision::Promote)).unwrap();
        assert_eq!(json["decision"], "promote");
    }

    #[tokio::test]
    async fn a_canary_is_in_progress_only_while_its_deploy_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let lock_path = dir.path().join("lock");
        let found = |id: Option<&str>| find("shop", dir.path(), &lock_path, id).unwrap();
        let why = |f: Found| match f {
            Found::None(why) => why,
            Found::InProgress(p) => panic!("in progress: {p:?}"),
        };
        assert_eq!(
            why(found(None)),
            "no canary in progress for shop on this host"
        );
        progress("d-1", 3, true).write(dir.path()).unwrap();
        assert_eq!(
            why(found(None)),
            "no canary in progress for shop on this host (deploy d-1 left its progress file \
             and no longer runs)"
        );
        let held = AppLock::acquire(&lock_path, Duration::ZERO, "deploy d-1")
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(found(None), Found::InProgress(p) if p.deploy_id == "d-1"));
        assert!(matches!(found(Some("d-1")), Found::InProgress(_)));
        assert_eq!(
            why(found(Some("d-0"))),
            "no canary in progress for shop on this host for deploy d-0 (the one in progress \
             is deploy d-1)"
        );
        drop(held);
    }

    #[test]
    fn the_message_says_what_the_decision_will_do_where_the_canary_is() {
        let paused = progress("d-1", 3, true);
        let at_25 = progress("d-1", 2, false);
        let promote = decision("d-1", Decision::Promote);
        let abort = decision("d-1", Decision::Abort);
        assert_eq!(
            recorded_message("shop", &promote, &paused),
            "promote recorded for the canary of shop (deploy d-1) at step 3 of 4 (pause), \
             weight 25 %, waiting since 10:00:00Z: it goes on to its next step"
        );
        assert!(recorded_message("shop", &promote, &at_25)
            .ends_with("step 2 of 4 (25 %), weight 25 %, not waiting at a pause: its next pause goes on without waiting"));
        assert!(recorded_message("shop", &abort, &paused).ends_with("goes to 0 now"));
        assert!(recorded_message("shop", &abort, &at_25)
            .ends_with("goes to 0 at its next check (within an interval)"));
    }
}
