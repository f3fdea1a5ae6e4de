//! `bluegreen completions SHELL` and `bluegreen man`: generated from the same clap definitions
//! as `--help`, and usable by the shell and by man.

use std::process::Command;

fn bluegreen(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(args)
        .output()
        .unwrap()
}

/// Loads the bash completion into a real bash and asks it to complete a command line, as the
/// shell does on TAB: the completion function fills COMPREPLY from COMP_WORDS.
fn bash_complete(line: &[&str]) -> Vec<String> {
    let script = bluegreen(&["completions", "bash"]);
    assert!(script.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bluegreen.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    let words = line
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let probe = format!(
        "source '{}'; COMP_WORDS=({words}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; \
         _bluegreen bluegreen '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display(),
        line.len() - 1,
        line.join(" "),
        line[line.len() - 1],
        line[line.len() - 2],
    );
    let out = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_commands_and_their_flags() {
    let commands = bash_complete(&["bluegreen", "ro"]);
    assert_eq!(commands, vec!["rollback".to_string()], "{commands:?}");
    let flags = bash_complete(&["bluegreen", "deploy", "--health-t"]);
    assert!(flags.contains(&"--health-timeout".to_string()), "{flags:?}");
    // The hidden host agent is not offered.
    let all = bash_complete(&["bluegreen", ""]);
    assert!(all.contains(&"deploy".to_string()), "{all:?}");
    assert!(!all.contains(&"agent".to_string()), "{all:?}");
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_shell_is_a_usage_error() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = bluegreen(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("rollback"), "{shell}: {text}");
    }
    let out = bluegreen(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tcsh") && err.contains("bash"), "{err}");
}

#[test]
fn man_prints_the_main_page_and_writes_one_page_per_command() {
    let out = bluegreen(&["man"]);
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH bluegreen 1"), "{page}");
    let commands = &page[page.find(".SH SUBCOMMANDS").expect("a SUBCOMMANDS section")..];
    assert!(commands.contains("bluegreen\\-deploy(1)"), "{page}");
    assert!(!commands.contains("bluegreen\\-agent(1)"), "{page}");

    let dir = tempfile::tempdir().unwrap();
    let out = bluegreen(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deploy = std::fs::read_to_string(dir.path().join("bluegreen-deploy.1")).unwrap();
    assert!(deploy.contains(".TH bluegreen-deploy 1"), "{deploy}");
    assert!(deploy.contains("health\\-timeout"), "{deploy}");
    assert!(dir.path().join("bluegreen-rollback.1").exists());
    assert!(
        !dir.path().join("bluegreen-agent.1").exists(),
        "the hidden agent has no page"
    );
}
