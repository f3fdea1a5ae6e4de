//! The per-app lock on a host: one deploy or rollback of an app at a time.
//!
//! An advisory `flock` on `<state>/apps/<app>/lock`. The kernel releases it when the holder
//! dies, even by SIGKILL, so a crashed agent never leaves a stale lock behind, and it works
//! the same from inside the agent container (the state directory is the same file there).

use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Held for the whole action; dropping it releases the lock.
#[derive(Debug)]
pub struct AppLock {
    file: File,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub struct Busy {
    /// What the holder wrote into the lock file (its action and deploy id), if readable.
    pub holder: String,
    pub waited: Duration,
}

impl AppLock {
    /// Takes the lock, retrying for up to `wait`; `Ok(Err(Busy))` when another agent holds it.
    pub async fn acquire(
        path: &Path,
        wait: Duration,
        holder: &str,
    ) -> anyhow::Result<Result<AppLock, Busy>> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        let started = Instant::now();
        loop {
            if try_flock(&file)? {
                file.set_len(0)?;
                file.rewind()?;
                let _ = write!(file, "{holder}");
                return Ok(Ok(AppLock { file }));
            }
            if started.elapsed() >= wait {
                let mut holder = String::new();
                let _ = file.rewind();
                let _ = file.read_to_string(&mut holder);
                return Ok(Err(Busy {
                    holder,
                    waited: started.elapsed(),
                }));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for AppLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        // Closing the file releases the flock.
    }
}

/// Whether an agent holds the lock at `path` now, found without taking it for any work: one
/// non-blocking shared `flock` attempt on a descriptor of its own, released at once, that
/// never writes the holder's name. (A deploy that tries to take the lock in that instant
/// retries 50 ms later, as it does for any holder.) No lock file: nobody holds it.
pub fn is_held(path: &Path) -> anyhow::Result<bool> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open the lock file {}", path.display()))
        }
    };
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        // Closing the file (dropping it) releases the shared lock.
        return Ok(false);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(true)
    } else {
        Err(err).context("flock on the app lock file failed")
    }
}

/// One non-blocking `flock(LOCK_EX)` attempt: true when taken, false when held elsewhere.
fn try_flock(file: &File) -> anyhow::Result<bool> {
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err).context("flock on the app lock file failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_holder_is_refused_with_the_first_holders_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = AppLock::acquire(&path, Duration::ZERO, "deploy d1")
            .await
            .unwrap()
            .unwrap();
        let busy = AppLock::acquire(&path, Duration::from_millis(120), "deploy d2")
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(busy.holder, "deploy d1");
        assert!(busy.waited >= Duration::from_millis(120));
        drop(first);
        assert!(AppLock::acquire(&path, Duration::ZERO, "deploy d2")
            .await
            .unwrap()
            .is_ok());
    }

    #[tokio::test]
    async fn a_probe_sees_a_holder_and_leaves_its_name_and_the_lock_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        assert!(!is_held(&path).unwrap(), "no file: nobody holds it");
        let held = AppLock::acquire(&path, Duration::ZERO, "deploy d1")
            .await
            .unwrap()
            .unwrap();
        assert!(is_held(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "deploy d1");
        drop(held);
        assert!(!is_held(&path).unwrap());
        // The probe released what it took: a deploy takes the lock at once.
        assert!(AppLock::acquire(&path, Duration::ZERO, "deploy d2")
            .await
            .unwrap()
            .is_ok());
    }
}
