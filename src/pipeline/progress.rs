//! The action log while the run goes: one collapsible group per stage with its steps as they
//! finish, one group per host of the rollout (titled with the host's result, so the collapsed
//! log reads as one status line per host), and after each batch a progress line: batch k of
//! n, hosts done of total, failures, elapsed time.
//!
//! GitHub cannot nest groups, so a stage group is closed before a host's group is printed.
//! Outside Actions the same lines are printed with plain `== title` headers. Everything goes
//! through the run's redactor. The lines come from the run's events ([`EventLog::with_echo`]),
//! the same ones the report renders: the live view and the report cannot disagree.

use crate::gha::commands::{end_group, group};
use crate::report::event::{Echo, Event, Scope, StepStatus};
use crate::report::log::event_line;
use crate::report::units::human_ms;
use crate::report::Redactor;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The step the rollout records once per host when the host's part is over.
const HOST_RESULT: &str = "host_result";

/// Where the lines go and how groups are spelled.
pub(super) struct Progress {
    in_actions: bool,
    redactor: Redactor,
    state: Mutex<State>,
    out: Mutex<Box<dyn Write + Send>>,
}

#[derive(Default)]
struct State {
    /// The stage group open now, if any.
    open: Option<String>,
    /// Each host's events, held until its result.
    hosts: HashMap<String, HostLines>,
    rollout: Option<Rollout>,
}

#[derive(Default)]
struct HostLines {
    /// When the host's first step began, by its own clock.
    first: Option<DateTime<Utc>>,
    lines: Vec<String>,
}

struct Rollout {
    hosts: usize,
    batches: usize,
    done: usize,
    failed: usize,
    started: Instant,
}

impl Progress {
    pub(super) fn new(in_actions: bool, redactor: Redactor) -> Arc<Progress> {
        Progress::writing_to(in_actions, redactor, Box::new(std::io::stdout()))
    }

    fn writing_to(
        in_actions: bool,
        redactor: Redactor,
        out: Box<dyn Write + Send>,
    ) -> Arc<Progress> {
        Arc::new(Progress {
            in_actions,
            redactor,
            state: Mutex::default(),
            out: Mutex::new(out),
        })
    }

    /// The echo for the run's [`EventLog`](crate::report::EventLog).
    pub(super) fn echo(self: &Arc<Self>) -> Echo {
        let me = Arc::clone(self);
        Arc::new(move |event: &Event| me.event(event))
    }

    /// Opens the group of a stage; it closes when the guard is dropped.
    pub(super) fn stage(self: &Arc<Self>, title: &str) -> StageGroup {
        let mut state = self.lock();
        self.close_open(&mut state);
        self.print(&self.open_line(title));
        state.open = Some(title.to_string());
        StageGroup {
            progress: Arc::clone(self),
            title: title.to_string(),
        }
    }

    /// The rollout starts: `hosts` hosts in `batches` batches.
    pub(super) fn rollout(&self, hosts: usize, batches: usize) {
        let mut state = self.lock();
        self.close_open(&mut state);
        state.rollout = Some(Rollout {
            hosts,
            batches,
            done: 0,
            failed: 0,
            started: Instant::now(),
        });
    }

    fn event(&self, event: &Event) {
        let mut state = self.lock();
        match &event.scope {
            Scope::Host(host) if event.step == HOST_RESULT => {
                let lines = state.hosts.remove(host).unwrap_or_default();
                self.close_open(&mut state);
                self.host_group(host, event, lines);
                if let Some(r) = state.rollout.as_mut() {
                    r.done += 1;
                    r.failed += usize::from(event.status != StepStatus::Ok);
                }
            }
            Scope::Host(host) => {
                let held = state.hosts.entry(host.clone()).or_default();
                // An event's time is when its step began.
                held.first = Some(held.first.map_or(event.ts, |f| f.min(event.ts)));
                held.lines.push(event_line(event));
            }
            Scope::Pipeline if event.status == StepStatus::Started => {}
            Scope::Pipeline => {
                if let (Some(batch), Some(r)) = (batch_number(&event.step), &state.rollout) {
                    self.print(&batch_line(batch, r));
                } else {
                    self.print(&event_line(event));
                }
            }
        }
    }

    fn host_group(&self, host: &str, result: &Event, held: HostLines) {
        // The host's steps carry its own clock; the result is the runner's. Shown only when
        // both agree it is positive.
        let took = held
            .first
            .and_then(|f| u64::try_from((result.ts - f).num_milliseconds()).ok())
            .map(|ms| format!(" ({})", human_ms(ms)))
            .unwrap_or_default();
        let title = format!("{host}{took}: {}", first_clause(&result.detail));
        self.print(&self.open_line(&title));
        for line in &held.lines {
            self.print(line);
        }
        self.print(&event_line(result));
        if self.in_actions {
            self.print(end_group());
        }
    }

    fn close_open(&self, state: &mut State) {
        if state.open.take().is_some() && self.in_actions {
            self.print(end_group());
        }
    }

    fn open_line(&self, title: &str) -> String {
        if self.in_actions {
            group(title)
        } else {
            format!("== {title}")
        }
    }

    fn print(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // The log is a view: a closed stdout must not stop the deploy.
        let _ = writeln!(out, "{}", self.redactor.redact(line));
        let _ = out.flush();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Closes its stage's group when dropped (on every exit path of the stage).
pub(super) struct StageGroup {
    progress: Arc<Progress>,
    title: String,
}

impl Drop for StageGroup {
    fn drop(&mut self) {
        let mut state = self.progress.lock();
        if state.open.as_deref() == Some(self.title.as_str()) {
            self.progress.close_open(&mut state);
        }
    }
}

/// `batch_3` -> 3.
fn batch_number(step: &str) -> Option<usize> {
    step.strip_prefix("batch_")?.parse().ok()
}

/// `deploy: batch 2 of 3 done, 4 of 6 hosts, 1 failed, 34 s elapsed`.
fn batch_line(batch: usize, r: &Rollout) -> String {
    let elapsed = u64::try_from(r.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    format!(
        "rollout: batch {batch} of {} done, {} of {} hosts, {} failed, {} elapsed",
        r.batches,
        r.done,
        r.hosts,
        r.failed,
        human_ms(elapsed)
    )
}

/// The message up to its first `;`: the group title stays one short line.
fn first_clause(detail: &str) -> &str {
    let detail = detail.trim();
    detail.split(';').next().unwrap_or(detail).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn event(scope: Scope, step: &str, status: StepStatus, detail: &str) -> Event {
        Event {
            ts: Utc::now(),
            scope,
            step: step.into(),
            status,
            duration_ms: Some(5),
            detail: detail.into(),
        }
    }

    #[test]
    fn stages_and_hosts_get_groups_that_never_nest() {
        let out = Shared::default();
        let mut redactor = Redactor::default();
        redactor.add("hunter2-secret");
        let p = Progress::writing_to(true, redactor, Box::new(out.clone()));
        let echo = p.echo();
        {
            let _lint = p.stage("lint");
            echo(&event(Scope::Pipeline, "lint", StepStatus::Ok, "3 files"));
        }
        let _preflight = p.stage("preflight");
        echo(&event(
            Scope::Pipeline,
            "preflight",
            StepStatus::Ok,
            "2 hosts",
        ));
        p.rollout(2, 2);
        let h1 = || Scope::Host("i-1".into());
        echo(&event(h1(), "pull", StepStatus::Ok, "pulled"));
        echo(&event(Scope::Pipeline, "batch_1", StepStatus::Started, ""));
        echo(&event(
            h1(),
            HOST_RESULT,
            StepStatus::Ok,
            "succeeded, green serves shop:v2; blue kept",
        ));
        echo(&event(
            Scope::Pipeline,
            "batch_1",
            StepStatus::Ok,
            "1 hosts",
        ));
        echo(&event(
            Scope::Host("i-2".into()),
            HOST_RESULT,
            StepStatus::Failed,
            "FAILED, health failed, token hunter2-secret",
        ));
        echo(&event(Scope::Pipeline, "batch_2", StepStatus::Failed, ""));
        drop(_preflight);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut depth = 0i32;
        for line in text.lines() {
            if line.starts_with("::group::") {
                depth += 1;
                assert_eq!(depth, 1, "a group inside a group:\n{text}");
            } else if line == "::endgroup::" {
                depth -= 1;
                assert!(depth >= 0, "an end without a group:\n{text}");
            }
        }
        assert_eq!(depth, 0, "every group is closed:\n{text}");
        assert!(text.contains("::group::lint\n"), "{text}");
        assert!(text.contains("::group::i-1 ("), "{text}");
        assert!(
            text.contains("): succeeded, green serves shop:v2\n"),
            "{text}"
        );
        assert!(
            text.contains("::group::i-2: FAILED, health failed"),
            "{text}"
        );
        assert!(
            text.contains("rollout: batch 1 of 2 done, 1 of 2 hosts, 0 failed,"),
            "{text}"
        );
        assert!(
            text.contains("rollout: batch 2 of 2 done, 2 of 2 hosts, 1 failed,"),
            "{text}"
        );
        // The host's own step is inside its group, after the title.
        let pull = text.find("pull").unwrap();
        assert!(pull > text.find("::group::i-1").unwrap(), "{text}");
        assert!(!text.contains("hunter2-secret"), "redacted: {text}");
    }

    #[test]
    fn outside_actions_titles_are_plain_headers() {
        let out = Shared::default();
        let p = Progress::writing_to(false, Redactor::default(), Box::new(out.clone()));
        drop(p.stage("verify image"));
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "== verify image\n");
    }
}
