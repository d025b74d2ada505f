//! Warm pools on simulated time: sizing, boot-then-stop, scale-out from the pool, reuse on
//! scale-in, trimming, deletion.

use std::time::Duration;

use model::{LifecycleState, WarmPool, WarmPoolState};

use super::tests_support::{fleet, spec};
use super::*;
use crate::fleet::Fleet;

fn pool(state: WarmPoolState, min: u32, prepared: Option<u32>, reuse: bool) -> WarmPool {
    WarmPool {
        pool_state: state,
        min_size: min,
        max_group_prepared_capacity: prepared,
        reuse_on_scale_in: reuse,
    }
}

fn warm_fleet(min: u32, max: u32, desired: u32, p: WarmPool) -> Fleet {
    let mut s = spec(min, max, desired);
    s.warm_pool = Some(p);
    let mut f = fleet(s);
    f.model.boot = Duration::from_secs(20);
    f
}

#[test]
fn the_pool_fills_to_max_minus_desired_and_stops_booted_instances() {
    let mut f = warm_fleet(1, 6, 2, pool(WarmPoolState::Stopped, 0, None, false));
    f.run(5);
    assert_eq!(f.pool().len(), 4);
    assert!(
        f.pool()
            .iter()
            .all(|i| i.lifecycle == LifecycleState::WarmedPending),
        "still booting"
    );
    f.run(20);
    assert_eq!(f.in_state(LifecycleState::WarmedStopped).len(), 4);
    let zones: std::collections::BTreeSet<_> = f
        .pool()
        .iter()
        .map(|i| i.availability_zone.clone())
        .collect();
    assert_eq!(zones.len(), 3, "the pool is spread over the zones too");
    // Steady: nothing more happens.
    assert!(f.step().actions.is_empty());
}

#[test]
fn running_pools_keep_instances_running_and_the_pool_state_can_change() {
    let mut f = warm_fleet(1, 3, 1, pool(WarmPoolState::Running, 0, None, false));
    f.run(30);
    assert_eq!(f.in_state(LifecycleState::WarmedRunning).len(), 2);
    f.spec.warm_pool = Some(pool(WarmPoolState::Hibernated, 0, None, false));
    let d = f.step();
    assert!(d.actions.iter().all(|a| matches!(
        a,
        Action::EnterWarmPool {
            state: LifecycleState::WarmedStopped,
            ..
        }
    )));
    assert_eq!(f.in_state(LifecycleState::WarmedStopped).len(), 2);
}

#[test]
fn scale_out_takes_booted_instances_from_the_pool_first_and_they_serve_at_once() {
    let mut f = warm_fleet(1, 6, 3, pool(WarmPoolState::Stopped, 0, None, false));
    f.run(30);
    assert_eq!(f.healthy(), 3);
    let launches = f.stats.launches;
    f.state = set_desired_capacity(&f.spec, &f.state, 5, f.now).unwrap();
    let d = f.step();
    let taken: Vec<_> = d
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::LeaveWarmPool { cause, .. } => Some(cause.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(taken.len(), 2);
    assert!(
        taken[0].contains("a user request explicitly set group desired capacity"),
        "{}",
        taken[0]
    );
    assert_eq!(f.stats.launches, launches, "no cold launch");
    f.run(2);
    assert_eq!(f.healthy(), 5, "warm instances serve within two ticks");
    let zones = f.per_zone();
    assert!(zones.iter().max().unwrap() - zones.iter().min().unwrap() <= 1);
    // Pool target is now 6 − 5 = 1: it had 3, gave 2, nothing to refill.
    assert_eq!(f.pool().len(), 1);
}

#[test]
fn an_empty_pool_means_cold_launches() {
    let mut f = warm_fleet(1, 4, 1, pool(WarmPoolState::Stopped, 0, Some(2), false));
    f.run(30);
    assert_eq!(f.pool().len(), 1);
    f.state = set_desired_capacity(&f.spec, &f.state, 3, f.now).unwrap();
    let d = f.step();
    let warm = d
        .actions
        .iter()
        .filter(|a| matches!(a, Action::LeaveWarmPool { .. }))
        .count();
    let cold = d
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Launch {
                    warm_pool: false,
                    ..
                }
            )
        })
        .count();
    assert_eq!((warm, cold), (1, 1));
    f.run(2);
    assert_eq!(f.healthy(), 2, "the cold one still boots");
    f.run(20);
    assert_eq!(f.healthy(), 3);
}

#[test]
fn min_size_keeps_a_pool_even_at_max_capacity() {
    let mut f = warm_fleet(1, 3, 3, pool(WarmPoolState::Stopped, 1, None, false));
    f.run(30);
    assert_eq!(f.pool().len(), 1);
}

#[test]
fn reuse_on_scale_in_returns_drained_instances_to_the_pool() {
    let mut f = warm_fleet(1, 4, 4, pool(WarmPoolState::Stopped, 0, None, true));
    f.run(30);
    assert_eq!((f.healthy(), f.pool().len()), (4, 0));
    f.state = set_desired_capacity(&f.spec, &f.state, 2, f.now).unwrap();
    let d = f.step();
    assert_eq!(
        d.actions
            .iter()
            .filter(|a| matches!(
                a,
                Action::Deregister {
                    to_warm_pool: true,
                    ..
                }
            ))
            .count(),
        2
    );
    f.run(3);
    assert_eq!(f.in_state(LifecycleState::WarmedStopped).len(), 2);
    assert_eq!(f.stats.terminations, 0, "nothing terminated");
    assert_eq!(
        f.stats.warm_pool_launches, 0,
        "nothing launched into the pool"
    );
}

#[test]
fn without_reuse_scale_in_terminates_and_the_pool_refills() {
    let mut f = warm_fleet(1, 4, 4, pool(WarmPoolState::Stopped, 0, None, false));
    f.run(30);
    f.state = set_desired_capacity(&f.spec, &f.state, 2, f.now).unwrap();
    f.run(30);
    assert_eq!(f.stats.terminations, 2);
    assert_eq!(f.in_state(LifecycleState::WarmedStopped).len(), 2);
    assert_eq!(f.stats.warm_pool_launches, 2);
}

#[test]
fn a_shrinking_target_trims_the_pool_and_a_deleted_pool_is_emptied() {
    let mut f = warm_fleet(1, 6, 1, pool(WarmPoolState::Stopped, 0, None, false));
    f.run(30);
    assert_eq!(f.pool().len(), 5);
    f.spec.warm_pool = Some(pool(WarmPoolState::Stopped, 0, Some(3), false));
    let d = f.step();
    let trims: Vec<_> = d
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Terminate { cause, .. } => Some(cause.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(trims.len(), 3);
    assert!(
        trims[0].contains("shrinking the warm pool from 5 to 4"),
        "{}",
        trims[0]
    );
    let zones: std::collections::BTreeSet<_> = f
        .pool()
        .iter()
        .map(|i| i.availability_zone.clone())
        .collect();
    assert_eq!(zones.len(), 2, "trimmed by AZ balance");
    f.spec.warm_pool = None;
    f.run(1);
    assert!(f.pool().is_empty());
    assert_eq!(f.healthy(), 1, "the group itself is untouched");
}
