//! Lifecycle hooks on the real stack: a launch hook holds a new instance in Pending:Wait —
//! running, but not registered with the load balancer — until `updraft lifecycle complete`;
//! a termination hook holds a drained instance in Terminating:Wait.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// `config` with `extra` added to the auto scaling group (before its launch_template block).
pub fn with_group_extra(config: &str, extra: &str) -> String {
    let anchor = "  launch_template {\n    id      = aws_launch_template.app.id";
    assert!(
        config.contains(anchor),
        "the group's launch_template block moved"
    );
    config.replacen(anchor, &format!("{extra}{anchor}"), 1)
}

/// The group's instances in `state`.
pub fn in_state(status: &Value, group: usize, state: &str) -> Vec<String> {
    status["auto_scaling_groups"][group]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["lifecycle"] == state)
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[track_caller]
fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_launch_hook_holds_the_instance_until_lifecycle_complete() {
    let port = free_port();
    let config = with_group_extra(
        &stack_config(81, port, 1, "exec mylearning"),
        r#"  initial_lifecycle_hook {
    name                 = "boot"
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    heartbeat_timeout    = 30
  }
"#,
    ) + r#"
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = "drain"
  autoscaling_group_name = aws_autoscaling_group.app.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = 30
  default_result         = "CONTINUE"
}
"#;
    let stack = Stack::up("lifecycle", &config, port);
    let s = stack.wait_for(
        "an instance in Pending:Wait",
        Duration::from_secs(30),
        |s| in_state(s, 0, "Pending:Wait").len() == 1,
    );
    let id = in_state(&s, 0, "Pending:Wait")[0].clone();
    let waiting_since = Instant::now();

    // Held: running, not registered, for as long as nobody answers (the timeout is 30 s).
    while waiting_since.elapsed() < Duration::from_secs(3) {
        let s = stack.status().unwrap();
        assert_eq!(in_state(&s, 0, "Pending:Wait"), vec![id.clone()], "{s}");
        assert!(
            s["target_groups"][0]["targets"]
                .as_array()
                .unwrap()
                .is_empty(),
            "not registered while it waits"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let s = stack.status().unwrap();
    let waits_for = s["auto_scaling_groups"][0]["instances"][0]["waiting_for"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        waits_for.starts_with("boot (default ABANDON at "),
        "{waits_for}"
    );

    // A heartbeat, then the answer.
    let out = ok(&stack.cli(&["lifecycle", "heartbeat", "app", "boot", &id]));
    assert!(out.contains("heartbeat recorded"), "{out}");
    let bad = stack.cli(&[
        "lifecycle",
        "complete",
        "app",
        "nosuch",
        &id,
        "--result",
        "CONTINUE",
    ]);
    assert_eq!(bad.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("its hooks: boot"));
    let completed = Instant::now();
    ok(&stack.cli(&[
        "lifecycle",
        "complete",
        "app",
        "boot",
        &id,
        "--result",
        "CONTINUE",
    ]));
    stack.wait_for("the instance healthy", Duration::from_secs(20), |s| {
        healthy_targets(s).iter().any(|(t, _)| *t == id)
    });
    let held = completed.duration_since(waiting_since);
    eprintln!(
        "held in Pending:Wait for {held:?}; healthy {:?} after `updraft lifecycle complete`",
        completed.elapsed()
    );
    let (code, _, _) = get(stack.addr(), "/api/courses").unwrap();
    assert_eq!(code, 200);

    // Scale out and back in: the leaving instance drains, then waits in Terminating:Wait.
    ok(&stack.cli(&["scale", "app", "2"]));
    let s = stack.wait_for("a second instance waiting", Duration::from_secs(30), |s| {
        in_state(s, 0, "Pending:Wait").len() == 1
    });
    let second = in_state(&s, 0, "Pending:Wait")[0].clone();
    ok(&stack.cli(&[
        "lifecycle",
        "complete",
        "app",
        "boot",
        &second,
        "--result",
        "continue",
    ]));
    stack.wait_for("2 healthy targets", Duration::from_secs(20), |s| {
        healthy_targets(s).len() == 2
    });
    ok(&stack.cli(&["scale", "app", "1"]));
    let s = stack.wait_for(
        "an instance in Terminating:Wait",
        Duration::from_secs(20),
        |s| in_state(s, 0, "Terminating:Wait").len() == 1,
    );
    let leaving = in_state(&s, 0, "Terminating:Wait")[0].clone();
    assert_eq!(healthy_targets(&s).len(), 1, "drained before the hook");
    ok(&stack.cli(&[
        "lifecycle",
        "complete",
        "app",
        "drain",
        &leaving,
        "--result",
        "CONTINUE",
    ]));
    stack.wait_for("the instance gone", Duration::from_secs(20), |s| {
        s["auto_scaling_groups"][0]["instances"]
            .as_array()
            .is_some_and(|a| a.iter().all(|i| i["id"] != leaving.as_str()))
    });
    let activities = ok(&stack.cli(&["activities", "app"]));
    assert!(
        activities.contains("lifecycle hook drain completed with CONTINUE"),
        "{activities}"
    );
    assert!(stack.down().success());
}

#[test]
fn group_feature_mistakes_name_file_line_attribute_and_fix_and_start_nothing() {
    let port = free_port();
    let config = with_group_extra(
        &stack_config(84, port, 1, "exec mylearning"),
        r#"  max_instance_lifetime = 3600
  initial_lifecycle_hook {
    name                 = "boot"
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCH"
    heartbeat_timeout    = 10
  }
  warm_pool {
    pool_state = "Frozen"
  }
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 120
    }
  }
"#,
    );
    let dir = TempDir::new("asg-bad");
    let main_tf = dir.0.join("main.tf");
    std::fs::write(&main_tf, &config).unwrap();
    let out = std::process::Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .arg("up")
        .arg(&main_tf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    let line_of = |needle: &str| config[..config.find(needle).unwrap()].matches('\n').count() + 1;
    for (attribute, needle, fix) in [
        (
            "max_instance_lifetime",
            "max_instance_lifetime",
            "86400 or more",
        ),
        (
            "initial_lifecycle_hook.lifecycle_transition",
            "EC2_INSTANCE_LAUNCH\"",
            "did you mean `autoscaling:EC2_INSTANCE_LAUNCHING`?",
        ),
        (
            "initial_lifecycle_hook.heartbeat_timeout",
            "heartbeat_timeout",
            "between 30 and 7200",
        ),
        (
            "warm_pool.pool_state",
            "\"Frozen\"",
            "\"Stopped\", \"Running\" or \"Hibernated\"",
        ),
        (
            "instance_refresh.preferences.min_healthy_percentage",
            "min_healthy_percentage",
            "between 0 and 100",
        ),
    ] {
        let at = format!("main.tf:{}", line_of(needle));
        let block = stderr
            .split("error: ")
            .find(|e| e.contains(&format!("aws_autoscaling_group.app: {attribute}:")))
            .unwrap_or_else(|| panic!("no error for {attribute}:\n{stderr}"));
        assert!(block.contains(&at), "{attribute} not at {at}:\n{block}");
        assert!(block.contains(fix), "{attribute} without its fix:\n{block}");
    }
    assert!(stderr.contains("nothing was started"), "{stderr}");
    assert!(!dir.0.join("state/daemon.json").exists());
}
