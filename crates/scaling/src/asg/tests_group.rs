//! Group semantics on simulated time: scale-in protection, AZ rebalancing, maximum instance
//! lifetime, the 10% rule for unhealthy replacement, suspended processes, and the seam for
//! scaling policies (warmup holds scale-in back).

use std::time::Duration;

use model::{AvailabilityZone, LifecycleState, ScalingProcess, TargetHealthState};

use super::tests_support::{fleet, spec};
use super::*;
use crate::fleet::Fleet;

#[test]
fn protected_instances_are_never_scaled_in_and_a_fully_protected_group_says_so() {
    let mut s = spec(0, 6, 3);
    s.protect_from_scale_in = true;
    let mut f = fleet(s);
    f.run(5);
    assert!(f.counted().iter().all(|i| i.protected_from_scale_in));
    f.state = set_desired_capacity(&f.spec, &f.state, 1, f.now).unwrap();
    let d = f.step();
    assert!(d.actions.is_empty());
    assert_eq!(
        d.state.desired_capacity, 1,
        "desired still goes down, as on AWS"
    );
    assert_eq!(
        d.waiting.unwrap(),
        "Could not scale to desired capacity because all remaining instances are protected \
         from scale-in."
    );
    // Unprotect one (`updraft unprotect`): exactly that one goes.
    let free = f.instances[1].id.clone();
    f.get_mut(&free).unwrap().protected_from_scale_in = false;
    let d = f.step();
    assert!(matches!(&d.actions[..], [Action::Deregister { id, .. }] if *id == free));
}

#[test]
fn protection_does_not_stop_health_replacement() {
    let mut s = spec(1, 3, 1);
    s.protect_from_scale_in = true;
    let mut f = fleet(s);
    f.run(40);
    let id = f.instances[0].id.clone();
    f.get_mut(&id).unwrap().target_health = Some(TargetHealthState::Unhealthy);
    let d = f.step();
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::Deregister { id: d, .. } if *d == id))
    );
}

#[test]
fn a_recovered_zone_is_rebalanced_launch_before_terminate() {
    let mut f = fleet(spec(1, 6, 6));
    f.impaired_zones = vec![AvailabilityZone::new("us-east-1c")];
    f.run(10);
    assert_eq!(f.per_zone(), vec![3, 3, 0]);
    f.impaired_zones.clear();
    let mut max_seen = 0;
    let mut first_terminate_at_count = None;
    for _ in 0..120 {
        let d = f.step();
        max_seen = max_seen.max(f.counted().len() + f.in_state(LifecycleState::Terminating).len());
        if first_terminate_at_count.is_none()
            && d.actions
                .iter()
                .any(|a| matches!(a, Action::Deregister { .. }))
        {
            first_terminate_at_count = Some(f.healthy());
        }
        f.advance(Duration::from_secs(1));
    }
    assert_eq!(f.per_zone(), vec![2, 2, 2]);
    assert_eq!(
        first_terminate_at_count,
        Some(6),
        "the first instance drained only once its replacement served (6 healthy besides it)"
    );
    assert!(
        max_seen <= 7,
        "one extra instance at a time, saw {max_seen}"
    );
    assert!(
        max_seen as u32 <= f.spec.max_size + 1,
        "max + 10% (at least 1)"
    );
}

#[test]
fn instances_in_a_zone_the_group_no_longer_uses_are_moved_out() {
    let mut f = fleet(spec(1, 6, 4));
    f.run(10);
    assert_eq!(f.per_zone(), vec![2, 1, 1]);
    f.subnets.truncate(2); // vpc_zone_identifier loses subnet c
    f.run(200);
    assert_eq!(f.per_zone(), vec![2, 2]);
    assert!(
        f.counted()
            .iter()
            .all(|i| i.availability_zone.as_str() != "us-east-1c")
    );
}

#[test]
fn rebalancing_can_be_suspended() {
    let mut s = spec(1, 6, 6);
    s.suspended_processes = vec![ScalingProcess::AZRebalance];
    let mut f = fleet(s);
    f.impaired_zones = vec![AvailabilityZone::new("us-east-1c")];
    f.run(10);
    f.impaired_zones.clear();
    f.run(120);
    assert_eq!(f.per_zone(), vec![3, 3, 0]);
}

#[test]
fn a_protected_pile_in_one_zone_is_not_churned() {
    let mut f = fleet(spec(1, 6, 3));
    f.impaired_zones = vec![
        AvailabilityZone::new("us-east-1b"),
        AvailabilityZone::new("us-east-1c"),
    ];
    f.run(10);
    for i in &mut f.instances {
        i.protected_from_scale_in = true;
    }
    f.impaired_zones.clear();
    f.run(120);
    assert_eq!(
        f.per_zone(),
        vec![3, 0, 0],
        "nothing movable, nothing moved"
    );
    assert_eq!(f.stats.launches, 3);
}

#[test]
fn instances_past_their_lifetime_are_replaced_one_at_a_time() {
    let mut s = spec(1, 6, 3);
    s.max_instance_lifetime = Some(Duration::from_secs(86_400));
    let mut f = fleet(s);
    f.run(10);
    let originals: Vec<_> = f.instances.iter().map(|i| i.id.clone()).collect();
    f.get_mut(&originals[2]).unwrap().protected_from_scale_in = true;
    f.advance(Duration::from_secs(86_400));
    let mut in_flight_max = 0;
    for _ in 0..120 {
        let d = f.step();
        for a in &d.actions {
            if let Action::Deregister { cause, .. } = a {
                assert!(cause.contains("maximum instance lifetime"), "{cause}");
            }
        }
        in_flight_max = in_flight_max.max(f.in_state(LifecycleState::Terminating).len());
        f.advance(Duration::from_secs(1));
    }
    let left: Vec<_> = originals
        .iter()
        .filter(|id| f.instances.iter().any(|i| &i.id == *id))
        .collect();
    assert_eq!(left, vec![&originals[2]], "protected instances stay");
    assert_eq!(in_flight_max, 1);
    assert_eq!(f.healthy(), 3);
}

#[test]
fn unhealthy_instances_are_replaced_ten_percent_at_a_time() {
    let mut f = fleet(spec(1, 30, 20));
    f.run(40);
    for i in f.instances.iter_mut().take(6) {
        i.target_health = Some(TargetHealthState::Unhealthy);
    }
    let d = f.step();
    let replaced = d
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Deregister { .. }))
        .count();
    assert_eq!(replaced, 2, "10% of 20");
    assert!(
        d.waiting
            .unwrap()
            .contains("at most 2 are replaced at a time")
    );
    let causes: Vec<_> = d
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { cause, .. } => Some(cause.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(causes.len(), 2);
    assert!(causes[0].contains("an unhealthy instance needing to be replaced"));
    // The next two go once the replacements are in service.
    let d = f.step();
    assert_eq!(
        d.actions
            .iter()
            .filter(|a| matches!(a, Action::Deregister { .. }))
            .count(),
        0,
        "replacements still Pending"
    );
}

#[test]
fn suspended_processes_switch_steps_off() {
    let mut s = spec(1, 6, 3);
    s.suspended_processes = vec![ScalingProcess::Launch];
    let mut f = fleet(s);
    let d = f.step();
    assert!(d.actions.is_empty());
    assert_eq!(d.waiting.unwrap(), "the Launch process is suspended");

    let mut s = spec(1, 6, 3);
    s.suspended_processes = vec![ScalingProcess::HealthCheck];
    let mut f = fleet(s);
    f.run(40);
    f.instances[0].target_health = Some(TargetHealthState::Unhealthy);
    assert!(f.step().actions.is_empty());

    let mut s = spec(1, 6, 3);
    s.suspended_processes = vec![ScalingProcess::Terminate];
    let mut f = fleet(s);
    f.run(5);
    f.state = set_desired_capacity(&f.spec, &f.state, 1, f.now).unwrap();
    let d = f.step();
    assert!(d.actions.is_empty());
    assert_eq!(d.waiting.unwrap(), "the Terminate process is suspended");
}

#[test]
fn policies_cannot_scale_in_while_instances_warm_up_but_users_can() {
    let mut s = spec(1, 10, 2);
    s.default_instance_warmup = Some(Duration::from_secs(120));
    let mut f = fleet(s);
    f.run(5);
    let warmup = crate::warmup::effective(&f.spec, None);
    let ask = |f: &Fleet, n| {
        set_desired_by_policy(
            &f.spec,
            &f.state,
            &f.instances,
            warmup,
            n,
            "At … policy".into(),
            f.now,
        )
    };
    let out = ask(&f, 4);
    assert_eq!(out.desired, 4, "scale-out is not held back");
    f.state = out.state;
    f.run(60);
    let out = ask(&f, 2);
    assert_eq!(out.desired, 4, "every instance still warms up");
    assert!(out.note.unwrap().contains("still warming up"));
    f.run(70);
    let out = ask(&f, 2);
    assert_eq!(out.desired, 2);
    assert_eq!(out.state.desired_cause.as_deref(), Some("At … policy"));
    // Clamped to max like AWS clamps a policy.
    let out = ask(&f, 50);
    assert_eq!(out.desired, 10);
    assert!(out.note.unwrap().contains("outside [1, 10]"));
    // A user's SetDesiredCapacity is never held back by warmup.
    f.state = ask(&f, 6).state;
    f.run(2);
    assert_eq!(
        set_desired_capacity(&f.spec, &f.state, 2, f.now)
            .unwrap()
            .desired_capacity,
        2
    );
}

#[test]
fn an_az_outage_moves_capacity_to_the_other_zones_then_rebalances_when_it_recovers() {
    let mut f = fleet(spec(1, 6, 6));
    f.run(10);
    assert_eq!(f.per_zone(), vec![2, 2, 2]);
    // Zone a loses power: its instances die, and it takes no launches.
    let a = AvailabilityZone::new("us-east-1a");
    f.impaired_zones = vec![a.clone()];
    let dead: Vec<_> = f
        .instances
        .iter()
        .filter(|i| i.availability_zone == a)
        .map(|i| i.id.clone())
        .collect();
    for id in &dead {
        f.kill(id);
    }
    f.run(10);
    assert_eq!(
        f.per_zone(),
        vec![0, 3, 3],
        "replacements go to b and c only"
    );
    assert_eq!(f.healthy(), 6);
    // Balanced over the zones it may use: no rebalancing while a is down.
    f.run(30);
    assert_eq!(f.per_zone(), vec![0, 3, 3]);
    // Power back: launch in a first, then terminate in the fullest zone, one at a time.
    f.impaired_zones.clear();
    let mut peak = 0;
    for _ in 0..400 {
        f.step();
        peak = peak.max(f.counted().len());
        assert!(f.healthy() >= 6, "capacity never dips while rebalancing");
        f.advance(Duration::from_secs(1));
    }
    assert_eq!(f.per_zone(), vec![2, 2, 2]);
    assert_eq!(
        peak, 7,
        "launch before terminate: at most one above desired"
    );
    assert_eq!(f.healthy(), 6);
}
