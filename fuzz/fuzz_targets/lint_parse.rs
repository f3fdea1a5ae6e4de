//! Fuzzes the whole per-file lint path on arbitrary bytes: decode (size, binary, UTF-8),
//! YAML parse with spans, the model, every rule family and the fix edits. Any panic, abort or
//! stack overflow is a bug: bad input must end as a `FileError`.
#![no_main]
#![allow(dead_code, unused_imports)]

// The product's own sources (see Cargo.toml for why not the `bluegreen` crate).
#[path = "../../src/exit.rs"]
mod exit;
#[path = "../../src/gha/mod.rs"]
mod gha;
#[path = "../../src/lint/mod.rs"]
mod lint;

use lint::files::decode;
use lint::rules::RuleData;
use lint::source::SourceFile;
use lint::{fix, lint_source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(rules) = RuleData::embedded() else {
        return;
    };
    // Half the inputs are read as workflows, half as action.yml (the kind is by file name).
    let name = if data.first().is_some_and(|b| b & 1 == 1) {
        ".github/workflows/fuzz.yml"
    } else {
        "action.yml"
    };
    let Ok(text) = decode(name, data.to_vec()) else {
        return;
    };
    let source = SourceFile::new(name, text);
    if let Ok(findings) = lint_source(&source, rules) {
        for f in &findings {
            assert!(f.line >= 1 && f.column >= 1, "positions are 1-based: {f:?}");
            assert!(f.span.end <= source.text.len());
        }
        let refs: Vec<_> = findings.iter().collect();
        let (fixed, _) = fix::apply(&source.text, &refs);
        // Fixing twice changes nothing more.
        let again = SourceFile::new(name, fixed.clone());
        if let Ok(second) = lint_source(&again, rules) {
            let refs: Vec<_> = second.iter().collect();
            let (twice, applied) = fix::apply(&fixed, &refs);
            assert_eq!(applied, 0, "fix is idempotent");
            assert_eq!(twice, fixed);
        }
    }
});
