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

/// Parses a duration as people write it on a command line: a whole number followed by a unit,
/// `ms`, `s`, `m` or `h` (`1500ms`, `30s`, `2m`, `1h`), or several of them together (`1m30s`).
/// A bare number is refused: the unit is part of the meaning.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let help = "write it as a number with a unit: 500ms, 30s, 2m, 1h or 1m30s";
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {help}"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{text}` is not a duration; {help}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too long a duration; {help}"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let millis = match unit {
            "ms" => Some(n),
            "s" => n.checked_mul(1000),
            "m" => n.checked_mul(60_000),
            "h" => n.checked_mul(3_600_000),
            "" => return Err(format!("`{text}` has no unit; {help}")),
            other => return Err(format!("`{other}` in `{text}` is not a unit; {help}")),
        }
        .ok_or_else(|| format!("`{text}` is too long a duration; {help}"))?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(|| format!("`{text}` is too long a duration; {help}"))?;
    }
    Ok(total)
}

/// Writes a duration the way [`parse_duration`] reads it, shortest form (`1m30s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return if ms < 1000 {
            format!("{ms}ms")
        } else {
            format!("{:.1}s", d.as_secs_f64())
        };
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 {
        out += &format!("{s}s");
    }
    out
}

#[cfg(test)]
mod duration_tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_the_rest() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("1500ms"), Duration::from_millis(1500));
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok(" 2m "), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        for bad in [
            "",
            "30",
            "5x",
            "s",
            "-1s",
            "1.5s",
            "99999999999999999999s",
            "1s 2s",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("30s"), "{bad}: {e}");
        }
        assert!(parse_duration("18446744073709551615h").is_err());
    }

    #[test]
    fn durations_format_back() {
        for s in ["250ms", "30s", "1m30s", "1h", "2h5m"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
