//! The JSON schemas of the CLI's `--format json` documents (docs/schemas/), checked against
//! what the commands really print.
#![allow(dead_code)]

/// Panics with every violation when `doc` does not match `docs/schemas/<name>.schema.json`.
pub fn assert_matches(name: &str, doc: &serde_json::Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schemas")
        .join(format!("{name}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name}: the document does not match {}:\n{}\n{doc:#}",
        path.display(),
        errors.join("\n")
    );
}
