//! `bluegreen status`: the live color, its image, and the rollback target of each app, host by
//! host. It changes nothing. For one app, the human output ends with the fleet's line, read
//! from the report's host records by the one fleet-color rule.

use crate::agent::AgentRequest;
use crate::exit::ExitCode;
use crate::fleet::command::run_on_target;
use crate::fleet::TargetArgs;
use crate::output::OutputFormat;
use crate::report::hosts::fleet_color;
use crate::report::{FleetColor, HostRecord};
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct StatusCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

/// Runs `bluegreen status` on every host of the target.
pub async fn status(cmd: StatusCmd) -> anyhow::Result<ExitCode> {
    let app = cmd.app.clone();
    let request = AgentRequest::Status { app: cmd.app };
    let done = run_on_target(&cmd.target, request, cmd.format).await?;
    if let (Some(app), OutputFormat::Human) = (app, cmd.format) {
        if !done.hosts.is_empty() {
            println!("{}", fleet_line(&app, &done.hosts));
        }
    }
    Ok(done.exit)
}

/// `shop: blue live on 3 of 3 hosts; rollback target on 2` or, hosts disagreeing,
/// `shop: MIXED, blue on i-1, green on i-2`.
pub fn fleet_line(app: &str, hosts: &[HostRecord]) -> String {
    let serving = hosts.iter().filter(|h| h.live_after.is_some()).count();
    let with_target = hosts.iter().filter(|h| h.rollback_target.is_some()).count();
    let total = hosts.len();
    match fleet_color(hosts) {
        FleetColor::None => format!("{app}: nothing live on any of {total} hosts"),
        FleetColor::Mixed => {
            let each: Vec<String> = hosts
                .iter()
                .map(|h| match h.live_after {
                    Some(c) => format!("{c} on {}", h.host),
                    None => format!("nothing on {}", h.host),
                })
                .collect();
            format!("{app}: MIXED, {}", each.join(", "))
        }
        color => format!(
            "{app}: {} live on {serving} of {total} hosts; rollback target on {with_target}",
            color.as_str()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::Color;
    use crate::report::hosts::RollbackTarget;

    fn host(name: &str, live: Option<Color>, target: bool) -> HostRecord {
        HostRecord {
            live_after: live,
            rollback_target: target.then(|| RollbackTarget {
                color: Color::Green,
                image: "shop:6".into(),
            }),
            ..HostRecord::without_reply(name, "status", "")
        }
    }

    #[test]
    fn the_fleet_line_counts_serving_hosts_and_names_a_split() {
        let agree = [
            host("i-1", Some(Color::Blue), true),
            host("i-2", Some(Color::Blue), false),
            host("i-3", None, false),
        ];
        assert_eq!(
            fleet_line("shop", &agree),
            "shop: blue live on 2 of 3 hosts; rollback target on 1"
        );
        let split = [
            host("i-1", Some(Color::Blue), true),
            host("i-2", Some(Color::Green), true),
        ];
        assert_eq!(
            fleet_line("shop", &split),
            "shop: MIXED, blue on i-1, green on i-2"
        );
        assert_eq!(
            fleet_line("shop", &[host("i-1", None, false)]),
            "shop: nothing live on any of 1 hosts"
        );
    }
}
