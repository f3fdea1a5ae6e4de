//! The proof: keep-alive load through the proxy during 10 consecutive deploys and 2 rollbacks.
//!
//! Run with `scripts/bench-switch` (it starts the registry and builds the test images first).
//! A small load generator of our own (one thread per keep-alive connection, paced open-loop)
//! records every request's send time, latency, status and serving color, so latency while a
//! switch is in progress can be told apart from steady state, and the moment the first user
//! request reaches the new color is observed from the client's side, not just the agent's.
//!
//! Knobs (environment): BENCH_RPS (default 1000), BENCH_CONNECTIONS (16), BENCH_DEPLOYS (10),
//! BENCH_READY_AFTER_MS (500: the app's own time to readiness), BENCH_PORT (18900).

use bluegreen::agent::protocol::{AgentReply, AgentRequest, DeploySpec, EnvVar, Outcome};
use bluegreen::agent::{handle_with, AgentConfig};
use bluegreen::report::{Event, EventLog};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy)]
struct Rec {
    /// Send time, microseconds since the Unix epoch.
    sent_us: i64,
    latency_us: u32,
    status: u16,
    /// 0 socket error, 1 blue, 2 green, 3 other.
    color: u8,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("{name} is not set: run scripts/bench-switch");
        std::process::exit(2)
    })
}

/// One keep-alive connection sending GET / at `interval`, reconnecting after an error.
fn connection(port: u16, interval: Duration, stop: Arc<AtomicBool>) -> Vec<Rec> {
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
        match result {
            Ok((status, color)) => recs.push(Rec {
                sent_us,
                latency_us,
                status,
                color,
            }),
            Err(()) => {
                conn = None;
                recs.push(Rec {
                    sent_us,
                    latency_us,
                    status: 0,
                    color: 0,
                });
            }
        }
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
    let (mut len, mut color) = (0usize, 3u8);
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
                _ => 3,
            };
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(|_| ())?;
    Ok((status, color))
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn event<'a>(r: &'a AgentReply, step: &str) -> Option<&'a Event> {
    r.events.iter().find(|e| e.step == step)
}

fn end_us(e: &Event) -> i64 {
    e.ts.timestamp_micros() + e.duration_ms.unwrap_or(0) as i64 * 1000
}

fn ms(e: Option<&Event>) -> f64 {
    e.and_then(|e| e.duration_ms).unwrap_or(0) as f64
}

fn main() {
    let repo = required("BLUEGREEN_TEST_IMAGE_REPO");
    let proxy_image = required("BLUEGREEN_TEST_PROXY_IMAGE");
    let state_root = required("BLUEGREEN_TEST_STATE");
    let rps = env_num("BENCH_RPS", 1000);
    let conns = env_num("BENCH_CONNECTIONS", 16).max(1);
    let deploys = env_num("BENCH_DEPLOYS", 10);
    let ready_after = env_num("BENCH_READY_AFTER_MS", 500);
    let port = env_num("BENCH_PORT", 18900) as u16;
    let verify_window_ms = 1000;

    let state_dir = std::path::Path::new(&state_root).join("bench");
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let app = format!(
        "bga-bench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let config = AgentConfig {
        state_dir: state_dir.clone(),
        lock_wait: Duration::from_secs(5),
        host_name: "bench".into(),
        docker_config: None,
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let spec = |tag: &str, n: u64| DeploySpec {
        app: app.clone(),
        image: format!("{repo}:{tag}"),
        public_port: port,
        container_port: 8080,
        health_path: "/health".into(),
        health_host: None,
        health_timeout_ms: 30_000,
        verify_window_ms,
        keep_warm_ms: 300_000,
        drain_ms: 5_000,
        env: vec![EnvVar {
            name: "READY_AFTER".into(),
            value: ready_after.to_string(),
        }],
        env_from_ssm: None,
        proxy_image: proxy_image.clone(),
        deploy_id: format!("bench-{n}"),
        public_address: Some("127.0.0.1".into()),
        proxy_lines: vec![],
        pull: None,
        registry_credentials_from_ssm: None,
        run_url: None,
        container: Default::default(),
        pre_switch_command: None,
        canary: None,
        alarms: vec![],
    };
    let run = |request: AgentRequest| {
        runtime.block_on(handle_with(request, &EventLog::new(), config.clone()))
    };

    let first = run(AgentRequest::Deploy(spec("v1", 0))).expect("first deploy");
    assert_eq!(first.outcome, Outcome::Deployed, "{}", first.message);

    let stop = Arc::new(AtomicBool::new(false));
    let interval = Duration::from_micros(1_000_000 * conns / rps.max(1));
    let load: Vec<_> = (0..conns)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || connection(port, interval, stop))
        })
        .collect();
    let load_started = now_us();
    std::thread::sleep(Duration::from_secs(2));

    // (start_us, end_us) of each command, and of each switch (switch start .. verify end).
    let mut busy: Vec<(i64, i64)> = Vec::new();
    let mut switches: Vec<(i64, i64)> = Vec::new();
    let mut switch_ms = Vec::new();
    let mut observed_ms = Vec::new();
    let mut overhead_ms = Vec::new();
    let mut wall_ms = Vec::new();
    let mut ready_ends = Vec::new();
    let mut steps: Vec<(String, Vec<f64>)> = Vec::new();
    for n in 1..=deploys {
        let tag = if n % 2 == 1 { "v2" } else { "v1" };
        let t0 = now_us();
        let started = Instant::now();
        let r = run(AgentRequest::Deploy(spec(tag, n))).expect("deploy");
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(r.outcome, Outcome::Deployed, "deploy {n}: {}", r.message);
        busy.push((t0, now_us()));
        let (ready, switch, verify) = (
            event(&r, "ready").unwrap(),
            event(&r, "switch").unwrap(),
            event(&r, "verify").unwrap(),
        );
        switches.push((switch.ts.timestamp_micros(), end_us(verify)));
        switch_ms.push((end_us(verify) - end_us(ready)) as f64 / 1000.0);
        let color = if n % 2 == 1 { 2 } else { 1 };
        ready_ends.push((end_us(ready), color));
        overhead_ms
            .push(wall - ms(event(&r, "pull")) - ready_after as f64 - verify_window_ms as f64);
        wall_ms.push(wall);
        if let Some(start) = event(&r, "start") {
            for (key, label) in [
                ("set aside: ", "start: rename prior"),
                ("created: ", "start: kill prior || docker create"),
                ("docker start: ", "start: docker start"),
            ] {
                if let Some(v) = start
                    .detail
                    .split(key)
                    .nth(1)
                    .and_then(|v| v.split(' ').next())
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    match steps.iter_mut().find(|(n, _)| n == label) {
                        Some((_, list)) => list.push(v),
                        None => steps.push((label.to_string(), vec![v])),
                    }
                }
            }
        }
        let accounted: f64 = r
            .events
            .iter()
            .filter(|e| e.step != "total")
            .map(|e| e.duration_ms.unwrap_or(0) as f64)
            .sum();
        for (name, value) in r
            .events
            .iter()
            .filter(|e| e.duration_ms.is_some())
            .map(|e| (e.step.clone(), e.duration_ms.unwrap_or(0) as f64))
            .chain([("unaccounted".to_string(), wall - accounted)])
        {
            match steps.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(value),
                None => steps.push((name, vec![value])),
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut rollback_ms = Vec::new();
    for _ in 0..2 {
        let t0 = now_us();
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bluegreen"))
            .args(["rollback", "--target", "local", "--app", &app])
            .env("BLUEGREEN_STATE_DIR", &state_dir)
            .output()
            .expect("rollback");
        rollback_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(
            out.status.code(),
            Some(0),
            "rollback: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        busy.push((t0, now_us()));
        switches.push((t0, now_us()));
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let mut recs: Vec<Rec> = load
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    let load_secs = (now_us() - load_started) as f64 / 1e6;
    recs.sort_by_key(|r| r.sent_us);

    // The client's view of each switch: first request sent after health went green that the
    // new color answered.
    for (ready_end, color) in &ready_ends {
        if let Some(r) = recs
            .iter()
            .find(|r| r.sent_us >= *ready_end && r.color == *color)
        {
            observed_ms.push((r.sent_us + r.latency_us as i64 - ready_end) as f64 / 1000.0);
        }
    }
    // A request is "during a switch" if it was in flight within 500 ms after a switch began
    // or before it ended; "steady" if no command was running at all.
    let in_switch = |r: &Rec| {
        switches
            .iter()
            .any(|(s, e)| r.sent_us + r.latency_us as i64 >= *s && r.sent_us <= e + 500_000)
    };
    let in_command = |r: &Rec| {
        busy.iter()
            .any(|(s, e)| r.sent_us + r.latency_us as i64 >= *s && r.sent_us <= *e)
    };
    let mut during: Vec<u32> = recs
        .iter()
        .filter(|r| r.status != 0 && in_switch(r))
        .map(|r| r.latency_us)
        .collect();
    let mut steady: Vec<u32> = recs
        .iter()
        .filter(|r| r.status != 0 && !in_command(r))
        .map(|r| r.latency_us)
        .collect();
    during.sort_unstable();
    steady.sort_unstable();
    let errors = recs.iter().filter(|r| r.status == 0).count();
    let non2xx = recs
        .iter()
        .filter(|r| r.status != 0 && !(200..300).contains(&r.status))
        .count();

    for c in ["blue", "green", "proxy"] {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &format!("{app}-{c}")])
            .output();
    }

    let sw = median(&mut switch_ms.clone());
    let obs = median(&mut observed_ms.clone());
    let ovh = median(&mut overhead_ms.clone());
    let rb_max = rollback_ms.iter().cloned().fold(0.0, f64::max);
    println!("bluegreen switch benchmark: {deploys} deploys + 2 rollbacks under keep-alive load");
    println!("  load               {conns} keep-alive connections, target {rps} rps, {:.0} rps achieved over {load_secs:.1} s", recs.len() as f64 / load_secs);
    println!("  requests           {}", recs.len());
    println!("  non-2xx            {non2xx}");
    println!("  socket errors      {errors}");
    println!(
        "  latency steady     p50 {:.2} ms  p99 {:.2} ms  ({} requests)",
        pct(&steady, 0.5),
        pct(&steady, 0.99),
        steady.len()
    );
    println!(
        "  latency switching  p50 {:.2} ms  p99 {:.2} ms  ({} requests)",
        pct(&during, 0.5),
        pct(&during, 0.99),
        during.len()
    );
    println!("  switch time        median {sw:.1} ms, max {:.1} ms (health green -> verified through the proxy, agent events)", switch_ms.iter().cloned().fold(0.0, f64::max));
    println!("  first user request median {obs:.1} ms, max {:.1} ms (health green -> first load request answered by the new color)", observed_ms.iter().cloned().fold(0.0, f64::max));
    println!(
        "  warm rollback      {} ms (CLI command wall time, process start included)",
        rollback_ms
            .iter()
            .map(|m| format!("{m:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  deploy wall        median {:.0} ms (includes the app's {ready_after} ms readiness and the {verify_window_ms} ms verify window)", median(&mut wall_ms.clone()));
    println!("  tool overhead      median {ovh:.0} ms, max {:.0} ms (deploy wall - pull - app readiness - verify window)", overhead_ms.iter().cloned().fold(0.0, f64::max));
    let breakdown: Vec<String> = steps
        .iter_mut()
        .map(|(n, v)| format!("{n} {:.0}", median(v)))
        .collect();
    println!("  deploy steps       median ms: {}", breakdown.join(", "));
    let goal = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("goals: 0 failed requests: {}; switch <= 50 ms median: {}; warm rollback < 100 ms: {}; overhead < 500 ms: {}",
        goal(errors == 0 && non2xx == 0), goal(obs <= 50.0 && sw <= 50.0), goal(rb_max < 100.0), goal(ovh < 500.0));
}
