//! Bad input: each gets one clear message, a non-zero exit, and nothing started.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

fn up_once(config: &str, tag: &str) -> (std::process::Output, TempDir) {
    let dir = TempDir::new(tag);
    std::fs::write(dir.0.join("main.tf"), config).unwrap();
    let out = Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .arg("up")
        .arg(dir.0.join("main.tf"))
        .output()
        .unwrap();
    (out, dir)
}

#[test]
fn config_errors_name_file_line_and_fix_and_start_nothing() {
    let port = free_port();
    let config = stack_config(62, port, 3, "exec mylearning")
        .replace(
            "min_size                  = 1",
            "min_size                  = 9",
        )
        .replace(
            "instance_type = \"t3.micro\"",
            "instance_type = \"t3.mikro\"",
        )
        .replace(
            "deregistration_delay = 5",
            "deregistration_delay = 5\n  colour = \"blue\"",
        );
    let (out, dir) = up_once(&config, "badcfg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("main.tf:"), "{stderr}");
    assert!(
        stderr.contains("min_size (9) is greater than max_size (6)"),
        "{stderr}"
    );
    assert!(stderr.contains("t3.mikro"), "{stderr}");
    assert!(stderr.contains("t3.micro"), "no suggestion: {stderr}");
    assert!(stderr.contains("colour"), "{stderr}");
    assert!(stderr.contains("nothing was started"), "{stderr}");
    assert!(!dir.0.join("state/daemon.json").exists());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "a listener was bound"
    );
}

#[test]
fn a_listener_port_in_use_is_reported_at_its_line() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let config = stack_config(63, port, 1, "exec mylearning");
    let line = config
        .lines()
        .position(|l| {
            l.trim_start()
                .starts_with(&format!("port              = {port}"))
        })
        .unwrap()
        + 1;
    let (out, dir) = up_once(&config, "portbusy");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("aws_lb_listener.http"), "{stderr}");
    assert!(stderr.contains(&format!("main.tf:{line}")), "{stderr}");
    assert!(!dir.0.join("state/daemon.json").exists());
    // No instance was launched.
    assert!(
        !dir.0.join("state/instances").exists()
            || std::fs::read_dir(dir.0.join("state/instances"))
                .unwrap()
                .next()
                .is_none()
    );
    drop(held);
}

#[test]
fn user_data_that_exits_fails_the_launch_shows_its_log_and_backs_off() {
    let port = free_port();
    let config = stack_config(
        64,
        port,
        2,
        "echo 'cannot find the app: no such file'; exit 3",
    );
    let stack = Stack::up("exits", &config, port);
    let status = stack.wait_for("a failed launch", Duration::from_secs(30), |s| {
        !s["auto_scaling_groups"][0]["last_failure"].is_null()
    });
    let failure = &status["auto_scaling_groups"][0]["last_failure"];
    assert!(
        failure["reason"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{failure}"
    );
    let tail = failure["log_tail"].to_string();
    assert!(tail.contains("cannot find the app"), "{tail}");
    let text = String::from_utf8_lossy(&stack.cli(&["status"]).stdout).into_owned();
    assert!(text.contains("last failed launch"), "{text}");
    assert!(text.contains("| cannot find the app"), "{text}");

    // Over ~8 s a spinning group would launch dozens of times; with backoff only a few.
    std::thread::sleep(Duration::from_secs(8));
    let out = stack.cli(&["activities", "app", "--limit", "100"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let launches = text.matches("Launching a new EC2 instance").count();
    assert!(
        (2..=8).contains(&launches),
        "{launches} launches in ~8 s:\n{text}"
    );
    let status = stack.status().unwrap();
    assert!(
        status["auto_scaling_groups"][0]["waiting"]
            .as_str()
            .unwrap_or_default()
            .contains("launches failed")
            || status["auto_scaling_groups"][0]["waiting"]
                .as_str()
                .unwrap_or_default()
                .contains("probing"),
        "{status}"
    );
    assert!(stack.down().success());
}

#[test]
fn commands_against_no_running_stack_say_so() {
    let dir = TempDir::new("nostack");
    let out = Command::new(updraft_bin())
        .arg("--state-dir")
        .arg(&dir.0)
        .arg("status")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no stack is running"));
}
