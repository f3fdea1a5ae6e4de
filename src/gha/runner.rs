//! What the runner tells a container action through its environment.

use std::path::PathBuf;

/// The runner-provided environment, read once.
#[derive(Debug, Clone, Default)]
pub struct RunnerEnv {
    /// `GITHUB_ACTIONS=true`: we are a step in a workflow.
    pub in_actions: bool,
    pub workspace: Option<PathBuf>,
    pub event_name: Option<String>,
    pub event_path: Option<PathBuf>,
    pub repository: Option<String>,
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub server_url: String,
    pub api_url: String,
    /// `RUNNER_DEBUG=1`: step debug logging is on.
    pub debug: bool,
}

impl RunnerEnv {
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads from any lookup function, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |k: &str| get(k).filter(|v| !v.is_empty());
        RunnerEnv {
            in_actions: get("GITHUB_ACTIONS").as_deref() == Some("true"),
            workspace: non_empty("GITHUB_WORKSPACE").map(PathBuf::from),
            event_name: non_empty("GITHUB_EVENT_NAME"),
            event_path: non_empty("GITHUB_EVENT_PATH").map(PathBuf::from),
            repository: non_empty("GITHUB_REPOSITORY"),
            sha: non_empty("GITHUB_SHA"),
            git_ref: non_empty("GITHUB_REF"),
            run_id: non_empty("GITHUB_RUN_ID"),
            run_attempt: non_empty("GITHUB_RUN_ATTEMPT"),
            server_url: non_empty("GITHUB_SERVER_URL")
                .unwrap_or_else(|| "https://github.com".to_string()),
            api_url: non_empty("GITHUB_API_URL")
                .unwrap_or_else(|| "https://api.github.com".to_string()),
            debug: get("RUNNER_DEBUG").as_deref() == Some("1"),
        }
    }

    /// The URL of this workflow run, for log links.
    pub fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url.trim_end_matches('/'),
            self.repository.as_ref()?,
            self.run_id.as_ref()?
        ))
    }

    /// The event payload (`GITHUB_EVENT_PATH`), if any and readable.
    pub fn event(&self) -> anyhow::Result<Option<serde_json::Value>> {
        use anyhow::Context;
        let Some(path) = &self.event_path else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading GITHUB_EVENT_PATH {}", path.display()))?;
        let value = serde_json::from_str(&text)
            .with_context(|| format!("parsing GITHUB_EVENT_PATH {} as JSON", path.display()))?;
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reads_runner_variables_and_builds_run_url() {
        let vars: HashMap<&str, &str> = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_SERVER_URL", "https://ghe.example.com/"),
            ("GITHUB_API_URL", ""),
        ]
        .into_iter()
        .collect();
        let env = RunnerEnv::from_lookup(|k| vars.get(k).map(|v| v.to_string()));
        assert!(env.in_actions);
        assert_eq!(env.api_url, "https://api.github.com");
        assert_eq!(
            env.run_url().as_deref(),
            Some("https://ghe.example.com/acme/shop/actions/runs/42")
        );
    }
}
