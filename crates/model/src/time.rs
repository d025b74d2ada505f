//! Time as data. Pure code never reads a clock: it is handed `now: Timestamp`.
//!
//! [`Timestamp`] is wall time in milliseconds since the Unix epoch, because alarms, scheduled
//! actions, metrics and activity history all need wall semantics. Only `server::clock` produces
//! one from the real clock.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The epoch; handy as the start of simulated time.
    pub const EPOCH: Timestamp = Timestamp(0);

    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s * 1000)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// Whole seconds since the epoch (floor).
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// RFC 3339 in UTC with second precision, as AWS prints it in activity causes:
    /// `2026-11-23T10:00:00Z`.
    pub fn rfc3339(self) -> String {
        match jiff::Timestamp::from_second(self.as_secs()) {
            Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Err(_) => format!("@{}ms", self.0),
        }
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_aws_activity_times() {
        let t = Timestamp::from_secs(1_795_000_000);
        assert_eq!(t.rfc3339(), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn arithmetic_saturates_and_since_never_negative() {
        let t = Timestamp::from_secs(10);
        assert_eq!((t + Duration::from_millis(1500)).as_millis(), 11_500);
        assert_eq!(Timestamp::from_secs(5).since(t), Duration::ZERO);
        assert_eq!(t.since(Timestamp::from_secs(4)), Duration::from_secs(6));
    }
}
