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

/// How durations are written, for error messages.
pub const DURATION_HELP: &str = "a number with a unit: 250us, 500ms, 30s, 1.5s, 2m, 1h or 1m30s";

/// Parses a duration as people write it on a command line or in a file: a number followed by a
/// unit, `us` (or `µs`), `ms`, `s`, `m` (or `min`) or `h` (`250us`, `1500ms`, `1.5s`, `2m`,
/// `1h`), or several of them together (`1m30s`). A bare number is refused: the unit is part of
/// the meaning. The value is exact to the nanosecond (decimal fractions are not floats).
/// The one duration parser of the workspace: `updraft chaos`, `updraft load`, stages files and
/// thresholds all read durations with it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration; write {DURATION_HELP}"));
    }
    let too_long = || format!("`{s}` is too long a duration; write {DURATION_HELP}");
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(f) => {
                let len = f.bytes().take_while(u8::is_ascii_digit).count();
                (&f[..len], &f[len..])
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(format!("`{s}` is not a duration; write {DURATION_HELP}"));
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| !(c.is_alphabetic()))
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        rest = after;
        let nanos_per_unit: u128 = match unit {
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "`{s}` has no unit; write {DURATION_HELP} (e.g. `{whole}{}{fraction}s`)",
                    if fraction.is_empty() { "" } else { "." }
                ));
            }
            other => {
                return Err(format!(
                    "`{other}` in `{s}` is not a time unit; write {DURATION_HELP}"
                ));
            }
        };
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        // Fractions beyond the nanosecond are dropped (at most 18 digits are looked at).
        let digits = &fraction[..fraction.len().min(18)];
        let part = if digits.is_empty() {
            0
        } else {
            let numerator: u128 = digits.parse().map_err(|_| too_long())?;
            numerator * nanos_per_unit / 10u128.pow(digits.len() as u32)
        };
        total = whole
            .checked_mul(nanos_per_unit)
            .and_then(|n| n.checked_add(part))
            .and_then(|n| n.checked_add(total))
            .ok_or_else(too_long)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Writes a duration the way [`parse_duration`] reads it, shortest form (`1m30s`, `250ms`,
/// `800us`; other fractions of a second as `1.5s`, to a tenth).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d < Duration::from_secs(1) && d.subsec_nanos().is_multiple_of(1000) {
        let us = d.as_micros();
        return if us.is_multiple_of(1000) {
            format!("{}ms", us / 1000)
        } else {
            format!("{us}us")
        };
    }
    if d.subsec_nanos() != 0 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
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
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok(".25s"), Duration::from_millis(250));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("250µs"), Duration::from_micros(250));
        assert_eq!(ok("2min"), Duration::from_secs(120));
        assert_eq!(ok("0.1ms"), Duration::from_micros(100));
        assert_eq!(ok("1.0000000001s"), Duration::from_secs(1));
        for bad in [
            "",
            "30",
            "5x",
            "s",
            "-1s",
            ".",
            "1.5",
            "1e3s",
            "99999999999999999999s",
            "1s 2s",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("30s"), "{bad}: {e}");
        }
        assert!(parse_duration("18446744073709551615h").is_err());
        assert!(parse_duration("3").unwrap_err().contains("`3s`"));
    }

    #[test]
    fn durations_format_back() {
        for s in ["250ms", "800us", "30s", "1m30s", "1h", "2h5m"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
