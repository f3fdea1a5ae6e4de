//! Fuzzes the reader of HAProxy's `show stat` CSV (`agent::stats`): any answer, including a
//! truncated or hostile one, gives a number or `None`, never a panic.
#![no_main]

#[path = "../../src/agent/stats.rs"]
mod stats;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let csv = String::from_utf8_lossy(data);
    for field in ["scur", "stot", "hrsp_5xx", "qcur"] {
        for server in ["blue", "green", "BACKEND"] {
            let _ = stats::server_field(&csv, "app", server, field);
        }
    }
});
