//! Line charts as inline SVG, written directly: a time axis, a left and an optional right
//! axis, polylines (gaps break them), step lines for capacity, and vertical event markers.
//! Deterministic output, no script, no external resource.

use std::fmt::Write;

const W: f64 = 960.0;
const H: f64 = 290.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 64.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 36.0;

pub(super) struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    /// Hold each value until the next (capacity).
    pub step: bool,
    /// Plot against the right axis.
    pub right: bool,
    pub points: Vec<(f64, Option<f64>)>,
}

pub(super) struct Marker {
    pub x: f64,
    pub title: String,
    pub color: &'static str,
}

pub(super) struct Chart {
    pub title: String,
    pub y_label: String,
    pub y2_label: Option<String>,
    pub x_max: f64,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
}

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Round tick steps (1, 2, 5 × 10ⁿ) covering `0..=max` in at most ~6 ticks.
fn ticks(max: f64) -> (f64, Vec<f64>) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| max / s <= 6.0)
        .unwrap_or(10.0 * magnitude);
    let top = (max / step).ceil() * step;
    let n = (top / step).round() as usize;
    (top, (0..=n).map(|i| i as f64 * step).collect())
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 && v % 1000.0 == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

pub(super) fn render(chart: &Chart) -> String {
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let max_of = |right: bool| {
        chart
            .series
            .iter()
            .filter(|s| s.right == right)
            .flat_map(|s| s.points.iter().filter_map(|p| p.1))
            .fold(0.0f64, f64::max)
    };
    let (y_top, y_ticks) = ticks(max_of(false));
    let (y2_top, y2_ticks) = ticks(max_of(true).max(1.0));
    let x_top = chart.x_max.max(1.0);
    let x_ticks: Vec<f64> = ticks(x_top).1.into_iter().filter(|t| *t <= x_top).collect();
    let x = |t: f64| LEFT + t / x_top * plot_w;
    let y = |v: f64, right: bool| {
        let top = if right { y2_top } else { y_top };
        TOP + plot_h - v / top * plot_h
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{}" font-family="system-ui, sans-serif" font-size="11">"#,
        escape(&chart.title)
    );
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="16" font-size="13" font-weight="600">{}</text>"##,
        escape(&chart.title)
    );
    // Grid and left axis.
    for v in &y_ticks {
        let yy = y(*v, false);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0,
            label(*v)
        );
    }
    let _ = write!(
        out,
        r##"<text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" fill="#555">{}</text>"##,
        TOP + plot_h / 2.0,
        escape(&chart.y_label)
    );
    if let Some(y2) = &chart.y2_label {
        for v in &y2_ticks {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="#2a7">{}</text>"##,
                LEFT + plot_w + 6.0,
                y(*v, true) + 4.0,
                label(*v)
            );
        }
        let _ = write!(
            out,
            r##"<text transform="translate({:.1} {:.1}) rotate(90)" text-anchor="middle" fill="#2a7">{}</text>"##,
            W - 14.0,
            TOP + plot_h / 2.0,
            escape(y2)
        );
    }
    for t in &x_ticks {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            x(*t),
            TOP + plot_h + 16.0,
            label(*t)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">seconds since start</text><rect x="{LEFT}" y="{TOP}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#999"/>"##,
        LEFT + plot_w / 2.0,
        H - 4.0
    );
    for m in &chart.markers {
        let xx = x(m.x);
        let _ = write!(
            out,
            r##"<g><title>{}</title><line x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{:.1}" stroke="{}" stroke-dasharray="2 3"/><path d="M{:.1} {TOP} l4 -7 h-8 z" fill="{}"/></g>"##,
            escape(&m.title),
            TOP + plot_h,
            m.color,
            xx,
            m.color
        );
    }
    for s in &chart.series {
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        for run in runs(&s.points) {
            let mut d = String::new();
            for (i, &(t, v)) in run.iter().enumerate() {
                let (px, py) = (x(t), y(v, s.right));
                let _ = match (i, s.step) {
                    (0, _) => write!(d, "M{px:.1} {py:.1}"),
                    (_, true) => write!(d, " H{px:.1} V{py:.1}"),
                    (_, false) => write!(d, " L{px:.1} {py:.1}"),
                };
            }
            let _ = write!(
                out,
                r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.6"{dash}><title>{}</title></path>"#,
                s.color,
                escape(&s.name)
            );
        }
    }
    // Legend.
    let mut lx = LEFT;
    for s in &chart.series {
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r##"<line x1="{lx:.1}" x2="{:.1}" y1="28" y2="28" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="32" fill="#333">{}</text>"##,
            lx + 18.0,
            s.color,
            lx + 22.0,
            escape(&s.name)
        );
        lx += 30.0 + 6.5 * s.name.chars().count() as f64;
    }
    out.push_str("</svg>");
    out
}

/// Splits a series at missing values.
fn runs(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut all = Vec::new();
    let mut current = Vec::new();
    for &(t, v) in points {
        match v {
            Some(v) if v.is_finite() => current.push((t, v)),
            _ => {
                if !current.is_empty() {
                    all.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        all.push(current);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(
            ticks(97.0),
            (100.0, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0])
        );
        assert_eq!(ticks(3.0).0, 3.0);
        assert_eq!(ticks(0.0).0, 1.0);
        let (top, t) = ticks(1234.0);
        assert!(top >= 1234.0 && t.len() <= 7, "{top} {t:?}");
    }

    #[test]
    fn gaps_split_lines_and_text_is_escaped() {
        let chart = Chart {
            title: "a <b> & c".into(),
            y_label: "ms".into(),
            y2_label: Some("instances".into()),
            x_max: 10.0,
            series: vec![Series {
                name: "p99".into(),
                color: "#c00",
                dashed: false,
                step: false,
                right: false,
                points: vec![
                    (0.0, Some(1.0)),
                    (1.0, None),
                    (2.0, Some(2.0)),
                    (3.0, Some(3.0)),
                ],
            }],
            markers: vec![Marker {
                x: 5.0,
                title: "Launching \"i-1\"".into(),
                color: "#27a",
            }],
        };
        let svg = render(&chart);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert!(svg.contains("Launching &quot;i-1&quot;"));
        assert_eq!(svg.matches("<title>p99</title>").count(), 2, "two runs");
        assert!(!svg.contains("<script"));
    }
}
