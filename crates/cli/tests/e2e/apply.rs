//! `updraft plan` / `updraft apply` on a running stack: changes land without a restart and
//! without failed requests; a refused apply changes nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::support::*;

/// A second listener on `port2` forwarding to the same target group.
fn second_listener(port2: u16) -> String {
    format!(
        r#"
resource "aws_lb_listener" "alt" {{
  load_balancer_arn = aws_lb.front.arn
  port              = {port2}
  protocol          = "HTTP"
  default_action {{
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }}
}}
"#
    )
}

#[test]
fn apply_changes_a_running_stack_without_dropping_requests() {
    let port = free_port();
    let base = stack_config(65, port, 2, "exec mylearning");
    let stack = Stack::up("apply", &base, port);
    stack.wait_for("2 healthy targets", Duration::from_secs(60), |s| {
        healthy_targets(s).len() == 2
    });

    // Load runs the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let load = {
        let (stop, sent, failed, addr) = (stop.clone(), sent.clone(), failed.clone(), stack.addr());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                sent.fetch_add(1, Ordering::Relaxed);
                if !matches!(get(addr, "/api/courses"), Ok((200, _, _))) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(3));
            }
        })
    };

    // Plan, then apply: desired 2 → 4 and a second listener.
    let port2 = free_port();
    let changed = base.replace(
        "desired_capacity          = 2",
        "desired_capacity          = 4",
    ) + &second_listener(port2);
    std::fs::write(stack.dir.0.join("main.tf"), &changed).unwrap();
    let main_tf = stack.dir.0.join("main.tf");
    let main_tf = main_tf.to_str().unwrap();
    let out = stack.cli(&["plan", main_tf]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("+ aws_lb_listener.alt"), "{text}");
    assert!(
        text.contains("~ aws_autoscaling_group.app (desired_capacity)"),
        "{text}"
    );
    let out = stack.cli(&["apply", main_tf]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Apply complete."));
    stack.wait_for("4 healthy targets", Duration::from_secs(30), |s| {
        healthy_targets(s).len() == 4
    });
    let alt = std::net::SocketAddr::from(([127, 0, 0, 1], port2));
    assert_eq!(
        get(alt, "/health").unwrap().0,
        200,
        "the new listener serves"
    );
    // Applying the same config again changes nothing.
    let out = stack.cli(&["plan", main_tf]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("No changes"));

    // A listener on a port someone else holds: refused at its line, nothing changes.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = held.local_addr().unwrap().port();
    let refused = changed.replace(
        &format!("port              = {port2}"),
        &format!("port              = {busy}"),
    );
    std::fs::write(stack.dir.0.join("main.tf"), &refused).unwrap();
    let out = stack.cli(&["apply", main_tf]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("aws_lb_listener.alt"), "{err}");
    assert!(err.contains("main.tf:"), "{err}");
    assert_eq!(
        get(alt, "/health").unwrap().0,
        200,
        "the old listener still serves"
    );
    drop(held);

    // Back to the base config: the second listener goes, the group shrinks to 2 by draining.
    std::fs::write(stack.dir.0.join("main.tf"), &base).unwrap();
    let out = stack.cli(&["apply", main_tf]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stack.wait_for("2 instances", Duration::from_secs(30), |s| {
        s["auto_scaling_groups"][0]["instances"]
            .as_array()
            .map(Vec::len)
            == Some(2)
    });
    assert!(
        get(alt, "/health").is_err(),
        "the removed listener is closed"
    );

    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("{failed} of {sent} requests failed across three applies");
    assert!(sent > 100, "the load loop barely ran: {sent}");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed");
    assert!(stack.down().success());
}
