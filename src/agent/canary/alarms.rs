//! CloudWatch alarms as an extra signal of a deploy (`--alarm`, the input `alarms`): an alarm
//! in state ALARM during a canary step or the verify window aborts the deploy or switches it
//! back, for both strategies.
//!
//! [`firing`] asks CloudWatch (`DescribeAlarms`, by name, metric and composite alarms, every
//! page) which of the named alarms are in state ALARM. A name CloudWatch does not know is an
//! error, never "not firing": a typo must not silently turn the guard off. The client comes
//! from the host ([`crate::agent::Host::cloudwatch_client`]) with the one SDK interceptor, so
//! every call lands in the command log.

use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use std::collections::BTreeMap;

/// CloudWatch's most alarm names in one `DescribeAlarms`.
pub const NAMES_PER_CALL: usize = 100;

/// Why the alarms could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlarmError {
    /// CloudWatch knows none of these names (in the host's region, with its role).
    #[error("no CloudWatch alarm named {}: check --alarm against the region's alarms ({region})", .names.join(", "), region = .region.as_deref().unwrap_or("region unknown"))]
    NotFound {
        names: Vec<String>,
        region: Option<String>,
    },
    /// The call failed (after the SDK's retries).
    #[error("cannot read the CloudWatch alarms {alarms}: {error}")]
    Aws { alarms: String, error: String },
}

/// The alarms among `names` in state ALARM, in the order given; an error names the alarms
/// CloudWatch does not know, or the alarms and the AWS error of a call that failed.
pub async fn firing(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<Vec<String>, AlarmError> {
    let mut states: BTreeMap<String, StateValue> = BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        states.extend(states_of(client, chunk).await?);
    }
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !states.contains_key(*n))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(AlarmError::NotFound {
            names: missing,
            region: client.config().region().map(ToString::to_string),
        });
    }
    Ok(names
        .iter()
        .filter(|n| states.get(*n) == Some(&StateValue::Alarm))
        .cloned()
        .collect())
}

/// The state of each alarm CloudWatch knows among `names` (at most [`NAMES_PER_CALL`]),
/// reading every page. Without `AlarmTypes` CloudWatch answers metric alarms only, so both
/// types are asked for.
async fn states_of(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<Vec<(String, StateValue)>, AlarmError> {
    let mut pages = client
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .into_paginator()
        .send();
    let mut states = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AlarmError::Aws {
            alarms: names.join(", "),
            error: DisplayErrorContext(&e).to_string(),
        })?;
        let metric = page
            .metric_alarms()
            .iter()
            .map(|a| (a.alarm_name(), a.state_value()));
        let composite = page
            .composite_alarms()
            .iter()
            .map(|a| (a.alarm_name(), a.state_value()));
        states.extend(metric.chain(composite).filter_map(|(name, state)| {
            Some((
                name?.to_string(),
                state.cloned().unwrap_or(StateValue::InsufficientData),
            ))
        }));
    }
    Ok(states)
}

/// How often a deploy asks CloudWatch while it watches (a canary step, the verify window):
/// alarms are evaluated per minute at best, and each read is an API call.
pub const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A deploy's alarms, read at most every [`CHECK_EVERY`] unless asked to read now.
pub struct AlarmWatch {
    client: Option<aws_sdk_cloudwatch::Client>,
    names: Vec<String>,
    last: Option<std::time::Instant>,
}

impl AlarmWatch {
    /// Watches `names` through the host's CloudWatch client (none at all without alarms).
    pub async fn new(host: &crate::agent::Host, names: &[String]) -> AlarmWatch {
        let client = match names.is_empty() {
            true => None,
            false => Some(host.cloudwatch_client().await),
        };
        AlarmWatch {
            client,
            names: names.to_vec(),
            last: None,
        }
    }

    /// `Some(reason)` when an alarm is in state ALARM. Asks CloudWatch only when `now` or
    /// [`CHECK_EVERY`] has passed since the last read; otherwise `Ok(None)`.
    pub async fn check(&mut self, now: bool) -> Result<Option<String>, AlarmError> {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        if !now && self.last.is_some_and(|at| at.elapsed() < CHECK_EVERY) {
            return Ok(None);
        }
        self.last = Some(std::time::Instant::now());
        let firing = firing(client, &self.names).await?;
        Ok((!firing.is_empty()).then(|| firing_text(&firing)))
    }
}

/// `shop-5xx, shop-p99`: the alarms firing, for a reason.
pub fn firing_text(firing: &[String]) -> String {
    match firing {
        [one] => format!("CloudWatch alarm {one} is in state ALARM"),
        many => format!("CloudWatch alarms {} are in state ALARM", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_the_firing_alarms() {
        assert_eq!(
            firing_text(&["shop-5xx".into()]),
            "CloudWatch alarm shop-5xx is in state ALARM"
        );
        assert_eq!(
            firing_text(&["a".into(), "b".into()]),
            "CloudWatch alarms a, b are in state ALARM"
        );
    }
}
