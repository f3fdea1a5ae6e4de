//! The command line of the fleet commands and the host agent: each command's flags, and the
//! function that runs it. `lint`, `verify-image`, `report` and `run` keep their flags with
//! their stage (`lint::LintArgs`, `image::VerifyImageArgs`, `report::cli`, `pipeline::RunArgs`).
//! What the commands share (check the request, send it, print the replies) is
//! `fleet::command`.

pub mod agent;
pub mod canary;
pub mod deploy;
pub mod history;
pub mod recover;
pub mod rollback;
pub mod status;
