//! A keep-alive load generator for the sequence tests: `connections` threads, each with one
//! HTTP/1.1 connection it reuses, sending `GET path` back to back (closed loop) through the
//! proxy until stopped. Every request that does not come back `200` (a socket error, a
//! connection closed under it, a 5xx) is a failure, with what happened kept for the message.
//! A failed connection is opened again, as a browser or an HTTP client pool would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Tally>>,
}

/// What the clients saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub requests: u64,
    pub failed: u64,
    /// The first few failures, as the client saw them.
    pub failures: Vec<String>,
    /// When each failure came back (the first 100,000).
    pub failed_at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl Load {
    pub fn start(port: u16, connections: usize, path: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..connections)
            .map(|_| {
                let (stop, path) = (stop.clone(), path.to_string());
                std::thread::spawn(move || client(port, &path, &stop))
            })
            .collect();
        Load { stop, threads }
    }

    /// Stops every client after its request in flight and adds up what they saw.
    pub fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for t in self.threads {
            let one = t.join().expect("a load client panicked");
            all.requests += one.requests;
            all.failed += one.failed;
            all.failures.extend(one.failures);
            all.failed_at.extend(one.failed_at);
        }
        all.failures.truncate(10);
        all.failed_at.sort();
        all
    }
}

fn client(port: u16, path: &str, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            conn = connect(port).ok();
        }
        let result = match conn.as_mut() {
            Some((w, r)) => request(w, r, path),
            None => Err("cannot connect".to_string()),
        };
        tally.requests += 1;
        match result {
            Ok(200) => {}
            Ok(status) => fail(&mut tally, format!("status {status}")),
            Err(e) => {
                fail(&mut tally, e);
                conn = None;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    tally
}

fn fail(tally: &mut Tally, what: String) {
    tally.failed += 1;
    if tally.failed_at.len() < 100_000 {
        tally.failed_at.push(chrono::Utc::now());
    }
    if tally.failures.len() < 10 {
        let at = chrono::Utc::now().format("%H:%M:%S%.3f");
        tally.failures.push(format!("{at} {what}"));
    }
}

fn connect(port: u16) -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let r = s.try_clone()?;
    Ok((s, BufReader::new(r)))
}

/// One request on the connection; its status, or what went wrong.
fn request(w: &mut TcpStream, r: &mut BufReader<TcpStream>, path: &str) -> Result<u16, String> {
    write!(w, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) => return Err("closed without an answer".into()),
        Ok(_) => {}
        Err(e) => return Err(format!("read: {e}")),
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not a status line: {line:?}"))?;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).map_err(|e| format!("read: {e}"))?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).map_err(|e| format!("body: {e}"))?;
    Ok(status)
}

/// Each event's data with the time it arrived.
pub type Events = Arc<Mutex<Vec<(chrono::DateTime<chrono::Utc>, String)>>>;

/// A server-sent event stream through the proxy, read on a thread of its own: each event with
/// the time it arrived, and when the stream ended.
pub struct Stream {
    pub events: Events,
    thread: JoinHandle<Option<chrono::DateTime<chrono::Utc>>>,
}

impl Stream {
    pub fn open(port: u16, path: &str) -> Stream {
        let events = Arc::new(Mutex::new(Vec::new()));
        let (kept, path) = (events.clone(), path.to_string());
        let thread = std::thread::spawn(move || {
            let (mut w, mut r) = connect(port).ok()?;
            write!(w, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").ok()?;
            let mut line = String::new();
            while r.read_line(&mut line).ok()? > 0 {
                if let Some(data) = line.trim_end().strip_prefix("data: ") {
                    kept.lock()
                        .ok()?
                        .push((chrono::Utc::now(), data.to_string()));
                }
                line.clear();
            }
            Some(chrono::Utc::now())
        });
        Stream { events, thread }
    }

    /// Waits for the stream to end; when it did (`None`: it could not be read at all).
    pub fn ended(self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.thread.join().ok().flatten()
    }

    pub fn count(&self) -> usize {
        self.events.lock().map(|e| e.len()).unwrap_or(0)
    }
}
