//! The command runner that `deploy`, `rollback` and `status` share: check the request, send
//! it to the target's hosts, print the replies, and say what each host did.

use super::interrupt::{or_stop, Stoppable};
use super::rollout::HostReport;
use super::ssm_run::{self, SsmFleet};
use super::{LocalTransport, TargetArgs, TargetKind, Transport};
use crate::agent::{AgentReply, AgentRequest};
use crate::exit::ExitCode;
use crate::output::OutputFormat;
use crate::report::hosts::wire_name;
use crate::report::{EventLog, HostRecord};

/// What a command did: its exit code and, host by host, its result in a few words.
#[derive(Debug)]
pub struct Done {
    pub exit: ExitCode,
    pub hosts: Vec<HostRecord>,
}

/// A host of the fleet's report: its reply, or the fleet's word for why there is none.
fn fleet_record(h: &HostReport) -> HostRecord {
    match (&h.reply, &h.error) {
        (Some(reply), _) => HostRecord::from_reply(&h.host, reply),
        (None, error) => HostRecord::without_reply(
            &h.host,
            wire_name(h.status),
            &error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
        ),
    }
}

/// Sends the request to the target's hosts and prints their replies.
pub async fn run_on_target(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
) -> anyhow::Result<Done> {
    // The hosts' agents check the request again; checking it here first means a bad value
    // is a usage error (exit 2) before any AWS call, on every target.
    crate::agent::validate::request(&request)?;
    match target.target {
        TargetKind::Local => {
            target.check_local()?;
            let transport = LocalTransport::detect().await?;
            let work = transport.run("local", &request);
            let reply = match or_stop(Stoppable::Local(&transport), &request, work).await {
                Ok(reply) => reply?,
                Err(stopped) => {
                    eprintln!("error: {stopped}");
                    return Ok(Done {
                        exit: ExitCode::Failed,
                        hosts: vec![],
                    });
                }
            };
            print_reply(&reply, format)?;
            Ok(Done {
                exit: reply.outcome.exit_code(),
                hosts: vec![HostRecord::from_reply("local", &reply)],
            })
        }
        TargetKind::Ssm => run_on_ssm(target, request, format).await,
    }
}

/// The fleet path: resolve the targets, check them, then roll the request out batch by batch;
/// print what that produced.
async fn run_on_ssm(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
) -> anyhow::Result<Done> {
    let events = EventLog::new();
    let fleet = SsmFleet::connect(target, ssm_comment(&request), &events).await?;
    let run = match ssm_run::run(&fleet, &target.image_platform, &request, &events).await? {
        Ok(run) => run,
        Err(stopped) => {
            eprintln!("error: {stopped}");
            return Ok(Done {
                exit: ExitCode::Failed,
                hosts: vec![],
            });
        }
    };
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&run)?),
        OutputFormat::Human => print!("{}", run.render_human()),
    }
    if let Some(pre) = run.preflight.as_ref().filter(|_| run.fleet.is_none()) {
        eprintln!(
            "error: preflight failed on {} of {} hosts: nothing was changed",
            pre.problems().len(),
            pre.hosts.len()
        );
    }
    let hosts = match (&run.fleet, &run.preflight) {
        (Some(fleet), _) => fleet.hosts.iter().map(fleet_record).collect(),
        (None, Some(pre)) => pre
            .hosts
            .iter()
            .map(|h| {
                let outcome = if h.problem.is_some() {
                    "not_ready"
                } else {
                    "not_started"
                };
                let message = h.problem.as_ref().map(|p| p.message.as_str());
                HostRecord::without_reply(&h.host, outcome, message.unwrap_or_default())
            })
            .collect(),
        (None, None) => vec![],
    };
    Ok(Done {
        exit: run.exit_code(),
        hosts,
    })
}

/// The command history comment: which action on which app, and the deploy id.
fn ssm_comment(request: &AgentRequest) -> String {
    match request {
        AgentRequest::Deploy(spec) => format!("bluegreen deploy {} {}", spec.app, spec.deploy_id),
        AgentRequest::Rollback { app } => format!("bluegreen rollback {app}"),
        AgentRequest::Status { app } => {
            format!("bluegreen status {}", app.as_deref().unwrap_or("all apps"))
        }
    }
}

fn print_reply(reply: &AgentReply, format: OutputFormat) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(reply)?),
        OutputFormat::Human => print!("{}", crate::agent::render::reply(reply)),
    }
    Ok(())
}
