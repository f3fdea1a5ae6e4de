//! The names of the engine's steps: each is a timed event in the reply (the report's step
//! names) and a pause point for the crash tests (`BLUEGREEN_FAULT_PAUSE_AFTER=<pause name>`).
//! One enum, so a step cannot be timed under one name and paused under another.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Lock, read and recover the app's state.
    State,
    /// Parameter Store values read on the host.
    Secrets,
    /// The image (and the proxy image when missing).
    Pull,
    /// The idle color's prior set aside, the new container created and started.
    Start,
    /// The health gate (while the next proxy config is checked).
    Ready,
    /// Between the config rename and the runtime API line of a switch.
    SwitchConfig,
    /// The switch, written to the state as unverified.
    Switch,
    /// The new color answered through the proxy: inside the verify window.
    Verify,
    /// The verify window watched to its end, not yet recorded as verified.
    Watch,
    /// The switch recorded as verified: final from here on.
    Verified,
    /// The old color drained and kept warm.
    Drain,
    /// Between the config rename and the runtime API line of a switch back.
    SwitchBackConfig,
    /// Traffic back on the last verified version.
    SwitchBack,
    /// A rollback's probe of the warm prior.
    Probe,
    /// What users saw from the switch to the end of the drain (the proxy's receipt).
    Receipt,
    /// The release command's run.
    Release,
    /// The pre-switch command against the idle color.
    PreSwitch,
    /// The idle color's server finishing the requests of the container that had it, before
    /// the new one gets it.
    Settle,
    /// A canary's first interval ended (`--strategy canary`).
    Canary,
    /// The whole command.
    Total,
}

impl Step {
    /// The event's step name in replies and reports.
    pub fn event(self) -> &'static str {
        match self {
            Step::State => "state",
            Step::Secrets => "secrets",
            Step::Pull => crate::report::facts::STEP_PULL,
            Step::Start => "start",
            Step::Ready => crate::report::facts::STEP_READINESS,
            Step::SwitchConfig | Step::Switch => "switch",
            Step::Verify => "verify",
            Step::Watch => "watch",
            Step::Verified => "verified",
            Step::Drain => "drain",
            Step::SwitchBackConfig | Step::SwitchBack => "switch-back",
            Step::Probe => "probe",
            Step::Receipt => "receipt",
            Step::Release => "release",
            Step::PreSwitch => "pre-switch",
            Step::Settle => "settle",
            Step::Canary => "canary",
            Step::Total => "total",
        }
    }

    /// The pause point's name (`BLUEGREEN_FAULT_PAUSE_AFTER`).
    pub fn pause(self) -> &'static str {
        match self {
            Step::State => "read",
            Step::SwitchConfig => "switch-config",
            Step::SwitchBackConfig => "switch-back-config",
            other => other.event(),
        }
    }
}

/// How long a request through the proxy may take to reach the new color after a switch.
pub const VERIFY_WITHIN: Duration = Duration::from_secs(5);
/// How long a rollback's probe of a warm prior may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The drain of a container created before its deploy's `--drain` was kept in its labels
/// (the default `--drain`, `spec::DEFAULT_DRAIN`).
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_drain_is_the_flags_default() {
        assert_eq!(
            crate::duration::parse(crate::agent::spec::DEFAULT_DRAIN),
            Ok(super::DEFAULT_DRAIN)
        );
    }
}
