//! A crash of updraft itself loses nothing: instances keep serving while it is gone, and the
//! next `updraft up` adopts them instead of launching duplicates.

use std::time::Duration;

use crate::support::*;

fn ids_and_pids(status: &serde_json::Value) -> Vec<(String, u64)> {
    let mut v: Vec<_> = status["auto_scaling_groups"][0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["pid"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_restarted_updraft_adopts_the_instances_it_left_running() {
    let port = free_port();
    let config = stack_config(66, port, 3, "exec mylearning");
    let mut stack = Stack::up("adopt", &config, port);
    let before = stack.wait_for("3 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 3
    });
    let before = ids_and_pids(&before);

    // updraft dies hard; its instances do not.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(stack.daemon_pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    stack.wait_exit(Duration::from_secs(10));
    for (id, pid) in &before {
        assert!(
            process_alive(*pid as u32),
            "instance {id} died with updraft"
        );
    }

    stack.restart();
    let after = stack.wait_for("3 healthy adopted targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 3
    });
    assert_eq!(
        ids_and_pids(&after),
        before,
        "the same instances, not new ones"
    );
    assert!(stack.log().contains("adopted instance"), "{}", stack.log());
    let out = stack.cli(&["activities", "app", "--limit", "50"]);
    let launches = String::from_utf8_lossy(&out.stdout)
        .matches("Launching a new EC2 instance")
        .count();
    assert_eq!(launches, 3, "no duplicate launches after the restart");
    for _ in 0..30 {
        assert_eq!(get(stack.addr(), "/api/courses").unwrap().0, 200);
    }

    let pids: Vec<u32> = before.iter().map(|(_, p)| *p as u32).collect();
    assert!(stack.down().success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        pids.iter().all(|p| !process_alive(*p)),
        "instances left running after down"
    );
}
