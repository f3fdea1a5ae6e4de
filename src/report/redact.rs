//! The one place secrets are removed. Every sink writes through a [`Redactor`]: the log,
//! `metrics.json`, the summary, the PR comment, the deployment's description and the outputs.
//!
//! The runner masks `::add-mask::` values in the job log and the summary, but not in files we
//! leave in the workspace (uploaded as an artifact) nor in what we send to the API, so masking
//! alone is not enough: we replace the values ourselves, and also emit the masks.

use std::io::Write;

/// Environment variables whose values are always secret.
pub const SECRET_ENV_VARS: &[&str] = &[
    "INPUT_GITHUB-TOKEN",
    "INPUT_TOKEN",
    "GITHUB_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/// Values shorter than this are not redacted: replacing every `a` or `1` in a report would
/// destroy it while protecting nothing (the runner's masking has the same floor in practice).
pub const MIN_SECRET_LEN: usize = 4;

/// What a secret is replaced with.
pub const REDACTED: &str = "***";

/// Replaces known secret values in any text a sink produces.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for the process environment (see [`SECRET_ENV_VARS`]).
    pub fn from_env() -> Redactor {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// A redactor for the secret variables found through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Redactor {
        let mut r = Redactor::default();
        for name in SECRET_ENV_VARS {
            if let Some(v) = get(name) {
                r.add(v);
            }
        }
        r
    }

    /// Marks one more value as secret (an input marked secret, a value read from SSM).
    pub fn add(&mut self, value: impl Into<String>) {
        let value = value.into();
        let value = value.trim();
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        // A multi-line secret is also redacted line by line: sinks may wrap or split it.
        let mut forms = vec![value.to_string()];
        forms.extend(
            value
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= MIN_SECRET_LEN)
                .map(str::to_string),
        );
        // JSON sinks escape quotes, backslashes and newlines; redact that spelling too.
        let escaped: Vec<String> = forms.iter().map(|f| json_escaped(f)).collect();
        forms.extend(escaped);
        for f in forms {
            if !self.secrets.contains(&f) {
                self.secrets.push(f);
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The text with every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts every string (keys too) inside a JSON value, for request bodies.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&k), v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Prints one `::add-mask::` command per secret, so the runner masks the job log too.
    pub fn emit_masks(&self, out: &mut impl Write) -> std::io::Result<()> {
        for s in &self.secrets {
            writeln!(out, "{}", crate::gha::commands::add_mask(s))?;
        }
        Ok(())
    }
}

/// Whether an environment variable's name says it holds a secret: it contains `TOKEN`,
/// `SECRET`, `PASSWORD` or `PASSWD`, or ends in `_KEY` (case-insensitive).
pub fn secret_like_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD"]
        .iter()
        .any(|w| upper.contains(w))
        || upper.ends_with("_KEY")
}

/// The warning for an `env` entry whose name looks secret: `env` values travel in the SSM
/// command's parameters, where anyone who may read the command history sees them.
pub fn env_secret_warning(input: &str, name: &str) -> String {
    format!(
        "{input} {name}: the name looks like a secret, but `env` values are visible in the SSM \
         command history (and the container's inspect output); put it in SSM Parameter Store \
         and name its path with env-from-ssm (--env-from-ssm) instead"
    )
}

/// The job-log masks (`::add-mask::`) for the values of the app's `env`: the runner then hides
/// them in every later log line. They are masked, not redacted from the report: `env` is for
/// plain configuration, and a report with every `production` replaced would be unreadable.
pub fn env_masks<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    values
        .into_iter()
        .map(str::trim)
        .filter(|v| v.len() >= MIN_SECRET_LEN)
        .map(crate::gha::commands::add_mask)
        .collect()
}

fn json_escaped(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_spelling_of_a_secret() {
        let mut r = Redactor::default();
        r.add("s3cr\"et-value");
        r.add("ab"); // too short to redact
        let json = serde_json::json!({ "detail": "token s3cr\"et-value here" }).to_string();
        assert!(!r.redact(&json).contains("et-value"), "{}", r.redact(&json));
        assert_eq!(r.redact("x s3cr\"et-value y ab"), "x *** y ab");
    }

    #[test]
    fn reads_the_secret_variables() {
        let r = Redactor::from_lookup(|k| {
            (k == "AWS_SECRET_ACCESS_KEY").then(|| "wJalrXUtnFEMI".into())
        });
        assert_eq!(r.redact("key=wJalrXUtnFEMI"), "key=***");
        let mut masks = Vec::new();
        r.emit_masks(&mut masks).unwrap();
        assert_eq!(
            String::from_utf8(masks).unwrap(),
            "::add-mask::wJalrXUtnFEMI\n"
        );
    }

    #[test]
    fn secret_looking_env_names_are_spotted() {
        for name in [
            "GITHUB_TOKEN",
            "db_password",
            "API_SECRET_X",
            "STRIPE_KEY",
            "PASSWD",
        ] {
            assert!(secret_like_name(name), "{name}");
        }
        for name in ["DATABASE_URL", "KEYCLOAK_URL", "PORT", "MONKEY"] {
            assert!(!secret_like_name(name), "{name}");
        }
        let w = env_secret_warning("env", "STRIPE_KEY");
        assert!(
            w.contains("STRIPE_KEY")
                && w.contains("env-from-ssm")
                && w.contains("SSM command history")
        );
    }

    #[test]
    fn env_values_get_job_log_masks() {
        assert_eq!(
            env_masks(["s3cr3t-value", "on", " padded-value "]),
            vec!["::add-mask::s3cr3t-value", "::add-mask::padded-value"]
        );
    }
}
