//! bluegreen: blue-green deploys of containerized services to EC2 through SSM Run Command.
//!
//! One binary, four roles: the GitHub Action, the lint-only action, the CLI and the host agent.
//! See `docs/architecture.md` for the picture.

pub mod agent;
pub mod aws;
pub mod cli;
pub mod config;
pub mod duration;
pub mod exit;
pub mod fleet;
pub mod gha;
pub mod image;
pub mod lint;
pub mod output;
pub mod pipeline;
pub mod report;
