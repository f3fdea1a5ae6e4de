//! One port allocator for every test binary under every runner (`cargo test` runs a binary's
//! tests as threads, `cargo nextest run` runs each test as a process of its own, and two
//! checkouts may run their suites at once on one machine).
//!
//! A test leases a block of consecutive loopback ports by holding an exclusive `flock` on a file
//! named after the block, in one directory shared by every test process of the machine. The
//! kernel releases the lock when the lease is dropped or its process dies, so a killed test
//! never leaks a block. Every port of a block is also bound once before it is handed out, so
//! ports something else listens on are skipped.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// The leased range: below Linux's ephemeral ports (32768-60999), apart from the fixed ports of
/// the benchmarks and the demo (18900-18999) and the SSM test server's range (19100-19899).
const FIRST: u16 = 20000;
const LAST: u16 = 29999;
/// Every block has this many ports: an app's public port and room for its containers.
pub const BLOCK: u16 = 4;

/// A block of `BLOCK` consecutive free ports, held until dropped.
pub struct PortLease {
    pub first: u16,
    _lock: File,
}

impl PortLease {
    /// The `i`-th port of the block.
    pub fn port(&self, i: u16) -> u16 {
        assert!(i < BLOCK, "a port lease has {BLOCK} ports");
        self.first + i
    }
}

fn lock_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("bluegreen-test-ports");
    std::fs::create_dir_all(&dir).expect("create the port lock directory");
    dir
}

fn all_bindable(first: u16) -> bool {
    (first..first + BLOCK).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
}

/// Leases the first free block, starting the search at a place that depends on the process and
/// on the leases it took before, so parallel tests rarely contend for the same lock file.
pub fn lease() -> PortLease {
    static TAKEN: AtomicU32 = AtomicU32::new(0);
    let blocks = (LAST - FIRST + 1) / BLOCK;
    let spread = std::process::id().wrapping_mul(31) + TAKEN.fetch_add(1, Ordering::Relaxed) * 7;
    let start = (spread % blocks as u32) as u16;
    let dir = lock_dir();
    for i in 0..blocks {
        let first = FIRST + ((start + i) % blocks) * BLOCK;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{first}.lock")))
            .expect("open a port lock file");
        // SAFETY: flock on a file descriptor this function owns; non-blocking.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if locked && all_bindable(first) {
            return PortLease { first, _lock: file };
        }
    }
    panic!("no free block of {BLOCK} ports in {FIRST}-{LAST}");
}

fn try_lock(first: u16) -> bool {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_dir().join(format!("{first}.lock")))
        .unwrap();
    // SAFETY: flock on a file descriptor this function owns; non-blocking. The lock is
    // released when `file` is dropped at the end of this function.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[test]
fn two_leases_never_share_a_port_and_a_held_block_cannot_be_taken() {
    let a = lease();
    let b = lease();
    assert_ne!(a.first, b.first);
    assert!(a.first.abs_diff(b.first) >= BLOCK);
    // While a lease lives, nobody else (another thread, process or checkout) can lock it.
    assert!(!try_lock(a.first), "a leased block is locked");
    assert!(!try_lock(b.first), "a leased block is locked");
}
