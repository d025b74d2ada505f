//! The SVG layout, written directly and deterministically (fixed geometry, inputs sorted, no
//! floating-point formatting surprises: every coordinate is a whole number).
//!
//! ```text
//! ┌ Region us-east-1 ─────────────────────────────────────────────┐
//! │ [ Application Load Balancer  ·  listener chips              ] │
//! │ [ target group ]  [ target group ]                            │
//! │ ┌ us-east-1a ┐  ┌ us-east-1b ┐  ┌ us-east-1c ┐               │
//! │ │ instances  │  │ instances  │  │ instances  │               │
//! │ │ data nodes │  │ data nodes │  │ data nodes │               │
//! │ └────────────┘  └────────────┘  └────────────┘               │
//! └───────────────────────────────────────────────────────────────┘
//!   legend
//! ```

use std::fmt::Write;

use crate::model::{Diagram, Instance, Node};

const MARGIN: i64 = 24;
const PAD: i64 = 20;
const COL_W: i64 = 270;
const GAP: i64 = 18;
const LB_H: i64 = 74;
const TG_H: i64 = 56;
const ROW_GAP: i64 = 34;
const ZONE_HEAD: i64 = 38;
const INST_H: i64 = 58;
const INST_GAP: i64 = 10;
const NODE_H: i64 = 62;
const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";
const MONO: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";

/// Colours (AWS architecture-icon palette where there is one).
const ELB: &str = "#8c4fff";
const REGION: &str = "#147eba";
const DB: &str = "#3b48cc";
const CACHE: &str = "#c7131f";
const INK: &str = "#16191f";
const MUTED: &str = "#5f6b7a";

/// The diagram as an SVG document.
pub fn svg(d: &Diagram) -> String {
    let zones: Vec<&str> = if d.zones.is_empty() {
        vec!["(no zone)"]
    } else {
        d.zones.iter().map(String::as_str).collect()
    };
    let n = zones.len() as i64;
    let inner_w = (n * COL_W + (n - 1) * GAP).max(640);
    let col_w = (inner_w - (n - 1) * GAP) / n;
    let width = inner_w + 2 * (MARGIN + PAD);

    let max_inst = zones
        .iter()
        .map(|z| d.instances_in(z).len())
        .max()
        .unwrap_or(0)
        .max(1) as i64;
    let max_nodes = zones.iter().map(|z| d.nodes_in(z).len()).max().unwrap_or(0) as i64;
    let inst_area = 26 + max_inst * (INST_H + INST_GAP);
    let node_area = if max_nodes > 0 {
        30 + max_nodes * (NODE_H + INST_GAP)
    } else {
        0
    };
    let zone_h = ZONE_HEAD + inst_area + node_area + 6;

    let x0 = MARGIN + PAD;
    let title_h = 44;
    let region_y = MARGIN + title_h;
    let lb_y = region_y + 40;
    let lb_count = d.load_balancers.len().max(1) as i64;
    let tg_y = lb_y + lb_count * (LB_H + 12) - 12 + ROW_GAP;
    let tg_row = if d.target_groups.is_empty() {
        0
    } else {
        TG_H + ROW_GAP
    };
    let zone_y = tg_y + tg_row;
    let region_h = zone_y + zone_h + PAD - region_y;
    let legend_y = region_y + region_h + 26;
    let height = legend_y + 30 + MARGIN;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="{FONT}">"#
    );
    let _ = writeln!(
        s,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{ELB}"/></marker><pattern id="hatch" width="10" height="10" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="10" height="10" fill="#fdecea"/><line x1="0" y1="0" x2="0" y2="10" stroke="#f5c6c0" stroke-width="4"/></pattern></defs>"##
    );
    let _ = writeln!(
        s,
        r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##
    );

    // Title.
    let title = format!("updraft · {} · {}", d.region, d.title);
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="{}" font-size="20" font-weight="bold" fill="{INK}">{}</text>"#,
        MARGIN + 22,
        esc(&title)
    );
    let summary = summary(d);
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="{}" font-size="12" fill="{MUTED}">{}</text>"#,
        MARGIN + 40,
        esc(&summary)
    );

    // Region.
    let _ = writeln!(
        s,
        r##"<rect x="{MARGIN}" y="{region_y}" width="{}" height="{region_h}" rx="6" fill="#f7fbfe" stroke="{REGION}" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
        width - 2 * MARGIN
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="13" font-weight="bold" fill="{REGION}">Region {}</text>"#,
        MARGIN + 12,
        region_y + 22,
        esc(&d.region)
    );

    // Zone columns first, so that edges drawn later sit on top of their backgrounds.
    let col_x = |i: usize| x0 + i as i64 * (col_w + GAP);
    for (i, zone) in zones.iter().enumerate() {
        let x = col_x(i);
        let impaired = d.impaired_zones.iter().any(|z| z == zone);
        let fill = if impaired { "url(#hatch)" } else { "#ffffff" };
        let stroke = if impaired { "#c62828" } else { "#7d8998" };
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{zone_y}" width="{col_w}" height="{zone_h}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.2" stroke-dasharray="5 4"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="14" font-weight="bold" fill="{INK}">Availability Zone {}</text>"#,
            x + 12,
            zone_y + 24,
            esc(zone)
        );
        if impaired {
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" font-size="11" font-weight="bold" fill="#c62828" text-anchor="end">DOWN (drill)</text>"##,
                x + col_w - 12,
                zone_y + ZONE_HEAD + 14
            );
        }
        let label_y = zone_y + ZONE_HEAD + 14;
        let groups: Vec<&str> = {
            let mut g: Vec<&str> = d
                .instances_in(zone)
                .iter()
                .map(|i| i.group.as_str())
                .collect();
            g.dedup();
            g
        };
        let label = if groups.is_empty() {
            "no instance".to_string()
        } else {
            format!("Auto Scaling group {}", groups.join(", "))
        };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{label_y}" font-size="11" fill="{MUTED}">{}</text>"#,
            x + 12,
            esc(&label)
        );
        for (k, inst) in d.instances_in(zone).iter().enumerate() {
            let y = zone_y + ZONE_HEAD + 26 + k as i64 * (INST_H + INST_GAP);
            instance_box(&mut s, inst, x + 10, y, col_w - 20);
        }
        if max_nodes > 0 {
            let ny = zone_y + ZONE_HEAD + inst_area;
            let _ = writeln!(
                s,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d5dbe3" stroke-width="1"/>"##,
                x + 10,
                ny,
                x + col_w - 10,
                ny
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" font-size="11" fill="{MUTED}">Data tier</text>"#,
                x + 12,
                ny + 18
            );
            for (k, node) in d.nodes_in(zone).iter().enumerate() {
                let y = ny + 28 + k as i64 * (NODE_H + INST_GAP);
                node_shape(&mut s, node, x + 10, y, col_w - 20);
            }
        }
    }

    // Target groups, and their edges down to their instances.
    let tg_n = d.target_groups.len().max(1) as i64;
    let tg_w = (inner_w - (tg_n - 1) * GAP) / tg_n;
    let mut tg_center = Vec::new();
    for (k, tg) in d.target_groups.iter().enumerate() {
        let x = x0 + k as i64 * (tg_w + GAP);
        tg_center.push((tg.name.clone(), x + tg_w / 2));
        // One edge per zone that has targets of this group (not one per target: readable
        // at any size).
        for (i, zone) in zones.iter().enumerate() {
            let serves = d
                .instances_in(zone)
                .iter()
                .any(|inst| inst.target_groups.contains(&tg.name));
            if serves {
                edge(
                    &mut s,
                    x + tg_w / 2,
                    tg_y + TG_H,
                    col_x(i) + col_w / 2,
                    zone_y,
                    0.8,
                );
            }
        }
        let (healthy, total) = d.health_of(&tg.name);
        let _ = writeln!(
            s,
            r##"<rect x="{x}" y="{tg_y}" width="{tg_w}" height="{TG_H}" rx="6" fill="#f4efff" stroke="{ELB}" stroke-width="1.5"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="13" font-weight="bold" fill="{INK}">Target group {}</text>"#,
            x + 12,
            tg_y + 22,
            esc(&tg.name)
        );
        let detail = format!(
            "{}:{} · {healthy}/{total} healthy · {} requests",
            tg.protocol,
            tg.port,
            thousands(tg.requests)
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="11" fill="{MUTED}">{}</text>"#,
            x + 12,
            tg_y + 41,
            esc(&detail)
        );
    }

    // Load balancers and their listeners, edges to the target groups they forward to.
    for (k, lb) in d.load_balancers.iter().enumerate() {
        let y = lb_y + k as i64 * (LB_H + 12);
        for l in &lb.listeners {
            for t in &l.forwards_to {
                if let Some((_, cx)) = tg_center.iter().find(|(n, _)| n == t) {
                    edge(&mut s, *cx, y + LB_H, *cx, tg_y, 1.0);
                }
            }
        }
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{y}" width="{inner_w}" height="{LB_H}" rx="6" fill="{ELB}" stroke="#6a32d6" stroke-width="1"/>"##
        );
        let kind = match lb.kind.as_str() {
            "application" => "Application Load Balancer",
            "network" => "Network Load Balancer",
            "gateway" => "Gateway Load Balancer",
            other => other,
        };
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" font-size="14" font-weight="bold" fill="#ffffff">{} {}</text>"##,
            x0 + 14,
            y + 24,
            esc(kind),
            esc(&lb.name)
        );
        let mut cx = x0 + 14;
        for l in &lb.listeners {
            let label = format!(
                "{} {} → {}",
                l.protocol,
                l.address,
                l.forwards_to.join(", ")
            );
            let w = 16 + label.chars().count() as i64 * 7;
            let _ = writeln!(
                s,
                r##"<rect x="{cx}" y="{}" width="{w}" height="24" rx="12" fill="#ffffff" fill-opacity="0.92"/>"##,
                y + 38
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" font-size="11" font-family="{MONO}" fill="{INK}">{}</text>"#,
                cx + 8,
                y + 54,
                esc(&label)
            );
            cx += w + 10;
        }
    }
    if d.load_balancers.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{x0}" y="{}" font-size="12" fill="{MUTED}">no load balancer</text>"#,
            lb_y + 20
        );
    }

    legend(&mut s, MARGIN, legend_y);
    s.push_str("</svg>\n");
    s
}

fn summary(d: &Diagram) -> String {
    let in_service = d
        .instances
        .iter()
        .filter(|i| i.lifecycle == "InService")
        .count();
    let healthy = d
        .instances
        .iter()
        .filter(|i| i.health.as_deref() == Some("healthy"))
        .count();
    let mut s = format!(
        "{} zones · {} load balancer(s) · {} target group(s) · {} instances ({in_service} InService, {healthy} healthy)",
        d.zones.len(),
        d.load_balancers.len(),
        d.target_groups.len(),
        d.instances.len()
    );
    if !d.nodes.is_empty() {
        let _ = write!(s, " · {} data nodes", d.nodes.len());
    }
    if !d.impaired_zones.is_empty() {
        let _ = write!(s, " · DOWN: {}", d.impaired_zones.join(", "));
    }
    s
}

/// (fill, stroke) for an instance's state.
fn colours(inst: &Instance) -> (&'static str, &'static str) {
    match (inst.lifecycle.as_str(), inst.health.as_deref()) {
        ("Terminating", _) | (_, Some("draining")) => ("#eceff1", "#78909c"),
        (_, Some("healthy")) => ("#e8f5e9", "#2e7d32"),
        (_, Some("unhealthy")) => ("#ffebee", "#c62828"),
        _ => ("#fff8e1", "#f9a825"),
    }
}

fn instance_box(s: &mut String, inst: &Instance, x: i64, y: i64, w: i64) {
    let (fill, stroke) = colours(inst);
    let _ = writeln!(
        s,
        r#"<rect x="{x}" y="{y}" width="{w}" height="{INST_H}" rx="5" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"#
    );
    let _ = writeln!(
        s,
        r#"<rect x="{x}" y="{y}" width="6" height="{INST_H}" rx="2" fill="{stroke}"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="12" font-weight="bold" font-family="{MONO}" fill="{INK}">{}</text>"#,
        x + 14,
        y + 18,
        esc(&inst.id)
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="11" font-family="{MONO}" fill="{MUTED}">{}</text>"#,
        x + 14,
        y + 34,
        esc(&inst.address)
    );
    let state = match &inst.health {
        Some(h) => format!("{} · {h}", inst.lifecycle),
        None => inst.lifecycle.clone(),
    };
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="11" font-weight="bold" fill="{stroke}">{}</text>"#,
        x + 14,
        y + 50,
        esc(&state)
    );
}

fn node_shape(s: &mut String, node: &Node, x: i64, y: i64, w: i64) {
    let colour = if node.kind == "cache" { CACHE } else { DB };
    let ry = 7;
    let h = NODE_H;
    // A cylinder: body, bottom arc, top ellipse.
    let _ = writeln!(
        s,
        r#"<path d="M {x} {} L {x} {} A {} {ry} 0 0 0 {} {} L {} {} Z" fill="{colour}" fill-opacity="0.12" stroke="{colour}" stroke-width="1.5"/>"#,
        y + ry,
        y + h - ry,
        w / 2,
        x + w,
        y + h - ry,
        x + w,
        y + ry
    );
    let _ = writeln!(
        s,
        r#"<ellipse cx="{}" cy="{}" rx="{}" ry="{ry}" fill="{colour}" fill-opacity="0.25" stroke="{colour}" stroke-width="1.5"/>"#,
        x + w / 2,
        y + ry,
        w / 2
    );
    let kind = if node.kind == "cache" {
        "Cache"
    } else {
        "Database"
    };
    let title = fit(
        &format!("{kind} {} · {}", node.cluster, node.role),
        w - 24,
        6.6,
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="12" font-weight="bold" fill="{INK}">{}</text>"#,
        x + 12,
        y + 32,
        esc(&title)
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="11" font-family="{MONO}" fill="{MUTED}">{} · {}</text>"#,
        x + 12,
        y + 49,
        esc(&node.id),
        esc(&node.state)
    );
}

/// `text` cut to what fits in `width` units at about `per_char` units a character, with an
/// ellipsis when cut (the layout is fixed; long names must not spill out of their boxes).
fn fit(text: &str, width: i64, per_char: f64) -> String {
    let max = ((width as f64 / per_char) as usize).max(4);
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

fn edge(s: &mut String, x1: i64, y1: i64, x2: i64, y2: i64, opacity: f32) {
    let _ = writeln!(
        s,
        r#"<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{ELB}" stroke-width="1.3" stroke-opacity="{opacity}" marker-end="url(#arrow)"/>"#
    );
}

fn legend(s: &mut String, x: i64, y: i64) {
    let items = [
        ("#e8f5e9", "#2e7d32", "healthy"),
        ("#fff8e1", "#f9a825", "initial / pending"),
        ("#ffebee", "#c62828", "unhealthy"),
        ("#eceff1", "#78909c", "draining / terminating"),
    ];
    let mut cx = x;
    for (fill, stroke, label) in items {
        let _ = writeln!(
            s,
            r#"<rect x="{cx}" y="{}" width="14" height="14" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"#,
            y - 11
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{y}" font-size="11" fill="{MUTED}">{label}</text>"#,
            cx + 20
        );
        cx += 34 + label.len() as i64 * 6;
    }
    let _ = writeln!(
        s,
        r#"<text x="{cx}" y="{y}" font-size="11" fill="{MUTED}">drawn from the live state by `updraft diagram`</text>"#
    );
}

/// Escapes text for XML content and attributes.
pub(crate) fn esc(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample;

    #[test]
    fn the_svg_shows_every_zone_instance_and_node_and_is_deterministic() {
        let d = sample();
        let a = svg(&d);
        assert_eq!(a, svg(&d), "same state, same bytes");
        assert!(a.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        for z in &d.zones {
            assert!(a.contains(&format!("Availability Zone {z}")));
        }
        for i in &d.instances {
            assert!(a.contains(&i.id), "{}", i.id);
        }
        assert!(a.contains("Database mylearning-db · writer"));
        assert!(a.contains("Application Load Balancer mylearning"));
        assert!(a.contains("HTTP:8080 · 2/4 healthy · 1,234 requests"));
        assert!(a.contains("InService · unhealthy"));
        // One edge per zone with targets, one per listener → target group.
        assert_eq!(a.matches("marker-end").count(), 3 + 1);
    }

    #[test]
    fn impaired_zones_are_marked_and_text_is_escaped() {
        let mut d = sample();
        d.impaired_zones = vec!["us-east-1b".into()];
        d.title = "a<b>&\"c\"".into();
        let s = svg(&d);
        assert!(s.contains("DOWN (drill)"));
        assert!(s.contains("a&lt;b&gt;&amp;&quot;c&quot;"));
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    #[test]
    fn long_labels_are_cut_to_fit_their_box() {
        assert_eq!(fit("short", 250, 6.6), "short");
        let long = "Database mylearning-db · replica (synchronous standby candidate)";
        let cut = fit(long, 226, 6.6);
        assert!(cut.ends_with('…') && cut.chars().count() == 34, "{cut}");
    }

    #[test]
    fn an_empty_stack_still_draws() {
        let s = svg(&Diagram::default());
        assert!(s.contains("no load balancer") && s.ends_with("</svg>\n"));
    }
}
