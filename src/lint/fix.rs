//! `--fix`: applies the findings' byte-exact edits. Only the bytes of each reference's `@REF`
//! change; comments, quotes, indentation and line endings are left as they are. Applying the
//! fixes again changes nothing, because a rewritten reference no longer matches a rule.

use super::finding::{Edit, Finding};

/// Applies every edit (sorted, overlapping ones skipped) and returns the new text and how
/// many edits were applied.
pub fn apply(text: &str, findings: &[&Finding]) -> (String, usize) {
    let mut edits: Vec<&Edit> = findings.iter().filter_map(|f| f.edit.as_ref()).collect();
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    edits.dedup_by(|a, b| a.span == b.span);
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    let mut applied = 0;
    for edit in edits {
        let in_bounds = edit.span.end <= text.len()
            && text.is_char_boundary(edit.span.start)
            && text.is_char_boundary(edit.span.end);
        if edit.span.start < cursor || !in_bounds {
            continue;
        }
        out.push_str(&text[cursor..edit.span.start]);
        out.push_str(&edit.replacement);
        cursor = edit.span.end;
        applied += 1;
    }
    out.push_str(&text[cursor..]);
    (out, applied)
}
