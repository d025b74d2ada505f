//! `updraft diagram`: every output format drawn from the live state of a real stack — the
//! instances it really runs, in their zones, with their health — and clear errors otherwise.

use std::time::Duration;

use crate::support::*;

#[test]
fn the_diagram_shows_the_live_stack_in_svg_png_dot_and_mermaid() {
    let port = free_port();
    let stack = Stack::up(
        "diagram",
        &stack_config(76, port, 4, "exec mylearning"),
        port,
    );
    let status = stack.wait_for("4 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 4
    });
    let ids: Vec<String> = healthy_targets(&status)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for _ in 0..7 {
        assert_eq!(get(stack.addr(), "/api/courses").unwrap().0, 200);
    }
    let out_dir = &stack.dir.0;
    let draw = |args: &[&str]| {
        let mut all = vec!["diagram"];
        all.extend_from_slice(args);
        let out = stack.cli(&all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };

    // SVG (to stdout, and the same bytes to a file): every zone, every live instance, health,
    // the balancer's request count.
    let svg = String::from_utf8(draw(&[]).stdout).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    for zone in ["us-east-1a", "us-east-1b", "us-east-1c"] {
        assert!(svg.contains(&format!("Availability Zone {zone}")), "{zone}");
    }
    for id in &ids {
        assert!(svg.contains(id.as_str()), "{id} missing");
    }
    assert!(svg.contains("Application Load Balancer front"));
    assert!(svg.contains("4/4 healthy"));
    assert!(svg.matches("InService · healthy").count() == 4);
    assert!(svg.contains("requests"));

    // PNG rendered from it.
    let png = out_dir.join("stack.png");
    draw(&["-o", png.to_str().unwrap()]);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 20_000,
        "a real picture, {} bytes",
        bytes.len()
    );

    // DOT and Mermaid, by extension and by flag.
    let dot_file = out_dir.join("stack.dot");
    draw(&["-o", dot_file.to_str().unwrap()]);
    let dot = std::fs::read_to_string(&dot_file).unwrap();
    assert!(dot.starts_with("digraph updraft {"));
    assert_eq!(dot.matches("subgraph cluster_us_east_1").count(), 3);
    assert_eq!(dot.matches("tg_app -> i_").count(), 4);
    let mermaid = String::from_utf8(draw(&["--format", "mermaid"]).stdout).unwrap();
    assert!(mermaid.starts_with("flowchart TB"));
    assert_eq!(mermaid.matches(":::healthy").count(), 4);

    // Live: after a scale-in the diagram shows what runs now.
    assert!(stack.cli(&["scale", "app", "2"]).status.success());
    stack.wait_for("2 instances", Duration::from_secs(30), |s| {
        s["auto_scaling_groups"][0]["instances"]
            .as_array()
            .is_some_and(|a| a.len() == 2)
    });
    let svg = String::from_utf8(draw(&[]).stdout).unwrap();
    assert_eq!(svg.matches("InService · healthy").count(), 2);

    // Bad input: one message each.
    for (args, expected) in [
        (vec!["diagram", "--format", "png"], "a PNG needs a file"),
        (
            vec!["diagram", "-o", "x.jpeg"],
            "cannot tell the format from the extension `.jpeg`",
        ),
        (
            vec!["diagram", "--scale", "0", "-o", "x.png"],
            "--scale must be",
        ),
    ] {
        let out = stack.cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let state = stack.dir.0.join("state");
    assert!(stack.down().success());

    let out = std::process::Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(&state)
        .arg("diagram")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no stack is running"));
}
