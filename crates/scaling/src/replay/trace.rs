//! Request-rate traces: CSV `timestamp,requests`, one row per interval.
//!
//! `timestamp` is whole seconds (since the epoch or since the trace's start) or RFC 3339 UTC;
//! `requests` is the number of requests in the interval that starts at that row and ends at the
//! next row (the last row lasts as long as the one before it). A header line, blank lines and
//! `#` comments are skipped. Rows must be in increasing time order.

use std::fmt;

/// A parsed trace: request rate per second, one value per second from the first timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Seconds since the epoch of the first row (0 when timestamps are relative).
    pub start: i64,
    /// Requests per second, second by second.
    pub rate: Vec<f64>,
}

/// A trace line that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Longest trace accepted: 31 days of seconds.
pub const MAX_SECONDS: i64 = 31 * 86_400;

/// Seconds a timestamp may have: RFC 3339's years 1 to 9999, so that times computed from
/// the trace never overflow (found by fuzzing).
const SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

fn timestamp(text: &str) -> Option<i64> {
    let seconds = if let Ok(n) = text.parse::<i64>() {
        n
    } else if let Ok(f) = text.parse::<f64>() {
        if !(f.is_finite() && f.abs() < 1e15) {
            return None;
        }
        f.floor() as i64
    } else {
        text.parse::<jiff::Timestamp>().ok()?.as_second()
    };
    SECONDS.contains(&seconds).then_some(seconds)
}

/// Parses a trace.
pub fn parse(text: &str) -> Result<Trace, TraceError> {
    let mut rows: Vec<(i64, f64)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut cells = l.split([',', ';', '\t']).map(str::trim);
        let (Some(ts), Some(req)) = (cells.next(), cells.next()) else {
            return Err(TraceError {
                line,
                message: format!("expected `timestamp,requests`, got `{l}`"),
            });
        };
        let Some(t) = timestamp(ts) else {
            if rows.is_empty()
                && ts.chars().any(|c| c.is_ascii_alphabetic())
                && req.parse::<f64>().is_err()
            {
                continue; // a header
            }
            return Err(TraceError {
                line,
                message: format!(
                    "`{ts}` is neither seconds (from the years 1 to 9999) nor an RFC 3339 time like 2026-11-30T12:00:00Z"
                ),
            });
        };
        let r: f64 = match req.parse() {
            Ok(r) if r >= 0.0 && f64::is_finite(r) => r,
            _ => {
                return Err(TraceError {
                    line,
                    message: format!("`{req}` is not a request count (a number ≥ 0)"),
                });
            }
        };
        if let Some((prev, _)) = rows.last()
            && t <= *prev
        {
            return Err(TraceError {
                line,
                message: format!(
                    "timestamp {t} is not after the previous row's {prev}; sort the trace by time"
                ),
            });
        }
        // The last row lasts as long as the interval before it: the trace ends there.
        let end = rows.last().map_or(t.saturating_add(1), |(prev, _)| {
            t.saturating_add(t.saturating_sub(*prev))
        });
        if let Some((first, _)) = rows.first()
            && end.saturating_sub(*first) > MAX_SECONDS + 1
        {
            return Err(TraceError {
                line,
                message: format!("the trace is longer than {} days", MAX_SECONDS / 86_400),
            });
        }
        rows.push((t, r));
    }
    if rows.is_empty() {
        return Err(TraceError {
            line: 1,
            message: "the trace has no rows; write `timestamp,requests` lines".into(),
        });
    }
    let start = rows[0].0;
    let mut rate = Vec::new();
    for (i, (t, r)) in rows.iter().enumerate() {
        let len = match rows.get(i + 1) {
            Some((next, _)) => next - t,
            None if i > 0 => t - rows[i - 1].0,
            None => 1,
        };
        let per_sec = r / len as f64;
        rate.extend(std::iter::repeat_n(per_sec, len as usize));
    }
    Ok(Trace { start, rate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_a_rate_per_second() {
        let t = parse("timestamp,requests\n0,100\n10,50\n# comment\n\n15,0\n").unwrap();
        assert_eq!(t.rate.len(), 20);
        assert_eq!(t.rate[0], 10.0);
        assert_eq!(t.rate[12], 10.0);
        assert_eq!(t.rate[19], 0.0);
        let t = parse("2026-11-30T12:00:00Z,5\n2026-11-30T12:00:01Z,7\n").unwrap();
        assert_eq!(t.rate, vec![5.0, 7.0]);
        let noon: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        assert_eq!(t.start, noon.as_second());
    }

    #[test]
    fn bad_rows_name_their_line() {
        assert_eq!(parse("0,1\n0,2\n").unwrap_err().line, 2);
        assert_eq!(parse("0,1\nnoon,2\n").unwrap_err().line, 2);
        assert!(parse("0,-1\n").unwrap_err().message.contains("≥ 0"));
        assert!(parse("0\n").is_err());
        assert!(parse("").is_err());
        assert!(parse(&format!("0,1\n{},1\n", MAX_SECONDS + 1)).is_err());
        assert!(
            parse(&format!("{},1\n", i64::MAX))
                .unwrap_err()
                .message
                .contains("9999")
        );
        assert!(parse("253402300799,1\n").is_ok());
        assert!(parse(&format!("{},1\n{},1\n", i64::MIN, i64::MAX)).is_err());
        // The last row lasts as long as the interval before it, so it counts toward the limit
        // (found by fuzzing: 27 days, then one second, then a last row of 27 days).
        let long = "2026-11-03T12:00:00Z,5.\n2026-11-30T12:00:01Z,7\n";
        assert!(
            parse(long)
                .unwrap_err()
                .message
                .contains("longer than 31 days")
        );
        let full = parse(&format!("0,1\n{},1\n", MAX_SECONDS / 2)).unwrap();
        assert!(full.rate.len() as i64 <= MAX_SECONDS + 1);
    }
}

#[cfg(test)]
mod corpus {
    /// The fuzz corpus replays on stable: every seed parses without panicking.
    #[test]
    fn fuzz_corpus_replays() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/trace_parse");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let _ = super::parse(&text);
        }
    }
}
