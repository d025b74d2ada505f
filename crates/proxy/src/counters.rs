//! Per-target-group request counters, in CloudWatch's `AWS/ApplicationELB` terms: requests,
//! responses by class from targets (`HTTPCode_Target_2XX_Count`…), and the load balancer's own
//! errors (`HTTPCode_ELB_502_Count`, `_503_`, `_504_`). Failure drills compute "requests failed
//! while it lasted" from these; the metrics store can read them as `MetricDatum`s.
//!
//! Invariants: counters only grow; they live outside the snapshot (carried over by target group
//! key like target runtimes), so swapping snapshots never resets them; the request path touches
//! only atomics.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The live counters of one target group.
#[derive(Debug, Default)]
pub(crate) struct GroupCounters {
    requests: AtomicU64,
    target_2xx: AtomicU64,
    target_3xx: AtomicU64,
    target_4xx: AtomicU64,
    target_5xx: AtomicU64,
    elb_502: AtomicU64,
    elb_503: AtomicU64,
    elb_504: AtomicU64,
    faults_injected: AtomicU64,
    /// `TargetConnectionErrorCount`: connections to targets that could not be established.
    pub(crate) connection_errors: AtomicU64,
    /// `TargetResponseTime`: from sending the request to the target's response head.
    pub(crate) response_time: crate::metrics::Histogram,
}

/// What a response was, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A response from a target (or an injected target status), by status code.
    Target(u16),
    /// An error page of the load balancer itself.
    Elb(u16),
}

impl GroupCounters {
    pub(crate) fn count(&self, outcome: Outcome) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let slot = match outcome {
            Outcome::Target(s) if s < 300 => &self.target_2xx,
            Outcome::Target(s) if s < 400 => &self.target_3xx,
            Outcome::Target(s) if s < 500 => &self.target_4xx,
            Outcome::Target(_) => &self.target_5xx,
            Outcome::Elb(502) => &self.elb_502,
            Outcome::Elb(504) => &self.elb_504,
            Outcome::Elb(503) => &self.elb_503,
            // A client error the balancer answered (a broken request body): a request, no
            // 5xx; it counts per load balancer as HTTPCode_ELB_4XX.
            Outcome::Elb(_) => return,
        };
        slot.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn fault_injected(&self) {
        self.faults_injected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self, target_group: &str) -> TargetGroupCounters {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TargetGroupCounters {
            target_group: target_group.to_owned(),
            requests: r(&self.requests),
            target_2xx: r(&self.target_2xx),
            target_3xx: r(&self.target_3xx),
            target_4xx: r(&self.target_4xx),
            target_5xx: r(&self.target_5xx),
            elb_502: r(&self.elb_502),
            elb_503: r(&self.elb_503),
            elb_504: r(&self.elb_504),
            faults_injected: r(&self.faults_injected),
        }
    }
}

/// A reading of one target group's counters (totals since the data plane started).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupCounters {
    /// Target group key.
    pub target_group: String,
    /// `RequestCount`: requests the load balancer routed to this target group.
    pub requests: u64,
    pub target_2xx: u64,
    pub target_3xx: u64,
    pub target_4xx: u64,
    pub target_5xx: u64,
    pub elb_502: u64,
    pub elb_503: u64,
    pub elb_504: u64,
    /// Requests a drill's fault injection delayed or broke.
    pub faults_injected: u64,
}

impl TargetGroupCounters {
    /// Responses the client saw as a server error: the load balancer's own 5xx plus targets' 5xx.
    pub fn failed(&self) -> u64 {
        self.elb_5xx() + self.target_5xx
    }

    pub fn elb_5xx(&self) -> u64 {
        self.elb_502 + self.elb_503 + self.elb_504
    }

    /// The growth from `earlier` to `self` (saturating, in case the data plane restarted).
    pub fn since(&self, earlier: &TargetGroupCounters) -> TargetGroupCounters {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        TargetGroupCounters {
            target_group: self.target_group.clone(),
            requests: d(self.requests, earlier.requests),
            target_2xx: d(self.target_2xx, earlier.target_2xx),
            target_3xx: d(self.target_3xx, earlier.target_3xx),
            target_4xx: d(self.target_4xx, earlier.target_4xx),
            target_5xx: d(self.target_5xx, earlier.target_5xx),
            elb_502: d(self.elb_502, earlier.elb_502),
            elb_503: d(self.elb_503, earlier.elb_503),
            elb_504: d(self.elb_504, earlier.elb_504),
            faults_injected: d(self.faults_injected, earlier.faults_injected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_land_in_their_class_and_deltas_subtract() {
        let c = GroupCounters::default();
        let before = c.read("app");
        for o in [
            Outcome::Target(200),
            Outcome::Target(204),
            Outcome::Target(302),
            Outcome::Target(404),
            Outcome::Target(500),
            Outcome::Elb(502),
            Outcome::Elb(503),
            Outcome::Elb(504),
        ] {
            c.count(o);
        }
        c.fault_injected();
        let d = c.read("app").since(&before);
        assert_eq!(d.requests, 8);
        assert_eq!((d.target_2xx, d.target_3xx, d.target_4xx), (2, 1, 1));
        assert_eq!((d.target_5xx, d.elb_5xx(), d.failed()), (1, 3, 4));
        assert_eq!(d.faults_injected, 1);
        assert_eq!(
            before.since(&d).requests,
            0,
            "saturates instead of wrapping"
        );
    }
}
