//! Durations and rates as people type them: `500ms`, `30s`, `2m`, `1m30s`, `1h`; `200`,
//! `200/s`, `1.5k/s`. Shared by the stages file, the thresholds and the command line, so every
//! place accepts the same spellings and explains them the same way.

use std::fmt;
use std::time::Duration;

/// The spellings, for error messages.
pub use model::time::DURATION_HELP;
pub const RATE_HELP: &str = "requests per second: 200, 200/s or 1.5k/s";

/// Longest duration accepted anywhere (a day): loads are bounded.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Largest rate accepted anywhere (requests per second).
pub const MAX_RATE: f64 = 10_000_000.0;

/// Parses a duration (the workspace's one parser, [`model::time::parse_duration`]), refusing
/// anything longer than [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = model::time::parse_duration(text)?;
    if d > MAX_DURATION {
        return Err(format!("`{}` is longer than the 24 h limit", text.trim()));
    }
    Ok(d)
}

/// Parses a rate in requests per second: a number, optionally with a `k` multiplier and `/s`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let s = text.trim();
    let body = s.strip_suffix("/s").unwrap_or(s);
    let (number, scale) = match body.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1000.0),
        None => (body, 1.0),
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|_| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .ok_or_else(|| format!("`{s}` is not a rate; write {RATE_HELP}"))?;
    let rate = value * scale;
    if !rate.is_finite() || rate > MAX_RATE {
        return Err(format!(
            "rate `{s}` is above the limit of {MAX_RATE} requests per second"
        ));
    }
    Ok(rate)
}

/// A latency for people: `850µs`, `12.3ms`, `1.25s`.
pub struct Latency(pub Duration);

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_secs_f64() * 1e6;
        if us < 1000.0 {
            write!(f, "{us:.0}µs")
        } else if us < 10_000.0 {
            write!(f, "{:.2}ms", us / 1000.0)
        } else if us < 1_000_000.0 {
            write!(f, "{:.1}ms", us / 1000.0)
        } else {
            write!(f, "{:.2}s", us / 1e6)
        }
    }
}

/// A duration for people: `30s`, `1m30s`, `250ms`.
pub struct Span(pub Duration);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&model::time::format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 2h "), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("30x")
                .unwrap_err()
                .contains("`x` in `30x` is not a time unit")
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1..2s").is_err());
        assert!(parse_duration("25h").unwrap_err().contains("24 h"));
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("200"), Ok(200.0));
        assert_eq!(parse_rate("200/s"), Ok(200.0));
        assert_eq!(parse_rate("1.5k/s"), Ok(1500.0));
        assert_eq!(parse_rate("0"), Ok(0.0));
        assert!(parse_rate("-5").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("/s").is_err());
        assert!(parse_rate("1e9").is_err());
        assert!(parse_rate("99999999").unwrap_err().contains("limit"));
    }

    #[test]
    fn display() {
        assert_eq!(Latency(Duration::from_micros(850)).to_string(), "850µs");
        assert_eq!(Latency(Duration::from_micros(1234)).to_string(), "1.23ms");
        assert_eq!(Latency(Duration::from_micros(12345)).to_string(), "12.3ms");
        assert_eq!(Latency(Duration::from_millis(1250)).to_string(), "1.25s");
        assert_eq!(Span(Duration::from_secs(90)).to_string(), "1m30s");
        assert_eq!(Span(Duration::from_secs(30)).to_string(), "30s");
        assert_eq!(Span(Duration::from_millis(250)).to_string(), "250ms");
    }
}
