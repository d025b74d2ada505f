//! Passive ejection ("outlier detection", beyond ALB): a target that fails real requests in a
//! row is taken out of rotation at once, without waiting for health checks, and let back after
//! a backoff that doubles while it keeps failing.
//!
//! Pure rules; the atomics that carry the counts live in `target::TargetRuntime`.

use std::time::Duration;

/// Consecutive 5xx responses that eject a target.
pub(crate) const CONSECUTIVE_5XX: u32 = 5;
/// Consecutive failed connections (refused, reset before a response, timed out) that eject it.
pub(crate) const CONSECUTIVE_CONNECT_FAILURES: u32 = 2;
const BASE_EJECTION: Duration = Duration::from_secs(1);
const MAX_EJECTION: Duration = Duration::from_secs(30);

/// What one request to a target showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Any response below 500.
    Success,
    /// A 5xx response from the target.
    ServerError,
    /// No response: the connection failed or broke before one.
    ConnectFailure,
}

/// How long the `n`-th consecutive ejection (0-based) lasts: 1 s, 2 s, 4 s, … at most 30 s.
pub(crate) fn ejection_time(n: u32) -> Duration {
    BASE_EJECTION
        .checked_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
        .unwrap_or(MAX_EJECTION)
        .min(MAX_EJECTION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let secs: Vec<u64> = (0..8).map(|n| ejection_time(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(ejection_time(200), MAX_EJECTION);
    }
}
