//! What a `uses:` value names: a local action, a Docker image, or `OWNER/REPO[/PATH]@REF`,
//! and the version a reference stands for (the tag, or for a SHA pin its `# vX.Y.Z` comment).

use std::cmp::Ordering;

/// The parts of a `uses:` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// `./path/to/action` (or a local reusable workflow).
    Local(&'a str),
    /// `docker://image`.
    Docker(&'a str),
    /// `OWNER/REPO[/PATH]@REF`; `git_ref_offset` is where REF starts in the value.
    Remote {
        name: &'a str,
        git_ref: &'a str,
        git_ref_offset: usize,
    },
    /// Anything else (no `@REF`, an expression): not judged.
    Unknown,
}

impl<'a> Target<'a> {
    pub fn parse(value: &'a str) -> Self {
        if value.starts_with("./") || value.starts_with("../") {
            return Target::Local(value);
        }
        if let Some(image) = value.strip_prefix("docker://") {
            return Target::Docker(image);
        }
        match value.rsplit_once('@') {
            Some((name, git_ref)) if name.contains('/') && !git_ref.is_empty() => Target::Remote {
                name,
                git_ref,
                git_ref_offset: name.len() + 1,
            },
            _ => Target::Unknown,
        }
    }
}

/// A version as far as the reference spells it: `v4` is `{4, None, None}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: Option<u64>,
    pub patch: Option<u64>,
}

impl Version {
    /// Parses `v4`, `4.1`, `v3.4.0`, `v3-node20`, `releases/v3`; a suffix after the numbers
    /// is ignored. Returns `None` for branches and SHAs.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.rsplit('/').next().unwrap_or(text);
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let mut numbers = text.split('.');
        let major = leading_number(numbers.next()?)?;
        let minor = numbers.next().and_then(leading_number);
        let patch = minor.and(numbers.next().and_then(leading_number));
        Some(Version {
            major,
            minor,
            patch,
        })
    }

    /// An exact release (`v3.3.1`), as opposed to a floating major tag (`v3`).
    pub fn is_exact(&self) -> bool {
        self.minor.is_some()
    }

    /// Compares as semver, missing parts as 0.
    pub fn cmp_release(&self, other: &Version) -> Ordering {
        (self.major, self.minor.unwrap_or(0), self.patch.unwrap_or(0)).cmp(&(
            other.major,
            other.minor.unwrap_or(0),
            other.patch.unwrap_or(0),
        ))
    }
}

fn leading_number(text: &str) -> Option<u64> {
    let digits: &str = &text[..text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len())];
    // A SHA such as `8e5e7e5a...` starts with digits too: only a short number is a version.
    if digits.is_empty() || digits.len() > 6 || digits.len() < text.len() && !is_suffix(text) {
        return None;
    }
    digits.parse().ok()
}

/// What may follow a version number: `-node20`, `-beta`, `+build`.
fn is_suffix(text: &str) -> bool {
    let rest = text.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.starts_with(['-', '+'])
}

/// A full commit SHA (40 hex digits; 64 for SHA-256 repositories).
pub fn is_sha(git_ref: &str) -> bool {
    matches!(git_ref.len(), 40 | 64) && git_ref.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The version a version comment names: the first word that reads as `vX[.Y[.Z]]` or
/// `X.Y[.Z]` in `# v4.1.0`, `# tag=v4`, `# pin @v4.1.0`, `# v4.1.0 (2024-01-01)`.
pub fn version_from_comment(comment: &str) -> Option<Version> {
    comment
        .split(|c: char| c.is_whitespace() || matches!(c, '=' | '@' | ',' | '(' | ')' | ':'))
        .filter(|word| {
            word.starts_with(['v', 'V']) && word[1..].starts_with(|c: char| c.is_ascii_digit())
                || word.contains('.') && word.starts_with(|c: char| c.is_ascii_digit())
        })
        .find_map(Version::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("./.github/actions/x"),
            Target::Local("./.github/actions/x")
        );
        assert_eq!(
            Target::parse("docker://alpine:3"),
            Target::Docker("alpine:3")
        );
        assert_eq!(
            Target::parse("github/codeql-action/init@v3"),
            Target::Remote {
                name: "github/codeql-action/init",
                git_ref: "v3",
                git_ref_offset: 26
            }
        );
        assert_eq!(Target::parse("actions/checkout"), Target::Unknown);
    }

    #[test]
    fn versions() {
        let v = |s| Version::parse(s);
        assert_eq!(v("v4").map(|v| (v.major, v.minor)), Some((4, None)));
        assert_eq!(
            v("v3.4.0").map(|v| (v.major, v.minor, v.patch)),
            Some((3, Some(4), Some(0)))
        );
        assert_eq!(v("v3-node20").map(|v| v.major), Some(3));
        assert_eq!(v("releases/v3").map(|v| v.major), Some(3));
        assert_eq!(v("main"), None);
        assert_eq!(v("8e5e7e5ab8b370d6c329ec480221332ada57f0ab"), None);
        assert!(v("v3.3.9")
            .unwrap()
            .cmp_release(&v("3.4.0").unwrap())
            .is_lt());
        assert!(!v("v3").unwrap().is_exact());
    }

    #[test]
    fn comments_and_shas() {
        assert_eq!(version_from_comment("v2.1.7").map(|v| v.major), Some(2));
        assert_eq!(version_from_comment("tag=v4").map(|v| v.major), Some(4));
        assert_eq!(
            version_from_comment("pin @4.1.0").map(|v| v.minor),
            Some(Some(1))
        );
        assert_eq!(version_from_comment("see issue 12"), None);
        assert!(is_sha("8e5e7e5ab8b370d6c329ec480221332ada57f0ab"));
        assert!(!is_sha("v4"));
    }
}
