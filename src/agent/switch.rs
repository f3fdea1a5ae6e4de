//! The switch: the config file first (so a proxy restart serves the same color), then the
//! runtime API (so the running proxy moves without a restart).

use super::protocol::Color;
use super::proxy::{Other, Ports};
use super::state::Marker;
use super::{proxy, Host};
use anyhow::Context;

/// Writes `marker` + `body` as the proxy config and routes new requests to `marker.live`, the
/// container on loopback `port` (the port `body` gives it). `body` must have been checked
/// (`haproxy -c`) or be a [`point`] of a config that was live. `between` names the pause point
/// between the two writes.
pub async fn commit_and_route(
    host: &Host,
    app: &str,
    (marker, port): (&Marker, u16),
    body: &str,
    between: super::step::Step,
) -> anyhow::Result<()> {
    proxy::commit(host, app, marker, body)?;
    super::pause_point(between).await;
    proxy::route_to(host, app, marker.live, port, Other::Drain).await
}

/// The live config without its state comment.
pub fn current_body(host: &Host, app: &str) -> anyhow::Result<String> {
    let path = host.config_path(app);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(match text.split_once('\n') {
        Some((first, rest)) if first.starts_with(super::state::MARKER_PREFIX) => rest.to_string(),
        _ => text,
    })
}

/// The same config with `live` enabled, the other color `disabled`, and each color's server
/// at its container's port (a color without one keeps its address): the only differences
/// between two configs of one app, so a config that was checked once stays valid.
pub fn point(body: &str, live: Color, ports: Ports) -> String {
    servers(body, ports, |color, port| {
        proxy::server_line(color, port, live)
    })
}

/// The same config during a canary: both colors enabled, `new` at `weight` percent of the
/// requests (the weights are the only other difference, so the config stays valid).
pub fn share(body: &str, new: Color, weight: u8, ports: Ports) -> String {
    servers(body, ports, |color, port| {
        proxy::canary_line(color, port, new, weight)
    })
}

/// `body` with each color's server line written by `line` (its port: the container's, else
/// the line's own).
fn servers(body: &str, ports: Ports, line: impl Fn(Color, Option<u16>) -> String) -> String {
    body.lines()
        .map(|l| {
            let trimmed = l.trim_start();
            for color in [Color::Blue, Color::Green] {
                if let Some(rest) = trimmed.strip_prefix(&format!("server {color} ")) {
                    return line(color, ports.get(color).or_else(|| port_of(rest)));
                }
            }
            l.to_string()
        })
        .map(|l| l + "\n")
        .collect()
}

/// The port of a server line's address (`127.0.0.1:PORT ...`).
fn port_of(rest: &str) -> Option<u16> {
    rest.split_whitespace()
        .next()?
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::proxy::{render_body, Layout};

    #[test]
    fn point_gives_the_rendered_config_of_the_other_color_and_its_port() {
        let layout = Layout {
            public_address: "0.0.0.0".into(),
            public_port: 8080,
            extra_lines: vec![],
        };
        let ports = Ports::default().with(Color::Blue, 40001);
        let blue = render_body(&layout, Color::Blue, ports);
        let both = ports.with(Color::Green, 40002);
        let green = render_body(&layout, Color::Green, both);
        assert_ne!(blue, green);
        assert_eq!(point(&blue, Color::Green, both), green);
        assert_eq!(
            point(&green, Color::Blue, both),
            render_body(&layout, Color::Blue, both)
        );
        // A color whose container is gone keeps the address the config had.
        let gone = Ports::default().with(Color::Green, 40002);
        assert_eq!(
            point(&green, Color::Blue, gone),
            render_body(&layout, Color::Blue, both)
        );
    }
}
