//! The end-of-run summary for a terminal.

use std::fmt::Write;
use std::time::Duration;

use super::{Latency, Summary};
use crate::units::Latency as Shown;

fn ms(v: f64) -> Shown {
    Shown(Duration::from_secs_f64((v / 1000.0).max(0.0)))
}

fn line(l: &Latency) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {}",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p99_9),
        ms(l.max),
        ms(l.mean)
    )
}

pub(super) fn render(s: &Summary) -> String {
    let mut out = String::new();
    let shape = match s.rate.target_mean {
        Some(rate) => format!("open model, {rate:.1} req/s mean target"),
        None => "closed model".to_owned(),
    };
    let _ = writeln!(
        out,
        "{} {} — {shape}, {:.0}s, {}, {} connection{}{}",
        s.method,
        s.url,
        s.planned_duration_s,
        s.http_version,
        s.connections,
        if s.connections == 1 { "" } else { "s" },
        if s.streams_per_connection > 1 {
            format!(" × {} streams", s.streams_per_connection)
        } else {
            String::new()
        }
    );
    if s.stopped_early {
        let _ = writeln!(out, "  (stopped early after {:.1}s)", s.elapsed_s);
    }
    let r = &s.requests;
    let _ = writeln!(
        out,
        "  requests   {} sent, {} answered, {} errors ({:.2}%){}{}",
        r.sent,
        r.responses,
        r.errors,
        r.error_rate * 100.0,
        if r.dropped > 0 {
            format!(
                ", {} dropped (due but every connection was busy: raise --connections)",
                r.dropped
            )
        } else {
            String::new()
        },
        if r.unfinished > 0 {
            format!(", {} unfinished", r.unfinished)
        } else {
            String::new()
        }
    );
    let failures: Vec<String> = r
        .failures
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "  failures   {}", failures.join(", "));
    }
    let statuses: Vec<String> = s
        .status_codes
        .iter()
        .map(|(code, n)| format!("{code}×{n}"))
        .collect();
    if !statuses.is_empty() {
        let _ = writeln!(out, "  statuses   {}", statuses.join("  "));
    }
    let _ = writeln!(
        out,
        "  rate       {:.1} req/s achieved{}",
        s.rate.achieved,
        s.rate
            .target_mean
            .map(|t| format!(" (target {t:.1})"))
            .unwrap_or_default()
    );
    match (&s.latency_ms, &s.uncorrected_latency_ms) {
        (Some(l), Some(u)) if s.model == "open" => {
            let _ = writeln!(out, "  latency    {}  (from intended send time)", line(l));
            let _ = writeln!(out, "  uncorrected {}  (from actual send)", line(u));
        }
        (Some(l), _) => {
            let _ = writeln!(out, "  latency    {}", line(l));
        }
        _ => {
            let _ = writeln!(out, "  latency    no responses");
        }
    }
    if let Some(stack) = &s.stack {
        let first = stack.capacity.first();
        let last = stack.capacity.last();
        if let (Some(a), Some(b)) = (first, last) {
            let _ = writeln!(
                out,
                "  capacity   {}: {} → {} in service ({} scaling activities during the run)",
                stack.groups.join(", "),
                a.in_service,
                b.in_service,
                stack.activities.len()
            );
        }
    }
    if !s.thresholds.is_empty() {
        let failed = s.thresholds.iter().filter(|t| !t.passed).count();
        let _ = writeln!(
            out,
            "  thresholds {}",
            if failed == 0 {
                "all passed".to_owned()
            } else {
                format!("{failed} of {} FAILED", s.thresholds.len())
            }
        );
        for t in &s.thresholds {
            let _ = writeln!(out, "    {t}");
        }
    }
    out
}
