//! What a canary deploy asks of the host: the steps, the analysis interval and the rule's
//! thresholds (`--strategy canary`, the `canary-*` flags and inputs), and the CloudWatch
//! alarms watched during a deploy (`--alarm`, for both strategies).
//!
//! One parser for the flags of `deploy` and the inputs of `run` ([`RawCanary`] ->
//! [`CanarySpec`]), whose every error names the input, the value and what was expected; the
//! settings are checked together (the steps as a whole, each limit against its named
//! constant) and again by the agent ([`check`]), which trusts no caller.
//!
//! Everything is an integer, so the request stays `Eq` and hashes the same everywhere: the
//! error rate in basis points (1 % = 100), the latency ratio in thousandths (1.5 = 1500),
//! durations in milliseconds like the other fields of a deploy.

use crate::duration::saturating_ms;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `--strategy` when not given.
pub const DEFAULT_STRATEGY: &str = "bluegreen";
/// The strategies `--strategy` takes.
pub const STRATEGIES: [&str; 2] = ["bluegreen", "canary"];
/// `--canary-steps` when not given.
pub const DEFAULT_STEPS: &str = "5,25,50,100";
/// `--canary-interval` when not given.
pub const DEFAULT_INTERVAL: &str = "30s";
/// `--canary-min-requests` when not given.
pub const DEFAULT_MIN_REQUESTS: &str = "50";
/// `--canary-max-error-rate` when not given.
pub const DEFAULT_MAX_ERROR_RATE: &str = "1%";
/// `--canary-max-latency-ratio` when not given.
pub const DEFAULT_MAX_LATENCY_RATIO: &str = "1.5";
/// `--canary-failure-limit` when not given.
pub const DEFAULT_FAILURE_LIMIT: &str = "1";
/// `--canary-pause-timeout` when not given.
pub const DEFAULT_PAUSE_TIMEOUT: &str = "1h";

/// Most entries of `--canary-steps`, pauses included: every interval of the canary travels
/// in the host's reply, which SSM cuts at 24,000 characters.
pub const MAX_STEPS: usize = 12;
/// Shortest analysis interval: HAProxy's counters and log need traffic to say anything.
pub const MIN_INTERVAL_MS: u64 = 1_000;
/// Longest analysis interval.
pub const MAX_INTERVAL_MS: u64 = 3_600_000;
/// Most requests an interval may be asked to see.
pub const MAX_MIN_REQUESTS: u64 = 1_000_000;
/// Most failed intervals a canary may tolerate before it aborts.
pub const MAX_FAILURE_LIMIT: u32 = 10;
/// Highest latency ratio, in thousandths (100x).
pub const MAX_LATENCY_RATIO_MILLI: u32 = 100_000;
/// Longest wait for a person at a `pause` step.
pub const MAX_PAUSE_TIMEOUT_MS: u64 = 24 * 3_600_000;
/// Inconclusive intervals (too little traffic, counters reset) that hold one step; the next
/// inconclusive one of the same step aborts the canary.
pub const MAX_INCONCLUSIVE_HOLDS: u32 = 3;
/// Most alarms `--alarm` may name.
pub const MAX_ALARMS: usize = 100;
/// CloudWatch's longest alarm name.
pub const MAX_ALARM_NAME_LEN: usize = 255;

/// One step of a canary: a share of the requests for the new version, or a wait for a person
/// (`bluegreen promote` or `abort`). In JSON a number or the string `"pause"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StepRepr", into = "StepRepr")]
pub enum CanaryStep {
    /// The new version's weight, in percent of the requests (1-100).
    Weight(u8),
    Pause,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StepRepr {
    Weight(u8),
    Word(String),
}

impl TryFrom<StepRepr> for CanaryStep {
    type Error = String;
    fn try_from(r: StepRepr) -> Result<Self, String> {
        match r {
            StepRepr::Weight(w) => Ok(CanaryStep::Weight(w)),
            StepRepr::Word(w) if w == "pause" => Ok(CanaryStep::Pause),
            StepRepr::Word(w) => Err(format!("{w:?} is not a canary step")),
        }
    }
}

impl From<CanaryStep> for StepRepr {
    fn from(s: CanaryStep) -> StepRepr {
        match s {
            CanaryStep::Weight(w) => StepRepr::Weight(w),
            CanaryStep::Pause => StepRepr::Word("pause".into()),
        }
    }
}

impl fmt::Display for CanaryStep {
    /// `5 %` or `pause`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanaryStep::Weight(w) => write!(f, "{w} %"),
            CanaryStep::Pause => f.write_str("pause"),
        }
    }
}

/// A canary's settings, as the request carries them to each host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CanarySpec {
    pub steps: Vec<CanaryStep>,
    /// Each step's analysis period.
    pub interval_ms: u64,
    /// Requests the new version must get in an interval for a verdict; fewer is inconclusive.
    pub min_requests: u64,
    /// Highest share of failed responses of the new version, in basis points (1 % = 100),
    /// unless the old version's own share in the interval, doubled, is higher.
    pub max_error_rate_bp: u32,
    /// Highest ratio of the new version's average response time to the old one's, in
    /// thousandths (1.5 = 1500), plus 5 ms.
    pub max_latency_ratio_milli: u32,
    /// Failed intervals, over the whole canary, that abort it.
    pub failure_limit: u32,
    /// How long a `pause` step waits for promote or abort before it aborts.
    pub pause_timeout_ms: u64,
    /// Over a fleet, whether every batch runs the canary (`--canary-batches every`) or only
    /// the first, the later ones going blue-green once it promoted (`first`, the default).
    /// The hosts ignore it: the rollout chooses what each batch is sent.
    #[serde(default, skip_serializing_if = "is_false")]
    pub every_batch: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// The values of `--canary-batches`.
pub const CANARY_BATCHES: [&str; 2] = ["first", "every"];

impl CanarySpec {
    /// The new version's weights, in order, without the pauses.
    pub fn weights(&self) -> impl Iterator<Item = u8> + '_ {
        self.steps.iter().filter_map(|s| match s {
            CanaryStep::Weight(w) => Some(*w),
            CanaryStep::Pause => None,
        })
    }

    /// The longest a canary can take on one host: every weight held by as many inconclusive
    /// intervals as a step tolerates, every failure tolerated, every pause waited out. An SSM
    /// command that runs the deploy must outlast it (`validate::command_timeout_covers`).
    pub fn longest_ms(&self) -> u128 {
        let weights = self.weights().count() as u128;
        let pauses = self.steps.len() as u128 - weights;
        let interval = u128::from(self.interval_ms);
        weights * interval * u128::from(1 + MAX_INCONCLUSIVE_HOLDS)
            + u128::from(self.failure_limit.saturating_sub(1)) * interval
            + pauses * u128::from(self.pause_timeout_ms)
    }

    /// `5 %, 25 %, pause, 100 %`.
    pub fn steps_line(&self) -> String {
        steps_text(&self.steps)
    }
}

/// Steps as people read them: `5 %, 25 %, pause, 100 %`.
pub fn steps_text(steps: &[CanaryStep]) -> String {
    steps
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The canary flags or inputs as given (`None`: not given), named like the inputs.
#[derive(Debug, Clone, Default)]
pub struct RawCanary<'a> {
    pub strategy: Option<&'a str>,
    pub canary_steps: Option<&'a str>,
    pub canary_interval: Option<&'a str>,
    pub canary_min_requests: Option<&'a str>,
    pub canary_max_error_rate: Option<&'a str>,
    pub canary_max_latency_ratio: Option<&'a str>,
    pub canary_failure_limit: Option<&'a str>,
    pub canary_pause_timeout: Option<&'a str>,
    pub canary_batches: Option<&'a str>,
}

/// A canary setting that cannot be used: its input (without dashes), the value and what was
/// expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--{input} {value:?}: expected {expected}")]
pub struct CanaryError {
    pub input: &'static str,
    pub value: String,
    pub expected: String,
}

impl CanaryError {
    fn new(input: &'static str, value: &str, expected: impl Into<String>) -> CanaryError {
        CanaryError {
            input,
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

impl RawCanary<'_> {
    /// The canary-* settings that were given, with their input names.
    fn given_settings(&self) -> Vec<(&'static str, &str)> {
        [
            ("canary-steps", self.canary_steps),
            ("canary-interval", self.canary_interval),
            ("canary-min-requests", self.canary_min_requests),
            ("canary-max-error-rate", self.canary_max_error_rate),
            ("canary-max-latency-ratio", self.canary_max_latency_ratio),
            ("canary-failure-limit", self.canary_failure_limit),
            ("canary-pause-timeout", self.canary_pause_timeout),
            ("canary-batches", self.canary_batches),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| (name, v)))
        .collect()
    }

    /// `None` for a blue-green deploy. A canary-* setting given with `--strategy bluegreen` is
    /// refused rather than ignored: whoever wrote it expects a canary.
    pub fn parse(&self) -> Result<Option<CanarySpec>, CanaryError> {
        let strategy = self.strategy.map(str::trim).unwrap_or(DEFAULT_STRATEGY);
        match strategy {
            "canary" => self.parse_canary().map(Some),
            "bluegreen" => match self.given_settings().first() {
                Some((name, value)) => Err(CanaryError::new(
                    name,
                    value,
                    "--strategy canary as well (with --strategy bluegreen the canary settings \
                     do nothing), or no value",
                )),
                None => Ok(None),
            },
            other => Err(CanaryError::new("strategy", other, STRATEGIES.join(" or "))),
        }
    }

    fn parse_canary(&self) -> Result<CanarySpec, CanaryError> {
        fn or<'v>(v: Option<&'v str>, default: &'static str) -> &'v str {
            v.map(str::trim).unwrap_or(default)
        }
        let spec = CanarySpec {
            steps: parse_steps(or(self.canary_steps, DEFAULT_STEPS))?,
            interval_ms: duration_ms(
                "canary-interval",
                or(self.canary_interval, DEFAULT_INTERVAL),
            )?,
            min_requests: whole(
                "canary-min-requests",
                or(self.canary_min_requests, DEFAULT_MIN_REQUESTS),
            )?,
            max_error_rate_bp: parse_percent(or(
                self.canary_max_error_rate,
                DEFAULT_MAX_ERROR_RATE,
            ))?,
            max_latency_ratio_milli: parse_ratio(or(
                self.canary_max_latency_ratio,
                DEFAULT_MAX_LATENCY_RATIO,
            ))?,
            failure_limit: whole(
                "canary-failure-limit",
                or(self.canary_failure_limit, DEFAULT_FAILURE_LIMIT),
            )
            .and_then(|n| {
                u32::try_from(n).map_err(|_| {
                    CanaryError::new("canary-failure-limit", &n.to_string(), limit_expected())
                })
            })?,
            pause_timeout_ms: duration_ms(
                "canary-pause-timeout",
                or(self.canary_pause_timeout, DEFAULT_PAUSE_TIMEOUT),
            )?,
            every_batch: match or(self.canary_batches, "first") {
                "first" => false,
                "every" => true,
                other => {
                    return Err(CanaryError::new(
                        "canary-batches",
                        other,
                        "first (the canary runs on the first batch, the later ones go blue-green once it promoted) or every",
                    ))
                }
            },
        };
        check(&spec)?;
        Ok(spec)
    }
}

fn limit_expected() -> String {
    format!("a whole number of failed intervals from 1 to {MAX_FAILURE_LIMIT}")
}

/// `5,25,pause,50,100`: percentages of the requests (`25` or `25%`) strictly increasing to
/// 100, and `pause` steps, neither first nor two in a row.
pub fn parse_steps(value: &str) -> Result<Vec<CanaryStep>, CanaryError> {
    const EXPECTED: &str = "comma-separated steps such as 5,25,pause,50,100: percentages from \
                            1 to 100, strictly increasing, the last one 100, and the word pause \
                            (not first, never twice in a row)";
    let steps = value
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s == "pause" {
                return Ok(CanaryStep::Pause);
            }
            s.trim_end_matches('%')
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|w| (1..=100).contains(w))
                .map(CanaryStep::Weight)
                .ok_or_else(|| {
                    CanaryError::new(
                        "canary-steps",
                        value,
                        format!("{EXPECTED}; {s:?} is neither"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_steps(&steps)
        .map_err(|why| CanaryError::new("canary-steps", value, format!("{EXPECTED}; {why}")))?;
    Ok(steps)
}

/// The steps as a whole; the error says which rule they break.
fn check_steps(steps: &[CanaryStep]) -> Result<(), String> {
    if steps.is_empty() {
        return Err("no step given".into());
    }
    if steps.len() > MAX_STEPS {
        return Err(format!("{} steps, at most {MAX_STEPS}", steps.len()));
    }
    if steps[0] == CanaryStep::Pause {
        return Err("a pause cannot come first (nothing has moved yet)".into());
    }
    if steps.windows(2).any(|w| w == [CanaryStep::Pause; 2]) {
        return Err("two pauses in a row".into());
    }
    let weights: Vec<u8> = steps
        .iter()
        .filter_map(|s| match s {
            CanaryStep::Weight(w) => Some(*w),
            CanaryStep::Pause => None,
        })
        .collect();
    if let Some(w) = weights.windows(2).find(|w| w[0] >= w[1]) {
        return Err(format!("{} after {} does not increase", w[1], w[0]));
    }
    match weights.last() {
        Some(100) => Ok(()),
        Some(last) => Err(format!("the last percentage is {last}, not 100")),
        None => Err("no percentage".into()),
    }
}

fn duration_ms(input: &'static str, value: &str) -> Result<u64, CanaryError> {
    crate::duration::parse(value)
        .map(saturating_ms)
        .map_err(|problem| {
            CanaryError::new(
                input,
                value,
                format!("{} ({problem})", crate::duration::EXPECTED),
            )
        })
}

fn whole(input: &'static str, value: &str) -> Result<u64, CanaryError> {
    value
        .parse::<u64>()
        .map_err(|_| CanaryError::new(input, value, "a whole number such as 50"))
}

/// A decimal number with at most `places` digits after the point, scaled by 10^places:
/// `1.5` at 3 places is 1500. No floating point, so `0.29` is exactly 29 basis points.
fn scaled_decimal(value: &str, places: u32) -> Option<u64> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > places as usize {
        return None;
    }
    let scale = 10u64.pow(places);
    let frac_scaled = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow(places - frac.len() as u32)
    };
    int.parse::<u64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(frac_scaled)
}

/// `1%`, `0.5%`, `0.25 %`: from 0 % to 100 %, at most two decimals; in basis points.
pub fn parse_percent(value: &str) -> Result<u32, CanaryError> {
    const EXPECTED: &str = "a percentage from 0% to 100% with at most two decimals, such as 1% or 0.5% (the % sign is required)";
    let number = value
        .trim()
        .strip_suffix('%')
        .map(str::trim)
        .ok_or_else(|| CanaryError::new("canary-max-error-rate", value, EXPECTED))?;
    scaled_decimal(number, 2)
        .filter(|bp| *bp <= 10_000)
        .and_then(|bp| u32::try_from(bp).ok())
        .ok_or_else(|| CanaryError::new("canary-max-error-rate", value, EXPECTED))
}

/// `1.5`, `2`, `1.25`: more than 1 and at most 100, at most three decimals; in thousandths.
pub fn parse_ratio(value: &str) -> Result<u32, CanaryError> {
    const EXPECTED: &str = "a ratio above 1 and at most 100 with at most three decimals, such \
                            as 1.5 (the new version's average response time may be 1.5 times \
                            the old one's, plus 5 ms)";
    scaled_decimal(value.trim(), 3)
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m > 1_000 && *m <= MAX_LATENCY_RATIO_MILLI)
        .ok_or_else(|| CanaryError::new("canary-max-latency-ratio", value, EXPECTED))
}

/// `1.5` from 1500 thousandths; `2` from 2000.
pub fn ratio_text(milli: u32) -> String {
    let text = format!("{}.{:03}", milli / 1_000, milli % 1_000);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `1%`, `0.5%` from basis points.
pub fn percent_text(bp: u32) -> String {
    let text = format!("{}.{:02}", bp / 100, bp % 100);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Every setting of a canary against its limits, as the parser checks it; the agent runs it
/// again on what a request carries. The error names the flag as the CLI spells it.
pub fn check(spec: &CanarySpec) -> Result<(), CanaryError> {
    check_steps(&spec.steps).map_err(|why| {
        let steps = spec
            .steps
            .iter()
            .map(|s| match s {
                CanaryStep::Weight(w) => w.to_string(),
                CanaryStep::Pause => "pause".into(),
            })
            .collect::<Vec<_>>()
            .join(",");
        CanaryError::new(
            "canary-steps",
            &steps,
            format!("steps that make a canary: {why}"),
        )
    })?;
    let ms = |v: u64| humantime::format_duration(std::time::Duration::from_millis(v)).to_string();
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&spec.interval_ms) {
        return Err(CanaryError::new(
            "canary-interval",
            &ms(spec.interval_ms),
            "from 1s to 1h",
        ));
    }
    if !(1..=MAX_MIN_REQUESTS).contains(&spec.min_requests) {
        return Err(CanaryError::new(
            "canary-min-requests",
            &spec.min_requests.to_string(),
            format!("a whole number of requests from 1 to {MAX_MIN_REQUESTS}"),
        ));
    }
    if spec.max_error_rate_bp > 10_000 {
        return Err(CanaryError::new(
            "canary-max-error-rate",
            &percent_text(spec.max_error_rate_bp),
            "a percentage from 0% to 100%",
        ));
    }
    if spec.max_latency_ratio_milli <= 1_000
        || spec.max_latency_ratio_milli > MAX_LATENCY_RATIO_MILLI
    {
        return Err(CanaryError::new(
            "canary-max-latency-ratio",
            &ratio_text(spec.max_latency_ratio_milli),
            "a ratio above 1 and at most 100",
        ));
    }
    if !(1..=MAX_FAILURE_LIMIT).contains(&spec.failure_limit) {
        return Err(CanaryError::new(
            "canary-failure-limit",
            &spec.failure_limit.to_string(),
            limit_expected(),
        ));
    }
    if !(MIN_INTERVAL_MS..=MAX_PAUSE_TIMEOUT_MS).contains(&spec.pause_timeout_ms) {
        return Err(CanaryError::new(
            "canary-pause-timeout",
            &ms(spec.pause_timeout_ms),
            "from 1s to 24h",
        ));
    }
    Ok(())
}

/// `--alarm NAME` (repeatable) or the input `alarms` (one a line): CloudWatch alarm names,
/// 1-255 characters without control characters, at most [`MAX_ALARMS`], duplicates dropped.
pub fn parse_alarms<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, CanaryError> {
    let mut alarms: Vec<String> = Vec::new();
    for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
        alarm_name(name)?;
        if !alarms.iter().any(|a| a == name) {
            alarms.push(name.to_string());
        }
    }
    if alarms.len() > MAX_ALARMS {
        return Err(CanaryError::new(
            "alarm",
            &format!("{} alarms", alarms.len()),
            format!("at most {MAX_ALARMS} alarms"),
        ));
    }
    Ok(alarms)
}

/// One CloudWatch alarm name.
pub fn alarm_name(name: &str) -> Result<(), CanaryError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_ALARM_NAME_LEN
        && !name.chars().any(char::is_control)
        && name.trim() == name;
    if ok {
        Ok(())
    } else {
        Err(CanaryError::new(
            "alarm",
            name,
            "the name of a CloudWatch alarm: 1-255 characters, no control characters and no \
             blanks around it",
        ))
    }
}

/// The alarms a request carries, as [`parse_alarms`] would have left them: each a valid name,
/// once, at most [`MAX_ALARMS`].
pub fn check_alarms(alarms: &[String]) -> Result<(), CanaryError> {
    for name in alarms {
        alarm_name(name)?;
    }
    let parsed = parse_alarms(alarms.iter().map(String::as_str))?;
    if parsed.len() == alarms.len() {
        Ok(())
    } else {
        Err(CanaryError::new(
            "alarm",
            &alarms.join(","),
            "each alarm named once",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CanaryStep::{Pause, Weight};

    fn canary() -> RawCanary<'static> {
        RawCanary {
            strategy: Some("canary"),
            ..RawCanary::default()
        }
    }

    #[test]
    fn the_defaults_are_the_issues_numbers() {
        let spec = canary().parse().unwrap().unwrap();
        assert_eq!(
            spec,
            CanarySpec {
                steps: vec![Weight(5), Weight(25), Weight(50), Weight(100)],
                interval_ms: 30_000,
                min_requests: 50,
                max_error_rate_bp: 100,
                max_latency_ratio_milli: 1_500,
                failure_limit: 1,
                pause_timeout_ms: 3_600_000,
                every_batch: false,
            }
        );
        let every = RawCanary {
            canary_batches: Some("every"),
            ..canary()
        };
        assert!(every.parse().unwrap().unwrap().every_batch);
        let bad = RawCanary {
            canary_batches: Some("all"),
            ..canary()
        };
        assert_eq!(bad.parse().unwrap_err().input, "canary-batches");
        assert_eq!(RawCanary::default().parse(), Ok(None), "blue-green");
        assert_eq!(spec.steps_line(), "5 %, 25 %, 50 %, 100 %");
    }

    #[test]
    fn steps_take_percentages_and_pauses_in_a_sensible_order() {
        assert_eq!(
            parse_steps("10%, 25, pause, 100").unwrap(),
            [Weight(10), Weight(25), Pause, Weight(100)]
        );
        assert_eq!(parse_steps("100").unwrap(), [Weight(100)]);
        assert_eq!(
            parse_steps("50,100,pause").unwrap(),
            [Weight(50), Weight(100), Pause],
            "a pause at 100 % waits for a person before the old version is drained"
        );
        for (bad, why) in [
            ("", "no step given"),
            ("pause,50,100", "cannot come first"),
            ("5,pause,pause,100", "two pauses in a row"),
            ("5,25,25,100", "25 after 25 does not increase"),
            ("50,25,100", "25 after 50 does not increase"),
            ("5,25,50", "the last percentage is 50, not 100"),
            ("0,100", "\"0\" is neither"),
            ("5,101", "\"101\" is neither"),
            ("5,Pause,100", "\"Pause\" is neither"),
            ("5,1.5,100", "\"1.5\" is neither"),
            ("1,2,3,4,5,6,7,8,9,10,11,12,100", "13 steps, at most 12"),
        ] {
            let e = parse_steps(bad).unwrap_err();
            assert_eq!(e.input, "canary-steps");
            assert_eq!(e.value, bad);
            assert!(e.expected.contains(why), "{bad}: {e}");
            assert!(e
                .to_string()
                .starts_with(&format!("--canary-steps {bad:?}: expected ")));
        }
    }

    #[test]
    fn an_error_rate_is_a_percentage_with_its_sign() {
        assert_eq!(parse_percent("1%").unwrap(), 100);
        assert_eq!(parse_percent("0.5%").unwrap(), 50);
        assert_eq!(
            parse_percent("0.29 %").unwrap(),
            29,
            "no floating point error"
        );
        assert_eq!(parse_percent("0%").unwrap(), 0);
        assert_eq!(parse_percent("100%").unwrap(), 10_000);
        for bad in [
            "1",
            "0.5",
            "1 percent",
            "-1%",
            "100.01%",
            "0.005%",
            ".5%",
            "%",
            "1e2%",
        ] {
            let e = parse_percent(bad).unwrap_err();
            assert!(
                e.to_string()
                    .contains(&format!("--canary-max-error-rate {bad:?}"))
                    && e.expected.contains("such as 1% or 0.5%"),
                "{e}"
            );
        }
        assert_eq!(percent_text(50), "0.5%");
        assert_eq!(percent_text(100), "1%");
        assert_eq!(percent_text(125), "1.25%");
    }

    #[test]
    fn a_latency_ratio_is_above_one() {
        assert_eq!(parse_ratio("1.5").unwrap(), 1_500);
        assert_eq!(parse_ratio("2").unwrap(), 2_000);
        assert_eq!(parse_ratio("1.001").unwrap(), 1_001);
        for bad in ["1", "1.0", "0.9", "1.5x", "1.0001", "101", ""] {
            assert!(parse_ratio(bad).is_err(), "{bad}");
        }
        assert_eq!(ratio_text(1_500), "1.5");
        assert_eq!(ratio_text(2_000), "2");
        assert_eq!(ratio_text(1_001), "1.001");
    }

    #[test]
    fn each_setting_is_checked_against_its_limit_and_named() {
        type Case = (fn(&mut RawCanary<'static>), &'static str, &'static str);
        let cases: [Case; 9] = [
            (
                |r| r.canary_interval = Some("500ms"),
                "canary-interval",
                "from 1s to 1h",
            ),
            (
                |r| r.canary_interval = Some("2h"),
                "canary-interval",
                "from 1s to 1h",
            ),
            (
                |r| r.canary_interval = Some("soon"),
                "canary-interval",
                "a duration",
            ),
            (
                |r| r.canary_min_requests = Some("0"),
                "canary-min-requests",
                "from 1",
            ),
            (
                |r| r.canary_min_requests = Some("many"),
                "canary-min-requests",
                "whole number",
            ),
            (
                |r| r.canary_failure_limit = Some("0"),
                "canary-failure-limit",
                "from 1 to 10",
            ),
            (
                |r| r.canary_failure_limit = Some("11"),
                "canary-failure-limit",
                "from 1 to 10",
            ),
            (
                |r| r.canary_pause_timeout = Some("2d"),
                "canary-pause-timeout",
                "from 1s to 24h",
            ),
            (
                |r| r.strategy = Some("rolling"),
                "strategy",
                "bluegreen or canary",
            ),
        ];
        for (mutate, input, expected) in cases {
            let mut raw = canary();
            mutate(&mut raw);
            let e = raw.parse().unwrap_err();
            assert_eq!(e.input, input, "{e}");
            assert!(e.expected.contains(expected), "{e}");
        }
    }

    #[test]
    fn canary_settings_with_blue_green_are_refused_not_ignored() {
        let raw = RawCanary {
            strategy: Some("bluegreen"),
            canary_interval: Some("10s"),
            ..RawCanary::default()
        };
        let e = raw.parse().unwrap_err();
        assert_eq!((e.input, e.value.as_str()), ("canary-interval", "10s"));
        assert!(e.expected.contains("--strategy canary"), "{e}");
        let implicit = RawCanary {
            canary_steps: Some("50,100"),
            ..RawCanary::default()
        };
        assert_eq!(implicit.parse().unwrap_err().input, "canary-steps");
    }

    #[test]
    fn steps_travel_as_numbers_and_the_word_pause() {
        let spec = RawCanary {
            canary_steps: Some("5,pause,100"),
            ..canary()
        }
        .parse()
        .unwrap()
        .unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["steps"], serde_json::json!([5, "pause", 100]));
        assert_eq!(serde_json::from_value::<CanarySpec>(json).unwrap(), spec);
        assert!(serde_json::from_value::<CanaryStep>(serde_json::json!("wait")).is_err());
    }

    #[test]
    fn the_agent_refuses_what_the_parser_would() {
        let good = canary().parse().unwrap().unwrap();
        assert_eq!(check(&good), Ok(()));
        type Tweak = (fn(&mut CanarySpec), &'static str);
        let tweaks: [Tweak; 6] = [
            (|s| s.steps = vec![Weight(50)], "canary-steps"),
            (|s| s.steps = vec![Pause, Weight(100)], "canary-steps"),
            (|s| s.interval_ms = 10, "canary-interval"),
            (|s| s.max_error_rate_bp = 10_001, "canary-max-error-rate"),
            (
                |s| s.max_latency_ratio_milli = 1_000,
                "canary-max-latency-ratio",
            ),
            (|s| s.failure_limit = 0, "canary-failure-limit"),
        ];
        for (tweak, input) in tweaks {
            let mut s = good.clone();
            tweak(&mut s);
            assert_eq!(check(&s).unwrap_err().input, input);
        }
    }

    #[test]
    fn the_longest_canary_counts_held_steps_failures_and_pauses() {
        let mut spec = canary().parse().unwrap().unwrap();
        // 4 weights, each held by up to 3 inconclusive intervals: 16 intervals of 30 s.
        assert_eq!(spec.longest_ms(), 16 * 30_000);
        spec.failure_limit = 3;
        spec.steps.insert(1, Pause);
        assert_eq!(spec.longest_ms(), 18 * 30_000 + 3_600_000);
    }

    #[test]
    fn alarms_are_names_once_each() {
        assert_eq!(
            parse_alarms(["shop-5xx", " shop-p99 ", "", "shop-5xx"]).unwrap(),
            ["shop-5xx", "shop-p99"]
        );
        assert!(parse_alarms(["a\tb"]).is_err());
        assert!(parse_alarms([&*"a".repeat(256)]).is_err());
        let many: Vec<String> = (0..=MAX_ALARMS).map(|i| format!("a{i}")).collect();
        assert!(parse_alarms(many.iter().map(String::as_str)).is_err());
        assert_eq!(check_alarms(&["x".into(), "y".into()]), Ok(()));
        assert!(check_alarms(&["x".into(), "x".into()]).is_err());
        assert!(check_alarms(&[" x".into()]).is_err());
    }
}
