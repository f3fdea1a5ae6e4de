//! Process exit codes: part of the product's interface (scripts rely on them).
//! Documented in `docs/exit-codes.md`; keep the two in step.

/// Exit codes of every `bluegreen` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success: nothing at or above the failure threshold.
    Ok = 0,
    /// The command ran and found a failure: lint findings at or above `--fail-on`, an image
    /// check failed, a deploy failed (the old version keeps serving).
    Failed = 1,
    /// Usage error or unreadable input: nothing was changed.
    Usage = 2,
    /// `rollback` found no prior version to roll back to; nothing was changed.
    NothingToRollBack = 3,
    /// Another deploy of the same app holds the host lock.
    Locked = 4,
    /// The environment failed us: Docker, AWS or the network could not be reached.
    Environment = 5,
    /// `rollback --expect-live`: the live version is not the expected one; nothing changed.
    NotExpectedLive = 6,
    /// `promote` or `abort`: no host had a canary in progress for the app; nothing recorded.
    NoCanary = 7,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c.code())
    }
}

/// An error in what the user gave us (flag, input, file): exits with [`ExitCode::Usage`].
/// The message names the input, the value and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    /// What the refused value should have been: the message after its `expected `, or the
    /// whole message.
    pub fn expected(&self) -> String {
        self.0
            .split_once("expected ")
            .map_or(self.0.as_str(), |(_, x)| x)
            .to_string()
    }
}

/// Maps an error that ended a command to its exit code.
pub fn classify(err: &anyhow::Error) -> ExitCode {
    let usage = err
        .chain()
        .any(|cause| cause.is::<UsageError>() || cause.is::<crate::gha::InputError>());
    if usage {
        ExitCode::Usage
    } else {
        ExitCode::Environment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn usage_errors_are_found_through_context() {
        let err = Err::<(), _>(UsageError("--app \"\": expected a name".into()))
            .context("deploy")
            .unwrap_err();
        assert_eq!(classify(&err), ExitCode::Usage);
        assert_eq!(
            classify(&anyhow::anyhow!("docker down")),
            ExitCode::Environment
        );
    }
}
