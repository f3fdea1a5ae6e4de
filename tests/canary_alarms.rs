//! `agent::canary::alarms::firing` against a CloudWatch `DescribeAlarms` server.
//!
//! The current aws-sdk-cloudwatch (1.140) speaks Smithy RPC v2 CBOR, in its AWS query
//! compatible form: `POST /service/GraniteServiceVersion20100801/operation/DescribeAlarms`
//! with `smithy-protocol: rpc-v2-cbor`, `x-amzn-query-mode: true` and a CBOR body. moto 5.2.1
//! (the AWS server of the other tests) serves CloudWatch only in the older query protocol and
//! answers that request 404: `moto_does_not_serve_the_protocol_the_sdk_speaks` keeps that
//! finding checked, so the day moto serves it these tests can move to moto.
//!
//! Until then, [`DescribeAlarms`] below is a test server of that one operation, written from
//! the protocol and the service's documented behaviour, independently of the SDK (its CBOR is
//! ciborium's, not the SDK's codec): it checks each request's method, path, protocol headers
//! and SigV4 scope (service `monitoring`) and records its body; it answers only the alarm
//! types asked for (metric alarms alone when `AlarmTypes` is absent, as CloudWatch does), leaves
//! out names it does not know, pages with `NextToken` at `MaxRecords` (CloudWatch's default
//! 50) or its own smaller page, refuses more than 100 names (`ValidationError`), and can answer
//! `Throttling` (HTTP 400, `x-amzn-query-error: Throttling;Sender`, a CBOR `__type` body) to
//! its first requests.

mod support;

use bluegreen::agent::canary::alarms::{firing, AlarmError};
use bluegreen::report::{EventLog, Scope};
use std::time::Duration;
use support::cloudwatch::{serve, DescribeAlarms, Kind};

/// A client of `endpoint` as the host builds one (the command log's interceptor), with short
/// retry pauses.
async fn client(endpoint: &str, events: &EventLog) -> aws_sdk_cloudwatch::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .load()
        .await;
    let config = aws_sdk_cloudwatch::config::Builder::from(&config)
        .interceptor(bluegreen::aws::CallLog::interceptor(
            events,
            &Scope::Host("i-1".into()),
        ))
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn the_alarms_in_state_alarm_are_found_over_every_page_and_both_types() {
    let server = DescribeAlarms::new(
        &[
            ("shop-5xx", Kind::Metric, "ALARM"),
            ("shop-p99", Kind::Metric, "OK"),
            ("shop-health", Kind::Composite, "ALARM"),
            ("shop-cpu", Kind::Metric, "INSUFFICIENT_DATA"),
            ("shop-disk", Kind::Metric, "ALARM"),
            ("other-app", Kind::Metric, "ALARM"),
        ],
        2,
    );
    let mock = serve(&server).await;
    let events = EventLog::new();
    let cw = client(&mock.uri(), &events).await;
    let asked = names(&[
        "shop-p99",
        "shop-health",
        "shop-5xx",
        "shop-cpu",
        "shop-disk",
    ]);
    let found = firing(&cw, &asked).await.unwrap();
    assert_eq!(
        found,
        ["shop-health", "shop-5xx", "shop-disk"],
        "in the order given"
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 3, "five alarms, two a page: {seen:?}");
    for (i, s) in seen.iter().enumerate() {
        assert!(s.problems.is_empty(), "request {i}: {:?}", s.problems);
        assert_eq!(s.names, asked, "every page asks for the same names");
        assert_eq!(
            s.types.as_deref(),
            Some(&names(&["MetricAlarm", "CompositeAlarm"])[..]),
            "both types, or CloudWatch answers metric alarms only"
        );
    }
    let tokens: Vec<_> = seen.iter().map(|s| s.next_token.clone()).collect();
    assert_eq!(tokens, [None, Some("page-2".into()), Some("page-4".into())]);

    // Every call is in the command log, naming the alarms (never anything else).
    let commands = events.commands();
    assert_eq!(commands.len(), 3);
    assert!(
        commands.iter().all(|c| c
            .command
            .ends_with("DescribeAlarms AlarmNames=shop-p99,shop-health,shop-5xx,+2 more")
            && c.exit_code == Some(0)),
        "{commands:#?}"
    );
}

#[tokio::test]
async fn more_than_a_hundred_names_are_asked_a_hundred_at_a_time() {
    let many: Vec<String> = (0..150).map(|i| format!("alarm-{i:03}")).collect();
    let known: Vec<(&str, Kind, &'static str)> = many
        .iter()
        .map(|n| {
            let state = if n == "alarm-120" { "ALARM" } else { "OK" };
            (n.as_str(), Kind::Metric, state)
        })
        .collect();
    let server = DescribeAlarms::new(&known, 100);
    let mock = serve(&server).await;
    let cw = client(&mock.uri(), &EventLog::new()).await;
    assert_eq!(firing(&cw, &many).await.unwrap(), ["alarm-120"]);
    let sizes: Vec<usize> = server.seen().iter().map(|s| s.names.len()).collect();
    // CloudWatch's default page is 50 records: 100 names take two pages, then 50 one.
    assert_eq!(sizes, [100, 100, 50]);
}

#[tokio::test]
async fn an_unknown_alarm_is_an_error_that_names_it_not_a_quiet_guard() {
    let server = DescribeAlarms::new(&[("shop-5xx", Kind::Metric, "OK")], 10);
    let mock = serve(&server).await;
    let cw = client(&mock.uri(), &EventLog::new()).await;
    let e = firing(&cw, &names(&["shop-5xx", "shop-5xxx"]))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        AlarmError::NotFound {
            names: names(&["shop-5xxx"]),
            region: Some("us-east-1".into())
        }
    );
    assert_eq!(
        e.to_string(),
        "no CloudWatch alarm named shop-5xxx: check --alarm against the region's alarms (us-east-1)"
    );
}

#[tokio::test]
async fn throttling_is_retried_and_a_call_that_keeps_failing_names_the_alarms_and_the_error() {
    let mut server = DescribeAlarms::new(&[("shop-5xx", Kind::Metric, "ALARM")], 10);
    server.throttle_first = 2;
    let mock = serve(&server).await;
    let events = EventLog::new();
    let cw = client(&mock.uri(), &events).await;
    assert_eq!(
        firing(&cw, &names(&["shop-5xx"])).await.unwrap(),
        ["shop-5xx"]
    );
    assert_eq!(server.seen().len(), 3, "two throttled, then answered");
    let commands = events.commands();
    assert_eq!(commands.len(), 1, "one call, three attempts: {commands:#?}");
    assert_eq!(commands[0].detail, "3 attempts");

    let mut server = DescribeAlarms::new(&[("shop-5xx", Kind::Metric, "ALARM")], 10);
    server.throttle_first = usize::MAX;
    let mock = serve(&server).await;
    let events = EventLog::new();
    let cw = client(&mock.uri(), &events).await;
    let e = firing(&cw, &names(&["shop-5xx", "shop-p99"]))
        .await
        .unwrap_err();
    let AlarmError::Aws { alarms, error } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(alarms, "shop-5xx, shop-p99");
    assert!(
        error.contains("Throttling") && error.contains("Rate exceeded"),
        "{error}"
    );
    assert!(e
        .to_string()
        .starts_with("cannot read the CloudWatch alarms shop-5xx, shop-p99: "));
    let logged = events.commands();
    assert_eq!(logged[0].exit_code, Some(1));
    assert!(
        logged[0].detail.contains("HTTP 400 Throttling"),
        "{logged:#?}"
    );
}

/// moto 5.2.1 serves CloudWatch in the query protocol only: the SDK's CBOR request is a 404
/// there. When this fails, moto serves it, and the tests above can use moto instead.
#[tokio::test]
async fn moto_does_not_serve_the_protocol_the_sdk_speaks() {
    let moto = std::env::var("BLUEGREEN_TEST_MOTO_URL")
        .expect("BLUEGREEN_TEST_MOTO_URL: run scripts/test (it starts moto)");
    let cw = client(&moto, &EventLog::new()).await;
    let e = firing(&cw, &names(&["shop-5xx"])).await.unwrap_err();
    match e {
        AlarmError::Aws { error, .. } => assert!(error.contains("404"), "{error}"),
        other => panic!("moto answered: {other:?}"),
    }
}
