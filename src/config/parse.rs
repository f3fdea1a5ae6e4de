//! One input at a time, from its raw text to its value, with `core.getInput` semantics (trimmed,
//! empty means not given); every error names the input as its origin spells it.

use super::stage::Stage;
use crate::agent::protocol::{EnvVar, PullPolicy};
use crate::agent::spec::{self, parse_env_lines, saturating_ms, DeployConfig};
use crate::agent::validate;
use crate::exit::UsageError;
use crate::gha::inputs::{given, parse_bool, parse_duration, parse_list, InputError};
use std::path::PathBuf;
use std::time::Duration;

/// Where inputs came from; only changes how an error names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `INPUT_*` of a workflow step: named like `health-timeout`.
    Action,
    /// Command-line flags: named like `--health-timeout`.
    Cli,
}

impl Origin {
    /// The input as the user named it: `health-timeout` in a workflow, `--health-timeout` on the
    /// command line.
    pub fn name(self, input: &str) -> String {
        match self {
            Origin::Action => input.to_string(),
            Origin::Cli => format!("--{input}"),
        }
    }
}

/// Parses one input at a time, naming it the way its origin does.
pub(super) struct Parser {
    pub(super) origin: Origin,
}

impl Parser {
    pub(super) fn err(
        &self,
        input: &str,
        value: &str,
        problem: &str,
        expected: &str,
    ) -> InputError {
        InputError::new(&self.origin.name(input), value, problem, expected)
    }

    pub(super) fn required<'a>(
        &self,
        input: &str,
        value: &'a Option<String>,
    ) -> Result<&'a str, InputError> {
        given(value).ok_or_else(|| {
            self.err(
                input,
                "",
                "required input not supplied",
                "a non-empty value",
            )
        })
    }

    pub(super) fn app_name(
        &self,
        input: &str,
        value: &Option<String>,
    ) -> Result<String, InputError> {
        let v = self.required(input, value)?;
        validate::app_name(v).map_err(|e| self.relabel(input, v, "not a valid app name", &e))?;
        Ok(v.to_string())
    }

    /// Re-labels an engine validation error with this input's name.
    pub(super) fn relabel(
        &self,
        input: &str,
        value: &str,
        problem: &str,
        e: &UsageError,
    ) -> InputError {
        self.err(input, value, problem, &e.expected())
    }

    pub(super) fn port(
        &self,
        input: &str,
        value: &Option<String>,
        default: Option<u16>,
    ) -> Result<u16, InputError> {
        let v = match (given(value), default) {
            (Some(v), _) => v,
            (None, Some(d)) => return Ok(d),
            (None, None) => self.required(input, value)?,
        };
        match v.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(self.err(input, v, "not a port", "a number from 1 to 65535")),
        }
    }

    pub(super) fn address(&self, value: &Option<String>) -> Result<Option<String>, InputError> {
        let Some(v) = given(value) else {
            return Ok(None);
        };
        validate::public_address(v)
            .map_err(|e| self.relabel("public-address", v, "not an IP address", &e))?;
        Ok(Some(v.to_string()))
    }

    pub(super) fn pr_number(&self, value: &Option<String>) -> Result<Option<u64>, InputError> {
        let Some(v) = given(value) else {
            return Ok(None);
        };
        match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(self.err(
                "pr-number",
                v,
                "not a pull request number",
                "a positive number such as 42",
            )),
        }
    }

    pub(super) fn health_host(&self, value: &Option<String>) -> Result<Option<String>, InputError> {
        let Some(v) = given(value) else {
            return Ok(None);
        };
        validate::health_host(v)
            .map_err(|e| self.relabel("health-host", v, "not a host name", &e))?;
        Ok(Some(v.to_string()))
    }

    pub(super) fn health_path(&self, value: &Option<String>) -> Result<String, InputError> {
        let v = given(value).unwrap_or(spec::DEFAULT_HEALTH_PATH);
        validate::health_path(v)
            .map_err(|e| self.relabel("health-path", v, "not an HTTP path", &e))?;
        Ok(v.to_string())
    }

    pub(super) fn duration(
        &self,
        input: &str,
        value: &Option<String>,
        default: &str,
    ) -> Result<Duration, InputError> {
        let v = given(value).unwrap_or(default);
        parse_duration(&self.origin.name(input), v)
    }

    pub(super) fn lock_wait(&self, value: &Option<String>) -> Result<Duration, InputError> {
        let wait = self.duration("lock-wait", value, "0s")?;
        let max = crate::fleet::fleet_lock::LockArgs::MAX_WAIT;
        if wait > max {
            return Err(InputError::new(
                &self.origin.name("lock-wait"),
                given(value).unwrap_or_default(),
                "too long",
                "at most 1h",
            ));
        }
        Ok(wait)
    }

    pub(super) fn flag(
        &self,
        input: &str,
        value: &Option<String>,
        default: bool,
    ) -> Result<bool, InputError> {
        match given(value) {
            None => Ok(default),
            Some(v) => parse_bool(&self.origin.name(input), v),
        }
    }

    pub(super) fn one_of(
        &self,
        input: &str,
        value: &Option<String>,
        allowed: &[&str],
        default: &str,
    ) -> Result<String, InputError> {
        let v = given(value).unwrap_or(default);
        if allowed.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(self.err(input, v, "not a known value", &allowed.join(", ")))
        }
    }

    pub(super) fn stages(&self, value: &Option<String>) -> Result<Vec<Stage>, InputError> {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        given(value)
            .map(parse_list)
            .unwrap_or_default()
            .iter()
            .map(|item| {
                Stage::ALL
                    .into_iter()
                    .find(|s| s.name() == item)
                    .ok_or_else(|| self.err("skip", item, "not a stage", &names.join(", ")))
            })
            .collect()
    }

    pub(super) fn env(&self, value: &Option<String>) -> Result<Vec<EnvVar>, InputError> {
        let Some(text) = given(value) else {
            return Ok(Vec::new());
        };
        let vars = parse_env_lines(text).map_err(|bad| {
            self.err(
                "env",
                &bad.text,
                "not a K=V line",
                "one NAME=value per line",
            )
        })?;
        for var in &vars {
            validate::env_name(&var.name)
                .map_err(|e| self.relabel("env", &var.name, "not a variable name", &e))?;
        }
        Ok(vars)
    }

    pub(super) fn image(&self, input: &str, value: &str) -> Result<String, InputError> {
        validate::image_ref(input, value)
            .map_err(|e| self.relabel(input, value, "not an image reference", &e))?;
        Ok(value.to_string())
    }

    pub(super) fn env_from_ssm(
        &self,
        value: &Option<String>,
    ) -> Result<Option<String>, InputError> {
        let Some(path) = given(value) else {
            return Ok(None);
        };
        validate::env_from_ssm(path)
            .map_err(|e| self.relabel("env-from-ssm", path, "not an SSM parameter path", &e))?;
        Ok(Some(path.to_string()))
    }

    /// `None` when not given: the host picks the default for the reference.
    pub(super) fn pull(&self, value: &Option<String>) -> Result<Option<PullPolicy>, InputError> {
        let Some(v) = given(value) else {
            return Ok(None);
        };
        PullPolicy::parse(v).map(Some).ok_or_else(|| {
            self.err(
                "pull",
                v,
                "not a pull policy",
                &PullPolicy::NAMES.join(", "),
            )
        })
    }

    pub(super) fn registry_credentials_from_ssm(
        &self,
        value: &Option<String>,
    ) -> Result<Option<String>, InputError> {
        let Some(name) = given(value) else {
            return Ok(None);
        };
        validate::registry_credentials_from_ssm(name).map_err(|e| {
            self.relabel(
                "registry-credentials-from-ssm",
                name,
                "not an SSM parameter name",
                &e,
            )
        })?;
        Ok(Some(name.to_string()))
    }

    /// The limits the host engine puts on values that parse well on their own.
    pub(super) fn engine_limits(&self, d: &DeployConfig) -> Result<(), InputError> {
        let port = d.public_port.to_string();
        validate::public_port(d.public_port)
            .map_err(|e| self.relabel("public-port", &port, "out of range", &e))?;
        let timeout = humantime::format_duration(d.health_timeout).to_string();
        validate::health_timeout_ms(saturating_ms(d.health_timeout))
            .map_err(|e| self.relabel("health-timeout", &timeout, "out of range", &e))?;
        for (input, value, max) in [
            ("verify-window", d.verify_window, validate::MAX_WAIT),
            ("keep-warm", d.keep_warm, validate::MAX_KEEP_WARM),
            ("drain", d.drain, validate::MAX_WAIT),
            ("stop-timeout", d.stop_timeout, validate::MAX_WAIT),
        ] {
            let text = humantime::format_duration(value).to_string();
            validate::at_most(&format!("--{input}"), saturating_ms(value), max)
                .map_err(|e| self.relabel(input, &text, "too long", &e))?;
        }
        Ok(())
    }

    /// One backend line per input line; blank lines are skipped.
    /// The release phase, or `None` without `release-command` (its other inputs then refused
    /// rather than ignored).
    pub(super) fn release(
        &self,
        inputs: &super::RunInputs,
    ) -> Result<Option<super::ReleaseConfig>, InputError> {
        let Some(command) = self.command("release-command", &inputs.release_command)? else {
            for (name, value) in [
                ("release-host", &inputs.release_host),
                ("release-timeout", &inputs.release_timeout),
                ("release-always", &inputs.release_always),
            ] {
                if let Some(v) = given(value) {
                    return Err(self.err(
                        name,
                        v,
                        "given without release-command",
                        "release-command as well, or no value",
                    ));
                }
            }
            return Ok(None);
        };
        let host = given(&inputs.release_host)
            .map(str::trim)
            .map(str::to_string);
        if let Some(h) = host.as_deref().filter(|h| *h != "local") {
            h.parse::<crate::fleet::targets::InstanceId>()
                .map_err(|e| {
                    self.err("release-host", h, "not a host", &format!("{e}, or local"))
                })?;
        }
        Ok(Some(super::ReleaseConfig {
            command,
            host,
            timeout: self.duration(
                "release-timeout",
                &inputs.release_timeout,
                super::DEFAULT_RELEASE_TIMEOUT,
            )?,
            always: self.flag("release-always", &inputs.release_always, false)?,
        }))
    }

    /// An argv input: a JSON array or shell words, never a shell.
    pub(super) fn command(
        &self,
        input: &str,
        value: &Option<String>,
    ) -> Result<Option<Vec<String>>, InputError> {
        given(value)
            .map(|v| {
                crate::agent::options::parse_command(v)
                    .map_err(|e| self.err(input, v, "not a command", &e))
            })
            .transpose()
    }

    /// `pre-switch-command` read as `pre-switch-on` says; `pre-switch-on: host` alone is
    /// refused rather than ignored.
    pub(super) fn pre_switch(
        &self,
        on: &Option<String>,
        command: &Option<String>,
    ) -> Result<Option<crate::agent::spec::PreSwitch>, InputError> {
        use crate::agent::spec::{PreSwitch, PRE_SWITCH_ON};
        let on = given(on);
        if let Some(v) = on.filter(|v| !PRE_SWITCH_ON.contains(v)) {
            return Err(self.err(
                "pre-switch-on",
                v,
                "not a place to run it",
                "container or host",
            ));
        }
        match (given(command), on) {
            (None, Some(v @ "host")) => Err(self.err(
                "pre-switch-on",
                v,
                "given without a pre-switch-command",
                "a pre-switch-command to run there",
            )),
            (None, _) => Ok(None),
            (Some(c), on) => PreSwitch::parse(on.unwrap_or("container"), c)
                .map(Some)
                .map_err(|e| self.err("pre-switch-command", c, "not read", &e)),
        }
    }

    /// The canary (`None` for blue-green), through the one parser of the flags and inputs.
    pub(super) fn canary(
        &self,
        inputs: &super::RunInputs,
    ) -> Result<Option<crate::agent::canary::spec::CanarySpec>, InputError> {
        fn one(v: &Option<String>) -> Option<&str> {
            given(v).map(str::trim)
        }
        let raw = crate::agent::canary::spec::RawCanary {
            strategy: one(&inputs.strategy),
            canary_steps: one(&inputs.canary_steps),
            canary_interval: one(&inputs.canary_interval),
            canary_min_requests: one(&inputs.canary_min_requests),
            canary_max_error_rate: one(&inputs.canary_max_error_rate),
            canary_max_latency_ratio: one(&inputs.canary_max_latency_ratio),
            canary_failure_limit: one(&inputs.canary_failure_limit),
            canary_pause_timeout: one(&inputs.canary_pause_timeout),
            canary_batches: one(&inputs.canary_batches),
        };
        raw.parse()
            .map_err(|e| self.err(e.input, &e.value, "not a valid canary setting", &e.expected))
    }

    /// `alarms`: CloudWatch alarm names, one a line.
    pub(super) fn alarms(&self, value: &Option<String>) -> Result<Vec<String>, InputError> {
        let text = given(value).unwrap_or_default();
        crate::agent::canary::spec::parse_alarms(text.lines()).map_err(|e| {
            self.err(
                "alarms",
                &e.value,
                "not a CloudWatch alarm name",
                &e.expected,
            )
        })
    }

    /// The container options; a list input holds a value a line.
    pub(super) fn container(
        &self,
        inputs: &super::RunInputs,
    ) -> Result<crate::agent::options::ContainerOptions, InputError> {
        use crate::agent::options::{ContainerOptions, RawOptions};
        fn lines(v: &Option<String>) -> Vec<&str> {
            let text = given(v).unwrap_or_default();
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        }
        fn one(v: &Option<String>) -> Option<&str> {
            given(v).map(str::trim)
        }
        let raw = RawOptions {
            volume: lines(&inputs.volume),
            memory: one(&inputs.memory),
            cpus: one(&inputs.cpus),
            command: one(&inputs.command),
            user: one(&inputs.user),
            network: one(&inputs.network),
            add_host: lines(&inputs.add_host),
            label: lines(&inputs.label),
            log_driver: one(&inputs.log_driver),
            log_opt: lines(&inputs.log_opt),
            restart: one(&inputs.restart),
        };
        ContainerOptions::parse(&raw).map_err(|e| {
            self.err(
                e.input,
                &e.value,
                "not a valid container option",
                &e.expected,
            )
        })
    }

    pub(super) fn proxy_lines(&self, value: &Option<String>) -> Result<Vec<String>, InputError> {
        let lines: Vec<String> = given(value)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        for line in &lines {
            validate::proxy_line(line).map_err(|e| {
                self.relabel("proxy-lines", line, "not a line of HAProxy config", &e)
            })?;
        }
        Ok(lines)
    }

    pub(super) fn relative_dir(
        &self,
        input: &str,
        value: &Option<String>,
        default: &str,
    ) -> Result<PathBuf, InputError> {
        let v = given(value).unwrap_or(default);
        let path = PathBuf::from(v);
        let escapes = path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)));
        if escapes {
            Err(self.err(
                input,
                v,
                "not a path inside the workspace",
                "a relative path without '..', such as bluegreen-report",
            ))
        } else {
            Ok(path)
        }
    }
}
