//! Drills on simulated time: validation, victims, and the detect → recover → restore → settle
//! life of each kind.

use std::collections::BTreeMap;
use std::time::Duration;

use model::{AvailabilityZone, InstanceId, LifecycleState, Stack, Timestamp};
use proxy::TargetGroupCounters;

use super::*;

const CONFIG: &str = r#"
locals { zones = ["us-east-1a", "us-east-1b", "us-east-1c"] }
resource "aws_subnet" "z" {
  count             = 3
  availability_zone = local.zones[count.index]
  cidr_block        = "127.0.${count.index + 1}.0/24"
}
resource "aws_lb" "front" {
  name    = "front"
  subnets = aws_subnet.z[*].id
}
resource "aws_lb_target_group" "app" {
  name     = "app-tg"
  port     = 8080
  protocol = "HTTP"
}
resource "aws_launch_template" "app" {
  name          = "app"
  instance_type = "t3.micro"
}
resource "aws_autoscaling_group" "web" {
  name                = "web"
  min_size            = 1
  max_size            = 6
  desired_capacity    = 3
  vpc_zone_identifier = aws_subnet.z[*].id
  target_group_arns   = [aws_lb_target_group.app.arn]
  launch_template {
    id = aws_launch_template.app.id
  }
}
"#;

fn stack() -> Stack {
    config::load_str(
        "main.tf",
        CONFIG,
        &BTreeMap::new(),
        std::path::Path::new("."),
    )
    .unwrap()
    .stack
}

fn az(z: char) -> AvailabilityZone {
    AvailabilityZone::new(format!("us-east-1{z}"))
}

fn candidates() -> Vec<Candidate> {
    ['a', 'b', 'c']
        .iter()
        .enumerate()
        .map(|(i, z)| Candidate {
            id: InstanceId::from_bits(i as u128 + 1),
            group: "web".into(),
            group_name: "web".into(),
            availability_zone: az(*z),
            lifecycle: LifecycleState::InService,
        })
        .collect()
}

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs(1_000 + s)
}

fn inst(n: u128, z: char, healthy: bool) -> ObservedInstance {
    ObservedInstance {
        id: InstanceId::from_bits(n),
        group: "web".into(),
        availability_zone: az(z),
        lifecycle: LifecycleState::InService,
        healthy,
    }
}

fn counters(requests: u64, elb_502: u64, injected: u64) -> Vec<TargetGroupCounters> {
    vec![TargetGroupCounters {
        target_group: "app".into(),
        requests,
        target_2xx: requests - elb_502,
        elb_502,
        faults_injected: injected,
        ..Default::default()
    }]
}

fn obs(instances: Vec<ObservedInstance>, c: Vec<TargetGroupCounters>) -> Observation {
    Observation {
        instances,
        groups: vec![GroupObservation {
            key: "web".into(),
            zones: vec![az('a'), az('b'), az('c')],
            desired_capacity: 3,
        }],
        counters: c,
    }
}

fn baseline() -> Baseline {
    Baseline {
        healthy: vec![("web".into(), 3)],
        counters: counters(100, 0, 0),
    }
}

#[test]
fn bad_input_is_one_clear_error() {
    let s = stack();
    let c = candidates();
    let err = |spec: DrillSpec| plan(&spec, &s, &c, &[], |_| 0).unwrap_err();
    let e = err(DrillSpec::StopAz {
        availability_zone: "us-east-1z".into(),
        duration_ms: 1000,
    });
    assert_eq!(
        e,
        "availability zone `us-east-1z` is not in this stack; its zones are: us-east-1a, us-east-1b, us-east-1c"
    );
    let e = err(DrillSpec::StopAz {
        availability_zone: "us-east-1a".into(),
        duration_ms: 0,
    });
    assert!(e.contains("longer than 0s"), "{e}");
    let e = err(DrillSpec::PartitionAz {
        availability_zone: "us-east-1a".into(),
        duration_ms: 2 * 3600 * 1000,
    });
    assert!(e.contains("at most 1h; asked for 2h"), "{e}");
    let e = err(DrillSpec::KillInstance {
        group: None,
        instance: Some("i-nope".into()),
    });
    assert!(e.contains("no running instance `i-nope`"), "{e}");
    let e = err(DrillSpec::KillInstance {
        group: Some("db".into()),
        instance: None,
    });
    assert!(
        e.contains("no auto scaling group named `db`; groups: web") || e.contains("groups: web"),
        "{e}"
    );
    let e = err(DrillSpec::Errors {
        target_group: "nope".into(),
        availability_zone: None,
        percent: 10.0,
        status: None,
        duration_ms: 1000,
    });
    assert!(e.contains("target groups: app-tg"), "{e}");
    for (percent, status) in [
        (0.0, None),
        (101.0, None),
        (f64::NAN, None),
        (10.0, Some(404)),
    ] {
        let e = err(DrillSpec::Errors {
            target_group: "app-tg".into(),
            availability_zone: None,
            percent,
            status,
            duration_ms: 1000,
        });
        assert!(
            e.starts_with("--percent") || e.starts_with("--status"),
            "{e}"
        );
    }
    let e = err(DrillSpec::Latency {
        target_group: "app".into(),
        availability_zone: Some("eu-west-1a".into()),
        delay_ms: 100,
        jitter_ms: 0,
        percent: 100.0,
        duration_ms: 1000,
    });
    assert!(e.contains("`eu-west-1a` is not in this stack"), "{e}");
}

#[test]
fn victims_random_by_id_or_the_whole_zone_and_one_drill_per_zone() {
    let s = stack();
    let c = candidates();
    let kill = |instance: Option<&str>, pick: usize| {
        plan(
            &DrillSpec::KillInstance {
                group: Some("web".into()),
                instance: instance.map(Into::into),
            },
            &s,
            &c,
            &[],
            |n| {
                assert_eq!(n, 3);
                pick
            },
        )
        .unwrap()
    };
    assert_eq!(kill(None, 2), vec![InstanceId::from_bits(3)]);
    let id = InstanceId::from_bits(2).to_string();
    assert_eq!(kill(Some(&id), 0), vec![InstanceId::from_bits(2)]);

    let stop_b = DrillSpec::StopAz {
        availability_zone: "us-east-1b".into(),
        duration_ms: 30_000,
    };
    assert_eq!(
        plan(&stop_b, &s, &c, &[], |_| 0).unwrap(),
        vec![InstanceId::from_bits(2)]
    );
    let running = Drill::start("d1".into(), stop_b.clone(), baseline(), vec![], t(0));
    let e = plan(&stop_b, &s, &c, &[&running], |_| 0).unwrap_err();
    assert!(e.contains("already in drill d1"), "{e}");
}

#[test]
fn kill_instance_detects_then_recovers_then_ends() {
    let victim = InstanceId::from_bits(1);
    let spec = DrillSpec::KillInstance {
        group: None,
        instance: None,
    };
    let d = Drill::start("d".into(), spec, baseline(), vec![victim], t(0));
    assert_eq!(d.deadline, t(0) + SETTLE_LIMIT);
    // Still InService for a tick: nothing detected.
    let all = vec![inst(1, 'a', true), inst(2, 'b', true), inst(3, 'c', true)];
    let (d, _) = advance(&d, &obs(all, counters(110, 0, 0)), t(0));
    assert_eq!(d.detected_at, None);
    // Gone (terminated by the group) → detected; a replacement pending → not recovered.
    let (d, actions) = advance(
        &d,
        &obs(
            vec![inst(2, 'b', true), inst(3, 'c', true), inst(4, 'a', false)],
            counters(120, 1, 0),
        ),
        t(1),
    );
    assert_eq!(d.detected_at, Some(t(1)));
    assert_eq!(actions, vec![DrillAction::Persist]);
    assert!(!d.is_finished());
    let (d, _) = advance(
        &d,
        &obs(
            vec![inst(2, 'b', true), inst(3, 'c', true), inst(4, 'a', true)],
            counters(150, 1, 0),
        ),
        t(4),
    );
    assert!(d.is_finished());
    let r = d.report();
    assert_eq!(
        (r.time_to_detect_ms, r.time_to_recover_ms),
        (Some(1000), Some(4000))
    );
    assert_eq!((r.requests, r.failed, r.elb_5xx), (50, 1, 1));
    assert!((r.failed_percent - 2.0).abs() < 1e-9);
    assert_eq!(r.ended_by.as_deref(), Some("completed"));
}

#[test]
fn stop_az_recovers_in_other_zones_restores_after_the_duration_and_waits_for_rebalance() {
    let spec = DrillSpec::StopAz {
        availability_zone: "us-east-1a".into(),
        duration_ms: 10_000,
    };
    let d = Drill::start(
        "d".into(),
        spec,
        baseline(),
        vec![InstanceId::from_bits(1)],
        t(0),
    );
    let c = || counters(100, 0, 0);
    let (d, _) = advance(
        &d,
        &obs(vec![inst(2, 'b', true), inst(3, 'c', true)], c()),
        t(1),
    );
    assert_eq!(d.detected_at, Some(t(1)));
    // Replacement in b: capacity restored in the surviving zones.
    let spread = vec![inst(2, 'b', true), inst(3, 'c', true), inst(4, 'b', true)];
    let (d, actions) = advance(&d, &obs(spread.clone(), c()), t(5));
    assert_eq!(d.recovered_at, Some(t(5)));
    assert!(!actions.contains(&DrillAction::Restore));
    // The duration ends: restore; still lopsided (b=2, a=0) → not settled.
    let (d, actions) = advance(&d, &obs(spread, c()), t(10));
    assert_eq!(actions[0], DrillAction::Restore);
    assert_eq!((d.phase, d.restored_at), (Phase::Settling, Some(t(10))));
    // Rebalancing: one launched in a, the extra in b not yet gone → not settled.
    let four = vec![
        inst(2, 'b', true),
        inst(3, 'c', true),
        inst(4, 'b', true),
        inst(5, 'a', true),
    ];
    let (d, _) = advance(&d, &obs(four, c()), t(14));
    assert!(!d.is_finished());
    // Rebalanced: a=1 b=1 c=1, all healthy.
    let balanced = vec![inst(3, 'c', true), inst(4, 'b', true), inst(5, 'a', true)];
    let (d, _) = advance(&d, &obs(balanced, c()), t(16));
    assert!(d.is_finished());
    let r = d.report();
    assert_eq!(r.time_to_settle_after_restore_ms, Some(6000));
    assert_eq!(r.fault_ms, Some(10_000));
}

#[test]
fn a_drill_that_never_settles_ends_at_its_deadline_and_undoes_its_fault() {
    let spec = DrillSpec::PartitionAz {
        availability_zone: "us-east-1a".into(),
        duration_ms: 1_000_000,
    };
    let d = Drill::start("d".into(), spec, baseline(), vec![], t(0));
    let (d, actions) = advance(&d, &obs(vec![], vec![]), d.deadline);
    assert_eq!(actions[0], DrillAction::Restore);
    assert!(d.is_finished());
    assert!(d.ended_by.as_deref().unwrap().starts_with("time limit"));
}

#[test]
fn fault_drills_detect_on_the_first_hit_and_stop_restores() {
    let spec = DrillSpec::Errors {
        target_group: "app-tg".into(),
        availability_zone: None,
        percent: 10.0,
        status: Some(503),
        duration_ms: 5_000,
    };
    let d = Drill::start("d".into(), spec, baseline(), vec![], t(0));
    let (d, _) = advance(&d, &obs(vec![], counters(100, 0, 0)), t(0));
    assert_eq!(d.detected_at, None);
    let (d, _) = advance(&d, &obs(vec![], counters(120, 0, 2)), t(1));
    assert_eq!(d.detected_at, Some(t(1)));
    // Ctrl-C: restored at once, finished.
    let (d, actions) = progress::stop(&d, t(2), "stopped early by the user");
    assert_eq!(actions, vec![DrillAction::Restore, DrillAction::Persist]);
    assert!(d.is_finished());
    assert_eq!(d.report().faults_injected, 2);
    // Stopping a finished drill does nothing.
    assert!(progress::stop(&d, t(3), "again").1.is_empty());
    // Left alone, it ends at its duration.
    let fresh = Drill::start("e".into(), d.spec.clone(), baseline(), vec![], t(0));
    let (fresh, actions) = advance(&fresh, &obs(vec![], counters(100, 0, 0)), t(5));
    assert_eq!(actions[0], DrillAction::Restore);
    assert!(fresh.is_finished());
    assert_eq!(fresh.report().time_to_recover_ms, Some(5000));
    let _ = Duration::ZERO;
}
