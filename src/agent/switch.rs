//! The switch: the config file first (so a proxy restart serves the same color), then the
//! runtime API (so the running proxy moves without a restart).

use super::protocol::Color;
use super::state::Marker;
use super::{proxy, Host};
use anyhow::Context;

/// Writes `marker` + `body` as the proxy config and routes new requests to `marker.live`.
/// `body` must have been checked (`haproxy -c`) or be a [`flip`] of a config that was live.
/// `between` names the pause point between the two writes.
pub async fn commit_and_route(
    host: &Host,
    app: &str,
    marker: &Marker,
    body: &str,
    between: super::step::Step,
) -> anyhow::Result<()> {
    proxy::commit(host, app, marker, body)?;
    super::pause_point(between).await;
    proxy::route_to(host, app, marker.live).await
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

/// The same config with `live` enabled and the other color `disabled`: the only difference
/// between two configs of one app, so a config that was checked once stays valid.
pub fn flip(body: &str, live: Color) -> String {
    body.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            for color in [Color::Blue, Color::Green] {
                if trimmed.starts_with(&format!("server {color} ")) {
                    let base = line.trim_end().trim_end_matches(" disabled");
                    return if color == live {
                        base.to_string()
                    } else {
                        format!("{base} disabled")
                    };
                }
            }
            line.to_string()
        })
        .map(|l| l + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::proxy::{render_body, Layout};

    #[test]
    fn flip_gives_the_rendered_config_of_the_other_color() {
        let layout = Layout {
            public_address: "0.0.0.0".into(),
            public_port: 8080,
            extra_lines: vec![],
        };
        let blue = render_body(&layout, Color::Blue);
        let green = render_body(&layout, Color::Green);
        assert_ne!(blue, green);
        assert_eq!(flip(&blue, Color::Green), green);
        assert_eq!(flip(&green, Color::Blue), blue);
    }
}
