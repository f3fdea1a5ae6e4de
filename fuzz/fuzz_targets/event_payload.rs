//! Fuzzes the GitHub event payload reader (`gha::RunnerEnv::event`, the file at
//! `GITHUB_EVENT_PATH`) and the fields the report takes from it: any file gives a value or an
//! error naming the path, never a panic.
#![no_main]
#![allow(dead_code, unused_imports)]

#[path = "../../src/exit.rs"]
mod exit;
#[path = "../../src/gha/mod.rs"]
mod gha;

use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile_in_target();
    file.1.write_all(data).expect("write the payload");
    let env = gha::RunnerEnv::from_lookup(|k| {
        (k == "GITHUB_EVENT_PATH").then(|| file.0.display().to_string())
    });
    if let Ok(Some(event)) = env.event() {
        let _ = event.pointer("/pull_request/number").and_then(|v| v.as_u64());
        let _ = event
            .pointer("/pull_request/head/repo/full_name")
            .and_then(|v| v.as_str());
        let _ = event.pointer("/pull_request/head/sha").and_then(|v| v.as_str());
    }
});

/// One payload file per process, rewritten for each input.
fn tempfile_in_target() -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("bluegreen-fuzz-event-{}.json", std::process::id()));
    let file = std::fs::File::create(&path).expect("create the payload file");
    (path, file)
}
