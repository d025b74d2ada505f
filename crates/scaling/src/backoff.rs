//! Launch retry backoff: a user data script that keeps failing must not make the group spin.
//!
//! After the n-th consecutive failed launch the group waits `base × 2^(n−1)`, capped, before it
//! tries again, and while it is failing it probes with one launch at a time.

use std::time::Duration;

/// First retry delay.
pub const BASE: Duration = Duration::from_secs(2);
/// Longest delay between attempts.
pub const CAP: Duration = Duration::from_secs(120);

/// Delay before the next launch attempt after `failures` consecutive failures (0 → no delay).
pub fn delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32 << (failures - 1).min(16);
    (BASE * factor).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        assert_eq!(delay(0), Duration::ZERO);
        assert_eq!(delay(1), Duration::from_secs(2));
        assert_eq!(delay(2), Duration::from_secs(4));
        assert_eq!(delay(4), Duration::from_secs(16));
        assert_eq!(delay(7), CAP);
        assert_eq!(delay(40), CAP);
    }
}
