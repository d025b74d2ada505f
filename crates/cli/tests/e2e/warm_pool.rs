//! Warm pools on the real stack: booted instances wait frozen (cgroup freezer, or SIGSTOP),
//! survive a crash of updraft frozen, and scale-out takes them first, so new capacity serves
//! sooner than a cold launch. Two groups behind one target group, the same slow-booting user
//! data; one has a warm pool.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::lifecycle::in_state;
use crate::support::*;

/// Seconds the application takes to initialise before it listens (a cache warm-up, say).
const BOOT: u64 = 5;

/// A second group, `warm`, like `app` but with a warm pool of one stopped instance.
fn warm_group() -> &'static str {
    r#"
resource "aws_autoscaling_group" "warm" {
  name                      = "warm"
  min_size                  = 1
  max_size                  = 4
  desired_capacity          = 1
  vpc_zone_identifier       = aws_subnet.z[*].id
  target_group_arns         = [aws_lb_target_group.app.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 10
  launch_template {
    id      = aws_launch_template.app.id
    version = "$Latest"
  }
  warm_pool {
    pool_state                  = "Stopped"
    max_group_prepared_capacity = 2
  }
}
"#
}

/// Whether the kernel has `pid` stopped: frozen by a cgroup freezer (v1 or v2), or SIGSTOPped.
fn is_frozen(pid: u32) -> bool {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        if controllers.split(',').any(|c| c == "freezer") {
            let file = format!("/sys/fs/cgroup/freezer{path}/freezer.state");
            if let Ok(state) = std::fs::read_to_string(file) {
                return state.trim() == "FROZEN";
            }
        }
        if controllers.is_empty()
            && let Ok(events) =
                std::fs::read_to_string(format!("/sys/fs/cgroup{path}/cgroup.events"))
            && events.lines().any(|l| l == "frozen 1")
        {
            return true;
        }
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

/// Healthy targets of group `g` (by index in the status).
fn healthy_of(s: &Value, g: usize) -> usize {
    let ids: Vec<&str> = s["auto_scaling_groups"][g]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str())
        .collect();
    healthy_targets(s)
        .iter()
        .filter(|(id, _)| ids.contains(&id.as_str()))
        .count()
}

fn group_index(s: &Value, name: &str) -> usize {
    s["auto_scaling_groups"]
        .as_array()
        .unwrap()
        .iter()
        .position(|g| g["name"] == name)
        .unwrap()
}

/// `updraft scale`, then the time until the group has `n` healthy targets.
fn scale_and_time(stack: &Stack, group: &str, n: usize) -> Duration {
    let out = stack.cli(&["scale", group, &n.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    stack.wait_for(
        &format!("{n} healthy in {group}"),
        Duration::from_secs(30),
        |s| healthy_of(s, group_index(s, group)) == n,
    );
    started.elapsed()
}

#[test]
fn a_warm_pool_serves_scale_out_sooner_than_a_cold_launch() {
    let port = free_port();
    let user_data = format!("sleep {BOOT}\n    exec mylearning");
    let config = stack_config(82, port, 1, &user_data) + warm_group();
    let mut stack = Stack::up("warmpool", &config, port);
    let s = stack.wait_for(
        "both groups serving and a stopped warm instance",
        Duration::from_secs(45),
        |s| {
            let (app, warm) = (group_index(s, "app"), group_index(s, "warm"));
            healthy_of(s, app) == 1
                && healthy_of(s, warm) == 1
                && in_state(s, warm, "Warmed:Stopped").len() == 1
        },
    );
    let warm = group_index(&s, "warm");
    let pooled = in_state(&s, warm, "Warmed:Stopped")[0].clone();
    let pid = s["auto_scaling_groups"][warm]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == pooled.as_str())
        .and_then(|i| i["pid"].as_u64())
        .unwrap() as u32;
    assert!(is_frozen(pid), "the warm instance's processes are stopped");

    // updraft crashes and comes back: the frozen instance is adopted as it was, not relaunched.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(stack.daemon_pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    stack.wait_exit(Duration::from_secs(10));
    stack.restart();
    let s = stack.wait_for("the warm pool adopted", Duration::from_secs(30), |s| {
        let warm = group_index(s, "warm");
        in_state(s, warm, "Warmed:Stopped") == vec![pooled.clone()]
    });
    let warm = group_index(&s, "warm");
    assert!(is_frozen(pid), "still frozen after the restart");
    assert_eq!(
        s["auto_scaling_groups"][warm]["instances"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "no duplicate launched"
    );
    stack.wait_for("both groups serving again", Duration::from_secs(30), |s| {
        healthy_of(s, group_index(s, "app")) == 1 && healthy_of(s, group_index(s, "warm")) == 1
    });

    let cold = scale_and_time(&stack, "app", 2);
    let warm_start = scale_and_time(&stack, "warm", 2);
    eprintln!(
        "new capacity serving after scale-out: cold launch {:.2} s (boot {BOOT} s), from the \
         warm pool {:.2} s ({:.1}x sooner)",
        cold.as_secs_f64(),
        warm_start.as_secs_f64(),
        cold.as_secs_f64() / warm_start.as_secs_f64().max(0.001)
    );

    // It was the pooled instance that went into service, thawed.
    let s = stack.status().unwrap();
    let warm = group_index(&s, "warm");
    assert!(in_state(&s, warm, "InService").contains(&pooled), "{s}");
    assert!(!is_frozen(pid));
    let activities = stack.cli(&["activities", "warm"]);
    let text = String::from_utf8_lossy(&activities.stdout);
    assert!(
        text.contains(&format!(
            "Launching a new EC2 instance from warm pool: {pooled}"
        )),
        "{text}"
    );
    assert!(
        text.contains("Launching a new EC2 instance into warm pool"),
        "{text}"
    );
    let (code, _, _) = get(stack.addr(), "/api/courses").unwrap();
    assert_eq!(code, 200);
    assert!(stack.down().success());
    assert!(!process_alive(pid), "the warm instance was stopped on down");
}
