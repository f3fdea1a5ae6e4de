//! Fuzzes the SSM reply parser: an agent's stdout as SSM returns it (possibly cut at 24,000
//! characters, possibly not ours at all) into the marked reply line and the host's
//! architecture line. Any panic is a bug: a bad reply must end as an error.
#![no_main]
#![allow(dead_code, unused_imports)]

// The product's own sources (see Cargo.toml for why not the `bluegreen` crate).
#[path = "../../src/exit.rs"]
mod exit;
#[path = "../../src/gha/mod.rs"]
mod gha;
#[path = "../../src/report/event.rs"]
mod event;
#[path = "../../src/agent/protocol.rs"]
mod protocol;
// The paths protocol.rs names its neighbours by.
mod report {
    pub use crate::event::Event;
}

use protocol::AgentReply;
use libfuzzer_sys::fuzz_target;

/// The architecture line of the SSM script (`fleet::ssm::host_arch`, kept in step by hand:
/// that module needs the AWS SDK).
const HOST_MARKER: &str = "@@bluegreen-host@@ ";

fuzz_target!(|data: &[u8]| {
    let stdout = String::from_utf8_lossy(data);
    if let Ok(reply) = AgentReply::from_stdout(&stdout) {
        // A parsed reply survives its own round trip.
        let line = reply.to_marked_line().expect("a parsed reply serializes");
        let again = AgentReply::from_stdout(&line).expect("its own line parses");
        assert_eq!(again.host, reply.host);
        assert_eq!(again.events.len(), reply.events.len());
        let _ = reply.outcome.exit_code();
    }
    let _ = stdout.lines().find_map(|l| {
        l.trim_end()
            .strip_prefix(HOST_MARKER)
            .and_then(|rest| rest.strip_prefix("arch="))
    });
});
