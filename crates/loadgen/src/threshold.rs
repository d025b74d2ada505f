//! Thresholds turn a run into a test: `p99<250ms`, `errors<0.1%`, `rate>=95`. Any threshold
//! that does not hold makes `updraft load` exit non-zero (99, as k6 does).
//!
//! ```text
//! METRIC OP VALUE
//! METRIC  p50 p90 p95 p99 p99.9 … (any percentile), mean, min, max   VALUE: a duration (250ms)
//!         errors      VALUE: a percentage of requests (0.1%) or a count (10)
//!         rate        VALUE: achieved requests per second (95, 95/s)
//!         dropped     VALUE: a percentage or a count of requests never sent
//! OP      <  <=  >  >=
//! ```

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::units::{DURATION_HELP, parse_duration, parse_rate};

const SYNTAX: &str = "write METRIC OP VALUE, e.g. `p99<250ms`, `errors<0.1%` or `rate>=95`";

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// A latency percentile, e.g. 99.9.
    Percentile(f64),
    Mean,
    Min,
    Max,
    Errors,
    Rate,
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// The limit, in the metric's natural unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Latency(Duration),
    /// A fraction of requests (0.001 for `0.1%`).
    Fraction(f64),
    Count(u64),
    /// Requests per second.
    Rate(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As the user wrote it.
    pub expression: String,
    pub metric: Metric,
    pub op: Op,
    pub limit: Limit,
}

/// A checked threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub expression: String,
    /// The observed value in the threshold's unit (milliseconds, percent, count or req/s).
    pub actual: f64,
    pub limit: f64,
    pub unit: &'static str,
    pub passed: bool,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.passed { "ok  " } else { "FAIL" };
        write!(
            f,
            "{mark} {:<16} actual {}{}",
            self.expression,
            trim_float(self.actual),
            self.unit
        )
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

impl Threshold {
    /// Checks the threshold against a run's latency histogram (microseconds) and counts.
    pub fn check(
        &self,
        histogram: &hdrhistogram::Histogram<u64>,
        requests: u64,
        errors: u64,
        dropped: u64,
        rate: f64,
    ) -> Verdict {
        let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        let latency_ms = |us: f64| us / 1000.0;
        let actual_latency = || match self.metric {
            Metric::Percentile(p) => latency_ms(histogram.value_at_quantile(p / 100.0) as f64),
            Metric::Mean => latency_ms(histogram.mean()),
            Metric::Min => latency_ms(histogram.min() as f64),
            Metric::Max => latency_ms(histogram.max() as f64),
            _ => 0.0,
        };
        let offered = requests + dropped;
        let (actual, limit, unit) = match (self.metric, self.limit) {
            (_, Limit::Latency(d)) => (actual_latency(), d.as_secs_f64() * 1000.0, "ms"),
            (Metric::Errors, Limit::Fraction(f)) => {
                (share(errors, requests) * 100.0, f * 100.0, "%")
            }
            (Metric::Errors, Limit::Count(c)) => (errors as f64, c as f64, " errors"),
            (Metric::Dropped, Limit::Fraction(f)) => {
                (share(dropped, offered) * 100.0, f * 100.0, "%")
            }
            (Metric::Dropped, Limit::Count(c)) => (dropped as f64, c as f64, " dropped"),
            (_, Limit::Rate(r)) => (rate, r, " req/s"),
            (_, Limit::Fraction(f)) => (0.0, f, ""),
            (_, Limit::Count(c)) => (0.0, c as f64, ""),
        };
        // An empty run has no latency to judge: a latency threshold fails rather than passes.
        let passed = if matches!(self.limit, Limit::Latency(_)) && histogram.is_empty() {
            false
        } else {
            self.op.holds(actual, limit)
        };
        Verdict {
            expression: self.expression.clone(),
            actual,
            limit,
            unit,
            passed,
        }
    }
}

/// Parses one `--threshold` expression.
pub fn parse(text: &str) -> Result<Threshold, String> {
    let expression: String = text.split_whitespace().collect();
    let bad = |why: String| format!("bad threshold `{}`: {why}", text.trim());
    let op_at = expression
        .find(['<', '>', '='])
        .ok_or_else(|| bad(format!("no comparison; {SYNTAX}")))?;
    let (name, rest) = expression.split_at(op_at);
    let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else {
        return Err(bad(format!(
            "`{}` is not a comparison; use <, <=, > or >=",
            &rest[..1]
        )));
    };
    if value.starts_with(['<', '>', '=']) {
        return Err(bad(format!(
            "`{}` is not a comparison; use <, <=, > or >=",
            &rest[..rest.len() - value.len() + 1]
        )));
    }
    if name.is_empty() {
        return Err(bad(format!("no metric before `{}`; {SYNTAX}", op.as_str())));
    }
    if value.is_empty() {
        return Err(bad(format!("no value after `{}`; {SYNTAX}", op.as_str())));
    }
    let metric = parse_metric(name).map_err(&bad)?;
    let limit =
        match metric {
            Metric::Percentile(_) | Metric::Mean | Metric::Min | Metric::Max => {
                if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                    return Err(bad(format!(
                        "the latency `{value}` needs a unit, e.g. `{name}{}{value}ms`",
                        op.as_str()
                    )));
                }
                Limit::Latency(parse_duration(value).map_err(|_| {
                    bad(format!("`{value}` is not a latency; write {DURATION_HELP}"))
                })?)
            }
            Metric::Errors | Metric::Dropped => parse_share(value).map_err(&bad)?,
            Metric::Rate => Limit::Rate(parse_rate(value).map_err(&bad)?),
        };
    Ok(Threshold {
        expression,
        metric,
        op,
        limit,
    })
}

fn parse_metric(name: &str) -> Result<Metric, String> {
    let lower = name.to_ascii_lowercase();
    let percentile = lower
        .strip_prefix("p(")
        .and_then(|p| p.strip_suffix(')'))
        .or_else(|| lower.strip_prefix('p').filter(|p| !p.is_empty()));
    if let Some(p) = percentile
        && p.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return match p.parse::<f64>() {
            Ok(v) if v > 0.0 && v <= 100.0 => Ok(Metric::Percentile(v)),
            _ => Err(format!(
                "`{name}` is not a percentile; use p50, p90, p99, p99.9 … (above 0, at most 100)"
            )),
        };
    }
    match lower.as_str() {
        "mean" | "avg" => Ok(Metric::Mean),
        "min" => Ok(Metric::Min),
        "max" => Ok(Metric::Max),
        "errors" | "error" | "error_rate" => Ok(Metric::Errors),
        "rate" | "rps" => Ok(Metric::Rate),
        "dropped" => Ok(Metric::Dropped),
        _ => Err(format!(
            "unknown metric `{name}`; use a percentile (p50, p90, p99, p99.9), mean, min, max, \
             errors, rate or dropped"
        )),
    }
}

fn parse_share(value: &str) -> Result<Limit, String> {
    if let Some(p) = value.strip_suffix('%') {
        return match p.parse::<f64>() {
            Ok(v) if (0.0..=100.0).contains(&v) && !p.starts_with(['+', '-']) => {
                Ok(Limit::Fraction(v / 100.0))
            }
            _ => Err(format!(
                "`{value}` is not a percentage; write a number from 0 to 100 followed by %, \
                 e.g. `0.1%`"
            )),
        };
    }
    value
        .parse::<u64>()
        .ok()
        .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
        .map(Limit::Count)
        .ok_or_else(|| {
            format!("`{value}` is neither a percentage (`0.1%`) nor a count of requests (`10`)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_us: &[u64]) -> hdrhistogram::Histogram<u64> {
        let mut h = hdrhistogram::Histogram::new(3).unwrap();
        for v in values_us {
            h.record(*v).unwrap();
        }
        h
    }

    #[test]
    fn parses_every_metric() {
        let t = parse("p99<250ms").unwrap();
        assert_eq!(t.metric, Metric::Percentile(99.0));
        assert_eq!(t.op, Op::Lt);
        assert_eq!(t.limit, Limit::Latency(Duration::from_millis(250)));
        assert_eq!(
            parse("p99.9 <= 1s").unwrap().metric,
            Metric::Percentile(99.9)
        );
        assert_eq!(
            parse("p(95)<200ms").unwrap().metric,
            Metric::Percentile(95.0)
        );
        assert_eq!(parse("p50<1ms").unwrap().metric, Metric::Percentile(50.0));
        assert_eq!(parse("max<2s").unwrap().metric, Metric::Max);
        assert_eq!(parse("mean<10ms").unwrap().metric, Metric::Mean);
        assert_eq!(parse("min>=0ms").unwrap().op, Op::Ge);
        assert_eq!(parse("errors<0.1%").unwrap().limit, Limit::Fraction(0.001));
        assert_eq!(parse("errors<=10").unwrap().limit, Limit::Count(10));
        assert_eq!(parse("rate>=95/s").unwrap().limit, Limit::Rate(95.0));
        assert_eq!(parse("dropped<1%").unwrap().metric, Metric::Dropped);
        assert_eq!(parse(" p99 < 250ms ").unwrap().expression, "p99<250ms");
    }

    #[test]
    fn bad_syntax_says_what_to_write() {
        let e = |s: &str| parse(s).unwrap_err();
        assert!(e("p99").contains("no comparison"), "{}", e("p99"));
        assert!(
            e("p99<<250ms").contains("`<<` is not a comparison"),
            "{}",
            e("p99<<250ms")
        );
        assert!(
            e("p99=250ms").contains("`=` is not a comparison"),
            "{}",
            e("p99=250ms")
        );
        assert!(
            e("p99<250").contains("needs a unit, e.g. `p99<250ms`"),
            "{}",
            e("p99<250")
        );
        assert!(e("p101<1s").contains("not a percentile"));
        assert!(e("p0<1s").contains("not a percentile"));
        assert!(e("latency<1s").contains("unknown metric `latency`"));
        assert!(e("errors<0.1").contains("neither a percentage"));
        assert!(e("errors<150%").contains("not a percentage"));
        assert!(e("rate>fast").contains("not a rate"));
        assert!(e("<5ms").contains("no metric"));
        assert!(e("p99<").contains("no value"));
        assert!(e("p99<5parsecs").contains("not a latency"));
        assert!(e("p99<5parsecs").starts_with("bad threshold `p99<5parsecs`"));
    }

    #[test]
    fn verdicts() {
        let h = hist(&[1000, 2000, 3000, 4000, 100_000]); // 1..4 ms and one 100 ms
        let check = |s: &str, errors: u64| parse(s).unwrap().check(&h, 1000, errors, 0, 99.5);
        assert!(check("p50<5ms", 0).passed);
        assert!(!check("p99<50ms", 0).passed);
        assert!(check("max<=100.1ms", 0).passed);
        let v = check("errors<0.1%", 1);
        assert!(!v.passed && (v.actual - 0.1).abs() < 1e-9, "{v:?}");
        assert!(check("errors<=1", 1).passed);
        assert!(!check("rate>=100", 0).passed);
        assert!(check("rate>=99", 0).passed);
        assert!(check("mean<30ms", 0).passed);
        let shown = check("p99<50ms", 0).to_string();
        assert!(
            shown.starts_with("FAIL p99<50ms") && shown.contains("ms"),
            "{shown}"
        );
    }

    #[test]
    fn an_empty_run_fails_latency_thresholds() {
        let empty = hist(&[]);
        assert!(!parse("p99<1s").unwrap().check(&empty, 0, 0, 0, 0.0).passed);
        assert!(
            parse("errors<1%")
                .unwrap()
                .check(&empty, 0, 0, 0, 0.0)
                .passed
        );
    }

    #[test]
    fn dropped_is_a_share_of_offered_requests() {
        let h = hist(&[1000]);
        let v = parse("dropped<1%").unwrap().check(&h, 90, 0, 10, 0.0);
        assert!(!v.passed && (v.actual - 10.0).abs() < 1e-9, "{v:?}");
    }
}
