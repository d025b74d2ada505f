//! The HTML report: one self-contained file (inline CSS and SVG, no script, no external
//! resource) with the run's figures, its threshold verdicts, and three plots over time —
//! request rate, latency percentiles, errors — each overlaid with the stack's in-service
//! capacity and its scaling activities when the target is an updraft stack.

use std::fmt::Write;

use super::svg::{Chart, Marker, Series, escape, render as chart};
use super::{Latency, Summary};

const CAPACITY: &str = "#2a7";
const DESIRED: &str = "#8c8";

fn capacity_series(s: &Summary) -> Vec<Series> {
    if s.stack.is_none() || s.timeline.iter().all(|p| p.in_service.is_none()) {
        return Vec::new();
    }
    vec![
        Series {
            name: "in service".into(),
            color: CAPACITY,
            dashed: false,
            step: true,
            right: true,
            points: plotted(s)
                .map(|p| (p.t as f64, p.in_service.map(f64::from)))
                .collect(),
        },
        Series {
            name: "desired".into(),
            color: DESIRED,
            dashed: true,
            step: true,
            right: true,
            points: plotted(s)
                .map(|p| (p.t as f64, p.desired.map(f64::from)))
                .collect(),
        },
    ]
}

/// The seconds inside the plotted window.
fn plotted(s: &Summary) -> impl Iterator<Item = &super::Point> {
    let planned = s.planned_duration_s;
    let stopped = s.stopped_early;
    s.timeline
        .iter()
        .filter(move |p| stopped || planned <= 0.0 || (p.t as f64) < planned)
}

fn markers(s: &Summary) -> Vec<Marker> {
    s.stack
        .iter()
        .flat_map(|st| st.activities.iter())
        .map(|a| Marker {
            x: a.t_s.max(0.0),
            title: format!(
                "{:.0}s {}: {} ({})\n{}",
                a.t_s, a.group, a.description, a.status, a.cause
            ),
            color: if a.description.starts_with("Terminating") {
                "#b60"
            } else {
                "#27a"
            },
        })
        .collect()
}

fn series(
    name: &str,
    color: &'static str,
    s: &Summary,
    f: impl Fn(&super::Point) -> Option<f64>,
) -> Series {
    Series {
        name: name.into(),
        color,
        dashed: false,
        step: false,
        right: false,
        points: plotted(s).map(|p| (p.t as f64, f(p))).collect(),
    }
}

/// Renders the report.
pub fn render(s: &Summary) -> String {
    // Plot the planned window; the seconds after it only hold stragglers finishing.
    let x_max = if s.planned_duration_s > 0.0 && !s.stopped_early {
        s.planned_duration_s
    } else {
        s.timeline.len() as f64
    };
    let overlay = capacity_series(s);
    let y2 = (!overlay.is_empty()).then(|| "instances in service".to_owned());
    let with_overlay = |mut v: Vec<Series>| {
        v.extend(capacity_series(s));
        v
    };
    let mut rate = vec![series("achieved req/s", "#1f5fbf", s, |p| {
        Some(p.requests as f64)
    })];
    if s.model == "open" {
        let mut target = series("target req/s", "#555", s, |p| p.target_rate);
        target.dashed = true;
        rate.push(target);
    }
    let rate_chart = chart(&Chart {
        title: "Request rate".into(),
        y_label: "requests per second".into(),
        y2_label: y2.clone(),
        x_max,
        series: with_overlay(rate),
        markers: markers(s),
    });
    let latency_title = if s.model == "open" {
        "Latency percentiles per second (from each request's intended send time)"
    } else {
        "Latency percentiles per second"
    };
    let latency_chart = chart(&Chart {
        title: latency_title.into(),
        y_label: "milliseconds".into(),
        y2_label: y2.clone(),
        x_max,
        series: with_overlay(vec![
            series("p50", "#1f5fbf", s, |p| p.p50_ms),
            series("p90", "#7b3fbf", s, |p| p.p90_ms),
            series("p99", "#d9480f", s, |p| p.p99_ms),
            series("max", "#aaa", s, |p| p.max_ms),
        ]),
        markers: markers(s),
    });
    let error_chart = chart(&Chart {
        title: "Errors per second (status ≥ 400, timeouts, refused or closed connections)".into(),
        y_label: "errors per second".into(),
        y2_label: y2,
        x_max,
        series: with_overlay(vec![series("errors/s", "#c92a2a", s, |p| {
            Some(p.errors as f64)
        })]),
        markers: markers(s),
    });

    let mut out = String::new();
    let verdict = if s.thresholds.is_empty() {
        String::new()
    } else if s.passed {
        r#"<span class="pass">thresholds passed</span>"#.into()
    } else {
        r#"<span class="fail">thresholds FAILED</span>"#.into()
    };
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>updraft load — {url}</title>
<style>
body{{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}}
h1{{font-size:20px;margin:0 0 4px}} h2{{font-size:16px;margin:28px 0 8px}}
table{{border-collapse:collapse;margin:6px 0}} td,th{{padding:3px 12px 3px 0;text-align:left;vertical-align:top}}
th{{font-weight:600;color:#555}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}
.pass{{color:#2b8a3e;font-weight:600}} .fail{{color:#c92a2a;font-weight:600}} .muted{{color:#777}}
figure{{margin:12px 0 20px}} code{{background:#f3f3f3;padding:1px 4px;border-radius:3px}}
</style></head><body>
<h1>updraft load — <code>{method} {url}</code> {verdict}</h1>
<p class="muted">{model} model · {http} · {conns} connection(s){streams} · {threads} thread(s) · planned {planned:.0}s{started}</p>
"#,
        url = escape(&s.url),
        method = escape(&s.method),
        model = s.model,
        http = s.http_version,
        conns = s.connections,
        streams = if s.streams_per_connection > 1 {
            format!(" × {} streams", s.streams_per_connection)
        } else {
            String::new()
        },
        threads = s.threads,
        planned = s.planned_duration_s,
        started = s
            .started_at
            .as_ref()
            .map(|t| format!(" · started {}", escape(t)))
            .unwrap_or_default(),
    );
    let r = &s.requests;
    let _ = write!(
        out,
        "<h2>Totals</h2><table>\
         <tr><th>requests sent</th><td class=n>{}</td><th>achieved rate</th><td class=n>{:.1} req/s{}</td></tr>\
         <tr><th>answered</th><td class=n>{}</td><th>errors</th><td class=n>{} ({:.3}%)</td></tr>\
         <tr><th>dropped (never sent)</th><td class=n>{}</td><th>failures</th><td>{}</td></tr>\
         <tr><th>statuses</th><td colspan=3>{}</td></tr></table>",
        r.sent,
        s.rate.achieved,
        s.rate
            .target_mean
            .map(|t| format!(" (target {t:.1})"))
            .unwrap_or_default(),
        r.responses,
        r.errors,
        r.error_rate * 100.0,
        r.dropped,
        escape(
            &r.failures
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        s.status_codes
            .iter()
            .map(|(c, n)| format!("{c} × {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str("<h2>Latency</h2><table><tr><th></th>");
    for h in [
        "min", "p50", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean",
    ] {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr>");
    let row = |out: &mut String, name: &str, l: &Latency| {
        let _ = write!(out, "<tr><th>{name}</th>");
        for v in [
            l.min, l.p50, l.p90, l.p95, l.p99, l.p99_9, l.p99_99, l.max, l.mean,
        ] {
            let _ = write!(out, "<td class=n>{v:.2} ms</td>");
        }
        out.push_str("</tr>");
    };
    if let Some(l) = &s.latency_ms {
        let name = if s.model == "open" {
            "from intended send"
        } else {
            "latency"
        };
        row(&mut out, name, l);
    }
    if s.model == "open"
        && let Some(u) = &s.uncorrected_latency_ms
    {
        row(&mut out, "from actual send", u);
    }
    out.push_str("</table>");
    if !s.thresholds.is_empty() {
        out.push_str(
            "<h2>Thresholds</h2><table><tr><th>threshold</th><th>actual</th><th></th></tr>",
        );
        for t in &s.thresholds {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td class=n>{:.3}{}</td><td class={}>{}</td></tr>",
                escape(&t.expression),
                t.actual,
                escape(t.unit),
                if t.passed { "pass" } else { "fail" },
                if t.passed { "ok" } else { "FAILED" }
            );
        }
        out.push_str("</table>");
    }
    let _ = write!(
        out,
        "<h2>Over time</h2><figure>{rate_chart}</figure><figure>{latency_chart}</figure><figure>{error_chart}</figure>"
    );
    if let Some(stack) = &s.stack {
        let _ = write!(
            out,
            "<h2>Stack</h2><p>Auto scaling group(s) behind the listener: <b>{}</b>. Green lines: \
             instances in service (solid) and desired capacity (dashed), right axis; markers: \
             scaling activities (hover for the cause).</p>",
            escape(&stack.groups.join(", "))
        );
        if stack.activities.is_empty() {
            out.push_str("<p class=muted>No scaling activity during the run.</p>");
        } else {
            out.push_str(
                "<table><tr><th>at</th><th>group</th><th>activity</th><th>status</th><th>cause</th></tr>",
            );
            for a in &stack.activities {
                let _ = write!(
                    out,
                    "<tr><td class=n>{:.0}s</td><td>{}</td><td>{}</td><td>{}</td><td class=muted>{}</td></tr>",
                    a.t_s,
                    escape(&a.group),
                    escape(&a.description),
                    escape(&a.status),
                    escape(&a.cause)
                );
            }
            out.push_str("</table>");
        }
    }
    out.push_str(
        "<p class=muted>Generated by <code>updraft load</code>. The JSON summary \
         (<code>--json</code>) has the same figures, one timeline point per second.</p></body></html>\n",
    );
    out
}
