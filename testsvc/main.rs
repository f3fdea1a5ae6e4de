//! A tiny HTTP/1.1 keep-alive server for blue-green tests: std only, built as a static binary
//! (`rustc -O -C target-feature=+crt-static`) so a `FROM scratch` image holds nothing else.
//!
//! Behaviour is chosen by environment variables:
//! - `PORT` (default 8080): the port to listen on (all interfaces).
//! - `VERSION` (default `dev`): served in the body of `/` and in the `X-Version` header.
//! - `READY_AFTER` (ms, default 0): `/health` answers 503 until this long after start.
//! - `FAIL_HEALTH=1`: `/health` always answers 503 (a version that never becomes healthy).
//! - `CRASH_AFTER` (seconds): the process exits with code 3 this long after start.
//! - `EXIT_AT_START=1`: prints a message and exits with code 2 right away (with
//!   `PRINT_AT_EXIT=NAME`, it prints `NAME=value` first, as an app dumping its config would).
//! - `SLOW_MS` (default 0): every response to `/slow` waits this long (drain tests).
//! - `CLOSE_AFTER_RESPONSE=1`: closes the connection after every response without saying so
//!   (no `Connection: close`), as a server whose keep-alive timeout is shorter than the
//!   proxy's does (Node's default is 5 s).
//! - `ALLOWED_HOSTS` (comma-separated): a request whose `Host` header is not one of these
//!   answers 400, as Django's `ALLOWED_HOSTS` or Rails' host authorization do.
//! - `LATENCY_MS` (default 0): every answer but `/health`'s waits this long (an app that takes
//!   about 100 ms a request).
//! - `ERROR_PERCENT` (0-100, default 0): that share of the answers but `/health`'s is a
//!   `500`, spread evenly (a version that fails one request in five: `20`).
//! - `IGNORE_SIGTERM=1`: the process ignores SIGTERM, as a PID 1 without a handler does (many
//!   real services), so `docker stop` waits its whole stop timeout; otherwise SIGTERM ends it
//!   at once, whatever it is serving.
//!
//! `/events` is a server-sent event stream (chunked, `text/event-stream`): `data: VERSION N`
//! every 100 ms until the connection closes, as a long-lived connection a switch must not cut
//! before its drain deadline.
//!
//! `/env/NAME` answers the value of the variable NAME, so tests can see what the engine passed
//! to the container (this is a test service: never expose an app's environment like this).
//! `/write/NAME/VALUE` writes VALUE to the file `$DATA_DIR/NAME` (default `/data`) and
//! `/read/NAME` answers it, so tests can see that a volume keeps state across versions.
//! `/argv` answers the process's arguments, one a line (a command override).
//!
//! `testsvc release` is a release command (a stand-in migration): it prints `RELEASE_LINES`
//! lines (default 3), appends `VERSION` to `$DATA_DIR/releases` when that directory exists,
//! waits `RELEASE_SLEEP_MS`, and exits with `RELEASE_EXIT` (default 0).
//!
//! `testsvc smoke PATH` is a pre-switch command: GET `$BLUEGREEN_URL` + PATH, print the status
//! line, exit 0 on 200 and 1 otherwise.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

struct Config {
    version: String,
    latency: Duration,
    error_percent: u64,
    ready_after: Duration,
    fail_health: bool,
    slow: Duration,
    allowed_hosts: Vec<String>,
    close_after_response: bool,
}

fn env_u64(name: &str) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("testsvc: {name}={v:?} is not a number");
            std::process::exit(64)
        }),
        Err(_) => 0,
    }
}

fn release() -> ! {
    let version = std::env::var("VERSION").unwrap_or_else(|_| "dev".to_string());
    let lines = match std::env::var("RELEASE_LINES") {
        Ok(_) => env_u64("RELEASE_LINES"),
        Err(_) => 3,
    };
    for i in 1..=lines {
        println!("release {version}: step {i} of {lines}");
    }
    let dir = std::env::var("DATA_DIR").unwrap_or_else(|_| "/data".to_string());
    if std::path::Path::new(&dir).is_dir() {
        let path = format!("{dir}/releases");
        let mut all = std::fs::read_to_string(&path).unwrap_or_default();
        all.push_str(&format!("{version}\n"));
        if let Err(e) = std::fs::write(&path, all) {
            eprintln!("release {version}: cannot write {path}: {e}");
            std::process::exit(70);
        }
    }
    std::thread::sleep(Duration::from_millis(env_u64("RELEASE_SLEEP_MS")));
    let code = env_u64("RELEASE_EXIT");
    eprintln!("release {version}: done, exit {code}");
    std::process::exit(code as i32)
}

fn smoke(path: &str) -> ! {
    let url = std::env::var("BLUEGREEN_URL").unwrap_or_default();
    let Some(address) = url.strip_prefix("http://") else {
        eprintln!("smoke: BLUEGREEN_URL {url:?} is not http://HOST:PORT");
        std::process::exit(2);
    };
    let connected = address
        .to_socket_addrs()
        .and_then(|mut all| {
            all.next()
                .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))
        })
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(5)));
    let status = connected.and_then(|mut s| {
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line)?;
        Ok(line.trim().to_string())
    });
    match status {
        Ok(line) => {
            println!("smoke: GET {url}{path}: {line}");
            std::process::exit(if line.contains(" 200 ") { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("smoke: GET {url}{path}: {e}");
            std::process::exit(1)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("release") => release(),
        Some("smoke") => smoke(args.get(2).map_or("/", String::as_str)),
        _ => {}
    }
    let started = Instant::now();
    let port = match std::env::var("PORT") {
        Ok(p) => p,
        Err(_) => "8080".to_string(),
    };
    let config = Config {
        version: std::env::var("VERSION").unwrap_or_else(|_| "dev".to_string()),
        ready_after: Duration::from_millis(env_u64("READY_AFTER")),
        fail_health: std::env::var("FAIL_HEALTH").as_deref() == Ok("1"),
        allowed_hosts: std::env::var("ALLOWED_HOSTS")
            .map(|v| v.split(',').map(|h| h.trim().to_string()).collect())
            .unwrap_or_default(),
        slow: Duration::from_millis(env_u64("SLOW_MS")),
        close_after_response: std::env::var("CLOSE_AFTER_RESPONSE").as_deref() == Ok("1"),
        latency: Duration::from_millis(env_u64("LATENCY_MS")),
        error_percent: env_u64("ERROR_PERCENT").min(100),
    };
    if std::env::var("IGNORE_SIGTERM").as_deref() != Ok("1") {
        exit_on_sigterm();
    }
    if std::env::var("EXIT_AT_START").as_deref() == Ok("1") {
        // PRINT_AT_EXIT=NAME prints NAME=value first, as an app dumping its config would.
        if let Ok(name) = std::env::var("PRINT_AT_EXIT") {
            eprintln!("{name}={}", std::env::var(&name).unwrap_or_default());
        }
        eprintln!("testsvc {}: EXIT_AT_START=1, exiting", config.version);
        std::process::exit(2);
    }
    let crash_after = env_u64("CRASH_AFTER");
    if crash_after > 0 {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(crash_after));
            eprintln!("testsvc: CRASH_AFTER={crash_after}s reached, crashing");
            std::process::exit(3);
        });
    }
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("testsvc: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("testsvc {} listening on {port}", config.version);
    let config: &'static Config = Box::leak(Box::new(config));
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || serve(stream, config, started));
    }
}

extern "C" {
    fn signal(signum: i32, handler: usize) -> usize;
    fn _exit(code: i32) -> !;
}

const SIGTERM: i32 = 15;

extern "C" fn on_sigterm(_: i32) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { _exit(0) }
}

/// SIGTERM ends the process at once, connections and all (as PID 1 of a container it would be
/// ignored without a handler).
fn exit_on_sigterm() {
    // SAFETY: installs a handler that only calls an async-signal-safe function.
    unsafe {
        signal(SIGTERM, on_sigterm as *const () as usize);
    }
}

/// Streams `data: VERSION N` events, one every 100 ms, as HTTP chunks until a write fails.
fn stream_events(writer: &mut TcpStream, config: &Config) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Version: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        config.version
    );
    if writer.write_all(head.as_bytes()).is_err() {
        return;
    }
    for n in 0u64.. {
        let event = format!("data: {} {n}\n\n", config.version);
        let chunk = format!("{:x}\r\n{event}\r\n", event.len());
        if writer.write_all(chunk.as_bytes()).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether this answer is one of the `percent` in 100 that fail: the n-th answer fails when
/// `n * percent / 100` went up, so failures are spread evenly over the answers.
fn fails_now(percent: u64) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static ANSWERS: AtomicU64 = AtomicU64::new(0);
    if percent == 0 {
        return false;
    }
    let n = ANSWERS.fetch_add(1, Ordering::Relaxed);
    (n + 1) * percent / 100 > n * percent / 100
}

/// Serves requests on one connection until the client closes it.
fn serve(stream: TcpStream, config: &Config, started: Instant) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut close = false;
        let mut content_length = 0usize;
        let mut host_header = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if lower == "connection: close" {
                close = true;
            }
            if let Some(h) = lower.strip_prefix("host:") {
                host_header = h.trim().to_string();
            }
            if let Some(n) = lower.strip_prefix("content-length:") {
                content_length = n.trim().parse().unwrap_or(0);
            }
        }
        if content_length > 0 {
            let mut body = vec![0u8; content_length];
            if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                return;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        if path == "/events" {
            return stream_events(&mut writer, config);
        }
        if path != "/health" {
            std::thread::sleep(config.latency);
        }
        let failing = path != "/health" && fails_now(config.error_percent);
        let allowed = config.allowed_hosts.is_empty()
            || config.allowed_hosts.iter().any(|h| *h == host_header);
        let (status, body) = if failing {
            ("500 Internal Server Error", "ERROR_PERCENT\n".to_string())
        } else if allowed {
            respond(path, config, started)
        } else {
            ("400 Bad Request", format!("Host {host_header:?} is not allowed\n"))
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nX-Version: {v}\r\nContent-Length: {len}\r\n{conn}\r\n{body}",
            v = config.version,
            len = body.len(),
            conn = if close { "Connection: close\r\n" } else { "" },
        );
        if writer.write_all(response.as_bytes()).is_err() || close || config.close_after_response {
            return;
        }
    }
}

fn respond(path: &str, config: &Config, started: Instant) -> (&'static str, String) {
    match path {
        "/health" => {
            if config.fail_health || started.elapsed() < config.ready_after {
                ("503 Service Unavailable", "not ready\n".to_string())
            } else {
                ("200 OK", "ok\n".to_string())
            }
        }
        "/slow" => {
            std::thread::sleep(config.slow);
            ("200 OK", format!("{}\n", config.version))
        }
        "/argv" => ("200 OK", std::env::args().collect::<Vec<_>>().join("\n") + "\n"),
        _ if path.starts_with("/write/") || path.starts_with("/read/") => data_file(path),
        _ => match path.strip_prefix("/env/") {
            Some(name) => match std::env::var(name) {
                Ok(v) => ("200 OK", v),
                Err(_) => ("404 Not Found", format!("{name} is not set\n")),
            },
            None => ("200 OK", format!("{}\n", config.version)),
        },
    }
}

/// `/write/NAME/VALUE` and `/read/NAME` on `$DATA_DIR` (default `/data`).
fn data_file(path: &str) -> (&'static str, String) {
    let dir = std::env::var("DATA_DIR").unwrap_or_else(|_| "/data".to_string());
    if let Some(rest) = path.strip_prefix("/write/") {
        let Some((name, value)) = rest.split_once('/') else {
            return ("400 Bad Request", "expected /write/NAME/VALUE\n".to_string());
        };
        return match std::fs::write(format!("{dir}/{name}"), value) {
            Ok(()) => ("200 OK", format!("wrote {name}\n")),
            Err(e) => ("500 Internal Server Error", format!("{dir}/{name}: {e}\n")),
        };
    }
    let name = path.trim_start_matches("/read/");
    match std::fs::read_to_string(format!("{dir}/{name}")) {
        Ok(v) => ("200 OK", v),
        Err(e) => ("404 Not Found", format!("{dir}/{name}: {e}\n")),
    }
}
