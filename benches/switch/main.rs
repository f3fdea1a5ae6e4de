//! The proof of the switch: keep-alive load through the proxy while the engine deploys, rolls
//! back and goes through the sequences a team produces, for three kinds of app; next to the
//! floor and the peers measured in the same run under the same load:
//! - the floor: Docker's own create-and-start of the same image (what no deploy can beat);
//! - the peers: the stop-rename-run script and an nginx reload (`peers.rs`).
//!
//! Run with `scripts/bench-switch` (it starts the registry, builds the test images and
//! installs Debian's nginx first). Knobs (environment):
//! - BENCH_APPS: the app kinds, of `fast` (answers at once), `slow` (100 ms a request) and
//!   `sigterm` (ignores SIGTERM, so Docker waits its whole stop timeout); default all three;
//! - BENCH_SEQUENCE: the phases, of `deploys` (BENCH_DEPLOYS deploys back and forth),
//!   `after-rollback` (deploy, rollback, deploy at once), `back-to-back` (three deploys with
//!   a verify window of 0 s), `rollback-twice`, `failed-gate` (a deploy whose version never
//!   gets healthy, right after a rollback), `two-apps` (two apps of the host deploying at
//!   once), `rollback` (warm rollbacks at 16 and 64 connections), `peers`, `canary` (a healthy
//!   canary through 5, 25, 50 and 100 %, and one failing one request in five: the share of
//!   each step as the clients saw it, the time from the failing interval's end to weight 0, the
//!   failed requests that were not the new version's own 5xx); default all;
//! - BENCH_RPS (1000), BENCH_CONNECTIONS (16), BENCH_DEPLOYS (6), BENCH_READY_AFTER_MS (500:
//!   the app's own time to readiness), BENCH_PORT (18900: the port and the 39 above it).

mod load;
mod peers;

use bluegreen::agent::protocol::{AgentReply, AgentRequest, DeploySpec, EnvVar, Outcome};
use bluegreen::agent::{handle_with, AgentConfig};
use bluegreen::report::{Event, EventLog};
use load::{failed_within, now_us, Load, Rec};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &[&str]) -> Vec<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() && v.trim() != "all" => {
            v.split(',').map(|s| s.trim().to_string()).collect()
        }
        _ => default.iter().map(|s| s.to_string()).collect(),
    }
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("{name} is not set: run scripts/bench-switch");
        std::process::exit(2)
    })
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn max(v: &[f64]) -> f64 {
    v.iter().cloned().fold(f64::NAN, f64::max)
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

/// The settings of one run.
struct Bench {
    repo: String,
    proxy_image: String,
    state_dir: std::path::PathBuf,
    rps: u64,
    connections: u64,
    ready_after: u64,
    port: u16,
    runtime: tokio::runtime::Runtime,
}

/// An app kind: its name and the test service's switches.
#[derive(Clone)]
struct Kind {
    name: String,
    env: Vec<(&'static str, String)>,
}

impl Kind {
    fn of(name: &str, ready_after: u64) -> Kind {
        let mut env = vec![("READY_AFTER", ready_after.to_string())];
        match name {
            "fast" => {}
            "slow" => env.push(("LATENCY_MS", "100".into())),
            "sigterm" => env.push(("IGNORE_SIGTERM", "1".into())),
            other => {
                eprintln!("BENCH_APPS: unknown app kind {other:?}; expected fast, slow or sigterm");
                std::process::exit(2)
            }
        }
        Kind {
            name: name.to_string(),
            env,
        }
    }

    fn docker_env(&self) -> Vec<String> {
        self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

/// One app of the host under test.
struct App {
    name: String,
    port: u16,
    kind: Kind,
    deploys: u64,
}

/// What one app kind measured.
#[derive(Default)]
struct KindRun {
    requests: usize,
    failed: usize,
    sequences: Vec<(String, usize, usize)>,
    switch_ms: Vec<f64>,
    overhead_ms: Vec<f64>,
    floor_ms: Vec<f64>,
    wall_ms: Vec<f64>,
    steps: Vec<(String, Vec<f64>)>,
    rollback_ms: Vec<(u64, f64)>,
}

impl Bench {
    fn config(&self) -> AgentConfig {
        AgentConfig {
            state_dir: self.state_dir.clone(),
            lock_wait: Duration::from_secs(5),
            host_name: "bench".into(),
            docker_config: None,
        }
    }

    fn app(&self, kind: &Kind, offset: u16) -> App {
        App {
            name: format!(
                "bga-bench-{}-{}",
                kind.name,
                &uuid::Uuid::new_v4().simple().to_string()[..6]
            ),
            port: self.port + offset,
            kind: kind.clone(),
            deploys: 0,
        }
    }

    fn spec(&self, app: &mut App, tag: &str, verify_window_ms: u64) -> DeploySpec {
        app.deploys += 1;
        DeploySpec {
            app: app.name.clone(),
            image: format!("{}:{tag}", self.repo),
            public_port: app.port,
            container_port: 8080,
            health_path: "/health".into(),
            health_host: None,
            health_timeout_ms: 30_000,
            verify_window_ms,
            keep_warm_ms: 300_000,
            drain_ms: 5_000,
            stop_timeout_ms: 10_000,
            env: app
                .kind
                .env
                .iter()
                .map(|(k, v)| EnvVar {
                    name: k.to_string(),
                    value: v.clone(),
                })
                .collect(),
            env_from_ssm: None,
            proxy_image: self.proxy_image.clone(),
            deploy_id: format!("bench-{}-{}", app.name, app.deploys),
            public_address: Some("127.0.0.1".into()),
            proxy_lines: vec![],
            pull: None,
            registry_credentials_from_ssm: None,
            run_url: None,
            container: Default::default(),
            pre_switch_command: None,
            pre_switch_checks: vec![],
            canary: None,
            alarms: vec![],
        }
    }

    fn run(&self, request: AgentRequest) -> AgentReply {
        self.runtime
            .block_on(handle_with(request, &EventLog::new(), self.config()))
            .unwrap_or_else(|e| panic!("the agent failed: {e:#}"))
    }

    fn deploy(&self, app: &mut App, tag: &str, verify_window_ms: u64) -> AgentReply {
        let spec = self.spec(app, tag, verify_window_ms);
        self.run(AgentRequest::Deploy(spec))
    }

    /// The rollback as a user runs it: the CLI process, start to exit.
    fn rollback(&self, app: &App) -> (AgentReply, f64) {
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bluegreen"))
            .args(["rollback", "--target", "local", "--app", &app.name])
            .args(["--format", "json"])
            .env("BLUEGREEN_STATE_DIR", &self.state_dir)
            .output()
            .expect("rollback");
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        let reply: AgentReply = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("rollback: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        (reply, wall)
    }

    fn remove(&self, app: &App) {
        let out = std::process::Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=bluegreen.app={}", app.name),
            ])
            .output();
        if let Ok(out) = out {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", id])
                    .output();
            }
        }
    }

    /// Docker's own create and start of the same image with the same environment and a
    /// loopback port binding: the floor of any deploy. Removed afterwards (not timed).
    fn floor(&self, kind: &Kind, tag: &str) -> f64 {
        use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
        let docker = bollard::Docker::connect_with_local_defaults().expect("docker");
        let name = format!(
            "bga-bench-floor-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let body = ContainerCreateBody {
            image: Some(format!("{}:{tag}", self.repo)),
            env: Some(kind.docker_env()),
            exposed_ports: Some(vec!["8080/tcp".into()]),
            host_config: Some(HostConfig {
                port_bindings: Some(
                    [(
                        "8080/tcp".to_string(),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(port.to_string()),
                        }]),
                    )]
                    .into(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = bollard::query_parameters::CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        let started = Instant::now();
        self.runtime.block_on(async {
            docker
                .create_container(Some(options), body)
                .await
                .expect("docker create");
            docker
                .start_container(
                    &name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .expect("docker start");
        });
        let took = started.elapsed().as_secs_f64() * 1000.0;
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &name])
            .output();
        took
    }
}

fn push_step(steps: &mut Vec<(String, Vec<f64>)>, name: &str, value: f64) {
    match steps.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) => v.push(value),
        None => steps.push((name.to_string(), vec![value])),
    }
}

fn expect(r: &AgentReply, outcomes: &[Outcome], what: &str) {
    assert!(
        outcomes.contains(&r.outcome),
        "{what}: {:?} {}",
        r.outcome,
        r.message
    );
}

/// One app kind through every phase asked for, under one load.
fn run_kind(bench: &Bench, kind: &Kind, phases: &[String]) -> KindRun {
    let mut out = KindRun::default();
    let mut app = bench.app(kind, 0);
    let verify_window_ms = 1_000;
    expect(
        &bench.deploy(&mut app, "v1", 0),
        &[Outcome::Deployed],
        "first deploy",
    );
    let mut live = "v1";
    let other = |live: &str| if live == "v1" { "v2" } else { "v1" };
    let load = Load::start(app.port, bench.connections, bench.rps);
    std::thread::sleep(Duration::from_secs(2));
    let mut windows: Vec<(String, i64, i64)> = Vec::new();
    let has = |p: &str| phases.iter().any(|x| x == p);

    if has("deploys") {
        let from = now_us();
        for n in 0..env_num("BENCH_DEPLOYS", 6) {
            let tag = other(live);
            let started = Instant::now();
            let r = bench.deploy(&mut app, tag, verify_window_ms);
            let wall = started.elapsed().as_secs_f64() * 1000.0;
            expect(&r, &[Outcome::Deployed], &format!("deploy {n}"));
            live = tag;
            let (ready, verify) = (event(&r, "ready").unwrap(), event(&r, "verify").unwrap());
            out.switch_ms
                .push((end_us(verify) - end_us(ready)) as f64 / 1000.0);
            out.overhead_ms.push(
                wall - ms(event(&r, "pull")) - bench.ready_after as f64 - verify_window_ms as f64,
            );
            out.wall_ms.push(wall);
            for e in r.events.iter().filter(|e| e.step != "total") {
                push_step(&mut out.steps, &e.step, e.duration_ms.unwrap_or(0) as f64);
            }
            std::thread::sleep(Duration::from_millis(500));
            out.floor_ms.push(bench.floor(kind, tag));
            std::thread::sleep(Duration::from_millis(500));
        }
        windows.push(("deploys".into(), from, now_us()));
    }
    if has("after-rollback") {
        let from = now_us();
        expect(
            &bench.deploy(&mut app, other(live), 0),
            &[Outcome::Deployed],
            "deploy",
        );
        let (back, _) = bench.rollback(&app);
        expect(&back, &[Outcome::RolledBack], "rollback");
        let tag = other(live);
        expect(
            &bench.deploy(&mut app, tag, 0),
            &[Outcome::Deployed],
            "deploy after it",
        );
        live = tag;
        std::thread::sleep(Duration::from_secs(1));
        windows.push(("deploy, rollback, deploy".into(), from, now_us()));
    }
    if has("back-to-back") {
        let from = now_us();
        for _ in 0..3 {
            let tag = other(live);
            expect(
                &bench.deploy(&mut app, tag, 0),
                &[Outcome::Deployed],
                "back to back",
            );
            live = tag;
        }
        std::thread::sleep(Duration::from_secs(1));
        windows.push(("three deploys back to back".into(), from, now_us()));
    }
    if has("rollback-twice") {
        let from = now_us();
        let tag = other(live);
        expect(
            &bench.deploy(&mut app, tag, 0),
            &[Outcome::Deployed],
            "deploy",
        );
        for _ in 0..2 {
            let (r, _) = bench.rollback(&app);
            expect(&r, &[Outcome::RolledBack], "rollback");
        }
        std::thread::sleep(Duration::from_secs(1));
        windows.push(("rollback twice".into(), from, now_us()));
    }
    if has("failed-gate") {
        let from = now_us();
        let tag = other(live);
        expect(
            &bench.deploy(&mut app, tag, 0),
            &[Outcome::Deployed],
            "deploy",
        );
        live = tag;
        let (back, _) = bench.rollback(&app);
        expect(&back, &[Outcome::RolledBack], "rollback");
        live = other(live);
        let mut broken = bench.spec(&mut app, other(live), 0);
        broken.env.push(EnvVar {
            name: "FAIL_HEALTH".into(),
            value: "1".into(),
        });
        broken.health_timeout_ms = 2_000;
        expect(
            &bench.run(AgentRequest::Deploy(broken)),
            &[Outcome::Failed],
            "failed gate",
        );
        std::thread::sleep(Duration::from_secs(1));
        windows.push(("a failed gate after a rollback".into(), from, now_us()));
    }
    if has("two-apps") {
        let mut second = bench.app(kind, 20);
        expect(
            &bench.deploy(&mut second, "v1", 0),
            &[Outcome::Deployed],
            "second app",
        );
        let second_load = Load::start(second.port, bench.connections / 2, bench.rps / 2);
        std::thread::sleep(Duration::from_secs(1));
        let from = now_us();
        let (a, b) = (
            bench.spec(&mut app, other(live), 0),
            bench.spec(&mut second, "v2", 0),
        );
        let (log_a, log_b) = (EventLog::new(), EventLog::new());
        let (ra, rb) = bench.runtime.block_on(async {
            tokio::join!(
                handle_with(AgentRequest::Deploy(a), &log_a, bench.config()),
                handle_with(AgentRequest::Deploy(b), &log_b, bench.config())
            )
        });
        expect(&ra.expect("first app"), &[Outcome::Deployed], "first app");
        expect(&rb.expect("second app"), &[Outcome::Deployed], "second app");
        live = other(live);
        std::thread::sleep(Duration::from_secs(1));
        let to = now_us();
        let second_recs = second_load.stop();
        let (n, failed) = failed_within(&second_recs, from, to);
        out.sequences
            .push(("the other app deploying at once".into(), n, failed));
        out.requests += second_recs.len();
        out.failed += second_recs.iter().filter(|r| r.failed()).count();
        windows.push(("two apps deploying at once".into(), from, to));
        bench.remove(&second);
    }
    let recs = load.stop();
    out.requests += recs.len();
    out.failed += recs.iter().filter(|r| r.failed()).count();
    for (name, from, to) in windows {
        let (n, failed) = failed_within(&recs, from, to);
        out.sequences.insert(0, (name, n, failed));
    }
    out.sequences.sort_by(|a, b| a.0.cmp(&b.0));

    if has("rollback") {
        for connections in [16, 64] {
            let load = Load::start(app.port, connections, bench.rps * connections / 16);
            std::thread::sleep(Duration::from_secs(1));
            for _ in 0..3 {
                let tag = other(live);
                expect(
                    &bench.deploy(&mut app, tag, 0),
                    &[Outcome::Deployed],
                    "deploy",
                );
                std::thread::sleep(Duration::from_millis(500));
                let (r, wall) = bench.rollback(&app);
                expect(&r, &[Outcome::RolledBack], "warm rollback");
                out.rollback_ms.push((connections, wall));
                std::thread::sleep(Duration::from_millis(500));
            }
            let recs: Vec<Rec> = load.stop();
            out.requests += recs.len();
            out.failed += recs.iter().filter(|r| r.failed()).count();
        }
    }
    bench.remove(&app);
    out
}

/// What the canary phase measured.
struct CanaryFigures {
    /// Per weight step: the weight, the share of requests the new color answered as the
    /// clients saw it during that step's intervals, and how many requests that was.
    shares: Vec<(u8, f64, usize)>,
    /// From the end of the failing interval to the runtime API line that put the weight to 0.
    abort_ms: f64,
    /// Failed requests during the failing canary that were not the new version's own 5xx.
    other_failures: usize,
    own_5xx: usize,
    requests: usize,
}

fn run_canary(bench: &Bench) -> CanaryFigures {
    use bluegreen::agent::canary::spec::RawCanary;
    let interval = std::env::var("BENCH_CANARY_INTERVAL").unwrap_or_else(|_| "3s".into());
    let canary = |steps: &str| {
        RawCanary {
            strategy: Some("canary"),
            canary_steps: Some(steps),
            canary_interval: Some(&interval),
            canary_min_requests: Some("20"),
            ..RawCanary::default()
        }
        .parse()
        .expect("canary settings")
    };
    let kind = Kind::of("fast", bench.ready_after);
    let mut app = bench.app(&kind, 10);
    expect(
        &bench.deploy(&mut app, "v1", 0),
        &[Outcome::Deployed],
        "first deploy",
    );
    let load = Load::start(app.port, bench.connections, bench.rps);
    std::thread::sleep(Duration::from_secs(2));
    // A healthy canary: the share each step got.
    let mut healthy = bench.spec(&mut app, "v2", 0);
    healthy.canary = canary("5,25,50,100");
    let promoted = bench.run(AgentRequest::Deploy(healthy));
    expect(&promoted, &[Outcome::Deployed], "healthy canary");
    std::thread::sleep(Duration::from_secs(1));
    // A canary failing one request in five, from v2 (green... or blue) to v1.
    let from_failing = now_us();
    let mut failing = bench.spec(&mut app, "v1", 0);
    failing.canary = canary("5,25,50,100");
    failing.env.push(EnvVar {
        name: "ERROR_PERCENT".into(),
        value: "20".into(),
    });
    let aborted = bench.run(AgentRequest::Deploy(failing));
    expect(&aborted, &[Outcome::AutoRolledBack], "failing canary");
    std::thread::sleep(Duration::from_secs(1));
    let to_failing = now_us();
    let recs = load.stop();
    bench.remove(&app);

    let run = promoted
        .canary
        .as_ref()
        .expect("the healthy canary's record");
    let new = color_code(
        promoted
            .apps
            .first()
            .and_then(|a| a.live.as_ref())
            .map(|l| l.color),
    );
    let shares = run
        .intervals
        .iter()
        .map(|i| {
            let (from, to) = (i.from.timestamp_micros(), i.to.timestamp_micros());
            let answered: Vec<&Rec> = recs
                .iter()
                .filter(|r| r.sent_us >= from && r.end_us() <= to && r.color != 0)
                .collect();
            let by_new = answered.iter().filter(|r| r.color == new).count();
            let share = 100.0 * by_new as f64 / answered.len().max(1) as f64;
            (i.weight, share, answered.len())
        })
        .collect();
    let failing_run = aborted
        .canary
        .as_ref()
        .expect("the failing canary's record");
    let failed_end = failing_run
        .intervals
        .last()
        .map(|i| i.to)
        .expect("a failing interval");
    let zeroed = aborted
        .commands
        .iter()
        .rev()
        .find(|c| c.command.contains("set weight app/") && c.command.contains(" 0;"))
        .map(|c| c.ts + chrono::Duration::milliseconds(c.duration_ms.unwrap_or(0) as i64))
        .expect("the runtime API line that put the weight to 0");
    let abort_ms = (zeroed - failed_end).num_microseconds().unwrap_or(0) as f64 / 1000.0;
    let bad_color = 3 - new; // the failing version ran in the other color
    let during: Vec<&Rec> = recs
        .iter()
        .filter(|r| r.end_us() >= from_failing && r.sent_us <= to_failing)
        .collect();
    let own_5xx = during
        .iter()
        .filter(|r| r.status == 500 && r.color == bad_color)
        .count();
    let other_failures = during
        .iter()
        .filter(|r| r.failed() && !(r.status == 500 && r.color == bad_color))
        .count();
    CanaryFigures {
        shares,
        abort_ms,
        other_failures,
        own_5xx,
        requests: during.len(),
    }
}

fn color_code(color: Option<bluegreen::agent::protocol::Color>) -> u8 {
    match color {
        Some(bluegreen::agent::protocol::Color::Blue) => 1,
        Some(bluegreen::agent::protocol::Color::Green) => 2,
        None => 0,
    }
}

fn main() {
    let bench = Bench {
        repo: required("BLUEGREEN_TEST_IMAGE_REPO"),
        proxy_image: required("BLUEGREEN_TEST_PROXY_IMAGE"),
        state_dir: std::path::Path::new(&required("BLUEGREEN_TEST_STATE")).join("bench"),
        rps: env_num("BENCH_RPS", 1000),
        connections: env_num("BENCH_CONNECTIONS", 16).max(2),
        ready_after: env_num("BENCH_READY_AFTER_MS", 500),
        port: env_num("BENCH_PORT", 18900) as u16,
        runtime: tokio::runtime::Runtime::new().expect("runtime"),
    };
    std::fs::create_dir_all(&bench.state_dir).expect("state dir");
    let kinds = env_list("BENCH_APPS", &["fast", "slow", "sigterm"]);
    let phases = env_list(
        "BENCH_SEQUENCE",
        &[
            "deploys",
            "after-rollback",
            "back-to-back",
            "rollback-twice",
            "failed-gate",
            "two-apps",
            "rollback",
            "peers",
            "canary",
        ],
    );
    println!(
        "bluegreen switch benchmark: {} keep-alive connections at {} requests/s, app readiness {} ms",
        bench.connections, bench.rps, bench.ready_after
    );
    let mut all_zero = true;
    let mut overhead_met = true;
    let mut rollback_met = true;
    let mut our_switches = 0usize;
    let mut our_failed = 0usize;
    for name in &kinds {
        let kind = Kind::of(name, bench.ready_after);
        let run = run_kind(&bench, &kind, &phases);
        println!("\napp `{name}` ({}):", kind.docker_env().join(" "));
        println!(
            "  requests           {} , failed {}",
            run.requests, run.failed
        );
        for (sequence, n, failed) in &run.sequences {
            println!("  {sequence:<33} {failed} failed of {n}");
        }
        all_zero &= run.failed == 0;
        our_failed += run.failed;
        our_switches += run.switch_ms.len();
        if !run.switch_ms.is_empty() {
            let (ovh, floor) = (median(&run.overhead_ms), median(&run.floor_ms));
            println!(
                "  switch             median {:.1} ms, max {:.1} ms (health green -> verified through the proxy)",
                median(&run.switch_ms),
                max(&run.switch_ms)
            );
            println!("  deploy wall        median {:.0} ms", median(&run.wall_ms));
            println!(
                "  tool overhead      median {ovh:.0} ms, max {:.0} ms (deploy wall - pull - {} ms readiness - 1000 ms verify window)",
                max(&run.overhead_ms),
                bench.ready_after
            );
            println!(
                "  docker floor       median {floor:.0} ms, max {:.0} ms (docker create + start of the same image, same run)",
                max(&run.floor_ms)
            );
            println!(
                "  overhead - floor   {:+.0} ms (goal: at most +100 ms)",
                ovh - floor
            );
            let steps: Vec<String> = run
                .steps
                .iter()
                .map(|(n, v)| format!("{n} {:.0}", median(v)))
                .collect();
            println!("  deploy steps       median ms: {}", steps.join(", "));
            overhead_met &= ovh <= floor + 100.0;
        }
        for connections in [16, 64] {
            let walls: Vec<f64> = run
                .rollback_ms
                .iter()
                .filter(|(c, _)| *c == connections)
                .map(|(_, w)| *w)
                .collect();
            if !walls.is_empty() {
                println!(
                    "  warm rollback      at {connections} connections: {} ms (CLI wall time, process start included); median {:.0}",
                    walls.iter().map(|w| format!("{w:.0}")).collect::<Vec<_>>().join(", "),
                    median(&walls)
                );
                rollback_met &= median(&walls) < 50.0;
            }
        }
    }
    let mut peer_line = Vec::new();
    if phases.iter().any(|p| p == "peers") {
        let kind = Kind::of("fast", bench.ready_after);
        let images = [format!("{}:v1", bench.repo), format!("{}:v2", bench.repo)];
        let images = [images[0].as_str(), images[1].as_str()];
        let load = (bench.connections, bench.rps);
        let script = peers::script(images, &kind.docker_env(), bench.port + 30, 4, load);
        let nginx = peers::nginx(
            images,
            &kind.docker_env(),
            (bench.port + 31, [bench.port + 32, bench.port + 33]),
            4,
            load,
        );
        println!("\npeers, app `fast`, the same load:");
        for peer in [script, nginx] {
            match peer {
                Ok(p) => {
                    println!(
                        "  {:<18} {} failed of {} requests over {} switches: per switch {:?}",
                        p.name, p.failed, p.requests, p.switches, p.per_switch
                    );
                    peer_line.push(format!(
                        "{} {:.1} failed per switch",
                        p.name,
                        p.failed as f64 / p.switches.max(1) as f64
                    ));
                }
                Err(e) => println!("  a peer could not run: {e}"),
            }
        }
        println!(
            "  bluegreen          {our_failed} failed over {our_switches} timed deploys and every sequence above"
        );
    }
    let goal = |ok: bool| if ok { "met" } else { "MISSED" };
    let ran = |phase: &str| phases.iter().any(|p| p == phase);
    let judged = |phase: &str, ok: bool| if ran(phase) { goal(ok) } else { "not measured" };
    if phases.iter().any(|p| p == "canary") {
        let c = run_canary(&bench);
        println!("\ncanary, app `fast`, the same load:");
        for (weight, share, n) in &c.shares {
            println!("  step {weight:>3} %          measured share {share:.1} % of {n} requests");
        }
        println!(
            "  abort              interval end -> weight 0: {:.1} ms; {} failed request(s) that were not the new version's own 5xx (of {} during the failing canary, {} of them its 5xx)",
            c.abort_ms, c.other_failures, c.requests, c.own_5xx
        );
        let share_ok = c
            .shares
            .iter()
            .all(|(w, s, _)| (f64::from(*w) - s).abs() <= 2.0);
        println!(
            "goals (canary): shares within 2 points: {}; interval end to weight 0 < 50 ms: {}; 0 failed requests but its own 5xx: {}",
            goal(share_ok),
            goal(c.abort_ms < 50.0),
            goal(c.other_failures == 0)
        );
    }
    println!(
        "\ngoals: 0 failed requests in every sequence and app: {}; overhead <= docker floor + 100 ms (median, each app): {}; warm rollback < 50 ms (median, 16 and 64 connections): {}",
        goal(all_zero),
        judged("deploys", overhead_met),
        judged("rollback", rollback_met)
    );
    if !peer_line.is_empty() {
        println!("peers: {}", peer_line.join("; "));
    }
}
