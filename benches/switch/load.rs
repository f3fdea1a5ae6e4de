//! The benchmark's load generator: one thread per keep-alive connection, paced open-loop
//! (each connection sends at its share of the target rate, back to back when the app is
//! slower), recording every request's send time, latency, status and serving color, so a
//! failure can be placed in the window of the command that caused it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy)]
pub struct Rec {
    /// Send time, microseconds since the Unix epoch.
    pub sent_us: i64,
    pub latency_us: u32,
    /// 0: a socket error or a connection closed without an answer.
    pub status: u16,
    /// The color that answered (`X-Bluegreen-Color`): 0 none (an error, or a peer's proxy),
    /// 1 blue, 2 green.
    pub color: u8,
}

impl Rec {
    pub fn failed(&self) -> bool {
        !(200..300).contains(&self.status)
    }

    pub fn end_us(&self) -> i64 {
        self.sent_us + i64::from(self.latency_us)
    }
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Rec>>>,
}

impl Load {
    /// `connections` keep-alive connections to `port` sharing `rps` between them.
    pub fn start(port: u16, connections: u64, rps: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let interval = Duration::from_micros(1_000_000 * connections / rps.max(1));
        let threads = (0..connections)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || connection(port, interval, &stop))
            })
            .collect();
        Load { stop, threads }
    }

    /// Every request, in the order sent.
    pub fn stop(self) -> Vec<Rec> {
        self.stop.store(true, Ordering::Relaxed);
        let mut recs: Vec<Rec> = self
            .threads
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        recs.sort_by_key(|r| r.sent_us);
        recs
    }
}

/// The requests in flight at any moment of `[from, to]` (microseconds) and how many failed.
pub fn failed_within(recs: &[Rec], from: i64, to: i64) -> (usize, usize) {
    let within: Vec<&Rec> = recs
        .iter()
        .filter(|r| r.end_us() >= from && r.sent_us <= to)
        .collect();
    (within.len(), within.iter().filter(|r| r.failed()).count())
}

/// One keep-alive connection sending GET / at `interval`, reconnecting after an error.
fn connection(port: u16, interval: Duration, stop: &AtomicBool) -> Vec<Rec> {
    let mut recs = Vec::new();
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let started = Instant::now();
    let mut n: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = started + interval * n;
        n += 1;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let sent_us = now_us();
        let t0 = Instant::now();
        if conn.is_none() {
            conn = TcpStream::connect(("127.0.0.1", port)).ok().and_then(|s| {
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let r = s.try_clone().ok()?;
                Some((s, BufReader::new(r)))
            });
        }
        let result = match conn.as_mut() {
            Some((w, r)) => request(w, r),
            None => Err(()),
        };
        let latency_us = t0.elapsed().as_micros() as u32;
        let (status, color) = result.unwrap_or_else(|()| {
            conn = None;
            // A refused connection answers at once: do not spin on it.
            std::thread::sleep(Duration::from_millis(5));
            (0, 0)
        });
        recs.push(Rec {
            sent_us,
            latency_us,
            status,
            color,
        });
    }
    recs
}

fn request(w: &mut TcpStream, r: &mut BufReader<TcpStream>) -> Result<(u16, u8), ()> {
    w.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .map_err(|_| ())?;
    let mut line = String::new();
    if r.read_line(&mut line).map_err(|_| ())? == 0 {
        return Err(());
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(())?;
    let (mut len, mut color) = (0usize, 0u8);
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(|_| ())? == 0 {
            return Err(());
        }
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse().map_err(|_| ())?;
        }
        if let Some(v) = l.strip_prefix("x-bluegreen-color:") {
            color = match v.trim() {
                "blue" => 1,
                "green" => 2,
                _ => 0,
            };
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(|_| ())?;
    Ok((status, color))
}
