//! The SSM requests the transport sends, checked against moto's server (another model of the
//! API than tests/ssm_server.py): SendCommand, ListCommands and GetCommandInvocation. moto
//! 5.2 does not implement ListCommandInvocations or DescribeInstanceInformation; those shapes
//! are checked by tests/ssm_server.py only.

use bluegreen::agent::AgentRequest;
use bluegreen::fleet::ssm::{agent_script, SsmSettings, SsmTransport, DOCUMENT};
use bluegreen::report::EventLog;
use std::time::Duration;

fn moto_url() -> String {
    std::env::var("BLUEGREEN_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!("BLUEGREEN_TEST_MOTO_URL is not set: run scripts/test (it starts moto's server)")
    })
}

fn client(url: &str) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version_latest()
        .endpoint_url(url)
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "AKIDBGSTEST",
            "bgs-test-secret",
            None,
            None,
            "bgs-test",
        ))
        .retry_config(bluegreen::fleet::ssm::retry_config())
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

#[tokio::test]
async fn moto_accepts_the_commands_the_transport_sends() {
    let url = moto_url();
    let mut settings = SsmSettings::new(
        "ghcr.io/org/bluegreen-action:0.1.0".into(),
        Duration::from_secs(600),
    );
    settings.output_s3_bucket = Some("bgs-logs".into());
    settings.cloudwatch_log_group = Some("/bgs/deploys".into());
    settings.comment = "bluegreen status bgs-shop".into();
    let t = SsmTransport::new(client(&url), settings, EventLog::new());
    let ids = vec![
        "i-0000000000000a1b2".to_string(),
        "i-0000000000000a2b3".to_string(),
    ];
    let request = AgentRequest::Status {
        app: Some("bgs-shop".into()),
    };

    let command_id = t
        .send(&ids, &request)
        .await
        .expect("moto accepts SendCommand");

    let (status, completed) = t
        .progress(&command_id)
        .await
        .expect("moto accepts ListCommands")
        .expect("moto lists the command it just accepted");
    assert!(!status.is_empty());
    assert!(completed >= 0);

    // The command as moto stored it: our document, parameters and limits, unchanged.
    let listed = client(&url)
        .list_commands()
        .command_id(&command_id)
        .send()
        .await
        .unwrap();
    let cmd = &listed.commands()[0];
    assert_eq!(cmd.document_name(), Some(DOCUMENT));
    // SendCommand promises no order of the instances (moto keeps them in a Python set).
    let mut listed_ids = cmd.instance_ids().to_vec();
    listed_ids.sort();
    assert_eq!(listed_ids, ids);
    let params = cmd.parameters().unwrap();
    let image = "ghcr.io/org/bluegreen-action:0.1.0";
    assert_eq!(params["commands"], agent_script(image, &request).unwrap());
    assert_eq!(params["executionTimeout"], vec!["600".to_string()]);
    assert_eq!(cmd.output_s3_bucket_name(), Some("bgs-logs"));
    assert_eq!(cmd.comment(), Some("bluegreen status bgs-shop"));
    assert_eq!(cmd.max_concurrency(), Some("2"));
    assert_eq!(cmd.max_errors(), Some("2"));

    let inv = client(&url)
        .get_command_invocation()
        .command_id(&command_id)
        .instance_id(&ids[0])
        .send()
        .await
        .expect("moto accepts GetCommandInvocation");
    assert_eq!(inv.instance_id(), Some(ids[0].as_str()));
}

/// The fleet lock against moto's Parameter Store: created atomically, a second deploy is
/// refused naming the holder, an expired lock is taken over, a release frees it.
#[tokio::test]
async fn the_fleet_lock_is_one_parameter_created_atomically() {
    use bluegreen::fleet::fleet_lock::{self, Held, Holder};
    let client = client(&moto_url());
    let app = format!(
        "bgs-lock-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let holder = |id: &str, ttl: i64| Holder {
        deploy_id: id.into(),
        run_url: Some("https://github.com/org/shop/actions/runs/1".into()),
        expires_at: chrono::Utc::now() + chrono::Duration::seconds(ttl),
    };
    let first = fleet_lock::acquire(&client, &app, "prod", holder("d1", 600), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(first.name, format!("/bluegreen/locks/{app}/prod"));
    assert!(first.took_over.is_none());

    // Held: refused after --lock-wait, naming the holder.
    let started = std::time::Instant::now();
    let e = fleet_lock::acquire(
        &client,
        &app,
        "prod",
        holder("d2", 600),
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let held = e.downcast_ref::<Held>().expect("a Held error");
    assert!(held.holder.contains("deploy d1"), "{e}");
    assert!(e.to_string().contains("actions/runs/1"), "{e}");
    // Another environment is another lock.
    let staging = fleet_lock::acquire(&client, &app, "staging", holder("d3", 600), Duration::ZERO)
        .await
        .unwrap();
    staging.release(&client).await.unwrap();

    // Released: the next deploy takes it.
    first.release(&client).await.unwrap();
    let expired = fleet_lock::acquire(&client, &app, "prod", holder("d4", -1), Duration::ZERO)
        .await
        .unwrap();
    // Expired (its holder died): taken over, and it says whose it was.
    let next = fleet_lock::acquire(&client, &app, "prod", holder("d5", 600), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        next.took_over.as_ref().map(|h| h.deploy_id.as_str()),
        Some("d4")
    );
    // The old holder's release does not free the new holder's lock.
    expired.release(&client).await.unwrap();
    assert!(
        fleet_lock::acquire(&client, &app, "prod", holder("d6", 600), Duration::ZERO)
            .await
            .is_err()
    );
    next.release(&client).await.unwrap();
}
