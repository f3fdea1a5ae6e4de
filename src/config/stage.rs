//! The stages of `bluegreen run` an input can skip.

/// Pipeline stages that can be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Lint,
    VerifyImage,
    Preflight,
    Deploy,
    VerifyLive,
    Report,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Lint,
        Stage::VerifyImage,
        Stage::Preflight,
        Stage::Deploy,
        Stage::VerifyLive,
        Stage::Report,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Lint => "lint",
            Stage::VerifyImage => "verify-image",
            Stage::Preflight => "preflight",
            Stage::Deploy => "deploy",
            Stage::VerifyLive => "verify-live",
            Stage::Report => "report",
        }
    }
}
