//! What a run observed: counts by outcome, HDR latency histograms (microseconds), and one
//! bucket per second for the plots over time.
//!
//! Each worker thread records into its own [`Recorder`] (no sharing, no locks); once a second it
//! hands the second's [`Second`] to the collector, and at the end its whole-run histograms.
//! The collector merges them ([`Second::merge`], `Histogram::add`): merging is exact, because
//! HDR histograms of equal precision add bucket by bucket.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency recorded (an hour, in µs); longer ones are clamped to it.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A whole-run latency histogram: 3 significant digits, 1 µs to an hour.
pub fn run_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static bounds are valid")
}

/// A one-second histogram: 2 significant digits (1% error) keeps it ~26 KB.
pub fn second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("static bounds are valid")
}

/// Why a request got no (complete) response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The TCP connection could not be opened (refused, unreachable).
    Connect,
    /// No complete response within `--timeout`.
    Timeout,
    /// The connection closed or was reset before the response was complete.
    Closed,
    /// The server's answer was not valid HTTP.
    Protocol,
}

impl Failure {
    pub const ALL: [Failure; 4] = [
        Failure::Connect,
        Failure::Timeout,
        Failure::Closed,
        Failure::Protocol,
    ];

    fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Closed => "closed",
            Failure::Protocol => "protocol",
        }
    }
}

/// Counts of outcomes. A request is an error when it got no complete response ([`Failure`])
/// or its status is 400 or above.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Complete responses, any status.
    pub responses: u64,
    /// Responses with status ≥ 400.
    pub http_errors: u64,
    /// Requests without a complete response, by [`Failure`].
    pub failures: [u64; 4],
    /// Response body bytes.
    pub bytes: u64,
    /// (status, count), few distinct statuses: a short vector beats a map.
    pub statuses: Vec<(u16, u64)>,
}

impl Counts {
    pub fn record_response(&mut self, status: u16, bytes: u64) {
        self.responses += 1;
        self.bytes += bytes;
        if status >= 400 {
            self.http_errors += 1;
        }
        match self.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((status, 1)),
        }
    }

    pub fn record_failure(&mut self, failure: Failure) {
        self.failures[failure.index()] += 1;
    }

    pub fn failures(&self, failure: Failure) -> u64 {
        self.failures[failure.index()]
    }

    /// Requests with an outcome (a response or a failure).
    pub fn requests(&self) -> u64 {
        self.responses + self.failures.iter().sum::<u64>()
    }

    pub fn errors(&self) -> u64 {
        self.http_errors + self.failures.iter().sum::<u64>()
    }

    pub fn merge(&mut self, other: &Counts) {
        self.responses += other.responses;
        self.http_errors += other.http_errors;
        for (a, b) in self.failures.iter_mut().zip(other.failures) {
            *a += b;
        }
        self.bytes += other.bytes;
        for &(status, n) in &other.statuses {
            match self.statuses.iter_mut().find(|(s, _)| *s == status) {
                Some((_, m)) => *m += n,
                None => self.statuses.push((status, n)),
            }
        }
        self.statuses.sort_unstable();
    }
}

/// One second of one worker (or, merged, of the run).
#[derive(Debug, Clone)]
pub struct Second {
    /// Seconds since the start of the run: this bucket covers `[index, index + 1)`.
    pub index: u32,
    pub counts: Counts,
    /// Latency from the intended send time, µs.
    pub latency: Histogram<u64>,
}

impl Second {
    pub fn new(index: u32) -> Second {
        Second {
            index,
            counts: Counts::default(),
            latency: second_histogram(),
        }
    }

    pub fn merge(&mut self, other: &Second) {
        self.counts.merge(&other.counts);
        // Same bounds and precision on both sides: `add` cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    /// The plot point for this second.
    pub fn point(&self, target_rate: Option<f64>) -> Point {
        let h = &self.latency;
        let ms = |us: u64| (!h.is_empty()).then(|| us as f64 / 1000.0);
        Point {
            t: self.index,
            target_rate,
            requests: self.counts.requests(),
            responses: self.counts.responses,
            errors: self.counts.errors(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            in_service: None,
            desired: None,
        }
    }
}

/// One second of the run as plotted and written to the JSON summary.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Point {
    /// Seconds since the start of the run.
    pub t: u32,
    /// The open model's intended rate at the start of this second (req/s).
    pub target_rate: Option<f64>,
    /// Requests that finished in this second (response or failure): the achieved rate.
    pub requests: u64,
    pub responses: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// In-service instances behind the target (from the updraft daemon, when one runs it).
    pub in_service: Option<u32>,
    pub desired: Option<u32>,
}

/// A worker's recorder: the current second and the whole-run histograms.
#[derive(Debug)]
pub struct Recorder {
    pub second: Second,
    /// From the intended send time (what users of the open model experience).
    pub latency: Histogram<u64>,
    /// From the actual send time (what a closed-model tool such as wrk would report).
    pub uncorrected: Histogram<u64>,
    /// Requests actually sent (a connection wrote them or tried to connect for them).
    pub sent: u64,
    pub connections_opened: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            second: Second::new(0),
            latency: run_histogram(),
            uncorrected: run_histogram(),
            sent: 0,
            connections_opened: 0,
        }
    }
}

pub fn micros(d: Duration) -> u64 {
    (d.as_micros().min(MAX_LATENCY_US as u128) as u64).max(1)
}

impl Recorder {
    pub fn response(&mut self, status: u16, bytes: u64, corrected: Duration, actual: Duration) {
        self.second.counts.record_response(status, bytes);
        let c = micros(corrected);
        self.second.latency.saturating_record(c);
        self.latency.saturating_record(c);
        self.uncorrected.saturating_record(micros(actual));
    }

    pub fn failure(&mut self, failure: Failure) {
        self.second.counts.record_failure(failure);
    }

    /// Hands over the current second and starts second `next`.
    pub fn take_second(&mut self, next: u32) -> Second {
        std::mem::replace(&mut self.second, Second::new(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_classify_errors_and_merge() {
        let mut a = Counts::default();
        a.record_response(200, 10);
        a.record_response(503, 5);
        a.record_failure(Failure::Closed);
        let mut b = Counts::default();
        b.record_response(200, 10);
        b.record_response(404, 1);
        b.record_failure(Failure::Connect);
        b.record_failure(Failure::Closed);
        a.merge(&b);
        assert_eq!(a.responses, 4);
        assert_eq!(a.requests(), 7);
        assert_eq!(a.errors(), 5);
        assert_eq!(a.failures(Failure::Closed), 2);
        assert_eq!(a.bytes, 26);
        assert_eq!(a.statuses, vec![(200, 2), (404, 1), (503, 1)]);
    }

    #[test]
    fn merged_histograms_equal_one_histogram_of_everything() {
        let mut whole = run_histogram();
        let mut parts = [run_histogram(), run_histogram(), run_histogram()];
        for v in 1..=30_000u64 {
            let us = v * v % 250_000 + 1;
            whole.record(us).unwrap();
            parts[(v % 3) as usize].record(us).unwrap();
        }
        let mut merged = run_histogram();
        for p in &parts {
            merged.add(p).unwrap();
        }
        assert_eq!(merged.len(), whole.len());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged.value_at_quantile(q),
                whole.value_at_quantile(q),
                "q={q}"
            );
        }
        assert_eq!(merged.max(), whole.max());
        assert_eq!(merged.min(), whole.min());
    }

    #[test]
    fn seconds_merge_into_plot_points() {
        let mut r1 = Recorder::default();
        let mut r2 = Recorder::default();
        for i in 0..99 {
            r1.response(
                200,
                1,
                Duration::from_millis(1 + i % 3),
                Duration::from_millis(1),
            );
        }
        r2.response(
            500,
            1,
            Duration::from_millis(300),
            Duration::from_millis(300),
        );
        r2.failure(Failure::Timeout);
        let mut s = r1.take_second(1);
        s.merge(&r2.take_second(1));
        assert_eq!(r1.second.index, 1);
        let p = s.point(Some(100.0));
        assert_eq!((p.t, p.requests, p.responses, p.errors), (0, 101, 100, 2));
        assert!(
            p.p50_ms.unwrap() >= 1.9 && p.p50_ms.unwrap() <= 2.1,
            "{p:?}"
        );
        assert!(p.max_ms.unwrap() >= 297.0, "{p:?}");
        assert_eq!(Second::new(3).point(None).p99_ms, None);
    }

    #[test]
    fn extreme_latencies_are_clamped_not_lost() {
        let mut r = Recorder::default();
        r.response(200, 0, Duration::from_secs(5 * 3600), Duration::ZERO);
        assert_eq!(r.latency.len(), 1);
        assert!(r.latency.max() >= MAX_LATENCY_US - MAX_LATENCY_US / 100);
        assert_eq!(r.uncorrected.min(), 1);
    }
}
