//! CloudWatch alarms as an extra signal of a deploy (`--alarm`).
