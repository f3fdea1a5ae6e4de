//! The on-disk cache of what the GitHub API said, per (repository, ref), so a rerun makes no
//! request: `~/.cache/bluegreen/actions` (or `--cache-dir`), one small JSON file per answer.
//!
//! An answer about a commit SHA never changes and is kept for good; one about a tag or branch
//! (which can move) and about a repository (which can be archived) is kept for
//! [`FLOATING_TTL`]. Failures (403, rate limit, timeout) are never cached.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long an answer about a moving ref or a repository is trusted.
pub const FLOATING_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The default cache directory: `~/.cache/bluegreen/actions`.
pub fn default_dir() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".cache/bluegreen/actions"))
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored<T> {
    /// What was asked, in words (the file name is a hash of it).
    key: String,
    /// Seconds since the epoch.
    stored_at: u64,
    /// `None`: kept for good.
    ttl_secs: Option<u64>,
    value: T,
}

/// A cache directory; `None` keeps nothing on disk.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    pub fn new(dir: Option<PathBuf>) -> Cache {
        Cache { dir }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        Some(self.dir.as_ref()?.join(format!("{}.json", &digest[..32])))
    }

    /// The cached answer to `key`, if present, readable and fresh.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let text = std::fs::read(self.path(key)?).ok()?;
        let stored: Stored<T> = serde_json::from_slice(&text).ok()?;
        if stored.key != key {
            return None;
        }
        if let Some(ttl) = stored.ttl_secs {
            if now_secs().saturating_sub(stored.stored_at) > ttl {
                return None;
            }
        }
        Some(stored.value)
    }

    /// Stores an answer; a cache that cannot be written is only slower, never an error.
    pub fn put<T: Serialize>(&self, key: &str, value: &T, ttl: Option<Duration>) {
        let (Some(dir), Some(path)) = (self.dir.as_ref(), self.path(key)) else {
            return;
        };
        let stored = Stored {
            key: key.to_string(),
            stored_at: now_secs(),
            ttl_secs: ttl.map(|t| t.as_secs()),
            value,
        };
        let Ok(bytes) = serde_json::to_vec(&stored) else {
            return;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        // Write then rename, so a concurrent run never reads half a file.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_back_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Some(dir.path().to_path_buf()));
        cache.put("a", &"x".to_string(), None);
        assert_eq!(cache.get::<String>("a").as_deref(), Some("x"));
        assert_eq!(cache.get::<String>("b"), None);
        cache.put("c", &1u32, Some(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(cache.get::<u32>("c"), None);
        let none = Cache::new(None);
        none.put("a", &1u32, None);
        assert_eq!(none.get::<u32>("a"), None);
    }
}
