//! The command runner that `deploy`, `rollback` and `status` share: check the request, send
//! it to the target's hosts, print the replies, and say what each host did.

use super::fleet_lock::{self, LockArgs};
use super::interrupt::{or_stop, Stoppable};
use super::ssm_run::{self, SsmFleet};
use super::{LocalTransport, TargetArgs, TargetKind, Transport};
use crate::agent::{AgentReply, AgentRequest};
use crate::exit::ExitCode;
use crate::output::OutputFormat;
use crate::report::{EventLog, HostRecord};

/// What a command did: its exit code and, host by host, its result in a few words.
#[derive(Debug)]
pub struct Done {
    pub exit: ExitCode,
    pub hosts: Vec<HostRecord>,
}

/// Sends the request to the target's hosts and prints their replies.
pub async fn run_on_target(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
) -> anyhow::Result<Done> {
    run_on_target_locked(target, request, format, None).await
}

/// [`run_on_target`], holding the fleet lock for an SSM deploy.
pub async fn run_on_target_locked(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
    lock: Option<LockArgs>,
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
                hosts: vec![HostRecord::from_reply("local", request.app(), &reply)],
            })
        }
        TargetKind::Ssm => run_on_ssm(target, request, format, lock).await,
    }
}

/// The fleet path: resolve the targets, take the fleet lock (a deploy), check the hosts, then
/// roll the request out batch by batch; print what that produced.
async fn run_on_ssm(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
    lock: Option<LockArgs>,
) -> anyhow::Result<Done> {
    if let AgentRequest::Deploy(spec) = &request {
        crate::agent::validate::command_timeout_covers(target.command_timeout, spec)?;
    }
    let events = EventLog::new();
    let fleet = SsmFleet::connect(target, ssm_comment(&request), &events).await?;
    // One deploy per app and environment across the fleet, before any host is touched.
    let held = match (&request, lock) {
        (AgentRequest::Deploy(spec), Some(lock)) => {
            let run_url = crate::gha::runner::RunnerEnv::from_env().run_url();
            let client = fleet.transport.client();
            let taken = fleet_lock::take_for_deploy(
                client,
                &spec.app,
                &spec.deploy_id,
                run_url,
                &lock,
                target.command_timeout,
            )
            .await;
            match taken {
                Ok(l) => Some(l),
                Err(e) if e.is::<fleet_lock::Held>() => {
                    eprintln!("error: {e}");
                    return Ok(Done {
                        exit: ExitCode::Locked,
                        hosts: vec![],
                    });
                }
                Err(e) => return Err(e),
            }
        }
        _ => None,
    };
    let result = ssm_run::run(&fleet, &target.image_platform, &request, &events).await;
    if let Some(l) = held {
        if let Err(e) = l.release(fleet.transport.client()).await {
            eprintln!("warning: {e:#}; it expires at {}", l.holder.expires_at);
        }
    }
    let mut run = result?;
    run.commands = events.commands();
    run.commands.sort_by_key(|c| c.ts);
    if let Some(reason) = &run.stopped {
        eprintln!("error: {reason}");
    }
    match format {
        OutputFormat::Json => println!("{}", crate::output::json_document(&run)?),
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
        (Some(fleet), _) => fleet
            .hosts
            .iter()
            .map(|h| h.record(request.app()))
            .collect(),
        (None, Some(pre)) => pre.hosts.iter().map(|h| h.record()).collect(),
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
        AgentRequest::Rollback { app, .. } => format!("bluegreen rollback {app}"),
        AgentRequest::Recover { app } => format!("bluegreen recover {app}"),
        AgentRequest::Status { app } => {
            format!("bluegreen status {}", app.as_deref().unwrap_or("all apps"))
        }
        AgentRequest::History { app } => format!("bluegreen history {app}"),
        AgentRequest::Release(r) => {
            format!("bluegreen release {} {}", r.deploy.app, r.deploy.deploy_id)
        }
        AgentRequest::Promote(d) => format!("bluegreen promote {}", d.app),
        AgentRequest::Abort(d) => format!("bluegreen abort {}", d.app),
    }
}

fn print_reply(reply: &AgentReply, format: OutputFormat) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", crate::output::json_document(reply)?),
        OutputFormat::Human => print!("{}", crate::agent::render::reply(reply)),
    }
    Ok(())
}
