//! Instance refresh on the real stack: `updraft apply` with a changed launch template starts a
//! rolling refresh (the group has an `instance_refresh` block), which replaces every instance
//! while traffic flows; then scale-in protection keeps a chosen instance through a scale-in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::lifecycle::{in_state, with_group_extra};
use crate::support::*;

const REFRESH: &str = r#"  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
      instance_warmup        = 1
    }
  }
"#;

fn versions(s: &Value) -> Vec<u64> {
    s["auto_scaling_groups"][0]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["lifecycle"] == "InService")
        .filter_map(|i| i["launch_template_version"].as_u64())
        .collect()
}

#[test]
fn apply_with_a_new_template_rolls_a_refresh_and_protection_survives_scale_in() {
    let port = free_port();
    let base = with_group_extra(&stack_config(83, port, 2, "exec mylearning"), REFRESH);
    let stack = Stack::up("refresh", &base, port);
    stack.wait_for("2 healthy targets", Duration::from_secs(40), |s| {
        healthy_targets(s).len() == 2
    });

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
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    // A new launch template version: apply starts a refresh.
    let changed = base.replace("exec mylearning", "export RELEASE=2\n    exec mylearning");
    let main_tf = stack.dir.0.join("main.tf");
    std::fs::write(&main_tf, &changed).unwrap();
    let out = stack.cli(&["apply", main_tf.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Instance refresh"), "{text}");
    assert!(text.contains("started for group app"), "{text}");

    let s = stack.wait_for(
        "every instance on version 2",
        Duration::from_secs(45),
        |s| {
            let v = versions(s);
            v.len() == 2
                && v.iter().all(|v| *v == 2)
                && s["auto_scaling_groups"][0]["instance_refresh"]["status"] == "Successful"
        },
    );
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("instance refresh of 2 instances under load: {failed} of {sent} requests failed");
    assert!(sent > 100, "the load ran ({sent} requests)");
    assert!(
        f64::from(failed) <= f64::from(sent) * 0.01,
        "{failed} of {sent} requests failed during the refresh"
    );
    assert_eq!(healthy_targets(&s).len(), 2);
    let status = stack.cli(&["refresh", "status", "app"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("Successful  100% complete"), "{text}");
    let activities = stack.cli(&["activities", "app"]);
    let text = String::from_utf8_lossy(&activities.stdout);
    assert!(
        text.contains("in response to an instance refresh"),
        "{text}"
    );

    // Protect one instance, scale in: the other goes.
    let keep = in_state(&s, 0, "InService")[0].clone();
    let out = stack.cli(&["protect", "app", &keep]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = stack.cli(&["scale", "app", "1"]);
    assert!(out.status.success());
    let s = stack.wait_for("one instance left", Duration::from_secs(20), |s| {
        in_state(s, 0, "InService").len() == 1 && in_state(s, 0, "Terminating").is_empty()
    });
    assert_eq!(in_state(&s, 0, "InService"), vec![keep.clone()]);
    assert_eq!(
        s["auto_scaling_groups"][0]["instances"][0]["protected_from_scale_in"],
        true
    );
    let out = stack.cli(&["unprotect", "app", &keep]);
    assert!(out.status.success());
    assert!(stack.down().success());
}

/// A group switched to another launch template resource whose version number equals the old
/// one's: its instances are still outdated, so a refresh with `skip_matching` replaces them.
#[test]
fn switching_to_another_template_replaces_instances_even_with_skip_matching() {
    let port = free_port();
    let refresh = REFRESH.replace(
        "      instance_warmup        = 1\n",
        "      instance_warmup        = 1\n      skip_matching          = true\n",
    );
    let base = with_group_extra(&stack_config(86, port, 2, "exec mylearning"), &refresh)
        + r#"
resource "aws_launch_template" "next" {
  name          = "next"
  instance_type = "t3.micro"
  user_data     = base64encode("export RELEASE=next\nexec mylearning\n")
}
"#;
    let stack = Stack::up("switch", &base, port);
    let s = stack.wait_for("2 healthy targets", Duration::from_secs(40), |s| {
        healthy_targets(s).len() == 2
    });
    let before = in_state(&s, 0, "InService");
    assert_eq!(versions(&s), vec![1, 1]);

    let switched = base.replace(
        "id      = aws_launch_template.app.id",
        "id      = aws_launch_template.next.id",
    );
    assert_ne!(
        switched, base,
        "the group's template reference was not found"
    );
    let main_tf = stack.dir.0.join("main.tf");
    std::fs::write(&main_tf, &switched).unwrap();
    let out = stack.cli(&["apply", main_tf.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("started for group app"), "{text}");

    let s = stack.wait_for(
        "both instances replaced from the new template",
        Duration::from_secs(50),
        |s| {
            let now = in_state(s, 0, "InService");
            now.len() == 2
                && now.iter().all(|i| !before.contains(i))
                && s["auto_scaling_groups"][0]["instance_refresh"]["status"] == "Successful"
        },
    );
    assert_eq!(versions(&s), vec![1, 1]);
    let status = stack.cli(&["refresh", "status", "app"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("Successful  100% complete"), "{text}");
    assert!(stack.down().success());
}
