//! Per-target runtime state that outlives snapshots: health and requests in flight.
//!
//! A [`TargetRuntime`] is created when a target is first registered in a target group and is
//! carried over by every later `apply` that still lists the same (target group, target id,
//! address), so a snapshot swap never resets health or loses count of requests in flight. The
//! request path only touches atomics; the health machine behind the short std mutex is written
//! once per health check interval and read by reports.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use model::{TargetHealth, TargetHealthState};

use crate::health::{CheckOutcome, HealthState, Thresholds, Transition};

/// Runtime state of one registered target of one target group.
#[derive(Debug)]
pub(crate) struct TargetRuntime {
    pub(crate) target_group: String,
    pub(crate) id: String,
    pub(crate) addr: SocketAddr,
    /// Mirror of `machine`'s state for the request path (see [`encode`]).
    state: AtomicU8,
    in_flight: AtomicU64,
    machine: Mutex<HealthState>,
}

impl TargetRuntime {
    pub(crate) fn new(target_group: &str, id: &str, addr: SocketAddr) -> Arc<Self> {
        let machine = HealthState::new();
        Arc::new(TargetRuntime {
            target_group: target_group.to_owned(),
            id: id.to_owned(),
            addr,
            state: AtomicU8::new(encode(machine.state())),
            in_flight: AtomicU64::new(0),
            machine: Mutex::new(machine),
        })
    }

    /// True when the last health verdict is `healthy`. Lock-free: safe on the request path.
    pub(crate) fn is_healthy(&self) -> bool {
        self.state.load(Ordering::Relaxed) == encode(TargetHealthState::Healthy)
    }

    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub(crate) fn begin_request(self: &Arc<Self>) -> InFlightGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(Arc::clone(self))
    }

    /// The health active checks have established (ignoring draining and the like).
    pub(crate) fn checked_health(&self) -> TargetHealth {
        self.machine().health().clone()
    }

    /// Feeds one health check result to the machine and publishes the new state.
    pub(crate) fn record(
        &self,
        outcome: &CheckOutcome,
        thresholds: Thresholds,
    ) -> Option<Transition> {
        let mut machine = self.machine();
        let transition = machine.record(outcome, thresholds);
        self.state.store(encode(machine.state()), Ordering::Relaxed);
        transition
    }

    /// Back to `initial`: the target starts being checked again after a pause (it was draining,
    /// unused, or had checks disabled), and ALB makes such a target pass a check first.
    pub(crate) fn reset_health(&self) {
        let mut machine = self.machine();
        *machine = HealthState::new();
        self.state.store(encode(machine.state()), Ordering::Relaxed);
    }

    fn machine(&self) -> MutexGuard<'_, HealthState> {
        // A panic while holding the lock cannot leave the machine half-updated (record is a
        // few assignments), so a poisoned lock is still good data.
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Holds one request in a target's in-flight count; dropping it (response body finished, client
/// gone, or request failed) releases it.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<TargetRuntime>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn encode(state: TargetHealthState) -> u8 {
    match state {
        TargetHealthState::Initial => 0,
        TargetHealthState::Healthy => 1,
        TargetHealthState::Unhealthy => 2,
        TargetHealthState::Unused => 3,
        TargetHealthState::Draining => 4,
        TargetHealthState::Unavailable => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        healthy: 2,
        unhealthy: 2,
    };

    fn target() -> Arc<TargetRuntime> {
        TargetRuntime::new("app", "i-1", "127.0.0.1:8080".parse().unwrap())
    }

    #[test]
    fn guards_count_requests_in_flight() {
        let t = target();
        let a = t.begin_request();
        let b = t.begin_request();
        assert_eq!(t.in_flight(), 2);
        drop(a);
        assert_eq!(t.in_flight(), 1);
        drop(b);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn the_atomic_mirror_follows_the_machine() {
        let t = target();
        assert!(!t.is_healthy());
        assert!(t.record(&CheckOutcome::Passed, T).is_some());
        assert!(t.is_healthy());
        t.record(&CheckOutcome::Timeout, T);
        assert!(t.is_healthy(), "one failure is below the threshold");
        t.record(&CheckOutcome::Timeout, T);
        assert!(!t.is_healthy());
        assert_eq!(t.checked_health().state, TargetHealthState::Unhealthy);
        t.reset_health();
        assert_eq!(t.checked_health(), TargetHealth::initial());
        assert!(!t.is_healthy());
    }
}
