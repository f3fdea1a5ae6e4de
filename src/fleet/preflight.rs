//! Before anything changes: resolve the targets, check each instance's SSM agent, its
//! architecture against the image's platforms, and ask each host agent for its state, which is
//! the rollback check for prior green (what serves now, and what a rollback would go back to).

use super::ssm::SsmTransport;
use super::targets::{InstanceId, TagFilter};
use super::transport::{FailureKind, HostFailure, Transport};
use crate::agent::{AgentRequest, AppState};
use crate::image::Platform;
use crate::report::{EventLog, Scope, StepStatus};
use anyhow::Context;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::InstanceInformationStringFilter;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Which instances a command targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSelection {
    Ids(Vec<InstanceId>),
    Tags(TagFilter),
}

/// What SSM knows about one managed instance (DescribeInstanceInformation). Its PingStatus
/// comes from a heartbeat every 5 minutes, so it can be that stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub instance_id: String,
    pub ping_status: String,
    pub platform_type: String,
    pub platform_name: String,
    pub agent_version: String,
    pub last_ping: Option<String>,
}

/// Resolves the selection to instance ids, in a stable order.
pub async fn resolve_targets(
    transport: &SsmTransport,
    selection: &TargetSelection,
) -> anyhow::Result<Vec<String>> {
    match selection {
        TargetSelection::Ids(ids) => Ok(ids.iter().map(|i| i.to_string()).collect()),
        TargetSelection::Tags(tags) => {
            let filter = InstanceInformationStringFilter::builder()
                .key(format!("tag:{}", tags.key))
                .set_values(Some(tags.values.clone()))
                .build()
                .context("building the tag filter")?;
            let found = describe(transport, filter).await?;
            if found.is_empty() {
                anyhow::bail!(
                    "--target-tags {}={}: no SSM managed instance carries this tag \
                     (DescribeInstanceInformation returned none; stopped instances are not listed)",
                    tags.key,
                    tags.values.join(",")
                );
            }
            Ok(found.into_keys().collect())
        }
    }
}

/// DescribeInstanceInformation for the given ids, 50 per call.
pub async fn describe_instances(
    transport: &SsmTransport,
    ids: &[String],
) -> anyhow::Result<BTreeMap<String, InstanceInfo>> {
    let mut all = BTreeMap::new();
    for chunk in ids.chunks(50) {
        let filter = InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .set_values(Some(chunk.to_vec()))
            .build()
            .context("building the instance filter")?;
        all.extend(describe(transport, filter).await?);
    }
    Ok(all)
}

async fn describe(
    transport: &SsmTransport,
    filter: InstanceInformationStringFilter,
) -> anyhow::Result<BTreeMap<String, InstanceInfo>> {
    let mut found = BTreeMap::new();
    let mut next: Option<String> = None;
    loop {
        transport.count_describe();
        let page = transport
            .client()
            .describe_instance_information()
            .filters(filter.clone())
            .max_results(50)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("DescribeInstanceInformation: {}", DisplayErrorContext(e))
            })?;
        for i in page.instance_information_list() {
            let Some(id) = i.instance_id() else { continue };
            found.insert(
                id.to_string(),
                InstanceInfo {
                    instance_id: id.to_string(),
                    ping_status: i
                        .ping_status()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                    platform_type: i
                        .platform_type()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                    platform_name: i.platform_name().unwrap_or_default().to_string(),
                    agent_version: i.agent_version().unwrap_or_default().to_string(),
                    last_ping: i.last_ping_date_time().map(|t| t.to_string()),
                },
            );
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => return Ok(found),
        }
    }
}

/// Whether SSM can run our script on the instance.
pub fn check_instance(id: &str, info: Option<&InstanceInfo>) -> Result<(), String> {
    let Some(info) = info else {
        return Err(format!(
            "{id} is not an SSM managed instance: its agent is not registered, the instance is \
             stopped, or this role may not see it (ssm:DescribeInstanceInformation)"
        ));
    };
    if info.ping_status != "Online" {
        return Err(format!(
            "{id}: SSM agent PingStatus is {} (last heartbeat {}; heartbeats come every 5 minutes)",
            info.ping_status,
            info.last_ping.as_deref().unwrap_or("unknown")
        ));
    }
    if info.platform_type != "Linux" {
        return Err(format!(
            "{id}: platform is {} ({}); AWS-RunShellScript and the agent container need Linux",
            info.platform_type, info.platform_name
        ));
    }
    Ok(())
}

/// Whether the image has a variant for the host's machine architecture (`uname -m`). An
/// empty platform list means the image stage did not say, and the check is skipped (and
/// reported as skipped).
pub fn check_platform(id: &str, arch: Option<&str>, platforms: &[Platform]) -> Result<(), String> {
    if platforms.is_empty() {
        return Ok(());
    }
    let Some(arch) = arch else {
        return Err(format!("{id}: the host did not report its architecture"));
    };
    let wanted = Platform::linux_for_machine(arch).map_err(|e| format!("{id}: {e}"))?;
    if platforms.iter().any(|p| p.satisfies(&wanted)) {
        Ok(())
    } else {
        let have: Vec<String> = platforms.iter().map(ToString::to_string).collect();
        Err(format!(
            "{id}: the instance is {arch} ({wanted}) but the image has only {}",
            have.join(", ")
        ))
    }
}

/// One host before the deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightHost {
    pub host: String,
    #[serde(default)]
    pub instance: Option<InstanceInfo>,
    #[serde(default)]
    pub arch: Option<String>,
    /// The app's state as the host agent reported it (`None` before its first deployment).
    #[serde(default)]
    pub app: Option<AppState>,
    #[serde(default)]
    pub problem: Option<HostFailure>,
}

impl PreflightHost {
    /// This host's record when the command stopped after the preflight: nothing was sent, so
    /// it serves what the preflight read (`not_ready` for a host that failed its check).
    pub fn record(&self) -> crate::report::HostRecord {
        let (outcome, message) = match &self.problem {
            Some(p) => ("not_ready", p.message.as_str()),
            None => ("not_started", "nothing was sent to this host"),
        };
        crate::report::HostRecord::untouched(&self.host, outcome, message, self.app.as_ref())
    }
}

impl PreflightHost {
    pub fn live_image(&self) -> Option<&str> {
        self.app.as_ref()?.live.as_ref().map(|c| c.image.as_str())
    }

    pub fn rollback_image(&self) -> Option<&str> {
        self.app
            .as_ref()?
            .rollback_target
            .as_ref()
            .map(|c| c.image.as_str())
    }
}

/// Every host's state before anything changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightReport {
    pub hosts: Vec<PreflightHost>,
}

impl PreflightReport {
    pub fn problems(&self) -> Vec<&HostFailure> {
        self.hosts
            .iter()
            .filter_map(|h| h.problem.as_ref())
            .collect()
    }

    pub fn render_human(&self) -> String {
        let mut out = String::from("preflight (PingStatus can be up to 5 minutes stale):\n");
        for h in &self.hosts {
            let _ = match &h.problem {
                Some(p) => writeln!(out, "  {:<20} NOT READY  {p}", h.host),
                None => writeln!(
                    out,
                    "  {:<20} ready      live: {}; rollback target: {}",
                    h.host,
                    h.live_image().unwrap_or("none (first deployment)"),
                    h.rollback_image().unwrap_or("none")
                ),
            };
        }
        out
    }
}

/// Checks every host and asks each for its state, before the deploy sends anything that
/// changes it. A host that fails a check is reported with why; the caller decides to stop.
pub async fn preflight(
    transport: &SsmTransport,
    hosts: &[String],
    app: &str,
    platforms: &[Platform],
    events: &EventLog,
) -> anyhow::Result<PreflightReport> {
    let timer = events.start(&Scope::Pipeline, "preflight");
    let infos = describe_instances(transport, hosts).await?;
    let mut report: Vec<PreflightHost> = hosts
        .iter()
        .map(|h| PreflightHost {
            host: h.clone(),
            instance: infos.get(h).cloned(),
            arch: None,
            app: None,
            problem: check_instance(h, infos.get(h)).err().map(preflight_failure),
        })
        .collect();
    let reachable: Vec<String> = report
        .iter()
        .filter(|h| h.problem.is_none())
        .map(|h| h.host.clone())
        .collect();
    let status = AgentRequest::Status {
        app: Some(app.to_string()),
    };
    for run in transport.run_batch(&reachable, &status).await {
        let Some(host) = report.iter_mut().find(|h| h.host == run.host) else {
            continue;
        };
        host.arch = run.arch.clone();
        match run.result {
            Ok(reply) => {
                host.app = reply.apps.into_iter().find(|a| a.app == app);
                host.problem = check_platform(&run.host, run.arch.as_deref(), platforms)
                    .err()
                    .map(preflight_failure);
            }
            Err(e) => host.problem = Some(e),
        }
    }
    if platforms.is_empty() {
        events.note(
            &Scope::Pipeline,
            "platform_check",
            StepStatus::Skipped,
            "the image's platforms are unknown (no --image-platform): architecture not checked",
        );
    }
    for h in &report {
        let (status, detail) = match &h.problem {
            Some(p) => (StepStatus::Failed, p.to_string()),
            None => (
                StepStatus::Ok,
                format!(
                    "live {}; rollback target {}",
                    h.live_image().unwrap_or("none"),
                    h.rollback_image().unwrap_or("none")
                ),
            ),
        };
        events.note(&Scope::Host(h.host.clone()), "preflight", status, detail);
    }
    let not_ready = report.iter().filter(|h| h.problem.is_some()).count();
    let detail = format!("{} hosts, {not_ready} not ready", report.len());
    if not_ready == 0 {
        timer.ok(detail);
    } else {
        timer.fail(detail);
    }
    Ok(PreflightReport { hosts: report })
}

fn preflight_failure(message: String) -> HostFailure {
    HostFailure {
        kind: FailureKind::Preflight,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ping: &str, platform: &str) -> InstanceInfo {
        InstanceInfo {
            instance_id: "i-1".into(),
            ping_status: ping.into(),
            platform_type: platform.into(),
            platform_name: "Amazon Linux".into(),
            agent_version: "3.3.0".into(),
            last_ping: Some("2026-11-22T04:00:00Z".into()),
        }
    }

    #[test]
    fn instance_checks_say_why() {
        assert!(check_instance("i-1", Some(&info("Online", "Linux"))).is_ok());
        let e = check_instance("i-1", Some(&info("ConnectionLost", "Linux"))).unwrap_err();
        assert!(
            e.contains("ConnectionLost") && e.contains("5 minutes"),
            "{e}"
        );
        assert!(check_instance("i-1", Some(&info("Online", "Windows")))
            .unwrap_err()
            .contains("Linux"));
        assert!(check_instance("i-1", None)
            .unwrap_err()
            .contains("not an SSM managed instance"));
    }

    #[test]
    fn architecture_must_be_among_the_image_platforms() {
        let p = |s: &str| s.parse::<Platform>().unwrap();
        let amd = vec![p("linux/amd64")];
        assert!(check_platform("i-1", Some("x86_64"), &amd).is_ok());
        let e = check_platform("i-1", Some("aarch64"), &amd).unwrap_err();
        assert!(
            e.contains("linux/arm64") && e.contains("linux/amd64"),
            "{e}"
        );
        assert!(check_platform("i-1", Some("aarch64"), &[p("linux/arm64/v8")]).is_ok());
        assert!(check_platform("i-1", Some("mips"), &amd)
            .unwrap_err()
            .contains("mips"));
        assert!(check_platform("i-1", None, &amd).is_err());
        assert!(check_platform("i-1", None, &[]).is_ok());
    }
}
