//! Target tracking on the real stack: a CPU load step makes the group decide to scale out
//! within seconds and serve with more instances; when the load stops it scales back in, and a
//! steady light client sees no failed request throughout. Prints the figures (run with
//! `cargo test -p cli --test e2e scaling -- --nocapture`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{CPU_TARGET_50, Stack, free_port, get, healthy_targets, stack_config};

/// One CPU-heavy request (MyLearning's quiz grading burns `work` units of hashing).
fn grade(addr: SocketAddr, work: u32) -> std::io::Result<u16> {
    let body = format!(r#"{{"answers":[1,2,3],"work":{work}}}"#);
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "POST /api/quiz/grade HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response {text:?}")))
}

fn desired(s: &Value) -> u64 {
    s["auto_scaling_groups"][0]["desired_capacity"]
        .as_u64()
        .unwrap_or(0)
}

fn in_service(s: &Value) -> usize {
    s["auto_scaling_groups"][0]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["lifecycle"] == "InService")
        .count()
}

#[test]
fn target_tracking_scales_out_on_load_and_back_in_without_failed_requests() {
    let port = free_port();
    let config = stack_config(80, port, 1, "exec mylearning")
        .replace(
            "  max_size                  = 6\n",
            "  max_size                  = 4\n",
        )
        .replace(
            "  health_check_grace_period = 10\n",
            "  health_check_grace_period = 10\n  default_instance_warmup   = 2\n",
        )
        + CPU_TARGET_50;
    let stack = Stack::up("scaling", &config, port);
    let addr = stack.addr();
    stack.wait_for("1 healthy target", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 1
    });

    // A light client for the whole test: every failure counts.
    let stop_light = Arc::new(AtomicBool::new(false));
    let (light_ok, light_failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let light = {
        let (stop, ok, failed) = (stop_light.clone(), light_ok.clone(), light_failed.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(170) {
                match get(addr, "/api/courses") {
                    Ok((200, _, _)) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    // The load step: 6 clients sending CPU-heavy requests, bounded in time.
    let load_start = Instant::now();
    let stop_heavy = Arc::new(AtomicBool::new(false));
    let (heavy_ok, heavy_failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let heavy: Vec<_> = (0..6)
        .map(|_| {
            let (stop, ok, failed) = (stop_heavy.clone(), heavy_ok.clone(), heavy_failed.clone());
            std::thread::spawn(move || {
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(90) {
                    match grade(addr, 40) {
                        Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    let s = stack.wait_for("a scale-out decision", Duration::from_secs(45), |s| {
        desired(s) > 1
    });
    let decided = load_start.elapsed();
    let after = desired(&s);
    let s = stack.wait_for("new capacity serving", Duration::from_secs(60), |s| {
        healthy_targets(s).len() > 1
    });
    let serving = load_start.elapsed();
    let serving_count = healthy_targets(&s).len();

    // The cause is AWS's, naming the alarm and the policy.
    let out = stack.cli(&["activities", "app", "--limit", "50"]);
    let activities = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        activities.contains("a monitor alarm TargetTracking-app-AlarmHigh-")
            && activities.contains("in state ALARM triggered policy cpu-target-50 changing the desired capacity from 1 to"),
        "{activities}"
    );
    let alarms = stack.cli(&["alarms"]);
    let alarms = String::from_utf8_lossy(&alarms.stdout).into_owned();
    assert!(
        alarms.contains("TargetTracking-app-AlarmHigh-")
            && alarms.contains("TargetTracking-app-AlarmLow-"),
        "{alarms}"
    );
    let metrics = stack.cli(&[
        "metrics",
        "CPUUtilization",
        "--dimension",
        "AutoScalingGroupName=app",
        "--since",
        "30",
    ]);
    let metrics = String::from_utf8_lossy(&metrics.stdout).into_owned();
    assert!(
        metrics.contains("AWS/EC2 CPUUtilization AutoScalingGroupName=app (Percent)"),
        "{metrics}"
    );

    let rpt = stack.cli(&[
        "metrics",
        "RequestCountPerTarget",
        "--statistic",
        "Sum",
        "--since",
        "30",
    ]);
    let rpt = String::from_utf8_lossy(&rpt.stdout).into_owned();
    assert!(
        rpt.contains("AWS/ApplicationELB RequestCountPerTarget LoadBalancer=app/front/"),
        "{rpt}"
    );

    // The load stops: back to one instance, draining, with no failed request.
    stop_heavy.store(true, Ordering::Relaxed);
    for h in heavy {
        h.join().unwrap();
    }
    let load_stopped = Instant::now();
    stack.wait_for("scale-in to 1", Duration::from_secs(90), |s| {
        desired(s) == 1 && in_service(s) == 1 && healthy_targets(s).len() == 1
    });
    let scaled_in = load_stopped.elapsed();
    // A few more light requests on the single remaining instance.
    std::thread::sleep(Duration::from_secs(2));
    stop_light.store(true, Ordering::Relaxed);
    light.join().unwrap();

    let (lok, lfail) = (
        light_ok.load(Ordering::Relaxed),
        light_failed.load(Ordering::Relaxed),
    );
    let (hok, hfail) = (
        heavy_ok.load(Ordering::Relaxed),
        heavy_failed.load(Ordering::Relaxed),
    );
    println!(
        "scale-out decision {:.1} s after the load step (desired 1 → {after}); new capacity serving after {:.1} s ({serving_count} healthy targets); \
         scale-in to 1 instance {:.1} s after the load stopped; light client: {lok} ok, {lfail} failed; heavy clients: {hok} ok, {hfail} failed",
        decided.as_secs_f64(),
        serving.as_secs_f64(),
        scaled_in.as_secs_f64()
    );
    let scale_in =
        String::from_utf8_lossy(&stack.cli(&["activities", "app", "--limit", "50"]).stdout)
            .into_owned();
    assert!(
        scale_in.contains("AlarmLow-"),
        "scale-in came from the low alarm:\n{scale_in}"
    );
    assert_eq!(lfail, 0, "the light client saw failures\n{}", stack.log());
    assert_eq!(hfail, 0, "heavy requests failed\n{}", stack.log());
    assert!(lok > 50);
    assert!(stack.down().success());
}

#[test]
fn invalid_policies_and_schedules_start_nothing() {
    let port = free_port();
    let config = stack_config(81, port, 1, "exec mylearning")
        + r#"
resource "aws_autoscaling_policy" "steps" {
  name                   = "steps"
  autoscaling_group_name = aws_autoscaling_group.app.name
  policy_type            = "StepScaling"
  step_adjustment {
    metric_interval_lower_bound = 0
    metric_interval_upper_bound = 20
    scaling_adjustment          = 1
  }
  step_adjustment {
    metric_interval_lower_bound = 10
    scaling_adjustment          = 2
  }
}

resource "aws_autoscaling_schedule" "nightly" {
  scheduled_action_name  = "nightly"
  autoscaling_group_name = aws_autoscaling_group.app.name
  recurrence             = "0 25 * * *"
  time_zone              = "Mars/Olympus_Mons"
  desired_capacity       = 1
}
"#;
    let dir = crate::support::TempDir::new("badpolicy");
    std::fs::write(dir.0.join("main.tf"), &config).unwrap();
    let out = std::process::Command::new(crate::support::updraft_bin())
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .arg("up")
        .arg(dir.0.join("main.tf"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("overlaps"), "{stderr}");
    assert!(stderr.contains("not a valid cron expression"), "{stderr}");
    assert!(stderr.contains("Mars/Olympus_Mons"), "{stderr}");
    assert!(stderr.contains("main.tf:"), "{stderr}");
    assert!(stderr.contains("nothing was started"), "{stderr}");
    assert!(!dir.0.join("state/daemon.json").exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
