//! How long to wait between status polls, and what an SSM invocation status means to us.
//!
//! The interval follows the command's age: a twentieth of the time elapsed since SendCommand,
//! bounded by `min` and `max`. A batch that finishes at time T is noticed by about T * 1.05,
//! so polling adds about 5% to a batch whatever its length, while a long deploy costs few calls
//! (one per 6 s after two minutes). Every poll round costs one ListCommands call.

use super::transport::FailureKind;
use std::time::Duration;

/// Bounds of the adaptive poll interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    pub min: Duration,
    pub max: Duration,
}

impl Default for PollPolicy {
    /// 1 s to 15 s: the SDK's adaptive retry absorbs throttling, and a deploy takes tens of
    /// seconds, so a faster first poll would only cost calls.
    fn default() -> Self {
        PollPolicy {
            min: Duration::from_secs(1),
            max: Duration::from_secs(15),
        }
    }
}

impl PollPolicy {
    /// The wait before the next poll of a command sent `elapsed` ago, with up to 10% jitter so
    /// many runners polling one account do not synchronize.
    pub fn next_interval(&self, elapsed: Duration) -> Duration {
        let base = (elapsed / 20).clamp(self.min, self.max.max(self.min));
        let jitter_pct = u32::from(uuid::Uuid::new_v4().as_bytes()[0] % 11);
        // Saturating: the bounds are checked where they are set (`MAX_POLL`), but a policy
        // built in code must not panic either.
        base.saturating_add((base / 100).saturating_mul(jitter_pct))
    }

    /// The bounds as flags give them: each at most [`MAX_POLL`], `min` not above `max`.
    pub fn checked(min: Duration, max: Duration) -> Result<PollPolicy, crate::exit::UsageError> {
        for (flag, d) in [("--ssm-poll-min", min), ("--ssm-poll-max", max)] {
            if d > MAX_POLL || d.is_zero() {
                return Err(crate::exit::UsageError(format!(
                    "{flag} {}: expected more than 0s and at most {}",
                    humantime::format_duration(d),
                    humantime::format_duration(MAX_POLL)
                )));
            }
        }
        Ok(PollPolicy {
            min,
            max: max.max(min),
        })
    }
}

/// The longest wait between two polls that a flag may set.
pub const MAX_POLL: Duration = Duration::from_secs(300);

/// Where one instance's invocation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationState {
    /// Not finished (Pending, InProgress, Delayed, Cancelling), or not visible yet.
    Running,
    /// Ran to the end with exit code 0.
    Succeeded,
    /// Ended any other way. `Failed` may still carry the agent's reply (a failed deploy
    /// exits non-zero and prints its reply), so the caller looks at the output first.
    Ended(FailureKind),
}

/// Maps an invocation's `Status` and `StatusDetails` (the finer one, read first). Undeliverable,
/// Invalid Platform and Access Denied are failures here even though SSM does not count them
/// against MaxErrors; an unknown terminal value is a failure, never a success.
pub fn invocation_state(status: &str, details: Option<&str>) -> InvocationState {
    use InvocationState::*;
    let by_details = match details.unwrap_or("") {
        "Pending" | "InProgress" | "In Progress" | "Delayed" | "Cancelling" => Some(Running),
        "Success" => Some(Succeeded),
        "Failed" => Some(Ended(FailureKind::Failed)),
        "Execution Timed Out" | "ExecutionTimedOut" => Some(Ended(FailureKind::ExecutionTimedOut)),
        "Delivery Timed Out" | "DeliveryTimedOut" => Some(Ended(FailureKind::DeliveryTimedOut)),
        "Cancelled" => Some(Ended(FailureKind::Cancelled)),
        "Undeliverable" => Some(Ended(FailureKind::Undeliverable)),
        "Invalid Platform" | "InvalidPlatform" => Some(Ended(FailureKind::InvalidPlatform)),
        "Access Denied" | "AccessDenied" => Some(Ended(FailureKind::AccessDenied)),
        "Terminated" => Some(Ended(FailureKind::Terminated)),
        _ => None,
    };
    by_details.unwrap_or(match status {
        "Pending" | "InProgress" | "Delayed" | "Cancelling" => Running,
        "Success" => Succeeded,
        "Failed" => Ended(FailureKind::Failed),
        "TimedOut" => Ended(FailureKind::ExecutionTimedOut),
        "Cancelled" => Ended(FailureKind::Cancelled),
        _ => Ended(FailureKind::Unknown),
    })
}

/// Whether a whole command (`ListCommands`) has stopped changing.
pub fn command_is_terminal(status: &str) -> bool {
    matches!(status, "Success" | "Failed" | "TimedOut" | "Cancelled")
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvocationState::*;

    #[test]
    fn every_terminal_status_is_mapped() {
        let cases = [
            ("Success", "Success", Succeeded),
            ("Failed", "Failed", Ended(FailureKind::Failed)),
            (
                "TimedOut",
                "Execution Timed Out",
                Ended(FailureKind::ExecutionTimedOut),
            ),
            (
                "TimedOut",
                "Delivery Timed Out",
                Ended(FailureKind::DeliveryTimedOut),
            ),
            ("Cancelled", "Cancelled", Ended(FailureKind::Cancelled)),
            ("Failed", "Undeliverable", Ended(FailureKind::Undeliverable)),
            (
                "Failed",
                "Invalid Platform",
                Ended(FailureKind::InvalidPlatform),
            ),
            ("Failed", "Access Denied", Ended(FailureKind::AccessDenied)),
            ("Failed", "Terminated", Ended(FailureKind::Terminated)),
            ("InProgress", "In Progress", Running),
            ("Pending", "Pending", Running),
            ("Delayed", "Delayed", Running),
            ("Cancelling", "Cancelling", Running),
        ];
        for (status, details, want) in cases {
            assert_eq!(
                invocation_state(status, Some(details)),
                want,
                "{status}/{details}"
            );
        }
        // Details win over a status that would read as success.
        assert_eq!(
            invocation_state("Success", Some("Undeliverable")),
            Ended(FailureKind::Undeliverable)
        );
        assert_eq!(
            invocation_state("TimedOut", None),
            Ended(FailureKind::ExecutionTimedOut)
        );
        assert_eq!(
            invocation_state("Bogus", Some("Bogus")),
            Ended(FailureKind::Unknown)
        );
    }

    #[test]
    fn interval_follows_elapsed_time_within_bounds() {
        let p = PollPolicy {
            min: Duration::from_millis(200),
            max: Duration::from_secs(15),
        };
        let near = |d: Duration, want_ms: u64| {
            let ms = d.as_millis() as u64;
            assert!(
                ms >= want_ms && ms <= want_ms * 111 / 100,
                "{ms} vs {want_ms}"
            );
        };
        near(p.next_interval(Duration::ZERO), 200);
        near(p.next_interval(Duration::from_secs(60)), 3_000);
        near(p.next_interval(Duration::from_secs(3_600)), 15_000);
        assert!(command_is_terminal("TimedOut") && !command_is_terminal("Cancelling"));
    }
}
