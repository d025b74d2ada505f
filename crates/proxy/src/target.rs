//! Per-target runtime state that outlives snapshots: health and requests in flight.
//!
//! A [`TargetRuntime`] is created when a target is first registered in a target group and is
//! carried over by every later `apply` that still lists the same (target group, target id,
//! address), so a snapshot swap never resets health or loses count of requests in flight. The
//! request path only touches atomics; the health machine behind the short std mutex is written
//! once per health check interval and read by reports.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use model::{TargetHealth, TargetHealthState};

use crate::health::{CheckOutcome, HealthState, Thresholds, Transition};
use crate::passive::{self, Outcome};
use crate::upstream::Pool;

/// `healthy_since_ms` when the target is not healthy.
const NOT_HEALTHY: u64 = u64::MAX;

/// Runtime state of one registered target of one target group.
#[derive(Debug)]
pub(crate) struct TargetRuntime {
    pub(crate) target_group: String,
    pub(crate) id: String,
    pub(crate) addr: SocketAddr,
    /// Mirror of `machine`'s state for the request path (see [`encode`]).
    state: AtomicU8,
    in_flight: AtomicU64,
    /// Requests sent to this target (attempts, retries included).
    requests: AtomicU64,
    machine: Mutex<HealthState>,
    /// When the target last became healthy (`clock::now_ms`), for slow start.
    healthy_since_ms: AtomicU64,
    consecutive_5xx: AtomicU32,
    consecutive_connect_failures: AtomicU32,
    /// Passive ejection: out of rotation until this instant (0: never ejected).
    ejected_until_ms: AtomicU64,
    /// Consecutive ejections without a success in between (the backoff exponent).
    ejections: AtomicU32,
    /// Connections to the target; closed when the last holder of this runtime goes.
    pub(crate) pool: Pool,
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
            requests: AtomicU64::new(0),
            machine: Mutex::new(machine),
            healthy_since_ms: AtomicU64::new(NOT_HEALTHY),
            consecutive_5xx: AtomicU32::new(0),
            consecutive_connect_failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            pool: Pool::default(),
        })
    }

    /// How long the target has been healthy, if it is (for slow start).
    pub(crate) fn healthy_for(&self, now_ms: u64) -> Option<Duration> {
        let since = self.healthy_since_ms.load(Ordering::Relaxed);
        (since != NOT_HEALTHY).then(|| Duration::from_millis(now_ms.saturating_sub(since)))
    }

    /// Whether passive ejection keeps the target out of rotation at `now_ms`.
    pub(crate) fn is_ejected(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.load(Ordering::Relaxed) > now_ms
    }

    /// Feeds the outcome of one real request to passive ejection. Returns the ejection time
    /// when this outcome ejected the target.
    pub(crate) fn record_outcome(&self, outcome: Outcome, now_ms: u64) -> Option<Duration> {
        let reset = |counter: &AtomicU32| {
            // Read first: the common case (nothing to reset) then writes no shared cache line.
            if counter.load(Ordering::Relaxed) != 0 {
                counter.store(0, Ordering::Relaxed);
            }
        };
        let tripped = match outcome {
            Outcome::Success => {
                reset(&self.consecutive_5xx);
                reset(&self.consecutive_connect_failures);
                reset(&self.ejections);
                return None;
            }
            Outcome::ServerError => {
                reset(&self.consecutive_connect_failures);
                self.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1 >= passive::CONSECUTIVE_5XX
            }
            Outcome::ConnectFailure => {
                self.consecutive_connect_failures
                    .fetch_add(1, Ordering::Relaxed)
                    + 1
                    >= passive::CONSECUTIVE_CONNECT_FAILURES
            }
        };
        if !tripped || self.is_ejected(now_ms) {
            return None;
        }
        let n = self.ejections.fetch_add(1, Ordering::Relaxed);
        let time = passive::ejection_time(n);
        let until = now_ms.saturating_add(u64::try_from(time.as_millis()).unwrap_or(u64::MAX));
        self.ejected_until_ms.store(until, Ordering::Relaxed);
        self.consecutive_5xx.store(0, Ordering::Relaxed);
        self.consecutive_connect_failures
            .store(0, Ordering::Relaxed);
        Some(time)
    }

    /// True when the last health verdict is `healthy`. Lock-free: safe on the request path.
    pub(crate) fn is_healthy(&self) -> bool {
        self.state.load(Ordering::Relaxed) == encode(TargetHealthState::Healthy)
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub(crate) fn begin_request(self: &Arc<Self>) -> InFlightGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
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
        self.publish(machine.state());
        transition
    }

    /// Back to `initial`: the target starts being checked again after a pause (it was draining,
    /// unused, or had checks disabled), and ALB makes such a target pass a check first.
    pub(crate) fn reset_health(&self) {
        let mut machine = self.machine();
        *machine = HealthState::new();
        self.publish(machine.state());
    }

    /// Mirrors the machine's state into the atomics the request path reads.
    fn publish(&self, state: TargetHealthState) {
        let was = self.state.swap(encode(state), Ordering::Relaxed);
        let healthy = encode(TargetHealthState::Healthy);
        if state == TargetHealthState::Healthy && was != healthy {
            self.healthy_since_ms
                .store(crate::clock::now_ms(), Ordering::Relaxed);
        } else if state != TargetHealthState::Healthy {
            self.healthy_since_ms.store(NOT_HEALTHY, Ordering::Relaxed);
        }
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

impl InFlightGuard {
    pub(crate) fn target(&self) -> &Arc<TargetRuntime> {
        &self.0
    }
}

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
    fn passive_ejection_trips_on_consecutive_failures_and_backs_off() {
        let t = target();
        for _ in 0..4 {
            assert_eq!(t.record_outcome(Outcome::ServerError, 0), None);
        }
        // A success in between starts the count again.
        t.record_outcome(Outcome::Success, 0);
        for _ in 0..4 {
            assert_eq!(t.record_outcome(Outcome::ServerError, 0), None);
        }
        assert_eq!(
            t.record_outcome(Outcome::ServerError, 0),
            Some(Duration::from_secs(1))
        );
        assert!(t.is_ejected(999) && !t.is_ejected(1000));
        // Failing again after the ejection: twice as long.
        t.record_outcome(Outcome::ConnectFailure, 1000);
        assert_eq!(
            t.record_outcome(Outcome::ConnectFailure, 1000),
            Some(Duration::from_secs(2))
        );
        assert!(t.is_ejected(2999) && !t.is_ejected(3000));
        // A success resets the backoff.
        t.record_outcome(Outcome::Success, 3000);
        t.record_outcome(Outcome::ConnectFailure, 3000);
        assert_eq!(
            t.record_outcome(Outcome::ConnectFailure, 3000),
            Some(Duration::from_secs(1))
        );
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
