//! Durations, as every flag, action input and environment variable of this project takes them.
//!
//! One grammar: a bare whole number is seconds (`90`); otherwise one or more numbers, each
//! followed by a unit, optionally separated by spaces (`500ms`, `30s`, `2m`, `1h30m`, `7d`).
//! Units: `ms`, `s`, `m`, `h`, `d`, `w` (and their long spellings such as `min`, `hours`,
//! `days`). Whether a value is in range is the caller's to say: each limit is a named constant
//! next to the value it bounds (`agent::validate::MAX_WAIT`, say).

use std::time::Duration;

/// What every error about a duration says it expected.
pub const EXPECTED: &str = "a duration such as 90 (seconds), 500ms, 30s, 2m, 1h30m or 7d";

/// Parses a duration; the error is the problem, in a few words, without the value.
pub fn parse(value: &str) -> Result<Duration, String> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(v).map_err(|e| e.to_string())
}

/// The same grammar as a clap `value_parser`: the error names the value and what was expected.
pub fn parse_flag(value: &str) -> Result<Duration, String> {
    parse(value)
        .map_err(|problem| format!("{value:?} is not a duration ({problem}): expected {EXPECTED}"))
}

/// Milliseconds, capped at `u64::MAX` (a duration of centuries must not wrap to a small one).
pub fn saturating_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_are_seconds_and_units_combine() {
        assert_eq!(parse("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse(" 90 ").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("7d").unwrap(), Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn other_text_is_refused_with_the_value_named() {
        for bad in ["", "soon", "-5s", "30 parsecs", "5 o'clock"] {
            let e = parse_flag(bad).unwrap_err();
            assert!(
                e.contains(&format!("{bad:?}")) && e.contains(EXPECTED),
                "{e}"
            );
        }
    }
}
