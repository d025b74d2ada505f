//! `updraft diagram`: the running stack's architecture, drawn from its live status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use server::views::StackStatus;

use crate::EXIT_USAGE;

#[derive(Args, Debug)]
pub struct DiagramArgs {
    /// Output format. Default: from the --output file's extension, else svg.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to this file instead of standard output (a PNG needs a file).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// PNG only: pixels per SVG unit (2 = sharp on high-density screens).
    #[arg(long, default_value_t = 2.0)]
    scale: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Svg,
    Png,
    Dot,
    Mermaid,
}

pub async fn run(args: DiagramArgs, state_dir: &std::path::Path) -> ExitCode {
    let format = match (args.format, &args.output) {
        (Some(f), _) => f,
        (None, Some(path)) => match path.extension().and_then(|e| e.to_str()) {
            Some("png") => Format::Png,
            Some("dot" | "gv") => Format::Dot,
            Some("mmd" | "mermaid") => Format::Mermaid,
            Some("svg") | None => Format::Svg,
            Some(other) => {
                eprintln!(
                    "error: cannot tell the format from the extension `.{other}`; use .svg, .png, .dot or .mmd, or pass --format"
                );
                return ExitCode::from(EXIT_USAGE);
            }
        },
        (None, None) => Format::Svg,
    };
    if format == Format::Png && args.output.is_none() {
        eprintln!("error: a PNG needs a file: add --output diagram.png");
        return ExitCode::from(EXIT_USAGE);
    }
    if !(args.scale > 0.0 && args.scale <= 8.0) {
        eprintln!(
            "error: --scale must be above 0 and at most 8; got {}",
            args.scale
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let status = match server::ApiClient::for_state_dir(state_dir) {
        Ok(c) => match c.status().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let d = from_status(&status);
    let bytes = match format {
        Format::Svg => diagram::svg(&d).into_bytes(),
        Format::Dot => diagram::dot(&d).into_bytes(),
        Format::Mermaid => diagram::mermaid(&d).into_bytes(),
        Format::Png => match diagram::png(&d, args.scale) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    match &args.output {
        None => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&bytes);
        }
        Some(path) => {
            if let Err(e) = std::fs::write(path, &bytes) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!(
                "wrote {} ({:?}, {} bytes): {} zones, {} instances, {} data nodes",
                path.display(),
                format,
                bytes.len(),
                d.zones.len(),
                d.instances.len(),
                d.nodes.len()
            );
        }
    }
    ExitCode::SUCCESS
}

/// The diagram's data from the live status.
pub fn from_status(s: &StackStatus) -> diagram::Diagram {
    let mut zones: Vec<String> = Vec::new();
    let mut add = |z: &str| {
        if !z.is_empty() && !zones.iter().any(|k| k == z) {
            zones.push(z.to_owned());
        }
    };
    for lb in &s.load_balancers {
        lb.availability_zones.iter().for_each(|z| add(z));
    }
    for g in &s.auto_scaling_groups {
        g.availability_zones.iter().for_each(|z| add(z));
        g.instances.iter().for_each(|i| add(&i.availability_zone));
    }
    s.nodes.iter().for_each(|n| add(&n.availability_zone));
    zones.sort();

    let instances = s
        .auto_scaling_groups
        .iter()
        .flat_map(|g| {
            g.instances.iter().map(move |i| {
                let target_groups = s
                    .target_groups
                    .iter()
                    .filter(|tg| tg.targets.iter().any(|t| t.id == i.id.as_str()))
                    .map(|tg| tg.name.clone())
                    .collect();
                diagram::Instance {
                    id: i.id.to_string(),
                    group: g.name.clone(),
                    zone: i.availability_zone.clone(),
                    address: i.address.clone(),
                    lifecycle: format!("{:?}", i.lifecycle),
                    health: i.target_health.map(|h| h.as_str().to_owned()),
                    target_groups,
                }
            })
        })
        .collect();
    diagram::Diagram {
        title: s.config.clone(),
        region: s.region.clone(),
        zones,
        impaired_zones: s.impaired_zones.clone(),
        load_balancers: s
            .load_balancers
            .iter()
            .map(|lb| diagram::LoadBalancer {
                name: lb.name.clone(),
                kind: lb.load_balancer_type.clone(),
                listeners: lb
                    .listeners
                    .iter()
                    .map(|l| diagram::Listener {
                        protocol: l.protocol.clone(),
                        address: l.address.clone(),
                        forwards_to: l.forwards_to.clone(),
                    })
                    .collect(),
            })
            .collect(),
        target_groups: s
            .target_groups
            .iter()
            .map(|tg| diagram::TargetGroup {
                name: tg.name.clone(),
                protocol: tg.protocol.clone(),
                port: tg.port,
                requests: tg.counters.requests,
            })
            .collect(),
        instances,
        nodes: s
            .nodes
            .iter()
            .map(|n| diagram::Node {
                kind: n.kind.clone(),
                cluster: n.cluster.clone(),
                id: n.id.clone(),
                role: n.role.clone(),
                zone: n.availability_zone.clone(),
                state: n.state.clone(),
            })
            .collect(),
    }
}
