//! The canary: a deploy that moves the new version's share of requests up step by step and
//! judges it, at each step, against the old version serving beside it on the same proxy.
//!
//! The parts the loop calls, each tested on its own: [`spec`] (the settings a request carries),
//! [`analysis`] (an interval's verdict from the proxy's counters and log, and the [`analysis::Judge`]
//! that turns verdicts into hold, advance or abort), [`alarms`] (CloudWatch alarms in state ALARM),
//! and the files a canary in progress shares with `bluegreen promote` and `abort`
//! ([`CanaryProgress`], [`decision`]).

pub mod analysis;
pub mod spec;
