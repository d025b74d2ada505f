//! Graph-language outputs: Graphviz DOT and Mermaid, with one cluster/subgraph per zone inside
//! the region. Identifiers are derived from names with everything but letters and digits
//! replaced, so they are valid in both languages.

use std::fmt::Write;

use crate::model::Diagram;

/// Graphviz DOT (`dot -Tsvg` lays it out).
pub fn dot(d: &Diagram) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph updraft {{");
    let _ = writeln!(s, "  rankdir=TB; compound=true; fontname=\"DejaVu Sans\";");
    let _ = writeln!(
        s,
        "  node [shape=box, style=\"rounded,filled\", fontname=\"DejaVu Sans\", fontsize=11];"
    );
    let _ = writeln!(
        s,
        "  label={}; labelloc=t;",
        q(&format!("updraft · {} · {}", d.region, d.title))
    );
    let _ = writeln!(s, "  subgraph cluster_region {{");
    let _ = writeln!(
        s,
        "    label={}; style=dashed; color=\"#147eba\";",
        q(&format!("Region {}", d.region))
    );
    for lb in &d.load_balancers {
        let _ = writeln!(
            s,
            "    {} [label={}, fillcolor=\"#8c4fff\", fontcolor=white];",
            id("lb", &lb.name),
            q(&format!("{} load balancer {}", lb.kind, lb.name))
        );
        for (k, l) in lb.listeners.iter().enumerate() {
            let lid = id("listener", &format!("{}_{k}", lb.name));
            let _ = writeln!(
                s,
                "    {lid} [label={}, shape=note, fillcolor=\"#f4efff\"];",
                q(&format!("{} {}", l.protocol, l.address))
            );
            let _ = writeln!(s, "    {} -> {lid};", id("lb", &lb.name));
            for t in &l.forwards_to {
                let _ = writeln!(s, "    {lid} -> {};", id("tg", t));
            }
        }
    }
    for tg in &d.target_groups {
        let (healthy, total) = d.health_of(&tg.name);
        let _ = writeln!(
            s,
            "    {} [label={}, fillcolor=\"#f4efff\", color=\"#8c4fff\"];",
            id("tg", &tg.name),
            q(&format!(
                "target group {}\n{}:{} · {healthy}/{total} healthy · {} requests",
                tg.name, tg.protocol, tg.port, tg.requests
            ))
        );
    }
    for zone in &d.zones {
        let down = d.impaired_zones.contains(zone);
        let _ = writeln!(s, "    subgraph {} {{", id("cluster", zone));
        let _ = writeln!(
            s,
            "      label={}; style=dashed; color={};",
            q(&format!(
                "{zone}{}",
                if down { " (DOWN: drill)" } else { "" }
            )),
            if down { "\"#c62828\"" } else { "\"#7d8998\"" }
        );
        for i in d.instances_in(zone) {
            let fill = match i.health.as_deref() {
                Some("healthy") => "#e8f5e9",
                Some("unhealthy") => "#ffebee",
                Some("draining") => "#eceff1",
                _ => "#fff8e1",
            };
            let _ = writeln!(
                s,
                "      {} [label={}, fillcolor=\"{fill}\"];",
                id("i", &i.id),
                q(&format!(
                    "{}\n{}\n{} · {}",
                    i.id,
                    i.address,
                    i.lifecycle,
                    i.health.as_deref().unwrap_or("not registered")
                ))
            );
        }
        for n in d.nodes_in(zone) {
            let colour = if n.kind == "cache" {
                "#fbe3e4"
            } else {
                "#e3e6f8"
            };
            let _ = writeln!(
                s,
                "      {} [label={}, shape=cylinder, fillcolor=\"{colour}\"];",
                id("node", &n.id),
                q(&format!(
                    "{} {} · {}\n{} · {}",
                    n.kind, n.cluster, n.role, n.id, n.state
                ))
            );
        }
        let _ = writeln!(s, "    }}");
    }
    for i in &d.instances {
        for t in &i.target_groups {
            let _ = writeln!(s, "    {} -> {};", id("tg", t), id("i", &i.id));
        }
    }
    let _ = writeln!(s, "  }}");
    let _ = writeln!(s, "}}");
    s
}

/// Mermaid flowchart (renders in GitHub and most Markdown viewers).
pub fn mermaid(d: &Diagram) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "flowchart TB");
    let _ = writeln!(
        s,
        "  subgraph {}[{}]",
        id("region", &d.region),
        mq(&format!("Region {}", d.region))
    );
    for lb in &d.load_balancers {
        let _ = writeln!(
            s,
            "    {}[{}]",
            id("lb", &lb.name),
            mq(&format!("{} load balancer {}", lb.kind, lb.name))
        );
        for (k, l) in lb.listeners.iter().enumerate() {
            let lid = id("listener", &format!("{}_{k}", lb.name));
            let _ = writeln!(
                s,
                "    {lid}>{}]",
                mq(&format!("{} {}", l.protocol, l.address))
            );
            let _ = writeln!(s, "    {} --> {lid}", id("lb", &lb.name));
            for t in &l.forwards_to {
                let _ = writeln!(s, "    {lid} --> {}", id("tg", t));
            }
        }
    }
    for tg in &d.target_groups {
        let (healthy, total) = d.health_of(&tg.name);
        let _ = writeln!(
            s,
            "    {}[{}]",
            id("tg", &tg.name),
            mq(&format!(
                "target group {} · {healthy}/{total} healthy",
                tg.name
            ))
        );
    }
    for zone in &d.zones {
        let down = d.impaired_zones.contains(zone);
        let _ = writeln!(
            s,
            "    subgraph {}[{}]",
            id("zone", zone),
            mq(&format!(
                "{zone}{}",
                if down { " DOWN (drill)" } else { "" }
            ))
        );
        for i in d.instances_in(zone) {
            let _ = writeln!(
                s,
                "      {}[{}]:::{}",
                id("i", &i.id),
                mq(&format!(
                    "{} · {}",
                    i.id,
                    i.health.as_deref().unwrap_or(&i.lifecycle)
                )),
                class(i.health.as_deref())
            );
        }
        for n in d.nodes_in(zone) {
            let _ = writeln!(
                s,
                "      {}[({})]",
                id("node", &n.id),
                mq(&format!("{} {} · {}", n.kind, n.cluster, n.role))
            );
        }
        let _ = writeln!(s, "    end");
    }
    let _ = writeln!(s, "  end");
    for i in &d.instances {
        for t in &i.target_groups {
            let _ = writeln!(s, "  {} --> {}", id("tg", t), id("i", &i.id));
        }
    }
    let _ = writeln!(s, "  classDef healthy fill:#e8f5e9,stroke:#2e7d32");
    let _ = writeln!(s, "  classDef unhealthy fill:#ffebee,stroke:#c62828");
    let _ = writeln!(s, "  classDef pending fill:#fff8e1,stroke:#f9a825");
    let _ = writeln!(s, "  classDef draining fill:#eceff1,stroke:#78909c");
    s
}

fn class(health: Option<&str>) -> &'static str {
    match health {
        Some("healthy") => "healthy",
        Some("unhealthy") => "unhealthy",
        Some("draining") => "draining",
        _ => "pending",
    }
}

fn id(prefix: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{prefix}_{clean}")
}

/// A DOT string literal.
fn q(t: &str) -> String {
    format!(
        "\"{}\"",
        t.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

/// A Mermaid label: quoted, with characters Mermaid treats specially as entities.
fn mq(t: &str) -> String {
    let clean: String = t
        .chars()
        .map(|c| match c {
            '"' => "#quot;".to_string(),
            '\n' => " ".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!("\"{clean}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample;

    #[test]
    fn dot_has_a_cluster_per_zone_and_an_edge_per_target() {
        let d = sample();
        let s = dot(&d);
        assert!(s.starts_with("digraph updraft {"));
        assert_eq!(s.matches("subgraph cluster_us_east_1").count(), 3);
        assert_eq!(s.matches("tg_mylearning_web -> i_").count(), 4);
        assert!(s.contains("shape=cylinder"));
        assert_eq!(s.matches('{').count(), s.matches('}').count());
    }

    #[test]
    fn mermaid_has_a_subgraph_per_zone_and_balanced_ends() {
        let d = sample();
        let s = mermaid(&d);
        assert!(s.starts_with("flowchart TB"));
        assert_eq!(s.matches("subgraph zone_").count(), 3);
        assert_eq!(
            s.matches("subgraph").count(),
            s.matches("\n    end").count() + s.matches("\n  end").count()
        );
        assert!(s.contains(":::unhealthy"));
        assert!(s.contains("[(\"database mylearning-db · writer\")]"));
        assert_eq!(mq("a\"b"), "\"a#quot;b\"");
    }
}
