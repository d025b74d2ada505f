//! The walking skeleton, end to end: up → 3 healthy targets in 3 AZs → traffic spread over the
//! AZs → SIGKILL an instance → replaced with < 1% failed requests → scale to 5 → down leaves no
//! process behind.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn stack_balances_over_three_zones_survives_a_killed_instance_scales_and_stops_clean() {
    let port = free_port();
    let config = stack_config(61, port, 3, "exec mylearning");
    let stack = Stack::up("skeleton", &config, port);

    // Three healthy targets, one per AZ.
    let status = stack.wait_for("3 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 3
    });
    let zones: std::collections::BTreeSet<_> = healthy_targets(&status)
        .into_iter()
        .map(|(_, z)| z)
        .collect();
    assert_eq!(zones.len(), 3, "{zones:?}");

    // 300 requests are spread over all three AZs (round robin: 100 each).
    let mut per_zone: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..300 {
        let (code, headers, _) = get(stack.addr(), "/api/courses").unwrap();
        assert_eq!(code, 200);
        *per_zone
            .entry(header(&headers, "x-updraft-az").unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_zone.len(), 3, "{per_zone:?}");
    assert!(per_zone.values().all(|n| *n >= 90), "{per_zone:?}");

    // SIGKILL one instance while traffic flows.
    let victim_pid = instance_pids(&status)[0];
    let victim_id = status["auto_scaling_groups"][0]["instances"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let killed_at = Instant::now();
    let (mut sent, mut failed) = (0u32, 0u32);
    let mut replaced_after = None;
    // Health-check window of this target group: interval 5 s × threshold 2 + timeout 2 s.
    let window = Duration::from_secs(12);
    while killed_at.elapsed() < window + Duration::from_secs(10) {
        sent += 1;
        match get(stack.addr(), "/api/courses") {
            Ok((200, _, _)) => {}
            _ => failed += 1,
        }
        if sent % 10 == 0 && replaced_after.is_none() {
            let s = stack.status().unwrap();
            let healthy = healthy_targets(&s);
            if healthy.len() == 3 && healthy.iter().all(|(id, _)| *id != victim_id) {
                replaced_after = Some(killed_at.elapsed());
            }
        }
        // Keep the load on past the replacement so that the failure ratio means something.
        if replaced_after.is_some() && sent >= 300 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let replaced_after = replaced_after
        .unwrap_or_else(|| panic!("no healthy replacement within the window\n{}", stack.log()));
    assert!(
        replaced_after <= window,
        "replacement took {replaced_after:?}, window {window:?}"
    );
    assert!(
        f64::from(failed) < f64::from(sent) * 0.01,
        "{failed} of {sent} requests failed while the instance was replaced"
    );
    eprintln!("replacement healthy after {replaced_after:?}; {failed}/{sent} requests failed");

    // `updraft scale` to 5 → 5 healthy targets.
    let out = stack.cli(&["scale", "app", "5"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = stack.wait_for("5 healthy targets", Duration::from_secs(30), |s| {
        healthy_targets(s).len() == 5
    });
    let pids = instance_pids(&status);
    assert_eq!(pids.len(), 5);

    // Out-of-range capacity is refused with AWS's message and changes nothing.
    let out = stack.cli(&["scale", "app", "7"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("above max value 6"));

    // Activities record what happened, with AWS-style causes.
    let out = stack.cli(&["activities", "app"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("EC2 instance status check failure"), "{text}");
    assert!(
        text.contains("a user request explicitly set group desired capacity"),
        "{text}"
    );

    // `updraft down` stops everything.
    let exit = stack.down();
    assert!(exit.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| process_alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<_> = pids.iter().filter(|p| process_alive(**p)).collect();
    assert!(left.is_empty(), "instances left running: {left:?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the listener still accepts connections"
    );
}
