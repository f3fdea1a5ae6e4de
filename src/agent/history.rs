//! Each host remembers its last deploys and rollbacks of an app (`bluegreen history`): what
//! ran, how it ended, how long it took, what users saw during its switch and the run that
//! asked for it. Kept in `<state>/apps/<app>/history.json`, the newest [`KEEP`] entries,
//! written by the command that holds the app's lock, replaced atomically (a kill mid-write
//! leaves the previous file).

use super::protocol::{AgentReply, HistoryEntry, Outcome};
use super::step::Step;
use super::{reply, Host};
use anyhow::Context;
use chrono::Utc;
use std::path::Path;

/// Entries kept per app and host.
pub const KEEP: usize = 20;
const FILE: &str = "history.json";

impl HistoryEntry {
    /// The entry of a finished command, from its reply (its `total` event gives the
    /// duration).
    pub fn of(reply: &AgentReply, image: Option<String>, run_url: Option<String>) -> HistoryEntry {
        let live = reply.apps.first().and_then(|a| a.live.as_ref());
        let total = Step::Total.event();
        let duration_ms = reply
            .events
            .iter()
            .rev()
            .find(|e| e.step == total)
            .and_then(|e| e.duration_ms)
            .unwrap_or(0);
        HistoryEntry {
            at: Utc::now(),
            action: reply.action.clone(),
            outcome: reply.outcome,
            image: image.or_else(|| live.map(|l| l.image.clone())),
            digest: live.and_then(|l| l.digest.clone()),
            deploy_id: live.and_then(|l| l.deploy_id.clone()),
            duration_ms,
            message: reply.message.clone(),
            receipt: reply.receipt.clone(),
            run_url,
        }
    }
}

/// Records the finished command of `reply` (see [`record`]); a history that cannot be
/// written is said in the reply's message, and the command's outcome stands.
pub fn keep(host: &Host, app: &str, reply: &mut AgentReply, mut entry: HistoryEntry) {
    entry.message = super::secrets::redact_text(&entry.message);
    if let Err(e) = record(host, app, entry) {
        reply.message.push_str(&format!(
            "; the history of this host lacks this command: {e:#}"
        ));
    }
}

/// The `history` request: the app's entries on this host, oldest first.
pub async fn history_request(host: &Host, app: &str) -> anyhow::Result<AgentReply> {
    let t = host.events.start(&host.scope, "history");
    let entries = read(host, app)?;
    let message = match entries.len() {
        0 => format!("no deploy or rollback of {app} recorded on this host"),
        n => format!(
            "{n} deploy(s) and rollback(s) of {app} on this host (the last {KEEP} are kept)"
        ),
    };
    t.ok(&message);
    let mut r = reply(host, "history", Outcome::Status, message);
    r.history = entries;
    Ok(r)
}

/// Adds `entry` as the newest, keeping the last [`KEEP`]. A command that did not take the
/// lock (`locked`) changed nothing and is not recorded, nor one that left nothing of the app on
/// the host (a first deployment removed entirely).
pub fn record(host: &Host, app: &str, entry: HistoryEntry) -> anyhow::Result<()> {
    let dir = host.app_dir(app);
    if entry.outcome == Outcome::Locked || !dir.is_dir() {
        return Ok(());
    }
    append(&dir.join(FILE), entry)
}

fn append(path: &Path, entry: HistoryEntry) -> anyhow::Result<()> {
    let mut entries = read_file(path)?;
    entries.push(entry);
    let excess = entries.len().saturating_sub(KEEP);
    entries.drain(..excess);
    write_file(path, &entries)
}

/// The entries of `app` on this host, oldest first (none before its first deploy).
pub fn read(host: &Host, app: &str) -> anyhow::Result<Vec<HistoryEntry>> {
    read_file(&host.app_dir(app).join(FILE))
}

fn read_file(path: &Path) -> anyhow::Result<Vec<HistoryEntry>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a history this version reads (a JSON list of entries); move it \
                 aside to start a new one",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_file(path: &Path, entries: &[HistoryEntry]) -> anyhow::Result<()> {
    let next = path.with_extension("json.next");
    let text = serde_json::to_string_pretty(entries)?;
    std::fs::write(&next, text).with_context(|| format!("cannot write {}", next.display()))?;
    std::fs::rename(&next, path).with_context(|| format!("cannot replace {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> HistoryEntry {
        HistoryEntry {
            at: Utc::now(),
            action: "deploy".into(),
            outcome: Outcome::Deployed,
            image: Some(format!("shop:{n}")),
            digest: None,
            deploy_id: None,
            duration_ms: n,
            message: String::new(),
            receipt: None,
            run_url: None,
        }
    }

    #[test]
    fn the_file_keeps_the_newest_entries_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert_eq!(read_file(&path).unwrap(), vec![]);
        for n in 0..(KEEP as u64 + 5) {
            append(&path, entry(n)).unwrap();
        }
        let kept = read_file(&path).unwrap();
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].duration_ms, 5, "the oldest went first");
        assert_eq!(kept[KEEP - 1].duration_ms, KEEP as u64 + 4);
        assert!(!path.with_extension("json.next").exists());
        std::fs::write(&path, "{not json").unwrap();
        let err = format!("{:#}", read_file(&path).unwrap_err());
        assert!(err.contains("history.json is not a history"), "{err}");
    }
}
