//! The app's container options: volumes, memory and CPU limits, the command, the user, a
//! Docker network, extra hosts, labels, the log driver and the restart policy. One model,
//! parsed once from the flags or the inputs (each parser says what it expected), checked
//! again by the agent before any change, applied to both colors, and part of the version
//! (`spec_hash`). No raw docker arguments: every option is one of these.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What every container of the app runs with, beyond its image and environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerOptions {
    /// `--volume SRC:DST[:ro]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// `--memory`, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<i64>,
    /// `--cpus`, in billionths of a CPU (Docker's `NanoCpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// `--command`: the argv run instead of the image's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `--user NAME|UID[:GROUP|GID]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `--network`: a user-defined Docker network on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `--add-host NAME:IP`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_hosts: Vec<String>,
    /// `--label KEY=VALUE`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `--log-driver`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<String>,
    /// `--log-opt KEY=VALUE`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_opts: BTreeMap<String, String>,
    /// `--restart no|unless-stopped`; `None` is `unless-stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
}

/// A named volume or an absolute host path, mounted at an absolute path in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
}

impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.target)?;
        if self.read_only {
            f.write_str(":ro")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    No,
    UnlessStopped,
}

/// Docker's smallest memory limit.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// Most CPUs a limit may name.
pub const MAX_CPUS: f64 = 1024.0;

/// The label prefix the engine's own state uses; an app's label may not take it.
pub const RESERVED_LABEL_PREFIX: &str = "bluegreen.";

/// `SRC:DST[:ro|rw]`: SRC a named volume or an absolute host path, DST an absolute path.
pub fn parse_volume(value: &str) -> Result<Volume, String> {
    const EXPECTED: &str = "expected SRC:DST[:ro], SRC a named volume or an absolute host path, DST an absolute path in the container";
    let parts: Vec<&str> = value.trim().split(':').collect();
    let (source, target, read_only) = match parts.as_slice() {
        [s, t] => (*s, *t, false),
        [s, t, "ro"] => (*s, *t, true),
        [s, t, "rw"] => (*s, *t, false),
        _ => return Err(EXPECTED.into()),
    };
    let named = is_name(source);
    let path_ok = |p: &str| p.starts_with('/') && p != "/" && !p.split('/').any(|c| c == "..");
    if !(named || path_ok(source)) || !path_ok(target) {
        return Err(EXPECTED.into());
    }
    Ok(Volume {
        source: source.to_string(),
        target: target.to_string(),
        read_only,
    })
}

/// `512m`, `1g`, `1048576` (bytes), `64k`: at least 6 MiB.
pub fn parse_memory(value: &str) -> Result<i64, String> {
    let v = value.trim().to_ascii_lowercase();
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v.as_str(), ""),
    };
    let scale: i64 = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err("expected a size such as 512m or 2g (b, k, m or g)".into()),
    };
    let bytes = digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or("expected a size such as 512m or 2g (b, k, m or g)")?;
    if bytes < MIN_MEMORY {
        return Err("expected at least 6m (Docker's smallest memory limit)".into());
    }
    Ok(bytes)
}

/// `0.5`, `2`: more than 0 and at most 1024; as billionths of a CPU.
pub fn parse_cpus(value: &str) -> Result<i64, String> {
    match value.trim().parse::<f64>() {
        Ok(c) if c > 0.0 && c <= MAX_CPUS => Ok((c * 1e9).round() as i64),
        _ => Err("expected a number of CPUs such as 0.5 or 2 (more than 0, at most 1024)".into()),
    }
}

/// A JSON array of strings (`["bin/server", "--port", "80"]`) or shell words
/// (`bin/server --port 80`, quotes group words); never run through a shell.
pub fn parse_command(value: &str) -> Result<Vec<String>, String> {
    let v = value.trim();
    let argv: Vec<String> = if v.starts_with('[') {
        serde_json::from_str(v)
            .map_err(|e| format!("expected a JSON array of strings ({e}), or shell words"))?
    } else {
        shell_words::split(v).map_err(|e| format!("expected shell words ({e}) or a JSON array"))?
    };
    if argv.is_empty() || argv[0].is_empty() {
        return Err("expected a command: a JSON array of strings or shell words".into());
    }
    if argv.iter().any(|a| a.contains('\0')) {
        return Err("expected no NUL byte in the command".into());
    }
    Ok(argv)
}

/// `NAME`, `UID`, `NAME:GROUP`, `UID:GID`.
pub fn parse_user(value: &str) -> Result<String, String> {
    let v = value.trim();
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let ok = match v.split_once(':') {
        Some((u, g)) => part(u) && part(g),
        None => part(v),
    };
    if ok {
        Ok(v.to_string())
    } else {
        Err("expected NAME, UID, NAME:GROUP or UID:GID".into())
    }
}

/// A user-defined Docker network; `host`, `none` and `container:...` would take the app off
/// the loopback port the proxy reaches it on.
pub fn parse_network(value: &str) -> Result<String, String> {
    let v = value.trim();
    if matches!(v, "host" | "none") || !is_name(v) {
        return Err("expected the name of a Docker network on the host (bridge or a user-defined one; not host or none)".into());
    }
    Ok(v.to_string())
}

/// `NAME:IP`, as Docker's `--add-host`.
pub fn parse_add_host(value: &str) -> Result<String, String> {
    const EXPECTED: &str = "expected NAME:IP, such as db.internal:10.0.0.5";
    let v = value.trim();
    let (name, ip) = v.split_once(':').ok_or(EXPECTED)?;
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !name_ok || ip.parse::<std::net::IpAddr>().is_err() {
        return Err(EXPECTED.into());
    }
    Ok(v.to_string())
}

/// `KEY=VALUE`; a label key may not start with `bluegreen.` (the engine's state).
pub fn parse_label(value: &str) -> Result<(String, String), String> {
    let (k, v) = key_value(value)?;
    if k.starts_with(RESERVED_LABEL_PREFIX) {
        return Err(format!(
            "expected a key outside {RESERVED_LABEL_PREFIX}* (the engine's own labels)"
        ));
    }
    Ok((k, v))
}

/// `KEY=VALUE` of a log driver option.
pub fn parse_log_opt(value: &str) -> Result<(String, String), String> {
    key_value(value)
}

/// A log driver name (`json-file`, `local`, `awslogs`, a plugin `name:tag`).
pub fn parse_log_driver(value: &str) -> Result<String, String> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':'));
    if ok {
        Ok(v.to_string())
    } else {
        Err("expected a Docker log driver name such as json-file, local or awslogs".into())
    }
}

/// `no` or `unless-stopped`.
pub fn parse_restart(value: &str) -> Result<Restart, String> {
    match value.trim() {
        "no" => Ok(Restart::No),
        "unless-stopped" => Ok(Restart::UnlessStopped),
        _ => Err("expected no or unless-stopped".into()),
    }
}

fn key_value(value: &str) -> Result<(String, String), String> {
    match value.trim().split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err("expected KEY=VALUE".into()),
    }
}

/// A Docker object name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl ContainerOptions {
    pub fn is_default(&self) -> bool {
        *self == ContainerOptions::default()
    }

    /// Parses the options as given (a flag repeated, or the lines of an input): the first
    /// value that does not parse is named with its input and what was expected.
    pub fn parse(raw: &RawOptions<'_>) -> Result<ContainerOptions, OptionError> {
        fn each<T>(
            input: &'static str,
            values: &[&str],
            parse: impl Fn(&str) -> Result<T, String>,
        ) -> Result<Vec<T>, OptionError> {
            values
                .iter()
                .map(|v| parse(v).map_err(|expected| OptionError::new(input, v, expected)))
                .collect()
        }
        fn one<T>(
            input: &'static str,
            value: Option<&str>,
            parse: impl Fn(&str) -> Result<T, String>,
        ) -> Result<Option<T>, OptionError> {
            value
                .map(|v| parse(v).map_err(|expected| OptionError::new(input, v, expected)))
                .transpose()
        }
        Ok(ContainerOptions {
            volumes: each("volume", &raw.volume, parse_volume)?,
            memory_bytes: one("memory", raw.memory, parse_memory)?,
            nano_cpus: one("cpus", raw.cpus, parse_cpus)?,
            command: one("command", raw.command, parse_command)?,
            user: one("user", raw.user, parse_user)?,
            network: one("network", raw.network, parse_network)?,
            add_hosts: each("add-host", &raw.add_host, parse_add_host)?,
            labels: each("label", &raw.label, parse_label)?
                .into_iter()
                .collect(),
            log_driver: one("log-driver", raw.log_driver, parse_log_driver)?,
            log_opts: each("log-opt", &raw.log_opt, parse_log_opt)?
                .into_iter()
                .collect(),
            restart: one("restart", raw.restart, parse_restart)?,
        })
    }

    /// Checks what a request carries as [`ContainerOptions::parse`] would (the agent trusts
    /// no caller), by parsing it again from its written form.
    pub fn check(&self) -> Result<(), OptionError> {
        let volumes: Vec<String> = self.volumes.iter().map(ToString::to_string).collect();
        let memory = self.memory_bytes.map(|m| m.to_string());
        let cpus = self.nano_cpus.map(|n| (n as f64 / 1e9).to_string());
        let command = self
            .command
            .as_ref()
            .map(|argv| serde_json::to_string(argv).unwrap_or_default());
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let log_opts: Vec<String> = self
            .log_opts
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let restart = self.restart.map(|r| match r {
            Restart::No => "no",
            Restart::UnlessStopped => "unless-stopped",
        });
        let raw = RawOptions {
            volume: strs(&volumes),
            memory: memory.as_deref(),
            cpus: cpus.as_deref(),
            command: command.as_deref(),
            user: self.user.as_deref(),
            network: self.network.as_deref(),
            add_host: strs(&self.add_hosts),
            label: strs(&labels),
            log_driver: self.log_driver.as_deref(),
            log_opt: strs(&log_opts),
            restart,
        };
        Self::parse(&raw).map(|_| ())
    }
}

/// The options as given, one string per value; the field names are the inputs' (`add_host`
/// is the input `add-host` and the flag `--add-host`).
#[derive(Debug, Clone, Default)]
pub struct RawOptions<'a> {
    pub volume: Vec<&'a str>,
    pub memory: Option<&'a str>,
    pub cpus: Option<&'a str>,
    pub command: Option<&'a str>,
    pub user: Option<&'a str>,
    pub network: Option<&'a str>,
    pub add_host: Vec<&'a str>,
    pub label: Vec<&'a str>,
    pub log_driver: Option<&'a str>,
    pub log_opt: Vec<&'a str>,
    pub restart: Option<&'a str>,
}

/// The values of a repeated flag, as [`RawOptions`] takes them.
pub fn strs(values: &[String]) -> Vec<&str> {
    values.iter().map(String::as_str).collect()
}

/// An option that does not parse: its input (without dashes), the value and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    pub input: &'static str,
    pub value: String,
    pub expected: String,
}

impl OptionError {
    fn new(input: &'static str, value: &str, expected: String) -> OptionError {
        OptionError {
            input,
            value: value.to_string(),
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_named_or_absolute_and_land_on_an_absolute_path() {
        let v = parse_volume("shop-data:/data").unwrap();
        assert_eq!(
            (v.source.as_str(), v.target.as_str(), v.read_only),
            ("shop-data", "/data", false)
        );
        assert!(parse_volume("/srv/conf:/etc/app:ro").unwrap().read_only);
        assert_eq!(
            parse_volume("/srv/conf:/etc/app:ro").unwrap().to_string(),
            "/srv/conf:/etc/app:ro"
        );
        for bad in [
            "data",
            "./rel:/data",
            "vol:data",
            "vol:/",
            "/a/../etc:/x",
            "v:/d:rx",
            "-v:/d",
            "a:b:c:d",
        ] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_cpus_and_restart_parse_or_say_what_was_expected() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("2G").unwrap(), 2 << 30);
        assert_eq!(parse_memory("8388608").unwrap(), 8 << 20);
        assert!(parse_memory("1m").unwrap_err().contains("at least 6m"));
        assert!(parse_memory("12x").is_err() && parse_memory("").is_err());
        assert!(
            parse_memory("99999999999999g").is_err(),
            "overflow is refused"
        );
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert!(
            parse_cpus("0").is_err() && parse_cpus("-1").is_err() && parse_cpus("NaN").is_err()
        );
        assert_eq!(parse_restart("no").unwrap(), Restart::No);
        assert!(parse_restart("always")
            .unwrap_err()
            .contains("no or unless-stopped"));
    }

    #[test]
    fn a_command_is_argv_from_json_or_shell_words_never_a_shell() {
        assert_eq!(
            parse_command(r#"["bin/server", "--name", "a b"]"#).unwrap(),
            ["bin/server", "--name", "a b"]
        );
        assert_eq!(
            parse_command("bin/server --name 'a b' $HOME").unwrap(),
            ["bin/server", "--name", "a b", "$HOME"]
        );
        assert!(parse_command("").is_err() && parse_command("[]").is_err());
        assert!(parse_command("'unclosed").is_err() && parse_command("[1, 2]").is_err());
    }

    #[test]
    fn names_hosts_and_labels_are_checked() {
        assert!(parse_network("backend").is_ok());
        for bad in ["host", "none", "container:db", ""] {
            assert!(parse_network(bad).is_err(), "{bad}");
        }
        assert!(parse_add_host("db.internal:10.0.0.5").is_ok());
        assert!(parse_add_host("v6:::1").is_ok());
        assert!(parse_add_host("db").is_err() && parse_add_host("db:nowhere").is_err());
        assert!(parse_label("team=shop").is_ok());
        assert!(parse_label("bluegreen.color=blue")
            .unwrap_err()
            .contains("bluegreen."));
        assert!(parse_user("1000:1000").is_ok() && parse_user("app").is_ok());
        assert!(parse_user("a b").is_err() && parse_user(":1").is_err());
    }

    #[test]
    fn the_agent_refuses_what_the_parsers_would() {
        assert!(ContainerOptions::default().check().is_ok());
        let raw = RawOptions {
            volume: vec!["data:/data", "/srv/conf:/etc/app:ro"],
            memory: Some("256m"),
            cpus: Some("1.5"),
            command: Some("serve --port 80"),
            user: Some("1000:1000"),
            network: Some("backend"),
            add_host: vec!["db:10.0.0.5"],
            label: vec!["team=shop"],
            log_driver: Some("local"),
            log_opt: vec!["max-size=10m"],
            restart: Some("no"),
        };
        let parsed = ContainerOptions::parse(&raw).unwrap();
        assert_eq!(parsed.check(), Ok(()), "what parses checks again");
        let mut o = ContainerOptions {
            memory_bytes: Some(1024),
            ..Default::default()
        };
        assert_eq!(o.check().unwrap_err().input, "memory");
        o.memory_bytes = None;
        o.labels.insert("bluegreen.role".into(), "x".into());
        assert_eq!(o.check().unwrap_err().input, "label");
        o.labels.clear();
        o.network = Some("host".into());
        let e = o.check().unwrap_err();
        assert_eq!((e.input, e.value.as_str()), ("network", "host"));
        let bad = RawOptions {
            volume: vec!["ok:/ok", "rel:data"],
            ..Default::default()
        };
        let e = ContainerOptions::parse(&bad).unwrap_err();
        assert_eq!((e.input, e.value.as_str()), ("volume", "rel:data"));
    }
}
