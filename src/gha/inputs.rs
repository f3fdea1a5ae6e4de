//! Inputs: the runner exports each declared input as `INPUT_<NAME>` with the name upper-cased
//! and only spaces turned into `_`, so hyphens stay (`fail-on` arrives as `INPUT_FAIL-ON`).
//! Every declared input is present; one the workflow left out is `""`.
//!
//! envy lower-cases each key after stripping the prefix and matches it against serde field
//! names without any `-`/`_` conversion. So a struct read with [`read_raw_inputs`] must carry
//! `#[serde(rename_all = "kebab-case")]` and only `Option<String>` fields: without the rename a
//! field such as `fail_on` silently stays `None`. Typed parsing (booleans, durations, lists)
//! happens afterwards, in one place, with errors that name the input.

use serde::de::DeserializeOwned;
use std::time::Duration;

/// An input the user gave that we cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("input `{name}`: {problem} (got {value:?}; expected {expected})")]
pub struct InputError {
    pub name: String,
    pub value: String,
    pub problem: String,
    pub expected: String,
}

impl InputError {
    pub fn new(name: &str, value: &str, problem: &str, expected: &str) -> Self {
        InputError {
            name: name.to_string(),
            value: value.to_string(),
            problem: problem.to_string(),
            expected: expected.to_string(),
        }
    }
}

/// Reads `INPUT_*` into a raw struct (see the module docs for the rules it must follow).
pub fn read_raw_inputs<T: DeserializeOwned>() -> anyhow::Result<T> {
    read_raw_inputs_from(std::env::vars())
}

/// Same as [`read_raw_inputs`] from an explicit list of variables.
pub fn read_raw_inputs_from<T: DeserializeOwned>(
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<T> {
    envy::prefixed("INPUT_")
        .from_iter(vars)
        .map_err(|e| anyhow::anyhow!("reading action inputs: {e}"))
}

/// Trims an input and treats empty as "not given", like `core.getInput`.
pub fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Appends `--NAME VALUE` for each input given, so a command's own flags parse the inputs with
/// the same rules and errors as on the command line. A list input (one item per line or comma
/// separated) becomes one comma-separated value, as the flags take it.
pub fn push_given(argv: &mut Vec<String>, fields: &[(&str, &Option<String>)]) {
    for (name, value) in fields {
        if let Some(v) = given(value) {
            // One `--name=value` argument, so a value starting with `-` stays a value.
            argv.push(format!("--{name}={}", parse_list(v).join(",")));
        }
    }
}

/// One input read through a flag of the command that owns it: `(flag, input, value)`.
pub type FlagInput<'a> = (&'a str, &'a str, &'a Option<String>);

/// Parses inputs with the very flags of the command that owns them (so both accept the same
/// values), and turns a value those flags refuse into an [`InputError`] naming the input the
/// way `name_of` spells it (`max-concurrency` in a workflow, `--max-concurrency` on the
/// command line) with the value as given.
pub fn parse_with_flags<P: clap::Parser>(
    command: &str,
    fixed: &[String],
    fields: &[FlagInput<'_>],
    name_of: impl Fn(&str) -> String,
) -> Result<P, InputError> {
    let mut argv = vec![command.to_string()];
    argv.extend(fixed.iter().cloned());
    let by_flag: Vec<(&str, &Option<String>)> = fields.iter().map(|(f, _, v)| (*f, *v)).collect();
    push_given(&mut argv, &by_flag);
    P::try_parse_from(&argv).map_err(|e| refused_input(&e, fields, &name_of))
}

/// The input behind a clap error, with what the flag expected.
fn refused_input(
    e: &clap::Error,
    fields: &[FlagInput<'_>],
    name_of: &impl Fn(&str) -> String,
) -> InputError {
    use clap::error::{ContextKind, ContextValue};
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg
            .trim_start_matches("--")
            .split([' ', '='])
            .next()
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    let Some((_, input, value)) = fields.iter().find(|(f, _, _)| *f == flag) else {
        return InputError::new(&name_of("inputs"), "", &clap_reason(e), "see --help");
    };
    let value = given(value).unwrap_or_default();
    let expected = match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(valid)) => format!("one of {}", valid.join(", ")),
        _ => {
            let reason = clap_reason(e);
            match reason.split_once("expected ") {
                Some((_, expected)) => expected.to_string(),
                None => reason
                    .rsplit_once(": ")
                    .map_or(reason.clone(), |(_, why)| why.to_string()),
            }
        }
    };
    InputError::new(&name_of(input), value, "not accepted", &expected)
}

/// The first line of a clap error, without its `error: ` prefix.
pub fn clap_reason(e: &clap::Error) -> String {
    let text = e.to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}

#[cfg(test)]
mod flag_tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    struct Limits {
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        max_hosts: Option<u16>,
        #[arg(long, value_parser = ["fast", "safe"])]
        mode: Option<String>,
    }

    #[test]
    fn a_refused_value_names_the_input_and_keeps_the_value_as_given() {
        let hosts = Some("lots".to_string());
        let mode = None;
        let fields: [FlagInput; 2] = [("max-hosts", "hosts", &hosts), ("mode", "mode", &mode)];
        let e = parse_with_flags::<Limits>("x", &[], &fields, |i| i.to_string()).unwrap_err();
        assert_eq!((e.name.as_str(), e.value.as_str()), ("hosts", "lots"));
        let mode = Some("reckless".to_string());
        let fields: [FlagInput; 1] = [("mode", "mode", &mode)];
        let e = parse_with_flags::<Limits>("x", &[], &fields, |i| format!("--{i}")).unwrap_err();
        assert_eq!(e.name, "--mode");
        assert_eq!(e.expected, "one of fast, safe");
        let negative = Some("-1".to_string());
        let fields: [FlagInput; 1] = [("max-hosts", "hosts", &negative)];
        let e = parse_with_flags::<Limits>("x", &[], &fields, |i| i.to_string()).unwrap_err();
        assert_eq!((e.name.as_str(), e.value.as_str()), ("hosts", "-1"), "{e}");
        let ok = Some("3".to_string());
        let fields: [FlagInput; 1] = [("max-hosts", "hosts", &ok)];
        let parsed = parse_with_flags::<Limits>("x", &[], &fields, |i| i.to_string()).unwrap();
        assert_eq!(parsed.max_hosts, Some(3));
    }
}

/// A required input.
pub fn required<'a>(name: &str, value: &'a Option<String>) -> Result<&'a str, InputError> {
    given(value).ok_or_else(|| {
        InputError::new(name, "", "required input not supplied", "a non-empty value")
    })
}

/// YAML 1.2 core booleans, as `core.getBooleanInput` accepts them.
pub fn parse_bool(name: &str, value: &str) -> Result<bool, InputError> {
    match value.trim() {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        other => Err(InputError::new(
            name,
            other,
            "not a boolean",
            "true or false",
        )),
    }
}

/// A duration in the grammar of [`crate::duration`] (`30s`, `1m30s`, `500ms`, or a bare number
/// of seconds).
pub fn parse_duration(name: &str, value: &str) -> Result<Duration, InputError> {
    crate::duration::parse(value).map_err(|e| {
        InputError::new(
            name,
            value.trim(),
            &format!("not a duration ({e})"),
            crate::duration::EXPECTED,
        )
    })
}

/// A list given one item per line or separated by commas; empty items dropped.
pub fn parse_list(value: &str) -> Vec<String> {
    value
        .split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, Default)]
    #[serde(rename_all = "kebab-case")]
    struct Raw {
        fail_on: Option<String>,
        dry_run: Option<String>,
        paths: Option<String>,
    }

    #[derive(Deserialize, Debug, Default)]
    struct RawWithoutRename {
        fail_on: Option<String>,
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn hyphenated_inputs_reach_kebab_case_fields() {
        let raw: Raw = read_raw_inputs_from(vars(&[
            ("INPUT_FAIL-ON", "warning"),
            ("INPUT_DRY-RUN", ""),
            ("INPUT_PATHS", "a\nb, c"),
            ("PATH", "/usr/bin"),
        ]))
        .unwrap();
        assert_eq!(given(&raw.fail_on), Some("warning"));
        assert_eq!(given(&raw.dry_run), None, "empty input means not given");
        assert_eq!(parse_list(raw.paths.as_deref().unwrap()), ["a", "b", "c"]);
    }

    #[test]
    fn without_kebab_case_the_field_is_silently_missed() {
        // The trap the module docs describe: this is why every raw struct is kebab-case.
        let raw: RawWithoutRename =
            read_raw_inputs_from(vars(&[("INPUT_FAIL-ON", "warning")])).unwrap();
        assert_eq!(raw.fail_on, None);
    }

    #[test]
    fn typed_parsing_names_the_input() {
        let err = parse_bool("dry-run", "yes").unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `dry-run`: not a boolean (got \"yes\"; expected true or false)"
        );
        assert!(parse_bool("dry-run", "TRUE").unwrap());
        assert_eq!(
            parse_duration("health-timeout", "90").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration("health-timeout", "1m30s").unwrap(),
            Duration::from_secs(90)
        );
        let err = parse_duration("health-timeout", "soon").unwrap_err();
        assert_eq!(err.name, "health-timeout");
        assert!(required("app", &Some("  ".into())).is_err());
    }
}
