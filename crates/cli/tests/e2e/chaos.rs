//! `updraft chaos`: every drill on a real stack under real traffic, with its report checked
//! against what the test saw, and each drill undone — by its own end, by Ctrl-C, and by a
//! restarted daemon after a crash. Loopback blocks 127.70–79.z.0/24 are this module's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// Steady GET traffic through the load balancer from a background thread, bounded in time.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Traffic {
    pub fn start(addr: std::net::SocketAddr, path: &'static str) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, n, f) = (stop.clone(), sent.clone(), failed.clone());
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            // Bounded: at most 3 minutes and 100k requests, whatever the test does.
            while !s.load(Ordering::Relaxed)
                && start.elapsed() < Duration::from_secs(180)
                && n.load(Ordering::Relaxed) < 100_000
            {
                n.fetch_add(1, Ordering::Relaxed);
                match get(addr, path) {
                    Ok((code, _, _)) if code < 500 => {}
                    _ => {
                        f.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Traffic {
            stop,
            sent,
            failed,
            thread: Some(thread),
        }
    }

    /// Stops the traffic; returns (sent, failed).
    pub fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs a drill to its end with `--json` and returns the report.
fn drill(stack: &Stack, args: &[&str]) -> Value {
    let mut all = vec!["chaos"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = stack.cli(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{args:?} failed: {stderr}\n{}",
        stack.log()
    );
    eprintln!("{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn instances(status: &Value) -> Vec<Value> {
    status["auto_scaling_groups"][0]["instances"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn zones_of_healthy(status: &Value) -> Vec<String> {
    let mut z: Vec<String> = healthy_targets(status)
        .into_iter()
        .map(|(_, z)| z)
        .collect();
    z.sort();
    z
}

#[test]
fn kill_instance_reports_detection_recovery_and_the_requests_that_failed() {
    let port = free_port();
    let stack = Stack::up(
        "chaos-kill",
        &stack_config(70, port, 3, "exec mylearning"),
        port,
    );
    let status = stack.wait_for("3 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 3
    });
    let pids = instance_pids(&status);
    let traffic = Traffic::start(stack.addr(), "/api/courses");
    std::thread::sleep(Duration::from_millis(500));

    let report = drill(&stack, &["kill-instance"]);
    let (sent, failed) = traffic.stop();

    assert_eq!(report["drill"], "kill-instance");
    assert_eq!(report["ended_by"], "completed", "{report:#}");
    let victim = report["victims"][0].as_str().unwrap().to_owned();
    let detect = report["time_to_detect_ms"].as_u64().expect("detected");
    let recover = report["time_to_recover_ms"].as_u64().expect("recovered");
    assert!(detect <= recover, "{report:#}");
    // The numbers come from the balancer's counters: they saw the test's traffic.
    assert!(report["requests"].as_u64().unwrap() > 0, "{report:#}");
    assert!(
        report["failed_percent"].as_f64().unwrap() < 1.0,
        "{report:#}"
    );
    assert!(failed * 100 < sent, "{failed} of {sent} failed");
    // The victim is dead and replaced: three healthy targets again, none of them the victim.
    let after = stack.status().unwrap();
    assert_eq!(healthy_targets(&after).len(), 3);
    assert!(healthy_targets(&after).iter().all(|(id, _)| *id != victim));
    let dead: Vec<_> = pids.iter().filter(|p| !process_alive(**p)).collect();
    assert_eq!(dead.len(), 1, "exactly one instance was killed");

    // By id, with a group filter; the text report names the victim.
    let id = instances(&after)[0]["id"].as_str().unwrap().to_owned();
    let out = stack.cli(&["chaos", "kill-instance", &id, "--group", "app"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("stopped             {id}")),
        "{text}"
    );
    assert!(text.contains("time to recover"), "{text}");
    let out = stack.cli(&["chaos", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("kill-instance")
            .count(),
        2
    );
    assert!(stack.down().success());
}

/// The scenario: `updraft load` at a steady rate while `updraft chaos stop-az` takes one of three
/// zones down. The load generator's own threshold (errors ≤ 0.1 %) must hold, the drill's report
/// (the balancer's counters) must agree, and capacity must come back in the surviving zones and
/// then rebalance into the recovered one.
#[test]
fn stop_az_under_load_keeps_errors_at_most_a_tenth_of_a_percent_and_restores_capacity() {
    let port = free_port();
    let stack = Stack::up(
        "chaos-az",
        &stack_config(71, port, 3, "exec mylearning"),
        port,
    );
    stack.wait_for(
        "3 healthy targets in 3 zones",
        Duration::from_secs(60),
        |s| zones_of_healthy(s) == ["us-east-1a", "us-east-1b", "us-east-1c"],
    );
    let summary = stack.dir.0.join("load.json");
    let url = format!("http://127.0.0.1:{port}/api/courses");
    let mut load = std::process::Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(stack.dir.0.join("state"))
        .args(["load", &url, "--rate", "100", "--duration", "30s"])
        .args(["--threshold", "errors<=0.1%", "--json"])
        .arg(&summary)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));

    // Follow the drill from a second process, and look at the stack while the zone is down.
    let mut child = std::process::Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(stack.dir.0.join("state"))
        .args([
            "chaos",
            "stop-az",
            "us-east-1a",
            "--duration",
            "12s",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let during = stack.wait_for(
        "capacity restored in the surviving zones",
        Duration::from_secs(40),
        |s| {
            s["impaired_zones"] == serde_json::json!(["us-east-1a"])
                && healthy_targets(s).len() == 3
                && !zones_of_healthy(s).contains(&"us-east-1a".to_string())
        },
    );
    assert!(
        instances(&during)
            .iter()
            .all(|i| i["availability_zone"] != "us-east-1a"),
        "nothing runs in the stopped zone: {during:#}"
    );
    let out = wait_output(&mut child, Duration::from_secs(90));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            stack.log()
        )
    });
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let load_out = wait_output(&mut load, Duration::from_secs(90));
    let load_text = String::from_utf8_lossy(&load_out.stdout).into_owned();
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    eprintln!(
        "stop-az under load: {} of {} requests failed (updraft load); report {report:#}",
        s["requests"]["errors"], s["requests"]["sent"]
    );

    // The error budget: at most 0.1 %, by the load generator's threshold and the balancer.
    assert_eq!(
        load_out.status.code(),
        Some(0),
        "threshold failed: {load_text}"
    );
    assert_eq!(s["passed"], true, "{s:#}");
    assert!(s["requests"]["sent"].as_u64().unwrap() >= 2000, "{s:#}");
    assert_eq!(report["ended_by"], "completed", "{report:#}");
    assert!(report["time_to_detect_ms"].as_u64().is_some());
    assert!(report["time_to_recover_ms"].as_u64().is_some());
    assert!(report["time_to_settle_after_restore_ms"].as_u64().is_some());
    assert!(report["requests"].as_u64().unwrap() >= 1000, "{report:#}");
    assert!(
        report["failed_percent"].as_f64().unwrap() <= 0.1,
        "{report:#}"
    );
    // The zone is back and the group rebalanced into it.
    let after = stack.status().unwrap();
    assert_eq!(after["impaired_zones"], serde_json::json!([]));
    assert_eq!(
        zones_of_healthy(&after),
        ["us-east-1a", "us-east-1b", "us-east-1c"]
    );
    // Activities tell the story in AWS's words.
    let acts = String::from_utf8_lossy(&stack.cli(&["activities", "app", "--limit", "50"]).stdout)
        .into_owned();
    assert!(acts.contains("EC2 instance status check failure"), "{acts}");
    assert!(acts.contains("to balance instances in zones"), "{acts}");
    assert!(stack.down().success());
}

#[test]
fn latency_and_error_faults_hit_the_path_to_the_target_group_and_go_away() {
    let port = free_port();
    let stack = Stack::up(
        "chaos-fault",
        &stack_config(72, port, 2, "exec mylearning"),
        port,
    );
    stack.wait_for("2 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 2
    });

    // 50 % of requests answered 503 for 3 s, under traffic.
    let traffic = Traffic::start(stack.addr(), "/api/courses");
    let report = drill(
        &stack,
        &[
            "errors",
            "app",
            "--percent",
            "50",
            "--status",
            "503",
            "--duration",
            "3s",
        ],
    );
    let (sent, failed) = traffic.stop();
    assert_eq!(report["ended_by"], "completed", "{report:#}");
    let injected = report["faults_injected"].as_u64().unwrap();
    assert!(injected > 0, "{report:#}");
    assert_eq!(
        report["target_5xx"].as_u64().unwrap(),
        injected,
        "{report:#}"
    );
    let pct = report["failed_percent"].as_f64().unwrap();
    assert!(
        (35.0..=65.0).contains(&pct),
        "about half failed: {report:#}"
    );
    assert!(failed > 0 && failed < sent);
    // Gone afterwards: every request succeeds.
    for _ in 0..20 {
        assert_eq!(get(stack.addr(), "/api/courses").unwrap().0, 200);
    }

    // Connection resets on one zone's targets: the balancer's safe retry hides them.
    let report = drill(
        &stack,
        &["errors", "app", "--az", "us-east-1a", "--duration", "2s"],
    );
    assert!(report["faults_injected"].as_u64().unwrap() <= report["requests"].as_u64().unwrap());

    // Latency: requests during the fault take at least the delay; afterwards they do not.
    let mut child = std::process::Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(stack.dir.0.join("state"))
        .args([
            "chaos",
            "latency",
            "app",
            "--delay",
            "400ms",
            "--duration",
            "3s",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    stack.wait_for("the latency drill running", Duration::from_secs(10), |s| {
        s["drills"].as_array().is_some_and(|d| !d.is_empty())
    });
    let t0 = Instant::now();
    assert_eq!(get(stack.addr(), "/api/courses").unwrap().0, 200);
    assert!(t0.elapsed() >= Duration::from_millis(400));
    let out = wait_output(&mut child, Duration::from_secs(30));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["drill"], "latency");
    assert!(report["faults_injected"].as_u64().unwrap() >= 1);
    let status = stack.status().unwrap();
    assert_eq!(status["drills"], serde_json::json!([]));
    assert!(stack.down().success());
}

#[test]
fn ctrl_c_ends_a_drill_early_and_a_restarted_daemon_undoes_an_expired_one() {
    let port = free_port();
    let mut stack = Stack::up(
        "chaos-undo",
        &stack_config(73, port, 3, "exec mylearning"),
        port,
    );
    stack.wait_for("3 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 3
    });

    // Ctrl-C (SIGINT) on a one-hour fault: ended at once, undone, exit 130.
    let mut child = std::process::Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(stack.dir.0.join("state"))
        .args(["chaos", "errors", "app", "--duration", "1h"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    stack.wait_for("the drill running", Duration::from_secs(10), |s| {
        s["drills"].as_array().is_some_and(|d| !d.is_empty())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = wait_output(&mut child, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{text}");
    assert!(text.contains("stopped early by the user"), "{text}");
    assert_eq!(stack.status().unwrap()["drills"], serde_json::json!([]));
    for _ in 0..10 {
        assert_eq!(get(stack.addr(), "/api/courses").unwrap().0, 200);
    }

    // A detached stop-az, then updraft dies hard; it comes back after the drill's time.
    let out = stack.cli(&[
        "chaos",
        "stop-az",
        "us-east-1b",
        "--duration",
        "2s",
        "--detach",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(stack.daemon_pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    stack.wait_exit(Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));
    stack.restart();
    stack.wait_for(
        "3 healthy targets over 3 zones",
        Duration::from_secs(60),
        |s| {
            s["impaired_zones"] == serde_json::json!([])
                && zones_of_healthy(s) == ["us-east-1a", "us-east-1b", "us-east-1c"]
        },
    );
    let out = stack.cli(&["chaos", "show", &id, "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["ended_by"]
            .as_str()
            .unwrap()
            .contains("after updraft restarted"),
        "{report:#}"
    );
    assert!(stack.down().success());
}

#[test]
fn bad_drill_input_gets_one_clear_message_and_changes_nothing() {
    // No stack running.
    let dir = TempDir::new("chaos-nostack");
    let out = std::process::Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .args(["chaos", "kill-instance"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no stack is running"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // A bad duration is refused before anything is asked of a daemon.
    let out = std::process::Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .args(["chaos", "stop-az", "us-east-1a", "--duration", "5x"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`x` in `5x` is not a time unit"),
        "{stderr}"
    );

    let port = free_port();
    let stack = Stack::up(
        "chaos-bad",
        &stack_config(74, port, 2, "exec mylearning"),
        port,
    );
    let before = stack.wait_for("2 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 2
    });
    let cases: &[(&[&str], &str)] = &[
        (
            &["stop-az", "us-east-1z", "--duration", "10s"],
            "availability zone `us-east-1z` is not in this stack; its zones are: us-east-1a, us-east-1b, us-east-1c",
        ),
        (
            &["stop-az", "us-east-1a", "--duration", "0s"],
            "longer than 0s",
        ),
        (&["stop-az", "us-east-1a", "--duration", "2h"], "at most 1h"),
        (
            &["kill-instance", "i-0000000000000dead"],
            "no running instance `i-0000000000000dead`",
        ),
        (
            &["kill-instance", "--group", "nope"],
            "no auto scaling group named `nope`",
        ),
        (
            &["errors", "nope", "--duration", "5s"],
            "no target group named `nope`",
        ),
        (
            &["errors", "app", "--percent", "150", "--duration", "5s"],
            "--percent must be",
        ),
        (
            &["errors", "app", "--status", "404", "--duration", "5s"],
            "--status must be a server error",
        ),
        (
            &["latency", "app", "--delay", "0ms", "--duration", "5s"],
            "--delay must be",
        ),
        (&["show", "drill-nope"], "no drill `drill-nope`"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["chaos"];
        all.extend_from_slice(args);
        let out = stack.cli(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one message: {stderr}");
    }
    // Nothing changed: no drill ran, the same instances serve, every request succeeds.
    let after = stack.status().unwrap();
    assert_eq!(after["drills"], serde_json::json!([]));
    assert_eq!(after["impaired_zones"], serde_json::json!([]));
    assert_eq!(instance_pids(&after), instance_pids(&before));
    assert!(
        String::from_utf8_lossy(&stack.cli(&["chaos", "list"]).stdout).contains("no drills yet")
    );
    assert!(stack.down().success());
}

#[test]
fn partition_az_cuts_the_zone_off_with_nftables_and_heals() {
    if !nix::unistd::geteuid().is_root() || which("nft").is_none() {
        eprintln!("skipped: partition-az needs root and nft (Debian package nftables)");
        return;
    }
    let port = free_port();
    let stack = Stack::up(
        "chaos-part",
        &stack_config(75, port, 3, "exec mylearning"),
        port,
    );
    stack.wait_for("3 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 3
    });
    let mut child = std::process::Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(stack.dir.0.join("state"))
        .args([
            "chaos",
            "partition-az",
            "us-east-1c",
            "--duration",
            "15s",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    stack.wait_for("the drill running", Duration::from_secs(10), |s| {
        s["drills"].as_array().is_some_and(|d| !d.is_empty())
    });
    // The zone's instance is unreachable from here, the others are not.
    let status = stack.status().unwrap();
    let addr_in = |zone: &str| -> std::net::SocketAddr {
        instances(&status)
            .iter()
            .find(|i| i["availability_zone"] == zone)
            .and_then(|i| i["address"].as_str())
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        std::net::TcpStream::connect_timeout(&addr_in("us-east-1c"), Duration::from_secs(1))
            .is_err()
    );
    assert!(
        std::net::TcpStream::connect_timeout(&addr_in("us-east-1a"), Duration::from_secs(1))
            .is_ok()
    );
    let tables = nft_tables();
    assert!(tables.contains("updraft_stack_"), "{tables}");

    let out = wait_output(&mut child, Duration::from_secs(180));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    eprintln!("partition-az report: {report:#}");
    assert!(report["time_to_detect_ms"].as_u64().is_some(), "{report:#}");
    // Healed: the drill's table is gone and the zone's address answers again.
    let tables = nft_tables();
    assert!(
        !tables.contains(&report["id"].as_str().unwrap().replace('-', "_")),
        "{tables}"
    );
    let healed = stack.wait_for("3 healthy targets again", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 3
    });
    let c = instances(&healed)
        .iter()
        .find(|i| i["availability_zone"] == "us-east-1c")
        .and_then(|i| i["address"].as_str().map(str::to_owned));
    if let Some(c) = c {
        assert!(
            std::net::TcpStream::connect_timeout(&c.parse().unwrap(), Duration::from_secs(2))
                .is_ok()
        );
    }
    assert!(stack.down().success());
}

fn nft_tables() -> String {
    let out = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
    })
}

/// Waits for a child to exit (bounded), then collects its output.
pub fn wait_output(child: &mut std::process::Child, limit: Duration) -> std::process::Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    use std::io::Read;
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_end(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_end(&mut stderr);
    }
    std::process::Output {
        status: child.wait().unwrap(),
        stdout,
        stderr,
    }
}
