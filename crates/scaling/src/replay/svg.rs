//! A deterministic SVG plot of a simulation: demand and serving capacity (requests per second)
//! on top, latency below (with the SLO line), one colour per run. Written by hand: a few dozen
//! lines of `<polyline>`, no plotting crate needed, byte-identical for identical input.

use std::fmt::Write;

use super::{InstanceModel, Run};

const W: f64 = 960.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 40.0;
const GAP: f64 = 60.0;
const COLORS: &[&str] = &["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// Reduces `values` to at most `width` buckets, keeping each bucket's maximum.
fn downsample(values: &[f64], width: usize) -> Vec<f64> {
    if values.len() <= width {
        return values.to_vec();
    }
    let per = values.len().div_ceil(width);
    values
        .chunks(per)
        .map(|c| c.iter().copied().fold(f64::NEG_INFINITY, f64::max))
        .collect()
}

fn polyline(out: &mut String, values: &[f64], y0: f64, scale: f64, color: &str, dash: bool) {
    let n = values.len().max(2) - 1;
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = LEFT + (W - LEFT - 20.0) * i as f64 / n as f64;
            let y = y0 + PANEL - (v / scale).clamp(0.0, 1.0) * PANEL;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = writeln!(
        out,
        r#"<polyline fill="none" stroke="{color}" stroke-width="1.5"{} points="{}"/>"#,
        if dash {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        },
        pts.join(" ")
    );
}

fn axis(out: &mut String, y0: f64, max: f64, label: &str) {
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{y0}" width="{}" height="{PANEL}" fill="none" stroke="#999"/>"##,
        W - LEFT - 20.0
    );
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let y = y0 + PANEL - PANEL * f64::from(k) / 4.0;
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#444">{v:.0}</text>"##,
            LEFT - 4.0,
            y + 3.0
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="{:.1}" font-size="12" fill="#222">{label}</text>"##,
        y0 - 6.0
    );
}

/// The plot of `runs` (all over the same trace).
pub fn plot(title: &str, runs: &[Run], model: &InstanceModel) -> String {
    let width = (W - LEFT - 20.0) as usize;
    let mut out = String::new();
    let h = TOP + 2.0 * PANEL + GAP + 50.0;
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="20" font-size="14" font-weight="bold" fill="#000">{}</text>"##,
        escape(title)
    );
    let Some(first) = runs.first() else {
        out.push_str("</svg>\n");
        return out;
    };
    let demand = downsample(&first.series.demand_rps, width);
    let caps: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| {
            let c: Vec<f64> = r
                .series
                .ready
                .iter()
                .map(|n| f64::from(*n) * model.capacity)
                .collect();
            downsample(&c, width)
        })
        .collect();
    let top_max = demand
        .iter()
        .chain(caps.iter().flatten())
        .copied()
        .fold(1.0, f64::max)
        * 1.1;
    axis(
        &mut out,
        TOP,
        top_max,
        "requests per second: demand (black) and serving capacity",
    );
    polyline(&mut out, &demand, TOP, top_max, "#000", false);
    for (i, c) in caps.iter().enumerate() {
        polyline(&mut out, c, TOP, top_max, COLORS[i % COLORS.len()], false);
    }
    let y1 = TOP + PANEL + GAP;
    let lat_max = model.slo_ms * 3.0;
    axis(
        &mut out,
        y1,
        lat_max,
        "latency (ms), SLO dashed; overload shows at the top",
    );
    polyline(
        &mut out,
        &[model.slo_ms, model.slo_ms],
        y1,
        lat_max,
        "#888",
        true,
    );
    for (i, r) in runs.iter().enumerate() {
        let l = downsample(&r.series.latency_ms, width);
        polyline(&mut out, &l, y1, lat_max, COLORS[i % COLORS.len()], false);
    }
    let ly = y1 + PANEL + 30.0;
    for (i, r) in runs.iter().enumerate() {
        let x = LEFT + 260.0 * i as f64;
        let _ = writeln!(
            out,
            r##"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{ly:.1}" font-size="12" fill="#222">{}</text>"##,
            ly - 10.0,
            COLORS[i % COLORS.len()],
            x + 16.0,
            escape(&r.label)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
