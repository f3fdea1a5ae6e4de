//! The canary: a deploy that moves the new version's share of requests up step by step and
//! judges it, at each step, against the old version serving beside it on the same proxy.
//!
//! The parts the loop calls, each tested on its own: [`spec`] (the settings a request
//! carries), [`analysis`] (an interval's verdict from the proxy's counters and log, and the
//! [`analysis::Judge`] that turns verdicts into hold, advance or abort), [`alarms`]
//! (CloudWatch alarms in state ALARM), and the two files a canary in progress shares with
//! `bluegreen promote` and `abort`, in the app's state directory: its progress
//! ([`CanaryProgress`], `canary.json`, written by the loop) and a person's decision
//! ([`decision::CanaryDecision`], `canary-decision.json`, written by promote and abort, which
//! never take the app's lock: the deploy that runs the canary holds it).

pub mod alarms;
pub mod analysis;
pub mod decision;
pub mod run;
pub mod spec;

use crate::agent::protocol::Color;
use crate::report::canary::CanaryRun;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The loop's progress file in the app's state directory.
pub const PROGRESS_FILE: &str = "canary.json";

/// Where a canary in progress is: written by the loop whenever it changes step, ends an
/// interval or starts waiting at a pause, and removed when the canary ends. `promote` and
/// `abort` read it to say what they were sent to (and a canary is in progress only while the
/// deploy that wrote it holds the app's lock: see [`decision::request`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryProgress {
    /// The deploy running the canary; a decision names it.
    pub deploy_id: String,
    /// The new version's image and color.
    pub image: String,
    pub new_color: Color,
    /// The new version's weight now, in percent.
    pub weight: u8,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Steps, the step reached, since when it waits at a pause, the intervals so far.
    pub run: CanaryRun,
}

impl CanaryProgress {
    /// `<app dir>/canary.json`.
    pub fn path(app_dir: &Path) -> PathBuf {
        app_dir.join(PROGRESS_FILE)
    }

    /// The progress of the canary in `app_dir`; `None` when there is none.
    pub fn read(app_dir: &Path) -> anyhow::Result<Option<CanaryProgress>> {
        read_json(&Self::path(app_dir))
    }

    /// Writes it whole, atomically: a reader sees the previous progress or this one.
    pub fn write(&self, app_dir: &Path) -> anyhow::Result<()> {
        write_json_atomic(&Self::path(app_dir), self)
    }

    /// Removes it (the canary ended); no file is not an error.
    pub fn remove(app_dir: &Path) -> anyhow::Result<()> {
        remove_if_present(&Self::path(app_dir))
    }

    /// `step 3 of 5 (pause), weight 25 %`.
    pub fn where_text(&self) -> String {
        format!("{}, weight {} %", self.run.reached_text(), self.weight)
    }
}

/// A JSON file of ours, or `None` when absent; an unreadable or broken one is an error that
/// names it.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("{} is not what bluegreen wrote there", path.display()))
}

/// Writes `value` to a temporary file beside `path` (mode 0600), syncs it, and renames it
/// over `path`: a crash leaves the old file or the new one, never half of one.
pub(crate) fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let text = serde_json::to_vec_pretty(value)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot move {} to {}", tmp.display(), path.display())
    })
}

pub(crate) fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::agent::canary::spec::CanaryStep::{Pause, Weight};

    pub(crate) fn progress(deploy_id: &str, reached: usize, paused: bool) -> CanaryProgress {
        let at: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        CanaryProgress {
            deploy_id: deploy_id.into(),
            image: "shop:v2".into(),
            new_color: Color::Green,
            weight: 25,
            started_at: at,
            updated_at: at,
            run: CanaryRun {
                steps: vec![Weight(5), Weight(25), Pause, Weight(100)],
                reached,
                paused_since: paused.then_some(at),
                end: None,
                intervals: vec![],
                intervals_left_out: 0,
            },
        }
    }

    #[test]
    fn progress_reads_back_as_written_and_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CanaryProgress::read(dir.path()).unwrap(), None);
        let p = progress("d-1", 3, true);
        p.write(dir.path()).unwrap();
        assert_eq!(CanaryProgress::read(dir.path()).unwrap(), Some(p.clone()));
        assert_eq!(p.where_text(), "step 3 of 4 (pause), weight 25 %");
        // Rewritten whole, with no temporary file left beside it.
        let mut later = p;
        later.run.reached = 4;
        later.write(dir.path()).unwrap();
        assert_eq!(
            CanaryProgress::read(dir.path())
                .unwrap()
                .unwrap()
                .run
                .reached,
            4
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [PROGRESS_FILE]);
        CanaryProgress::remove(dir.path()).unwrap();
        CanaryProgress::remove(dir.path()).unwrap();
        assert_eq!(CanaryProgress::read(dir.path()).unwrap(), None);
    }

    #[test]
    fn a_broken_progress_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(CanaryProgress::path(dir.path()), "{\"deploy_id\":").unwrap();
        let e = CanaryProgress::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("canary.json is not what bluegreen wrote there"),
            "{e}"
        );
    }
}
