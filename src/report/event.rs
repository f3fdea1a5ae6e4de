//! The one event model every stage emits and every report sink renders.
//!
//! `{ts, scope, step, status, duration_ms, detail}`. Sinks never compute figures of their own:
//! every number in a report comes from an event (or a typed stage outcome) of this run.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where a step ran: the pipeline itself, or one host (instance id, or `local`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Pipeline,
    Host(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Pipeline => f.write_str("pipeline"),
            Scope::Host(h) => write!(f, "host:{h}"),
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pipeline" => Ok(Scope::Pipeline),
            _ => s
                .strip_prefix("host:")
                .filter(|h| !h.is_empty())
                .map(|h| Scope::Host(h.to_string()))
                .ok_or_else(|| format!("scope {s:?}: expected `pipeline` or `host:<id>`")),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How a step ended (or that it started).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Ok,
    Warning,
    Failed,
    Skipped,
}

/// One timed event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub ts: DateTime<Utc>,
    pub scope: Scope,
    pub step: String,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One command the run executed (locally or on a host), with how it ended: a Docker call that
/// changes a container or an image, an HAProxy runtime command that changes the proxy, an AWS
/// call ([`crate::aws`]), a GitHub API request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRun {
    pub ts: DateTime<Utc>,
    pub scope: Scope,
    /// The command line as run; secrets are redacted when rendered.
    pub command: String,
    /// `0` done, `1` failed; `None` when the command was killed or never started.
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// How it went beyond the exit code: the attempts it took, the error it ended with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A command being run ([`EventLog::command`]).
pub type CommandFuture<'a, T, E> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send + 'a>>;

/// Characters of a command line kept in the log.
pub const COMMAND_MAX_CHARS: usize = 200;

/// Something that sees every event as it is recorded (the action log's live view).
pub type Echo = Arc<dyn Fn(&Event) + Send + Sync>;

/// A shared, append-only list of events. Cloning shares the list (and the echo).
#[derive(Clone, Default)]
pub struct EventLog {
    events: Arc<Mutex<Vec<Event>>>,
    commands: Arc<Mutex<Vec<CommandRun>>>,
    /// The reads (a Docker inspect, a proxy's `show stat`), counted per target rather than
    /// recorded one by one: the health gate and the drain poll them every few milliseconds.
    reads: Arc<Mutex<Vec<ReadTally>>>,
    echo: Option<Echo>,
}

/// One kind of read on one target, over a command: when the first one started, how many, how
/// many failed, how long they took in all.
#[derive(Debug, Clone)]
struct ReadTally {
    scope: Scope,
    read: String,
    first: DateTime<Utc>,
    calls: u64,
    failed: u64,
    total_ms: u64,
}

impl fmt::Debug for EventLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLog")
            .field("events", &self.events)
            .field("echo", &self.echo.is_some())
            .finish()
    }
}

impl EventLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A log that also hands every event, as it is recorded, to `echo`.
    pub fn with_echo(echo: Echo) -> Self {
        EventLog {
            events: Arc::default(),
            commands: Arc::default(),
            reads: Arc::default(),
            echo: Some(echo),
        }
    }

    /// Records an event and mirrors it to the tracing log.
    pub fn push(&self, event: Event) {
        tracing::info!(
            scope = %event.scope,
            step = %event.step,
            status = ?event.status,
            duration_ms = event.duration_ms,
            "{}",
            event.detail
        );
        if let Some(echo) = &self.echo {
            echo(&event);
        }
        // A poisoned lock only means another thread panicked mid-push; the list is still valid.
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.push(event);
    }

    /// Records a step that has no duration (a fact, a decision).
    pub fn note(&self, scope: &Scope, step: &str, status: StepStatus, detail: impl Into<String>) {
        self.push(Event {
            ts: Utc::now(),
            scope: scope.clone(),
            step: step.to_string(),
            status,
            duration_ms: None,
            detail: detail.into(),
        });
    }

    /// Starts timing a step; finish it with [`StepTimer::ok`], [`StepTimer::fail`] or
    /// [`StepTimer::finish`].
    pub fn start(&self, scope: &Scope, step: &str) -> StepTimer {
        StepTimer {
            log: self.clone(),
            scope: scope.clone(),
            step: step.to_string(),
            started_at: Utc::now(),
            started: Instant::now(),
        }
    }

    /// Appends events measured elsewhere (a host agent's reply).
    pub fn extend(&self, events: impl IntoIterator<Item = Event>) {
        let events: Vec<Event> = events.into_iter().collect();
        if let Some(echo) = &self.echo {
            events.iter().for_each(|e| echo(e));
        }
        let mut list = self.events.lock().unwrap_or_else(|e| e.into_inner());
        list.extend(events);
    }

    pub fn snapshot(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `work`, one command, and records it with its duration and whether it succeeded.
    /// The future is boxed: commands nest inside the agent's steps, and an unboxed chain of
    /// them grows past the compiler's layout depth.
    pub fn command<'a, T: Send + 'a, E: Send + 'a>(
        &self,
        scope: &Scope,
        command: impl Into<String>,
        work: impl std::future::Future<Output = Result<T, E>> + Send + 'a,
    ) -> CommandFuture<'a, T, E> {
        let (log, scope) = (self.clone(), scope.clone());
        let mut command: String = command.into();
        if command.chars().count() > COMMAND_MAX_CHARS {
            command = command
                .chars()
                .take(COMMAND_MAX_CHARS - 1)
                .collect::<String>()
                + "…";
        }
        Box::pin(async move {
            let (ts, started) = (Utc::now(), Instant::now());
            let result = work.await;
            log.record_command(CommandRun {
                ts,
                scope,
                command,
                exit_code: Some(if result.is_ok() { 0 } else { 1 }),
                duration_ms: Some(started.elapsed().as_millis() as u64),
                detail: String::new(),
            });
            result
        })
    }

    /// Runs `work`, one read (it changes nothing), and counts it under `read`: the reads of
    /// one kind on one target become one line of the command log ([`EventLog::reads`]).
    pub fn read<'a, T: Send + 'a, E: Send + 'a>(
        &self,
        scope: &Scope,
        read: impl Into<String>,
        work: impl std::future::Future<Output = Result<T, E>> + Send + 'a,
    ) -> CommandFuture<'a, T, E> {
        let (log, scope, read) = (self.clone(), scope.clone(), read.into());
        Box::pin(async move {
            let (ts, started) = (Utc::now(), Instant::now());
            let result = work.await;
            let ms = started.elapsed().as_millis() as u64;
            let mut reads = log.reads.lock().unwrap_or_else(|e| e.into_inner());
            match reads
                .iter_mut()
                .find(|r| r.scope == scope && r.read == read)
            {
                Some(r) => {
                    r.calls += 1;
                    r.failed += u64::from(result.is_err());
                    r.total_ms += ms;
                }
                None => reads.push(ReadTally {
                    scope,
                    read,
                    first: ts,
                    calls: 1,
                    failed: u64::from(result.is_err()),
                    total_ms: ms,
                }),
            }
            result
        })
    }

    /// The reads so far, one line per kind and target: `docker inspect shop-blue (read x14)`,
    /// at the first one's time, their time in all, failed when one of them failed.
    pub fn reads(&self) -> Vec<CommandRun> {
        let reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        reads
            .iter()
            .map(|r| CommandRun {
                ts: r.first,
                scope: r.scope.clone(),
                command: format!("{} (read x{})", r.read, r.calls),
                exit_code: Some(if r.failed == 0 { 0 } else { 1 }),
                duration_ms: Some(r.total_ms),
                detail: match r.failed {
                    0 => format!("{} reads, {} ms in all", r.calls, r.total_ms),
                    n => format!("{} reads, {n} failed, {} ms in all", r.calls, r.total_ms),
                },
            })
            .collect()
    }

    /// Records a command this process ran, and mirrors it to the tracing log as it ends (on
    /// stderr with `BLUEGREEN_LOG=info`, or with step debug in Actions).
    pub fn record_command(&self, command: CommandRun) {
        tracing::info!(
            scope = %command.scope,
            exit_code = ?command.exit_code,
            duration_ms = command.duration_ms,
            detail = %command.detail,
            "$ {}",
            command.command
        );
        self.extend_commands([command]);
    }

    /// Appends commands run elsewhere (a host agent's reply).
    pub fn extend_commands(&self, commands: impl IntoIterator<Item = CommandRun>) {
        let mut list = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        list.extend(commands);
    }

    /// The commands recorded so far, oldest first.
    pub fn commands(&self) -> Vec<CommandRun> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A step being timed. The event carries the start time and the measured duration.
#[must_use = "finish the step so its duration is recorded"]
pub struct StepTimer {
    log: EventLog,
    scope: Scope,
    step: String,
    started_at: DateTime<Utc>,
    started: Instant,
}

impl StepTimer {
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn finish(self, status: StepStatus, detail: impl Into<String>) -> u64 {
        let duration_ms = self.elapsed_ms();
        self.log.push(Event {
            ts: self.started_at,
            scope: self.scope,
            step: self.step,
            status,
            duration_ms: Some(duration_ms),
            detail: detail.into(),
        });
        duration_ms
    }

    pub fn ok(self, detail: impl Into<String>) -> u64 {
        self.finish(StepStatus::Ok, detail)
    }

    pub fn fail(self, detail: impl Into<String>) -> u64 {
        self.finish(StepStatus::Failed, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_round_trips_as_a_string() {
        let json = serde_json::to_string(&Scope::Host("i-0abc".into())).unwrap();
        assert_eq!(json, "\"host:i-0abc\"");
        let back: Scope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Scope::Host("i-0abc".into()));
        assert!(serde_json::from_str::<Scope>("\"host:\"").is_err());
    }

    #[test]
    fn timer_records_a_duration() {
        let log = EventLog::new();
        let t = log.start(&Scope::Pipeline, "lint");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let ms = t.ok("3 files");
        let events = log.snapshot();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].step, "lint");
        assert_eq!(events[0].duration_ms, Some(ms));
        assert!(ms >= 5);
    }
}
