//! Instance refresh on simulated time.

use std::time::Duration;

use model::{LifecycleState, ProtectedInstances, RefreshPreferences, WarmPool, WarmPoolState};

use super::*;
use crate::asg::tests_support::{fleet, spec};
use crate::fleet::Fleet;

fn prefs(min: u32, max: u32) -> RefreshPreferences {
    RefreshPreferences {
        min_healthy_percentage: min,
        max_healthy_percentage: max,
        instance_warmup: Some(Duration::from_secs(10)),
        ..RefreshPreferences::default()
    }
}

/// A settled fleet of `desired`, then a template change and a refresh with `p`.
fn refreshing(desired: u32, p: RefreshPreferences) -> Fleet {
    let mut f = fleet(spec(1, 20, desired));
    f.run(30);
    f.template_version = 2;
    let (state, _) = start(&f.spec, &f.state, p, 2, "test".into(), f.now).unwrap();
    f.state = state;
    f
}

fn healthy_ready(f: &Fleet, warmup: Duration) -> usize {
    f.instances
        .iter()
        .filter(|i| {
            i.lifecycle == LifecycleState::InService
                && i.target_health == Some(model::TargetHealthState::Healthy)
                && i.in_service_at.is_some_and(|at| f.now.since(at) >= warmup)
        })
        .count()
}

/// Runs until the refresh ends; returns the least healthy, warmed-up capacity seen and the
/// most instances seen at once.
fn run_to_end(f: &mut Fleet, limit: u64) -> (usize, usize) {
    let (mut least, mut most) = (usize::MAX, 0);
    for _ in 0..limit {
        f.step();
        least = least.min(healthy_ready(f, Duration::from_secs(10)));
        most = most.max(f.counted().len());
        if f.state.active_refresh().is_none() {
            return (least, most);
        }
        f.advance(Duration::from_secs(1));
    }
    panic!(
        "refresh still running after {limit} s: {:?}",
        f.state.instance_refreshes.last()
    );
}

#[test]
fn rolling_replacement_keeps_min_healthy_percentage() {
    let mut f = refreshing(10, prefs(90, 100));
    let (least, most) = run_to_end(&mut f, 2000);
    let r = f.state.instance_refreshes.last().unwrap();
    assert_eq!(r.status, RefreshStatus::Successful, "{r:?}");
    assert_eq!(r.percentage_complete, 100);
    assert!(
        least >= 9,
        "healthy capacity fell to {least} (floor 9 of 10)"
    );
    assert!(
        most <= 10,
        "terminate first: never above desired, saw {most}"
    );
    assert!(f.instances.iter().all(|i| i.launch_template_version == 2));
}

#[test]
fn min_healthy_100_replaces_one_at_a_time_and_0_all_at_once() {
    let mut f = refreshing(4, prefs(100, 100));
    let (least, _) = run_to_end(&mut f, 2000);
    assert!(least >= 3, "one at a time: {least}");

    let mut f = refreshing(4, prefs(0, 100));
    let d = f.step();
    let drained = d
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Deregister { .. }))
        .count();
    assert_eq!(drained, 4, "0% keeps nothing back");
}

#[test]
fn max_healthy_above_100_launches_before_terminating() {
    let mut f = refreshing(10, prefs(100, 110));
    let (least, most) = run_to_end(&mut f, 3000);
    assert!(least >= 10, "launch before terminate keeps all 10: {least}");
    assert!(most <= 11, "grows by at most 10%: {most}");
    assert!(f.instances.iter().all(|i| i.launch_template_version == 2));
    // The last victims sit where they sit: AZ rebalancing may have to even the zones out
    // afterwards (launch before terminate again).
    f.run(120);
    assert_eq!(f.counted().len(), 10, "back to desired");
    let zones = f.per_zone();
    assert!(
        zones.iter().max().unwrap() - zones.iter().min().unwrap() <= 1,
        "{zones:?}"
    );
}

#[test]
fn skip_matching_leaves_current_instances_alone() {
    let mut f = fleet(spec(1, 10, 4));
    f.run(30);
    f.template_version = 2;
    f.state = crate::asg::set_desired_capacity(&f.spec, &f.state, 6, f.now).unwrap();
    f.run(30);
    let current: Vec<_> = f
        .instances
        .iter()
        .filter(|i| i.launch_template_version == 2)
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(current.len(), 2);
    let mut p = prefs(50, 100);
    p.skip_matching = true;
    f.state = start(&f.spec, &f.state, p, 2, "t".into(), f.now).unwrap().0;
    run_to_end(&mut f, 2000);
    let r = f.state.instance_refreshes.last().unwrap();
    assert_eq!(r.instances_total, 4);
    assert!(
        current
            .iter()
            .all(|id| f.instances.iter().any(|i| &i.id == id))
    );
}

#[test]
fn checkpoints_pause_the_refresh() {
    let mut p = prefs(50, 100);
    p.checkpoint_percentages = vec![50, 100];
    p.checkpoint_delay = Some(Duration::from_secs(600));
    let mut f = refreshing(4, p);
    f.run(60);
    let r = f.state.instance_refreshes.last().unwrap().clone();
    assert_eq!(r.checkpoints_reached, vec![50]);
    assert_eq!(r.instances_to_update, 2);
    assert!(
        r.status_reason
            .unwrap()
            .contains("Paused at checkpoint 50%")
    );
    f.run(500);
    assert_eq!(
        f.state
            .instance_refreshes
            .last()
            .unwrap()
            .instances_to_update,
        2,
        "still paused"
    );
    run_to_end(&mut f, 2000);
    assert_eq!(
        f.state.instance_refreshes.last().unwrap().status,
        RefreshStatus::Successful
    );
}

#[test]
fn cancel_stops_new_replacements() {
    let mut f = refreshing(10, prefs(90, 100));
    f.run(3);
    let (state, id) = cancel(&f.spec, &f.state, f.now).unwrap();
    f.state = state;
    let deregistrations = f.stats.deregistrations;
    f.run(60);
    let r = f.state.instance_refreshes.last().unwrap();
    assert_eq!(r.instance_refresh_id, id);
    assert_eq!(r.status, RefreshStatus::Cancelled);
    assert_eq!(f.stats.deregistrations, deregistrations);
    assert_eq!(
        cancel(&f.spec, &f.state, f.now).unwrap_err().to_string(),
        "No in progress or pending Instance Refresh found for Auto Scaling group web"
    );
}

#[test]
fn one_refresh_at_a_time() {
    let f = refreshing(2, prefs(90, 100));
    let err = start(&f.spec, &f.state, prefs(90, 100), 2, "again".into(), f.now).unwrap_err();
    assert!(err.to_string().contains("already in progress"), "{err}");
    let err = start(
        &f.spec,
        &GroupState::new(&f.spec),
        prefs(101, 100),
        2,
        "x".into(),
        f.now,
    )
    .unwrap_err();
    assert!(err.to_string().contains("min_healthy_percentage"), "{err}");
}

#[test]
fn protected_instances_are_ignored_waited_for_or_refreshed() {
    for (policy, replaced) in [
        (ProtectedInstances::Ignore, 2),
        (ProtectedInstances::Refresh, 3),
    ] {
        let mut f = fleet(spec(1, 10, 3));
        f.run(30);
        f.instances[0].protected_from_scale_in = true;
        f.template_version = 2;
        let mut p = prefs(0, 100);
        p.scale_in_protected_instances = policy;
        f.state = start(&f.spec, &f.state, p, 2, "t".into(), f.now).unwrap().0;
        run_to_end(&mut f, 2000);
        let r = f.state.instance_refreshes.last().unwrap();
        assert_eq!(r.instances_total, replaced, "{policy:?}");
        assert_eq!(r.status, RefreshStatus::Successful);
    }
    let mut f = fleet(spec(1, 10, 3));
    f.run(30);
    f.instances[0].protected_from_scale_in = true;
    f.template_version = 2;
    let mut p = prefs(0, 100);
    p.scale_in_protected_instances = ProtectedInstances::Wait;
    f.state = start(&f.spec, &f.state, p, 2, "t".into(), f.now).unwrap().0;
    f.run(120);
    let r = f.state.instance_refreshes.last().unwrap();
    assert!(
        r.status_reason
            .as_ref()
            .unwrap()
            .contains("protected from scale in")
    );
    f.run(3600);
    let r = f.state.instance_refreshes.last().unwrap();
    assert_eq!(r.status, RefreshStatus::Failed);
}

#[test]
fn warm_pool_instances_are_replaced_after_the_group() {
    let mut s = spec(1, 4, 2);
    s.warm_pool = Some(WarmPool {
        pool_state: WarmPoolState::Stopped,
        min_size: 0,
        max_group_prepared_capacity: None,
        reuse_on_scale_in: false,
    });
    let mut f = fleet(s);
    f.run(30);
    assert_eq!(f.pool().len(), 2);
    f.template_version = 2;
    f.state = start(&f.spec, &f.state, prefs(50, 100), 2, "t".into(), f.now)
        .unwrap()
        .0;
    run_to_end(&mut f, 2000);
    f.run(30);
    assert_eq!(f.pool().len(), 2);
    assert!(f.instances.iter().all(|i| i.launch_template_version == 2));
}

#[test]
fn a_stalled_refresh_fails_after_an_hour() {
    let mut f = refreshing(2, prefs(50, 100));
    f.launches_fail = true;
    f.run(4000);
    let r = f.state.instance_refreshes.last().unwrap();
    assert_eq!(r.status, RefreshStatus::Failed, "{r:?}");
    assert!(r.status_reason.as_ref().unwrap().contains("no progress"));
}

#[test]
fn apply_triggers_a_refresh_only_with_the_block() {
    let old = spec(1, 4, 2);
    let now = Timestamp::from_secs(0);
    assert_eq!(triggered_by_apply(&old, &old, 1, 2, now), None, "no block");
    let mut new = old.clone();
    new.instance_refresh = Some(model::InstanceRefreshSpec {
        strategy: "Rolling".into(),
        preferences: RefreshPreferences::default(),
        triggers: vec!["max_size".into()],
    });
    assert!(
        triggered_by_apply(&old, &new, 1, 2, now)
            .unwrap()
            .contains("launch template of the group to web version 2")
    );
    assert_eq!(triggered_by_apply(&old, &new, 1, 1, now), None);
    let mut bigger = new.clone();
    bigger.max_size = 8;
    assert!(
        triggered_by_apply(&new, &bigger, 1, 1, now)
            .unwrap()
            .contains("max_size")
    );
}
