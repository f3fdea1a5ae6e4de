//! The action's input defaults, read from the embedded `action.yml` only when help, the
//! completions or the man pages are rendered.

/// `action.yml`, embedded: the one place the inputs' defaults are written.
const ACTION_YML: &str = include_str!("../../action.yml");

/// `(input, default)` for every input of `action.yml` with a literal default (not an
/// expression such as `${{ github.token }}`).
pub fn action_input_defaults() -> Vec<(String, String)> {
    use saphyr::{LoadableYamlNode, Yaml};
    let Ok(docs) = Yaml::load_from_str(ACTION_YML) else {
        return Vec::new();
    };
    let Some(inputs) = docs.first().and_then(|d| d["inputs"].as_mapping()) else {
        return Vec::new();
    };
    inputs
        .iter()
        .filter_map(|(name, input)| {
            let default = input.as_mapping()?.iter().find_map(|(k, v)| {
                (k.as_str() == Some("default")).then(|| v.as_str().map(str::to_string))?
            })?;
            let name = name.as_str()?.to_string();
            (!default.is_empty() && !default.contains("${{")).then_some((name, default))
        })
        .collect()
}

/// `bluegreen run`'s flags with the inputs' defaults in their help. The flags themselves stay
/// without a value of their own, so a flag not given never hides an `INPUT_*` variable.
pub fn with_input_defaults(mut run: clap::Command) -> clap::Command {
    for (input, default) in action_input_defaults() {
        let Some(id) = run
            .get_arguments()
            .find(|a| a.get_long() == Some(input.as_str()))
            .map(|a| a.get_id().clone())
        else {
            continue;
        };
        run = run.mut_arg(id, |arg| {
            let suffix = format!(" [default: {default}]");
            let help = format!(
                "{}{suffix}",
                arg.get_help().map(ToString::to_string).unwrap_or_default()
            );
            let long = arg.get_long_help().map(|h| format!("{h}{suffix}"));
            let arg = arg.help(help);
            match long {
                Some(long) => arg.long_help(long),
                None => arg,
            }
        });
    }
    run
}
