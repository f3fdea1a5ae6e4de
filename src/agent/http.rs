//! A minimal HTTP/1.1 GET over a fresh TCP connection, for health probes and for verifying
//! which color the proxy serves. A fresh connection per probe means no pooled connection can
//! hide a server that stopped accepting new ones.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a probe saw.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a probe asks for: the health path, and the `Host` header to send (`--health-host`,
/// for apps with a host allow-list); without one, the address probed.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    pub path: &'a str,
    pub host: Option<&'a str>,
}

impl<'a> Probe<'a> {
    /// A GET of `path` with the default `Host` header.
    pub fn path(path: &'a str) -> Probe<'a> {
        Probe { path, host: None }
    }
}

/// GET the probe's path from `address:port`; the error says what went wrong in one line.
pub async fn get(
    address: &str,
    port: u16,
    probe: Probe<'_>,
    timeout: Duration,
) -> Result<Response, String> {
    match tokio::time::timeout(timeout, exchange(address, port, probe)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn exchange(address: &str, port: u16, probe: Probe<'_>) -> Result<Response, String> {
    let mut stream = TcpStream::connect((address, port))
        .await
        .map_err(|e| format!("connect {address}:{port}: {e}"))?;
    let path = probe.path;
    let host = match probe.host {
        Some(h) => h.to_string(),
        None => format!("{address}:{port}"),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bluegreen\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::with_capacity(1024);
    // Headers are enough; stop at the blank line or 64 KiB.
    loop {
        let mut chunk = [0u8; 4096];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > 65536 {
            break;
        }
    }
    parse_head(&buf)
}

fn parse_head(buf: &[u8]) -> Result<Response, String> {
    let text = String::from_utf8_lossy(buf);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| {
            if buf.is_empty() {
                "connection closed without a response".to_string()
            } else {
                format!(
                    "not an HTTP response: {:?}",
                    status_line.chars().take(60).collect::<String>()
                )
            }
        })?;
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response { status, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_headers() {
        let r =
            parse_head(b"HTTP/1.1 503 Service Unavailable\r\nX-Bluegreen-Color: green\r\n\r\nbody")
                .unwrap();
        assert_eq!(r.status, 503);
        assert!(!r.is_success());
        assert_eq!(r.header("x-bluegreen-color"), Some("green"));
        assert!(parse_head(b"").is_err());
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n").is_err());
    }
}
