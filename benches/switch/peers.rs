//! The two approaches this project replaces, run on the same machine, image and load as the
//! engine, so their failed requests per switch stand next to ours in one run:
//! - the script: `docker stop`, `docker rename`, `docker run` on the one published port, a
//!   health poll (every 200 ms: most scripts `sleep 1`), then `docker rm` of the old one;
//! - nginx (Debian's) in front of two containers on ports of their own: start the new one,
//!   poll its health, point the upstream at it, `nginx -s reload`, and stop the old one 2 s
//!   later.
//!
//! Both use the docker CLI, as the scripts do.

use crate::load::{failed_within, now_us, Load};
use std::process::Command;
use std::time::{Duration, Instant};

/// What a peer's switches did to the load.
pub struct PeerRun {
    pub name: &'static str,
    pub switches: usize,
    pub requests: usize,
    pub failed: usize,
    /// Failed requests of each switch.
    pub per_switch: Vec<usize>,
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("docker {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Polls GET /health on a loopback port every 200 ms until it answers 200.
fn wait_healthy(port: u16, within: Duration) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < within {
        let ok = std::net::TcpStream::connect(("127.0.0.1", port))
            .and_then(|mut s| {
                use std::io::{Read, Write};
                s.set_read_timeout(Some(Duration::from_secs(1)))?;
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let mut head = [0u8; 12];
                s.read_exact(&mut head)?;
                Ok(head.ends_with(b"200"))
            })
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("port {port} not healthy within {within:?}"))
}

fn run_app(name: &str, image: &str, port: u16, env: &[String]) -> Result<(), String> {
    let publish = format!("127.0.0.1:{port}:8080");
    let mut args = vec!["run", "-d", "--name", name, "-p", &publish];
    for e in env {
        args.extend(["-e", e.as_str()]);
    }
    args.push(image);
    docker(&args).map(|_| ())
}

/// `switches` script-style switches on `port`, alternating `images`, under `load`'s rate.
pub fn script(
    images: [&str; 2],
    env: &[String],
    port: u16,
    switches: usize,
    (connections, rps): (u64, u64),
) -> Result<PeerRun, String> {
    let name = format!("bga-peer-script-{}", std::process::id());
    let old = format!("{name}-old");
    let _ = docker(&["rm", "-f", &name, &old]);
    run_app(&name, images[0], port, env)?;
    wait_healthy(port, Duration::from_secs(30))?;
    let load = Load::start(port, connections, rps);
    std::thread::sleep(Duration::from_secs(2));
    let mut windows = Vec::new();
    for i in 1..=switches {
        let t0 = now_us();
        docker(&["stop", &name])?;
        docker(&["rename", &name, &old])?;
        run_app(&name, images[i % 2], port, env)?;
        wait_healthy(port, Duration::from_secs(30))?;
        docker(&["rm", "-f", &old])?;
        windows.push((t0, now_us()));
        std::thread::sleep(Duration::from_secs(1));
    }
    let recs = load.stop();
    let _ = docker(&["rm", "-f", &name, &old]);
    Ok(tally("script", &recs, &windows))
}

/// `switches` nginx reload switches, alternating `images` between two containers on ports
/// `app_ports`, nginx listening on `port`.
pub fn nginx(
    images: [&str; 2],
    env: &[String],
    (port, app_ports): (u16, [u16; 2]),
    switches: usize,
    (connections, rps): (u64, u64),
) -> Result<PeerRun, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let prefix = dir.path().to_string_lossy().to_string();
    let conf = dir.path().join("nginx.conf");
    let write_conf = |upstream: u16| {
        std::fs::write(&conf, nginx_conf(&prefix, port, upstream)).map_err(|e| e.to_string())
    };
    let names = [0, 1].map(|i| format!("bga-peer-nginx-{}-{i}", std::process::id()));
    for n in &names {
        let _ = docker(&["rm", "-f", n]);
    }
    run_app(&names[0], images[0], app_ports[0], env)?;
    wait_healthy(app_ports[0], Duration::from_secs(30))?;
    write_conf(app_ports[0])?;
    let conf_path = conf.to_string_lossy().to_string();
    let nginx = |extra: &[&str]| -> Result<(), String> {
        let out = Command::new("nginx")
            .args(["-p", &prefix, "-c", &conf_path])
            .args(extra)
            .output()
            .map_err(|e| format!("nginx: {e} (scripts/bench-switch installs Debian's nginx)"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "nginx {extra:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    nginx(&[])?;
    wait_healthy(port, Duration::from_secs(10))?;
    let load = Load::start(port, connections, rps);
    std::thread::sleep(Duration::from_secs(2));
    let mut windows = Vec::new();
    for i in 1..=switches {
        let (new, old) = (i % 2, (i + 1) % 2);
        let t0 = now_us();
        run_app(&names[new], images[new], app_ports[new], env)?;
        wait_healthy(app_ports[new], Duration::from_secs(30))?;
        write_conf(app_ports[new])?;
        nginx(&["-s", "reload"])?;
        std::thread::sleep(Duration::from_secs(2));
        docker(&["rm", "-f", &names[old]])?;
        windows.push((t0, now_us()));
        std::thread::sleep(Duration::from_secs(1));
    }
    let recs = load.stop();
    let _ = nginx(&["-s", "quit"]);
    for n in &names {
        let _ = docker(&["rm", "-f", n]);
    }
    Ok(tally("nginx reload", &recs, &windows))
}

fn nginx_conf(prefix: &str, port: u16, upstream: u16) -> String {
    format!(
        "daemon on;\nmaster_process on;\nworker_processes 2;\nuser root;\npid {prefix}/nginx.pid;\n\
         error_log {prefix}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n\
         \x20 fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
         \x20 upstream app {{ server 127.0.0.1:{upstream}; keepalive 32; }}\n\
         \x20 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://app;\n\
         \x20     proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
    )
}

fn tally(name: &'static str, recs: &[crate::load::Rec], windows: &[(i64, i64)]) -> PeerRun {
    let per_switch: Vec<usize> = windows
        .iter()
        .map(|(from, to)| failed_within(recs, *from, *to).1)
        .collect();
    PeerRun {
        name,
        switches: windows.len(),
        requests: recs.len(),
        failed: recs.iter().filter(|r| r.failed()).count(),
        per_switch,
    }
}
