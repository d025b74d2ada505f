//! Lifecycle hooks on simulated time: Pending:Wait, Terminating:Wait, Warmed:Pending:Wait,
//! completion, heartbeats, timeouts and default results.

use std::time::Duration;

use model::{
    LifecycleActionResult, LifecycleHook, LifecycleState, LifecycleTransition, WarmPool,
    WarmPoolState,
};

use super::tests_support::{fleet, spec};
use super::*;
use crate::fleet::Fleet;
use crate::lifecycle;

fn hook(name: &str, transition: LifecycleTransition, secs: u64) -> LifecycleHook {
    LifecycleHook {
        name: name.into(),
        lifecycle_transition: transition,
        heartbeat_timeout: Duration::from_secs(secs),
        default_result: LifecycleActionResult::Abandon,
        notification_metadata: None,
    }
}

fn complete(f: &mut Fleet, id: &InstanceId, hook: &str, result: LifecycleActionResult) {
    let i = f.get_mut(id).unwrap();
    lifecycle::complete(&i.id, i.lifecycle, &mut i.lifecycle_actions, hook, result).unwrap();
}

#[test]
fn a_launch_hook_holds_the_instance_in_pending_wait_unregistered_until_completed() {
    let mut f = fleet(spec(1, 3, 1));
    f.lifecycle_hooks = vec![hook("boot", LifecycleTransition::InstanceLaunching, 300)];
    f.run(60);
    let i = &f.instances[0];
    assert_eq!(i.lifecycle, LifecycleState::PendingWait);
    assert_eq!(i.target_health, None, "not registered while it waits");
    assert_eq!(f.counted().len(), 1, "Pending:Wait counts toward capacity");
    assert_eq!(f.stats.launches, 1, "no second launch while it waits");
    let id = i.id.clone();
    complete(&mut f, &id, "boot", LifecycleActionResult::Continue);
    let d = f.step();
    assert_eq!(d.actions, vec![Action::PutInService { id: id.clone() }]);
    f.run(5);
    assert_eq!(f.healthy(), 1);
}

#[test]
fn a_launch_hook_that_times_out_takes_the_default_result() {
    let mut f = fleet(spec(1, 3, 1));
    f.lifecycle_hooks = vec![hook("boot", LifecycleTransition::InstanceLaunching, 30)];
    f.run(2);
    let first = f.instances[0].id.clone();
    f.run(30);
    // ABANDON (AWS's default): terminated as a failed launch, and replaced after the backoff.
    assert!(f.instances.iter().all(|i| i.id != first));
    assert_eq!(f.state.launch_failures, 1);
    f.run(5);
    assert_eq!(f.counted().len(), 1);
    assert_eq!(f.counted()[0].lifecycle, LifecycleState::PendingWait);

    // With default_result CONTINUE the timeout puts it in service.
    let mut f = fleet(spec(1, 3, 1));
    let mut h = hook("boot", LifecycleTransition::InstanceLaunching, 30);
    h.default_result = LifecycleActionResult::Continue;
    f.lifecycle_hooks = vec![h];
    f.run(40);
    assert_eq!(f.healthy(), 1);
    assert_eq!(f.stats.launches, 1);
}

#[test]
fn heartbeats_extend_the_wait() {
    let mut f = fleet(spec(1, 3, 1));
    f.lifecycle_hooks = vec![hook("boot", LifecycleTransition::InstanceLaunching, 30)];
    f.run(2);
    let id = f.instances[0].id.clone();
    for _ in 0..5 {
        f.run(20);
        let now = f.now;
        let i = f.get_mut(&id).unwrap();
        lifecycle::heartbeat(&i.id, i.lifecycle, &mut i.lifecycle_actions, "boot", now).unwrap();
    }
    assert_eq!(f.instances[0].id, id, "still the same instance after 100 s");
    assert_eq!(f.instances[0].lifecycle, LifecycleState::PendingWait);
}

#[test]
fn abandon_terminates_and_counts_as_a_failed_launch() {
    let mut f = fleet(spec(1, 3, 1));
    f.lifecycle_hooks = vec![hook("boot", LifecycleTransition::InstanceLaunching, 300)];
    f.run(2);
    let id = f.instances[0].id.clone();
    complete(&mut f, &id, "boot", LifecycleActionResult::Abandon);
    let d = f.step();
    let failed = d.actions.iter().find_map(|a| match a {
        Action::Terminate {
            id: t,
            failed_launch,
            ..
        } if *t == id => failed_launch.clone(),
        _ => None,
    });
    assert!(
        failed.unwrap().contains("ABANDON"),
        "the launch activity says why"
    );
}

#[test]
fn a_termination_hook_waits_after_draining() {
    let mut f = fleet(spec(1, 3, 2));
    f.lifecycle_hooks = vec![hook(
        "drain-logs",
        LifecycleTransition::InstanceTerminating,
        120,
    )];
    f.run(5);
    f.state = set_desired_capacity(&f.spec, &f.state, 1, f.now).unwrap();
    for i in &mut f.instances {
        i.in_flight = 1;
    }
    f.step();
    let leaving = f.in_state(LifecycleState::Terminating)[0].id.clone();
    // AWS deregisters first: the instance drains before Terminating:Wait.
    f.run(3);
    assert_eq!(
        f.get_mut(&leaving).unwrap().lifecycle,
        LifecycleState::Terminating
    );
    f.get_mut(&leaving).unwrap().in_flight = 0;
    f.run(1);
    assert_eq!(
        f.get_mut(&leaving).unwrap().lifecycle,
        LifecycleState::TerminatingWait
    );
    f.run(60);
    assert!(f.get_mut(&leaving).is_some(), "held for the hook");
    complete(
        &mut f,
        &leaving,
        "drain-logs",
        LifecycleActionResult::Continue,
    );
    let d = f.step();
    assert!(
        matches!(&d.actions[..], [Action::Terminate { id, cause, .. }]
        if *id == leaving && cause.contains("drain-logs completed with CONTINUE"))
    );
}

#[test]
fn warm_pool_launches_wait_for_launch_hooks_too() {
    let mut s = spec(1, 2, 1);
    s.warm_pool = Some(WarmPool {
        pool_state: WarmPoolState::Stopped,
        min_size: 0,
        max_group_prepared_capacity: None,
        reuse_on_scale_in: false,
    });
    let mut f = fleet(s);
    f.lifecycle_hooks = vec![hook("boot", LifecycleTransition::InstanceLaunching, 300)];
    f.run(5);
    let group = f.in_state(LifecycleState::PendingWait)[0].id.clone();
    complete(&mut f, &group, "boot", LifecycleActionResult::Continue);
    f.run(5);
    let warm = f.in_state(LifecycleState::WarmedPendingWait)[0].id.clone();
    complete(&mut f, &warm, "boot", LifecycleActionResult::Continue);
    f.run(1);
    assert_eq!(
        f.get_mut(&warm).unwrap().lifecycle,
        LifecycleState::WarmedStopped
    );
    // Leaving the pool runs the launch hook again (Pending:Wait), as on AWS.
    f.state = set_desired_capacity(&f.spec, &f.state, 2, f.now).unwrap();
    f.run(2);
    assert_eq!(
        f.get_mut(&warm).unwrap().lifecycle,
        LifecycleState::PendingWait
    );
}

#[test]
fn deleting_a_hook_completes_its_actions_like_aws() {
    let mut f = fleet(spec(1, 3, 1));
    f.lifecycle_hooks = vec![hook("boot", LifecycleTransition::InstanceLaunching, 600)];
    f.run(3);
    let first = f.instances[0].id.clone();
    assert_eq!(f.instances[0].lifecycle, LifecycleState::PendingWait);
    // The hook is removed from the configuration: the launch is abandoned (and replaced).
    f.lifecycle_hooks.clear();
    let d = f.step();
    assert!(d.actions.iter().any(|a| matches!(a,
        Action::Terminate { id, failed_launch: Some(_), .. } if *id == first)));
    f.run(10);
    assert_eq!(f.healthy(), 1);
}
