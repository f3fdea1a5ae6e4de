//! The verify-live stage: every host is asked what serves now, and must serve the new image.

use super::{Fleet, Pipeline, Stop};
use crate::agent::protocol::{AgentReply, AgentRequest, DeploySpec};
use crate::config::Stage;
use crate::fleet::Transport;
use crate::report::Scope;

impl Pipeline {
    /// Asks every host what serves now and checks it is the image just deployed.
    pub(super) async fn verify_live_stage(
        &self,
        fleet: &Fleet,
        spec: &DeploySpec,
    ) -> Result<(), Stop> {
        if self.skipped(Stage::VerifyLive) {
            return Ok(());
        }
        let timer = self.events.start(&Scope::Pipeline, "verify-live");
        let request = AgentRequest::Status {
            app: Some(spec.app.clone()),
        };
        let hosts: Vec<String> = match fleet {
            Fleet::Local(_) => vec!["local".into()],
            Fleet::Ssm(fleet) => fleet.hosts.clone(),
        };
        let runs = match fleet {
            Fleet::Local(t) => t.run_batch(&hosts, &request).await,
            Fleet::Ssm(fleet) => fleet.transport.run_batch(&hosts, &request).await,
        };
        let wrong: Vec<String> = runs
            .iter()
            .filter_map(|run| live_mismatch(run.host.as_str(), &run.result, spec))
            .collect();
        if wrong.is_empty() {
            timer.ok(format!("{} hosts serve {}", hosts.len(), spec.image));
            Ok(())
        } else {
            timer.fail(wrong.join("; "));
            Err(Stop::failure(format!(
                "verify-live: not every host serves the new version: {}",
                wrong.join("; ")
            )))
        }
    }
}

pub(super) fn live_mismatch(
    host: &str,
    result: &Result<AgentReply, crate::fleet::HostFailure>,
    spec: &DeploySpec,
) -> Option<String> {
    let reply = match result {
        Ok(reply) => reply,
        Err(e) => return Some(format!("{host}: {e}")),
    };
    let live = reply
        .apps
        .iter()
        .find(|a| a.app == spec.app)
        .and_then(|a| a.live.as_ref());
    match live {
        Some(c) if c.image == spec.image => None,
        Some(c) => Some(format!("{host}: {} serves {}", c.color, c.image)),
        None => Some(format!("{host}: nothing serves {}", spec.app)),
    }
}
