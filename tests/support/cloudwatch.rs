//! A CloudWatch `DescribeAlarms` test server, for the alarm tests (`canary_alarms.rs`) and the
//! canary's (`agent_canary.rs`).
//!
//! The current aws-sdk-cloudwatch speaks Smithy RPC v2 CBOR, in its AWS query compatible form:
//! `POST /service/GraniteServiceVersion20100801/operation/DescribeAlarms` with
//! `smithy-protocol: rpc-v2-cbor`, `x-amzn-query-mode: true` and a CBOR body. moto 5.2.1 (the
//! AWS server of the other tests) serves CloudWatch only in the older query protocol and answers
//! that request 404 (`canary_alarms.rs` keeps that finding checked). So this server of that one
//! operation, written from the protocol and the service's documented behaviour, independently
//! of the SDK (its CBOR is ciborium's, not the SDK's codec): it checks each request's method,
//! path, protocol headers and SigV4 scope (service `monitoring`) and records its body; it
//! answers only the alarm types asked for (metric alarms alone when `AlarmTypes` is absent, as
//! CloudWatch does), leaves out names it does not know, pages with `NextToken` at `MaxRecords`
//! (CloudWatch's default 50) or its own smaller page, refuses more than 100 names
//! (`ValidationError`), and can answer `Throttling` (HTTP 400, `x-amzn-query-error:
//! Throttling;Sender`, a CBOR `__type` body) to its first requests. An alarm's state can be
//! changed while it serves ([`DescribeAlarms::set_state`]).
#![allow(dead_code)]

use ciborium::Value;
use std::sync::{Arc, Mutex};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PATH: &str = "/service/GraniteServiceVersion20100801/operation/DescribeAlarms";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Metric,
    Composite,
}

/// One alarm the server knows.
#[derive(Clone, Debug)]
pub struct Alarm {
    pub name: String,
    pub kind: Kind,
    pub state: &'static str,
}

/// What the server saw of one request.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub names: Vec<String>,
    pub types: Option<Vec<String>>,
    pub next_token: Option<String>,
    /// What was wrong with its shape (method, path, headers, signature, body).
    pub problems: Vec<String>,
}

#[derive(Clone, Default)]
pub struct DescribeAlarms {
    /// Shared with the served copy, so a test can change a state while it serves.
    pub alarms: Arc<Mutex<Vec<Alarm>>>,
    pub page: usize,
    pub throttle_first: usize,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

fn text(v: &Value) -> Option<String> {
    v.as_text().map(str::to_string)
}

fn field<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array)
        .map(|items| items.iter().filter_map(text).collect())
}

fn cbor(value: Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&value, &mut out).unwrap();
    out
}

fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    let body = Value::Map(vec![
        (
            "__type".into(),
            format!("com.amazonaws.cloudwatch#{code}Exception").into(),
        ),
        ("message".into(), message.into()),
    ]);
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/cbor")
        .insert_header("smithy-protocol", "rpc-v2-cbor")
        .insert_header("x-amzn-query-error", format!("{code};Sender").as_str())
        .set_body_raw(cbor(body), "application/cbor")
}

impl DescribeAlarms {
    pub fn new(alarms: &[(&str, Kind, &'static str)], page: usize) -> DescribeAlarms {
        DescribeAlarms {
            alarms: Arc::new(Mutex::new(
                alarms
                    .iter()
                    .map(|(n, k, s)| Alarm {
                        name: n.to_string(),
                        kind: *k,
                        state: s,
                    })
                    .collect(),
            )),
            page,
            ..DescribeAlarms::default()
        }
    }

    /// Changes an alarm's state (`OK`, `ALARM`, `INSUFFICIENT_DATA`) from now on.
    pub fn set_state(&self, name: &str, state: &'static str) {
        for a in self
            .alarms
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|a| a.name == name)
        {
            a.state = state;
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The request's shape, as the protocol and SigV4 want it.
    fn check(request: &Request) -> Vec<String> {
        let mut problems = Vec::new();
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if request.method.as_str() != "POST" {
            problems.push(format!("method {}", request.method));
        }
        if request.url.path() != PATH {
            problems.push(format!("path {}", request.url.path()));
        }
        for (name, want) in [
            ("content-type", "application/cbor"),
            ("accept", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("x-amzn-query-mode", "true"),
        ] {
            if header(name).as_deref() != Some(want) {
                problems.push(format!("{name}: {:?}", header(name)));
            }
        }
        let auth = header("authorization").unwrap_or_default();
        if !(auth.starts_with("AWS4-HMAC-SHA256 Credential=testing/")
            && auth.contains("/us-east-1/monitoring/aws4_request"))
        {
            problems.push(format!("authorization {auth:?}"));
        }
        problems
    }

    fn alarm_value(a: &Alarm) -> Value {
        let arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}", a.name);
        let updated = Value::Tag(1, Box::new(Value::Float(1_796_300_000.5)));
        let mut fields = vec![
            ("AlarmName".into(), a.name.clone().into()),
            ("AlarmArn".into(), arn.into()),
            ("StateValue".into(), a.state.into()),
            ("StateReason".into(), "Threshold Crossed".into()),
            ("StateUpdatedTimestamp".into(), updated),
        ];
        match a.kind {
            Kind::Metric => fields.extend([
                ("Namespace".into(), "AWS/ApplicationELB".into()),
                ("MetricName".into(), "HTTPCode_Target_5XX_Count".into()),
                ("Threshold".into(), Value::Float(10.0)),
                ("EvaluationPeriods".into(), 1.into()),
            ]),
            Kind::Composite => fields.push((
                "AlarmRule".into(),
                "ALARM(shop-5xx) OR ALARM(shop-p99)".into(),
            )),
        }
        Value::Map(fields)
    }
}

impl Respond for DescribeAlarms {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut seen = Seen {
            problems: Self::check(request),
            ..Seen::default()
        };
        let body: Result<Value, _> = ciborium::from_reader(request.body.as_slice());
        let map = match body {
            Ok(Value::Map(m)) => m,
            other => {
                seen.problems.push(format!("body {other:?}"));
                Vec::new()
            }
        };
        seen.names = strings(field(&map, "AlarmNames")).unwrap_or_default();
        seen.types = strings(field(&map, "AlarmTypes"));
        seen.next_token = field(&map, "NextToken").and_then(text);
        let max_records = field(&map, "MaxRecords")
            .and_then(|v| v.as_integer())
            .and_then(|i| usize::try_from(i128::from(i)).ok())
            .unwrap_or(50);
        let n = {
            let mut all = self.seen.lock().unwrap();
            all.push(seen.clone());
            all.len()
        };
        if n <= self.throttle_first {
            return error(400, "Throttling", "Rate exceeded");
        }
        if seen.names.len() > 100 {
            return error(400, "Validation", "AlarmNames: at most 100");
        }
        let types = seen
            .types
            .clone()
            .unwrap_or_else(|| vec!["MetricAlarm".into()]);
        let wanted = |a: &&Alarm| {
            seen.names.contains(&a.name)
                && types.iter().any(|t| {
                    (t == "MetricAlarm" && a.kind == Kind::Metric)
                        || (t == "CompositeAlarm" && a.kind == Kind::Composite)
                })
        };
        let alarms = self.alarms.lock().unwrap().clone();
        let matching: Vec<&Alarm> = alarms.iter().filter(wanted).collect();
        let start: usize = seen
            .next_token
            .as_deref()
            .and_then(|t| t.strip_prefix("page-"))
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let size = self.page.min(max_records).max(1);
        let page: Vec<&Alarm> = matching.iter().skip(start).take(size).copied().collect();
        let of = |k: Kind| -> Value {
            Value::Array(
                page.iter()
                    .filter(|a| a.kind == k)
                    .map(|a| Self::alarm_value(a))
                    .collect(),
            )
        };
        let mut out = vec![
            ("MetricAlarms".into(), of(Kind::Metric)),
            ("CompositeAlarms".into(), of(Kind::Composite)),
        ];
        if start + size < matching.len() {
            out.push(("NextToken".into(), format!("page-{}", start + size).into()));
        }
        ResponseTemplate::new(200)
            .insert_header("smithy-protocol", "rpc-v2-cbor")
            .insert_header("x-amzn-requestid", "6f3a0b5e-0000-4000-8000-000000000001")
            .set_body_raw(cbor(Value::Map(out)), "application/cbor")
    }
}

pub async fn serve(server: &DescribeAlarms) -> MockServer {
    let mock = MockServer::start().await;
    Mock::given(any())
        .respond_with(server.clone())
        .mount(&mock)
        .await;
    mock
}
