//! The command log: every command that changed the host (Docker calls, proxy commands), in
//! the order it ran, with its duration and whether it succeeded, carried back in the reply.

mod support;

use bluegreen::agent::protocol::Outcome;
use support::TestApp;

#[tokio::test]
async fn a_deploy_replies_with_the_commands_it_ran_in_order() {
    let t = TestApp::new();
    let first = t.deploy(t.spec("v1")).await;
    assert_eq!(first.outcome, Outcome::Deployed, "{}", first.message);
    let r = t.deploy(t.spec("v2")).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    let lines: Vec<&str> = r.commands.iter().map(|c| c.command.as_str()).collect();
    let green = format!("{}-green", t.app);
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix:?} in {lines:#?}"))
    };
    let create = at(&format!("docker create {green} "));
    let start = at(&format!("docker start {green}"));
    let check = at(&format!("docker exec {}-proxy haproxy -c", t.app));
    let switch = at("haproxy> set server app/green addr 127.0.0.1 port ");
    assert!(
        lines[switch]
            .ends_with("set server app/green state ready; set server app/blue state drain"),
        "{lines:#?}"
    );
    assert!(
        create < start && start < switch && check < switch,
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("docker kill")),
        "nothing is killed to free a port: {lines:#?}"
    );
    assert!(
        r.commands
            .iter()
            .all(|c| c.exit_code == Some(0) && c.duration_ms.is_some()),
        "{:#?}",
        r.commands
    );
    // Reads are counted, one line per kind and target: the health gate's inspects of the new
    // container, the drain's and the receipt's `show stat`.
    let inspect = format!("docker inspect {green} (read x");
    for read in [inspect.as_str(), "haproxy> show stat (read x"] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(read))
            .unwrap_or_else(|| panic!("{read:?} in {lines:#?}"));
        let count: u64 = line[read.len()..].trim_end_matches(')').parse().unwrap();
        assert!(count >= 1, "{line}");
    }
    assert_eq!(
        lines.iter().filter(|l| l.starts_with(&inspect)).count(),
        1,
        "one line for every inspect of {green}: {lines:#?}"
    );
    assert!(r.commands.windows(2).all(|w| w[0].ts <= w[1].ts));

    // The third deploy takes blue, whose v1 is set aside still running, and retires it only
    // after the switch: renamed, then stopped without being waited for.
    let r = t.deploy(t.spec("v3")).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    let lines: Vec<&str> = r.commands.iter().map(|c| c.command.as_str()).collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix:?} in {lines:#?}"))
    };
    let blue = format!("{}-blue", t.app);
    let aside = at(&format!("docker rename {blue} {blue}-prior"));
    let start = at(&format!("docker start {blue}"));
    let switch = at("haproxy> set server app/blue addr 127.0.0.1 port ");
    let retire = at(&format!(
        "docker rename {blue}-prior {}-retired-blue-",
        t.app
    ));
    let stop = at(&format!("docker stop {}-retired-blue-", t.app));
    assert!(
        aside < start && start < switch && switch < retire && retire < stop,
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_failed_command_is_logged_as_failed() {
    let t = TestApp::new();
    let mut spec = t.spec("v1");
    spec.image = format!("{}:no-such-tag", support::env("BLUEGREEN_TEST_IMAGE_REPO"));
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.message);
    let pull = r
        .commands
        .iter()
        .find(|c| c.command.starts_with("docker pull "))
        .unwrap_or_else(|| panic!("{:#?}", r.commands));
    assert_eq!(pull.exit_code, Some(1), "{pull:?}");
}
