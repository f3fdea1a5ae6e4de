//! Which hosts a fleet command acts on, and how many at a time: the typed form of the
//! `--instance-ids`, `--target-tags`, `--max-concurrency` and `--max-errors` flags.
//!
//! Every parser returns an error that names the flag, the value and what was expected, so a
//! typo fails before any AWS call.

use std::fmt;
use std::str::FromStr;

/// SendCommand accepts at most 50 instance ids per call; a batch never exceeds it.
pub const MAX_IDS_PER_COMMAND: usize = 50;

/// An EC2 instance id (`i-` and 8 or 17 hex digits) or a hybrid managed node (`mi-`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(String);

impl InstanceId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for InstanceId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let hex = s
            .strip_prefix("i-")
            .or_else(|| s.strip_prefix("mi-"))
            .unwrap_or("");
        let hex_ok = matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if hex_ok {
            Ok(InstanceId(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not an instance id: expected i- or mi- followed by 8 or 17 hex digits"
            ))
        }
    }
}

/// Parses `i-..,i-..` (the `--instance-ids` value; the action input may also put one id a
/// line): non-empty, no duplicates.
pub fn parse_instance_ids(value: &str) -> Result<Vec<InstanceId>, String> {
    let mut ids: Vec<InstanceId> = Vec::new();
    for item in value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let id: InstanceId = item.parse()?;
        if ids.contains(&id) {
            return Err(format!("{id} is listed twice"));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(format!("{value:?} names no instance: expected i-..,i-.."));
    }
    Ok(ids)
}

/// `--target-tags Key=Value[,Value]`: instances carrying tag `Key` with any of the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub key: String,
    pub values: Vec<String>,
}

impl FromStr for TagFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, values) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected Key=Value[,Value]"))?;
        let key = key.trim();
        if key.is_empty() || key.len() > 128 {
            return Err(format!(
                "{s:?}: the tag key must be 1 to 128 characters (expected Key=Value[,Value])"
            ));
        }
        let values: Vec<String> = values
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        if values.is_empty() {
            return Err(format!("{s:?}: no tag value (expected Key=Value[,Value])"));
        }
        // SSM accepts at most 50 values per target key.
        if values.len() > 50 {
            return Err(format!(
                "{s:?}: {} values, SSM accepts at most 50",
                values.len()
            ));
        }
        Ok(TagFilter {
            key: key.to_string(),
            values,
        })
    }
}

/// A number of hosts, absolute or a share of the fleet (`--max-concurrency`, `--max-errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCount {
    Absolute(usize),
    Percent(u8),
}

impl HostCount {
    /// The count for a fleet of `fleet` hosts. A percentage rounds down, like SSM's own
    /// MaxErrors (10% of 50 allows 5 errors); [`RolloutLimits::resolve`] refuses a
    /// concurrency that comes out at 0.
    pub fn of(self, fleet: usize) -> usize {
        match self {
            HostCount::Absolute(n) => n,
            HostCount::Percent(p) => fleet * usize::from(p) / 100,
        }
    }
}

impl fmt::Display for HostCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostCount::Absolute(n) => write!(f, "{n}"),
            HostCount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for HostCount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad =
            || format!("{s:?}: expected a number of hosts (e.g. 5) or a percentage (e.g. 10%)");
        match s.strip_suffix('%') {
            Some(p) => {
                let p: u8 = p.parse().map_err(|_| bad())?;
                if p > 100 {
                    return Err(format!("{s:?}: a percentage is at most 100%"));
                }
                Ok(HostCount::Percent(p))
            }
            None => s.parse().map(HostCount::Absolute).map_err(|_| bad()),
        }
    }
}

/// How a rolling deploy walks the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutLimits {
    /// Hosts per batch (at least 1, at most [`MAX_IDS_PER_COMMAND`]).
    pub batch_size: usize,
    /// Failed hosts tolerated; one more stops the rollout (SSM's MaxErrors semantics).
    pub max_errors: usize,
}

impl RolloutLimits {
    /// How many batches a rollout to `hosts` hosts takes (the rollout's `chunks`).
    pub fn batches(&self, hosts: usize) -> usize {
        hosts.div_ceil(self.batch_size.max(1))
    }

    /// Resolves the flags against the fleet size. A concurrency of 0 (or a percentage that
    /// rounds to 0) is an error rather than a silent 1: the user asked for something else.
    pub fn resolve(
        max_concurrency: HostCount,
        max_errors: HostCount,
        fleet: usize,
    ) -> Result<RolloutLimits, String> {
        let batch_size = max_concurrency.of(fleet);
        if batch_size == 0 {
            return Err(format!(
                "--max-concurrency {max_concurrency}: is 0 hosts for a fleet of {fleet}; expected at least 1"
            ));
        }
        Ok(RolloutLimits {
            batch_size: batch_size.min(MAX_IDS_PER_COMMAND).min(fleet.max(1)),
            max_errors: max_errors.of(fleet),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_checked() {
        let ids = parse_instance_ids("i-0123456789abcdef0, i-12345678").unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(
            parse_instance_ids("i-12345678\ni-87654321\n")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(ids[1].as_str(), "i-12345678");
        assert!(
            parse_instance_ids("i-0123456789abcdef0,i-0123456789abcdef0")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_instance_ids("web-1")
            .unwrap_err()
            .contains("\"web-1\""));
        assert!(parse_instance_ids(" , ").is_err());
        assert!("i-1234567".parse::<InstanceId>().is_err());
        assert!("mi-0123456789abcdef0".parse::<InstanceId>().is_ok());
    }

    #[test]
    fn tag_filter_takes_several_values() {
        let t: TagFilter = "Role=web,api".parse().unwrap();
        assert_eq!(t.key, "Role");
        assert_eq!(t.values, vec!["web", "api"]);
        assert!("Role".parse::<TagFilter>().is_err());
        assert!("=web".parse::<TagFilter>().is_err());
        assert!("Role=".parse::<TagFilter>().is_err());
    }

    #[test]
    fn host_counts_resolve_against_the_fleet() {
        assert_eq!("10%".parse::<HostCount>().unwrap().of(50), 5);
        assert_eq!("3".parse::<HostCount>().unwrap().of(50), 3);
        assert!("101%".parse::<HostCount>().is_err());
        assert!("-1".parse::<HostCount>().is_err());
        assert!("ten".parse::<HostCount>().unwrap_err().contains("\"ten\""));

        let l =
            RolloutLimits::resolve(HostCount::Absolute(20), HostCount::Percent(10), 200).unwrap();
        assert_eq!(
            l,
            RolloutLimits {
                batch_size: 20,
                max_errors: 20
            }
        );
        let l =
            RolloutLimits::resolve(HostCount::Percent(100), HostCount::Absolute(0), 120).unwrap();
        assert_eq!(l.batch_size, MAX_IDS_PER_COMMAND);
        let err =
            RolloutLimits::resolve(HostCount::Percent(10), HostCount::Absolute(0), 5).unwrap_err();
        assert!(err.contains("--max-concurrency 10%"), "{err}");
    }
}
