//! Every AWS call the tool makes goes into the command log: one SDK interceptor, installed on
//! every client (ECR and SSM in the pipeline, Parameter Store and ECR on a host), records the
//! service, the operation, what it names (instances, a command, a repository, a parameter),
//! how long it took over how many attempts, and how it ended.
//!
//! What a call names is read from its request body through an allow-list of identifier
//! fields, so a command's script, an environment value or a parameter's value never reaches
//! the log. Bodies are JSON (ECR, SSM) or CBOR (CloudWatch speaks Smithy RPC v2 CBOR).

use crate::report::{CommandRun, EventLog, Scope};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Instant;

/// Request fields that say what a call is about, in the order they are shown. Anything else
/// in a request (scripts, parameter values, tags) stays out of the log.
const NAMING_FIELDS: &[&str] = &[
    "repositoryName",
    "imageIds",
    "InstanceIds",
    "InstanceId",
    "CommandId",
    "DocumentName",
    "Name",
    "Names",
    "Path",
    "AlarmNames",
];

/// Values of a list shown before "+N more".
const LIST_SHOWN: usize = 3;

/// The interceptor that records each call into `log` under `scope`.
#[derive(Debug, Clone)]
pub struct CallLog {
    log: EventLog,
    scope: Scope,
}

impl CallLog {
    pub fn interceptor(log: &EventLog, scope: &Scope) -> SharedInterceptor {
        SharedInterceptor::new(CallLog {
            log: log.clone(),
            scope: scope.clone(),
        })
    }
}

/// One call in flight, kept in the call's own config bag.
#[derive(Debug, Clone)]
struct Call {
    ts: DateTime<Utc>,
    started: Instant,
    attempts: u32,
    names: String,
}

impl Storable for Call {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "bluegreen::CallLog"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Call {
            ts: Utc::now(),
            started: Instant::now(),
            attempts: 0,
            names: String::new(),
        });
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(mut call) = cfg.load::<Call>().cloned() {
            call.attempts += 1;
            if call.attempts == 1 {
                call.names = context
                    .request()
                    .body()
                    .bytes()
                    .map(names_in_request)
                    .unwrap_or_default();
            }
            cfg.interceptor_state().store_put(call);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<Call>().cloned() else {
            return Ok(());
        };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_ascii_lowercase(), m.name().to_string()))
            .unwrap_or_else(|| ("aws".into(), "(unknown operation)".into()));
        let failure = match context.output_or_error() {
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(failure_of(e, context)),
            None => Some("no answer".to_string()),
        };
        let mut detail = Vec::new();
        if call.attempts > 1 {
            detail.push(format!("{} attempts", call.attempts));
        }
        detail.extend(failure.clone());
        let mut command = format!("aws {service} {operation}");
        if !call.names.is_empty() {
            command.push(' ');
            command.push_str(&call.names);
        }
        self.log.record_command(CommandRun {
            ts: call.ts,
            scope: self.scope.clone(),
            command,
            exit_code: Some(if failure.is_none() { 0 } else { 1 }),
            duration_ms: Some(call.started.elapsed().as_millis() as u64),
            detail: detail.join("; "),
        });
        Ok(())
    }
}

/// How a call failed, as AWS named it: the error type of the answer, or what kept it from
/// one (a timeout, no connection).
fn failure_of<E: std::fmt::Debug>(
    error: &aws_smithy_runtime_api::client::orchestrator::OrchestratorError<E>,
    context: &FinalizerInterceptorContextRef<'_>,
) -> String {
    if error.is_timeout_error() {
        return "timed out".into();
    }
    if error.is_connector_error() {
        return "no connection".into();
    }
    let Some(response) = context.response() else {
        return "no answer".into();
    };
    let status = response.status().as_u16();
    // CloudWatch (RPC v2 CBOR, compatible with its older query protocol) names the error in
    // `x-amzn-query-error: Throttling;Sender`.
    let kind = response
        .headers()
        .get("x-amzn-errortype")
        .map(str::to_string)
        .or_else(|| {
            let query = response.headers().get("x-amzn-query-error")?;
            query.split(';').next().map(str::to_string)
        })
        .or_else(|| {
            let body: Value = serde_json::from_slice(response.body().bytes()?).ok()?;
            body.get("__type")?.as_str().map(str::to_string)
        })
        .map(|t| error_name(&t));
    match kind {
        Some(kind) => format!("HTTP {status} {kind}"),
        None => format!("HTTP {status}"),
    }
}

/// `com.amazonaws.ssm#ThrottlingException:http://...` -> `ThrottlingException`.
fn error_name(raw: &str) -> String {
    let raw = raw.split(':').next().unwrap_or(raw);
    raw.rsplit('#').next().unwrap_or(raw).to_string()
}

/// What a JSON or CBOR request body names, through [`NAMING_FIELDS`]: `InstanceIds=i-1,i-2`.
fn names_in_request(body: &[u8]) -> String {
    let fields = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return String::new(),
        Err(_) => match cbor_strings(body) {
            Some(fields) => fields,
            None => return String::new(),
        },
    };
    NAMING_FIELDS
        .iter()
        .filter_map(|&key| {
            let shown = shown_value(fields.get(key)?)?;
            Some(format!("{key}={shown}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The string and list-of-strings fields of a CBOR map, as JSON (everything else, nested
/// maps and numbers, is left out: no naming field is one); `None` when the body is no map.
fn cbor_strings(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    use aws_smithy_cbor::data::Type;
    use aws_smithy_cbor::Decoder;
    fn string_list(d: &mut Decoder<'_>) -> Option<Value> {
        let mut items = Vec::new();
        match d.list().ok()? {
            Some(n) => {
                for _ in 0..n {
                    items.push(Value::String(d.string().ok()?));
                }
            }
            None => {
                while d.datatype().ok()? != Type::Break {
                    items.push(Value::String(d.string().ok()?));
                }
                d.skip().ok()?;
            }
        }
        Some(Value::Array(items))
    }
    fn entry(d: &mut Decoder<'_>, out: &mut serde_json::Map<String, Value>) -> Option<()> {
        let key = d.string().ok()?;
        match d.datatype().ok()? {
            Type::String | Type::StringIndef => {
                out.insert(key, Value::String(d.string().ok()?));
            }
            Type::Array | Type::ArrayIndef => {
                let start = d.position();
                match string_list(d) {
                    Some(list) => {
                        out.insert(key, list);
                    }
                    None => {
                        d.set_position(start);
                        d.skip().ok()?;
                    }
                }
            }
            _ => d.skip().ok()?,
        }
        Some(())
    }
    let mut d = Decoder::new(body);
    let mut out = serde_json::Map::new();
    match d.map().ok()? {
        Some(n) => {
            for _ in 0..n {
                entry(&mut d, &mut out)?;
            }
        }
        None => {
            while d.datatype().ok()? != Type::Break {
                entry(&mut d, &mut out)?;
            }
        }
    }
    Some(out)
}

fn shown_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let shown: Vec<String> = items.iter().filter_map(shown_value).collect();
            if shown.is_empty() {
                return None;
            }
            let more = shown.len().saturating_sub(LIST_SHOWN);
            let mut out = shown
                .into_iter()
                .take(LIST_SHOWN)
                .collect::<Vec<_>>()
                .join(",");
            if more > 0 {
                out.push_str(&format!(",+{more} more"));
            }
            Some(out)
        }
        // An image id: its tag or digest.
        Value::Object(fields) => ["imageTag", "imageDigest"]
            .iter()
            .find_map(|k| fields.get(*k)?.as_str().map(str::to_string)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_only_its_identifiers() {
        let body = serde_json::json!({
            "InstanceIds": ["i-1", "i-2", "i-3", "i-4", "i-5"],
            "DocumentName": "AWS-RunShellScript",
            "Parameters": {"commands": ["echo s3cr3t"]},
            "Value": "s3cr3t",
        });
        let shown = names_in_request(body.to_string().as_bytes());
        assert_eq!(
            shown,
            "InstanceIds=i-1,i-2,i-3,+2 more DocumentName=AWS-RunShellScript"
        );
        assert!(!shown.contains("s3cr3t"));
    }

    #[test]
    fn an_image_id_shows_its_tag_or_digest() {
        let body = r#"{"repositoryName":"shop","imageIds":[{"imageTag":"v1"},{"imageDigest":"sha256:ab"}]}"#;
        assert_eq!(
            names_in_request(body.as_bytes()),
            "repositoryName=shop imageIds=v1,sha256:ab"
        );
        assert_eq!(names_in_request(b"not json"), "");
    }

    #[test]
    fn a_cbor_request_names_its_alarms_and_nothing_else() {
        // {"AlarmNames": ["a", "b"], "AlarmTypes": ["MetricAlarm"], "MaxRecords": 100,
        //  "NextToken": "t"}, as the CloudWatch SDK encodes it (an indefinite map).
        let mut body = Vec::new();
        let value = ciborium::Value::Map(vec![
            (
                "AlarmNames".into(),
                ciborium::Value::Array(vec!["a".into(), "b".into()]),
            ),
            (
                "AlarmTypes".into(),
                ciborium::Value::Array(vec!["MetricAlarm".into()]),
            ),
            ("MaxRecords".into(), 100.into()),
            ("NextToken".into(), "t".into()),
        ]);
        ciborium::into_writer(&value, &mut body).unwrap();
        assert_eq!(names_in_request(&body), "AlarmNames=a,b");
        let mut indefinite = vec![0xbf];
        indefinite.extend_from_slice(&body[1..]);
        indefinite.push(0xff);
        assert_eq!(names_in_request(&indefinite), "AlarmNames=a,b");
        assert_eq!(names_in_request(&[0xff, 0x00]), "");
    }

    #[test]
    fn error_types_lose_their_namespace() {
        assert_eq!(
            error_name("com.amazonaws.ssm#ThrottlingException:http://internal"),
            "ThrottlingException"
        );
        assert_eq!(error_name("InvalidInstanceId"), "InvalidInstanceId");
    }
}
