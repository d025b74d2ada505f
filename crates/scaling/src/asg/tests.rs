//! `decide` on simulated time: [`crate::fleet::Fleet`] applies the actions, and the tests check
//! what AWS would do.

use std::time::Duration;

use model::{HealthCheckType, LifecycleState, TargetHealthState, Timestamp};

use super::tests_support::{fleet, spec};
use super::*;

#[test]
fn launches_to_desired_balanced_over_zones_then_goes_in_service() {
    let mut f = fleet(spec(3, 12, 3));
    let first = f.step();
    let zones: Vec<_> = first
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { subnet, cause, .. } => {
                assert!(
                    cause.contains("increasing the capacity from 0 to 3"),
                    "{cause}"
                );
                Some(subnet.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(zones, vec!["a", "b", "c"]);
    f.run(5);
    assert_eq!(f.healthy(), 3);
    assert!(
        f.counted()
            .iter()
            .all(|i| i.lifecycle == LifecycleState::InService)
    );
    // Steady state: nothing more to do.
    assert!(f.step().actions.is_empty());
}

#[test]
fn a_dead_process_is_replaced_in_the_same_decision() {
    let mut f = fleet(spec(3, 12, 3));
    f.run(5);
    let victim = f.instances[1].id.clone();
    f.kill(&victim);
    let d = f.step();
    assert!(d.actions.iter().any(|a| matches!(a,
        Action::Terminate { id, failed_launch: None, cause } if *id == victim && cause.contains("EC2 instance status check"))));
    let launched: Vec<_> = d
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { subnet, .. } => Some(subnet.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        launched,
        vec!["b".to_string()],
        "replacement goes to the emptied zone"
    );
    assert_eq!(
        d.state.launch_failures, 0,
        "a healthy instance dying is not a failed launch"
    );
    f.run(5);
    assert_eq!(f.healthy(), 3);
}

#[test]
fn elb_unhealthy_is_replaced_only_after_the_grace_period() {
    let mut f = fleet(spec(3, 12, 3));
    f.run(5);
    let victim = f.instances[0].id.clone();
    f.get_mut(&victim).unwrap().target_health = Some(TargetHealthState::Unhealthy);
    // InService since ~t0; grace is 30 s, so nothing happens yet.
    let d = f.step();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    f.now = f.now + Duration::from_secs(30);
    let d = f.step();
    assert!(d.actions.iter().any(|a| matches!(a,
        Action::Deregister { id, cause, .. } if *id == victim && cause.contains("ELB system health check"))));
    assert_eq!(
        d.actions
            .iter()
            .filter(|a| matches!(a, Action::Launch { .. }))
            .count(),
        1
    );
}

#[test]
fn ec2_health_type_ignores_target_health() {
    let mut s = spec(1, 3, 1);
    s.health_check_type = HealthCheckType::Ec2;
    let mut f = fleet(s);
    f.run(5);
    let id = f.instances[0].id.clone();
    f.get_mut(&id).unwrap().target_health = Some(TargetHealthState::Unhealthy);
    f.now = f.now + Duration::from_secs(3600);
    assert!(f.step().actions.is_empty());
}

#[test]
fn failing_launches_back_off_instead_of_spinning() {
    let mut f = fleet(spec(3, 12, 3));
    f.launches_fail = true;
    f.run(300);
    // Without backoff 3 launches a second would be 900; with it, a handful of probes.
    assert!(
        f.stats.launches <= 12,
        "launched {} times in 5 minutes",
        f.stats.launches
    );
    assert!(
        f.stats.launches >= 4,
        "it must keep retrying, launched {}",
        f.stats.launches
    );
    let d = f.step();
    assert!(d.waiting.unwrap().contains("consecutive launches failed"));
    // The script gets fixed: the next probe succeeds and the group fills up.
    f.launches_fail = false;
    f.run(200);
    assert_eq!(f.healthy(), 3);
    assert_eq!(f.state.launch_failures, 0);
}

#[test]
fn failed_launch_is_reported_with_its_reason() {
    let mut f = fleet(spec(1, 1, 1));
    f.launches_fail = true;
    f.step();
    let d = f.step();
    let failed = d.actions.iter().find_map(|a| match a {
        Action::Terminate { failed_launch, .. } => failed_launch.clone(),
        _ => None,
    });
    assert_eq!(
        failed.unwrap(),
        "Instance failed to start: exited with code 1"
    );
    assert_eq!(d.state.launch_failures, 1);
}

#[test]
fn scale_out_and_in_keep_zones_balanced_and_drain_before_terminating() {
    let mut f = fleet(spec(3, 12, 3));
    f.run(5);
    f.state = set_desired_capacity(&f.spec, &f.state, 7, f.now).unwrap();
    let d = f.step();
    let cause = d
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Launch { cause, .. } => Some(cause.clone()),
            _ => None,
        })
        .unwrap();
    assert!(cause.starts_with("At "), "{cause}");
    assert!(cause.contains("a user request explicitly set group desired capacity changing the desired capacity from 3 to 7"));
    f.run(5);
    assert_eq!(f.healthy(), 7);
    let zones = f.per_zone();
    assert!(
        zones.iter().max().unwrap() - zones.iter().min().unwrap() <= 1,
        "{zones:?}"
    );

    f.state = set_desired_capacity(&f.spec, &f.state, 4, f.now).unwrap();
    // Requests are in flight everywhere: deregistered instances wait for them.
    for i in &mut f.instances {
        i.in_flight = 1;
    }
    let d = f.step();
    let deregistered = d
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Deregister { .. }))
        .count();
    assert_eq!(deregistered, 3);
    assert_eq!(f.counted().len(), 4);
    let zones = f.per_zone();
    assert!(
        zones.iter().max().unwrap() - zones.iter().min().unwrap() <= 1,
        "{zones:?}"
    );
    let d = f.step();
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::Terminate { .. })),
        "draining instances with requests in flight are not terminated"
    );
    for i in &mut f.instances {
        i.in_flight = 0;
    }
    let d = f.step();
    assert_eq!(
        d.actions
            .iter()
            .filter(|a| matches!(a, Action::Terminate { .. }))
            .count(),
        3
    );
}

#[test]
fn draining_ends_at_the_deregistration_delay() {
    let mut f = fleet(spec(1, 3, 2));
    f.run(5);
    f.state = set_desired_capacity(&f.spec, &f.state, 1, f.now).unwrap();
    for i in &mut f.instances {
        i.in_flight = 5;
    }
    f.step();
    f.now = f.now + Duration::from_secs(299);
    assert!(f.step().actions.is_empty());
    f.now = f.now + Duration::from_secs(1);
    assert!(matches!(f.step().actions[..], [Action::Terminate { .. }]));
}

#[test]
fn set_desired_capacity_checks_bounds_like_aws() {
    let s = spec(3, 12, 3);
    let st = GroupState::new(&s);
    let err = set_desired_capacity(&s, &st, 13, Timestamp::EPOCH).unwrap_err();
    assert_eq!(
        err.to_string(),
        "New SetDesiredCapacity value 13 is above max value 12 for the AutoScalingGroup."
    );
    assert!(set_desired_capacity(&s, &st, 2, Timestamp::EPOCH).is_err());
    assert_eq!(
        set_desired_capacity(&s, &st, 5, Timestamp::EPOCH)
            .unwrap()
            .desired_capacity,
        5
    );
}

#[test]
fn respec_clamps_desired_into_new_bounds() {
    let old = spec(3, 12, 3);
    let mut st = GroupState::new(&old);
    st.desired_capacity = 10;
    let mut new = old.clone();
    new.max_size = 6;
    assert_eq!(
        respec(&old, &new, &st, Timestamp::EPOCH).desired_capacity,
        6
    );
    let mut new = old.clone();
    new.desired_capacity = Some(4);
    assert_eq!(
        respec(&old, &new, &st, Timestamp::EPOCH).desired_capacity,
        4
    );
    // Unchanged config keeps a desired capacity set at runtime.
    assert_eq!(
        respec(&old, &old, &st, Timestamp::EPOCH).desired_capacity,
        10
    );
}
