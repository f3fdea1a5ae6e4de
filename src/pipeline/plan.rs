//! The plan: what the run will do, host by host, printed before anything changes (and all a dry
//! run does).

use super::{Findings, Pipeline};
use crate::agent::protocol::{AppState, Color};
use crate::fleet::TargetKind;
use crate::report::HostRecord;
use std::fmt::Write as _;

/// One host before the deploy: what serves now, what will.
#[derive(Debug, Clone)]
pub(super) struct HostPlan {
    pub(super) host: String,
    pub(super) state: Option<AppState>,
}

impl HostPlan {
    /// The host's record for a run that stopped before the rollout: it serves what it did.
    pub(super) fn untouched(&self) -> HostRecord {
        HostRecord::untouched(
            &self.host,
            "not_started",
            "the run stopped before the rollout",
            self.state.as_ref(),
        )
    }

    pub(super) fn live_color(&self) -> Option<Color> {
        self.state.as_ref()?.live.as_ref().map(|c| c.color)
    }

    fn next_color(&self) -> Color {
        self.live_color().map_or(Color::Blue, Color::other)
    }
}

impl Pipeline {
    /// The dry run's plan: what would happen, with the figures that bound it.
    pub(super) fn plan(&self, image: &str, found: &Findings) -> String {
        let d = &self.config.deploy;
        let mut out = String::new();
        let mode = if self.config.dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        };
        let _ = writeln!(out, "plan for {}{mode}", d.app);
        let _ = writeln!(out, "  image:   {image}");
        let target = match self.target.target {
            TargetKind::Local => "local Docker daemon".to_string(),
            TargetKind::Ssm => format!(
                "{} instances through SSM, batches of {}, up to {} failed before rolling back",
                found.preflight.len(),
                self.target.max_concurrency,
                self.target.max_errors
            ),
        };
        let _ = writeln!(out, "  target:  {target}");
        let _ = writeln!(out, "  hosts:");
        for h in &found.preflight {
            let live = h
                .state
                .as_ref()
                .and_then(|s| s.live.as_ref())
                .map_or("nothing (first deployment)".to_string(), |c| {
                    format!("{} {}", c.color, c.image)
                });
            let _ = writeln!(
                out,
                "    {:<20} now: {live}; next: {} on port {}",
                h.host,
                h.next_color(),
                d.public_port
            );
        }
        let _ = writeln!(
            out,
            "  steps:   pull; start the idle color; health gate on {} (timeout {}); switch; \
             verify window {}; drain {}; keep the prior warm {}",
            d.health_path,
            humantime::format_duration(d.health_timeout),
            humantime::format_duration(d.verify_window),
            humantime::format_duration(d.drain),
            humantime::format_duration(d.keep_warm)
        );
        if let Some(c) = &d.canary {
            let ms = |v: u64| humantime::format_duration(std::time::Duration::from_millis(v));
            let _ = writeln!(
                out,
                "  canary:  steps {} of {} each; at least {} requests an interval; fails above \
                 {} failed (or twice the old version's) or {} x its response time + 5 ms; \
                 aborts after {} failed interval(s); a pause waits {}",
                c.steps_line(),
                ms(c.interval_ms),
                c.min_requests,
                crate::agent::canary::spec::percent_text(c.max_error_rate_bp),
                crate::agent::canary::spec::ratio_text(c.max_latency_ratio_milli),
                c.failure_limit,
                ms(c.pause_timeout_ms)
            );
        }
        if !d.alarms.is_empty() {
            let _ = writeln!(
                out,
                "  alarms:  {} (one in state ALARM aborts or switches back)",
                d.alarms.join(", ")
            );
        }
        if let Some(r) = &self.config.release {
            let _ = writeln!(
                out,
                "  release: {} once on {} before any switch (timeout {}{})",
                serde_json::to_string(&r.command).unwrap_or_default(),
                r.host.as_deref().unwrap_or("the first host"),
                humantime::format_duration(r.timeout),
                if r.always {
                    "; every deploy"
                } else {
                    "; skipped for a digest released before"
                }
            );
        }
        let skipped: Vec<&str> = self.config.skip.iter().map(|s| s.name()).collect();
        if !skipped.is_empty() {
            let _ = writeln!(out, "  skipped: {}", skipped.join(", "));
        }
        out
    }
}
