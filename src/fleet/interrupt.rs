//! A command asked to stop (Ctrl-C, or the SIGTERM of a cancelled workflow): one helper for
//! every command and the pipeline, so each transport is put right the same way wherever the
//! signal lands. Local: the host is repaired in this process. SSM: what is still in flight is
//! cancelled, and the message says the hosts may be mid-deploy.

use super::ssm::SsmTransport;
use super::LocalTransport;
use crate::agent::AgentRequest;
use crate::report::EventLog;
use std::future::Future;

/// The transport whose hosts a signal leaves mid-command.
#[derive(Clone, Copy)]
pub enum Stoppable<'a> {
    Local(&'a LocalTransport),
    Ssm(&'a SsmTransport),
}

/// Runs `work` to its end, or until the process is asked to stop; then puts right what it can
/// and returns what happened, for the error line or the report.
pub async fn or_stop<T>(
    on: Stoppable<'_>,
    request: &AgentRequest,
    work: impl Future<Output = T>,
) -> Result<T, String> {
    tokio::select! {
        done = work => Ok(done),
        signal = interrupted() => Err(match on {
            Stoppable::Local(transport) => repair_after_interrupt(transport, request, signal).await,
            Stoppable::Ssm(transport) => cancel_after_interrupt(transport, signal).await,
        }),
    }
}

/// An SSM command stopped by a signal: CancelCommand for every command still in flight.
async fn cancel_after_interrupt(transport: &SsmTransport, signal: &str) -> String {
    let cancelled = transport.cancel_in_flight().await;
    let ids = if cancelled.is_empty() {
        String::new()
    } else {
        format!(" ({})", cancelled.join(", "))
    };
    format!(
        "{signal}: CancelCommand sent for {} commands in flight{ids}; SSM does not guarantee \
         the processes stop, so hosts may be mid-deploy: check them with `bluegreen status \
         --target ssm`",
        cancelled.len()
    )
}

/// A local command stopped by a signal: in this process the command stopped at its next
/// step, so the host is repaired now; a sibling agent container goes on by itself. Returns
/// what happened, for the error line or the report.
async fn repair_after_interrupt(
    transport: &LocalTransport,
    request: &AgentRequest,
    signal: &str,
) -> String {
    let app = match request {
        AgentRequest::Deploy(spec) => Some(spec.app.as_str()),
        AgentRequest::Rollback { app, .. } | AgentRequest::Recover { app } => Some(app.as_str()),
        // Its container is a stray the recovery removes.
        AgentRequest::Release(r) => Some(r.deploy.app.as_str()),
        // A decision is one file written at once: nothing to put back.
        AgentRequest::Status { .. }
        | AgentRequest::History { .. }
        | AgentRequest::Promote(_)
        | AgentRequest::Abort(_) => None,
    };
    let Some(app) = app else {
        return format!("{signal}: stopped; a query leaves nothing to put back");
    };
    if !transport.in_process() {
        return format!(
            "{signal}: the agent container finishes or undoes the command by itself; check \
             with `bluegreen status --target local`"
        );
    }
    // Bounded: a cancelled workflow's runner kills the process a few seconds after SIGTERM,
    // and a second signal ends the repair at once. Whatever is left, the next command repairs.
    let events = EventLog::new();
    let repair = tokio::time::timeout(REPAIR_LIMIT, crate::agent::recover_now(app, &events));
    let outcome = tokio::select! {
        outcome = repair => outcome,
        _ = interrupted() => return format!(
            "{signal}, then interrupted again: the repair stopped; the next deploy or rollback \
             of {app} repairs the host"
        ),
    };
    match outcome {
        Ok(Ok(fixed)) if fixed.is_empty() => {
            format!("{signal}: stopped before anything changed on the host; {app} is as it was")
        }
        Ok(Ok(fixed)) => format!(
            "{signal}: the command stopped part-way; the host was put back: {}",
            fixed.join("; ")
        ),
        Ok(Err(e)) => format!(
            "{signal}: the command stopped part-way and the repair failed ({e:#}); the next \
             deploy or rollback of {app} repairs it"
        ),
        Err(_) => format!(
            "{signal}: the command stopped part-way and the repair took longer than {} s; the \
             next deploy or rollback of {app} repairs it",
            REPAIR_LIMIT.as_secs()
        ),
    }
}

/// How long the repair after an interrupt may take.
const REPAIR_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Resolves when the process is asked to stop (Ctrl-C, or SIGTERM as a cancelled workflow
/// sends it), naming the signal.
pub async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "terminated",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupted"
}
