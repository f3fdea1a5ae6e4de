//! Nothing read from Parameter Store leaves the host: an app that prints a secret and exits
//! fails its health gate, and the reply's log tail (in the command output and, through SSM,
//! in the report) shows `***` in its place.

mod support;

use support::TestApp;

const SECRET: &str = "s3cret-PLANTED-in-parameter-store";

#[tokio::test]
async fn a_failed_apps_log_tail_has_its_parameter_store_values_redacted() {
    let t = TestApp::new();
    let moto = support::env("BLUEGREEN_TEST_MOTO_URL");
    let path = format!("/{}/prod", t.app);
    support::moto_ssm()
        .await
        .put_parameter()
        .name(format!("{path}/DB_PASSWORD"))
        .value(SECRET)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    for format in ["human", "json"] {
        let out = t
            .cli()
            .env("AWS_ENDPOINT_URL", &moto)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .args(t.deploy_args("v1"))
            .args(["--env-from-ssm", &path, "--format", format])
            .args([
                "--env",
                "EXIT_AT_START=1",
                "--env",
                "PRINT_AT_EXIT=DB_PASSWORD",
            ])
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(
            all.contains("DB_PASSWORD=***"),
            "{format}: the log tail is not in the reply: {all}"
        );
        assert!(
            !all.contains(SECRET),
            "{format}: the secret left the host: {all}"
        );
        if format == "json" {
            // The read is in the host's command log, naming the path and nothing read.
            let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let read = reply["commands"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["command"] == format!("aws ssm GetParametersByPath Path={path}"))
                .unwrap_or_else(|| panic!("no Parameter Store call in {reply:#}"));
            assert_eq!(read["exit_code"], 0, "{read}");
            assert_eq!(read["scope"], "host:local", "{read}");
        }
    }
}
