//! The run as data ([`Summary`], written as the JSON summary) and as documents: the terminal
//! summary ([`Summary::text`]) and the self-contained HTML report ([`html::render`]).

pub mod html;
mod svg;
mod text;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::engine::{Load, Options, Results};
use crate::stats::{Failure, Point};
use crate::threshold::{Threshold, Verdict};

/// Version of the JSON summary's layout; bumped on incompatible changes.
pub const SUMMARY_VERSION: u32 = 1;

/// The JSON summary of a run (also what the HTML report is drawn from).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub summary_version: u32,
    pub url: String,
    pub method: String,
    pub http_version: &'static str,
    /// `open` (arrival rate) or `closed` (connections sending back to back).
    pub model: &'static str,
    pub connections: usize,
    pub streams_per_connection: usize,
    pub threads: usize,
    pub timeout_s: f64,
    /// Wall time at the start, RFC 3339 (from the caller's clock).
    pub started_at: Option<String>,
    pub planned_duration_s: f64,
    pub elapsed_s: f64,
    pub stopped_early: bool,
    pub requests: Requests,
    pub rate: Rate,
    /// Latency from each request's intended send time (open model) or actual send (closed).
    pub latency_ms: Option<Latency>,
    /// Latency from the actual send time, as a coordinated-omission-prone tool would report it.
    pub uncorrected_latency_ms: Option<Latency>,
    /// Responses by HTTP status.
    pub status_codes: BTreeMap<String, u64>,
    pub bytes_received: u64,
    pub connections_opened: u64,
    pub thresholds: Vec<Verdict>,
    /// Every threshold held (true when there are none).
    pub passed: bool,
    /// One point per second.
    pub timeline: Vec<Point>,
    /// The updraft stack behind the URL, when one was found.
    pub stack: Option<Stack>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Requests {
    /// Open model: requests due during the run.
    pub scheduled: Option<u64>,
    pub sent: u64,
    /// Requests with an outcome (a response or a failure).
    pub completed: u64,
    /// Complete responses, any status.
    pub responses: u64,
    /// Responses below 400.
    pub ok: u64,
    /// Responses of 400 and above plus failures.
    pub errors: u64,
    /// errors / completed, 0 to 1.
    pub error_rate: f64,
    /// Failures by kind: connect, timeout, closed, protocol.
    pub failures: BTreeMap<&'static str, u64>,
    /// Open model: due, never sent (every connection busy); raise --connections.
    pub dropped: u64,
    /// Sent but without an outcome when the run was stopped.
    pub unfinished: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    /// Open model: mean intended rate (req/s).
    pub target_mean: Option<f64>,
    /// Completed requests per second of the run.
    pub achieved: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub stdev: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub max: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        let q = |q: f64| ms(h.value_at_quantile(q));
        Some(Latency {
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            stdev: h.stdev() / 1000.0,
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: ms(h.max()),
        })
    }
}

/// The target stack's side of the run, sampled by the caller from the updraft daemon.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stack {
    /// The auto scaling group(s) behind the target listener.
    pub groups: Vec<String>,
    /// (second, in-service instances, desired capacity), one per second at most.
    pub capacity: Vec<CapacitySample>,
    /// Scaling activities that started during the run.
    pub activities: Vec<ActivityMark>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CapacitySample {
    pub t: u32,
    pub in_service: u32,
    pub desired: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityMark {
    /// Seconds since the start of the run.
    pub t_s: f64,
    pub group: String,
    pub description: String,
    pub cause: String,
    pub status: String,
}

/// Builds the summary of a run: totals, percentiles, threshold verdicts, and the stack's
/// capacity merged into the timeline.
pub fn summarize(
    opts: &Options,
    results: &Results,
    thresholds: &[Threshold],
    started_at: Option<String>,
    stack: Option<Stack>,
) -> Summary {
    let c = &results.counts;
    let planned = opts.load.duration().as_secs_f64();
    let window = if results.stopped {
        results.elapsed.as_secs_f64()
    } else {
        planned.max(1e-3)
    };
    let completed = c.requests();
    let achieved = completed as f64 / window.max(1e-3);
    let verdicts: Vec<Verdict> = thresholds
        .iter()
        .map(|t| {
            t.check(
                &results.latency,
                completed,
                c.errors(),
                results.dropped,
                achieved,
            )
        })
        .collect();
    let mut timeline = results.timeline.clone();
    if let Some(stack) = &stack {
        overlay(&mut timeline, &stack.capacity);
    }
    Summary {
        summary_version: SUMMARY_VERSION,
        url: opts.target.url.clone(),
        method: opts.target.method.to_string(),
        http_version: if opts.http2 { "HTTP/2" } else { "HTTP/1.1" },
        model: if opts.load.is_open() {
            "open"
        } else {
            "closed"
        },
        connections: opts.connections,
        streams_per_connection: if opts.http2 { opts.streams } else { 1 },
        threads: opts.threads,
        timeout_s: opts.timeout.as_secs_f64(),
        started_at,
        planned_duration_s: planned,
        elapsed_s: results.elapsed.as_secs_f64(),
        stopped_early: results.stopped,
        requests: Requests {
            scheduled: results.scheduled,
            sent: results.sent,
            completed,
            responses: c.responses,
            ok: c.responses - c.http_errors,
            errors: c.errors(),
            error_rate: if completed == 0 {
                0.0
            } else {
                c.errors() as f64 / completed as f64
            },
            failures: Failure::ALL
                .iter()
                .map(|f| (f.as_str(), c.failures(*f)))
                .collect(),
            dropped: results.dropped,
            unfinished: results.unfinished,
        },
        rate: Rate {
            target_mean: match &opts.load {
                Load::Open(s) => Some(s.total() as f64 / planned.max(1e-3)),
                Load::Closed { .. } => None,
            },
            achieved,
        },
        latency_ms: Latency::of(&results.latency),
        uncorrected_latency_ms: Latency::of(&results.uncorrected),
        status_codes: c
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect(),
        bytes_received: c.bytes,
        connections_opened: results.connections_opened,
        passed: verdicts.iter().all(|v| v.passed),
        thresholds: verdicts,
        timeline,
        stack,
    }
}

/// Puts each second's capacity (the latest sample at or before it) into the timeline.
fn overlay(timeline: &mut [Point], samples: &[CapacitySample]) {
    let mut latest: Option<&CapacitySample> = None;
    let mut iter = samples.iter().peekable();
    for point in timeline.iter_mut() {
        while let Some(s) = iter.next_if(|s| s.t <= point.t) {
            latest = Some(s);
        }
        let sample = latest.or_else(|| samples.first());
        point.in_service = sample.map(|s| s.in_service);
        point.desired = sample.map(|s| s.desired);
    }
}

impl Summary {
    /// The summary as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The summary for a terminal (see [`text`]).
    pub fn text(&self) -> String {
        text::render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: u32) -> Point {
        crate::stats::Second::new(t).point(None)
    }

    #[test]
    fn capacity_is_carried_forward_into_each_second() {
        let mut timeline: Vec<Point> = (0..5).map(point).collect();
        let samples = [
            CapacitySample {
                t: 1,
                in_service: 3,
                desired: 3,
            },
            CapacitySample {
                t: 3,
                in_service: 4,
                desired: 5,
            },
        ];
        overlay(&mut timeline, &samples);
        let got: Vec<_> = timeline.iter().map(|p| (p.in_service, p.desired)).collect();
        assert_eq!(
            got,
            vec![
                (Some(3), Some(3)), // before the first sample: the first sample
                (Some(3), Some(3)),
                (Some(3), Some(3)),
                (Some(4), Some(5)),
                (Some(4), Some(5)),
            ]
        );
    }
}
