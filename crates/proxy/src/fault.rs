//! Fault injection on the path from the load balancer to a target group, for failure drills
//! (`updraft chaos latency|errors`). The kernel here has no `netem`, so the data plane itself
//! delays or breaks a share of the requests it forwards — like Toxiproxy's `latency` and
//! `reset_peer` toxics, or an Envoy fault filter — before they reach the target.
//!
//! Invariants:
//! - a fault arrives in the [`Snapshot`](crate::Snapshot) as plain data ([`FaultConfig`]) and is
//!   bounded by its own `duration`: the data plane stops applying it on its own once that has
//!   passed, even if the control plane never sends another snapshot (a crashed drill cannot leave
//!   a fault behind);
//! - its clock starts when a snapshot first carries its `id`; re-applying the same id does not
//!   extend it;
//! - which requests are hit is deterministic: exactly `percent` % of them, spread evenly (request
//!   `n` is hit when `floor((n+1)·p) > floor(n·p)`), so a drill's effect is reproducible;
//! - only forwarded requests are affected; health checks are not, so a drill measures what the
//!   request path suffers rather than how fast a target is ejected.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use model::AvailabilityZone;
use tokio::time::Instant;

use crate::snapshot::Snapshot;

/// One fault to inject.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Unique per drill: the data plane keeps a fault's start time by id.
    pub id: String,
    /// Target group key whose forwarded requests are affected.
    pub target_group: String,
    /// Only targets in this zone, when set.
    pub availability_zone: Option<AvailabilityZone>,
    pub kind: FaultKind,
    /// Share of requests affected, 0–100.
    pub percent: f64,
    /// How long the fault lasts from the moment the data plane first sees it.
    pub duration: Duration,
}

/// What happens to an affected request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The request waits `delay` (plus up to `jitter`) before it is sent to the target.
    Latency { delay: Duration, jitter: Duration },
    /// The connection to the target is reset before any response: the balancer answers 502
    /// unless its safe retry succeeds on another target.
    Reset,
    /// The target "answers" with this status (a target 5xx, passed through to the client).
    Status(u16),
}

/// What to do with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Delay(Duration),
    Reset,
    Status(u16),
}

/// The active faults, compiled from a snapshot.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    by_group: HashMap<String, Vec<Arc<ActiveFault>>>,
}

#[derive(Debug)]
pub(crate) struct ActiveFault {
    id: String,
    /// Target ids in the fault's zone; `None` = every target of the group.
    targets: Option<HashSet<String>>,
    kind: FaultKind,
    percent: f64,
    started: Instant,
    expires: Instant,
    seen: AtomicU64,
    /// Requests this fault has affected (reported back as `faults_injected`).
    pub(crate) hits: AtomicU64,
}

impl FaultTable {
    /// Compiles the snapshot's faults. `previous` carries start times over by id; `now` is the
    /// data plane's clock.
    pub(crate) fn compile(snapshot: &Snapshot, previous: &FaultTable, now: Instant) -> Self {
        let mut by_group: HashMap<String, Vec<Arc<ActiveFault>>> = HashMap::new();
        for f in &snapshot.faults {
            let started = previous.find(&f.id).map_or(now, |old| old.started.min(now));
            let targets = f.availability_zone.as_ref().map(|zone| {
                snapshot
                    .target_groups
                    .iter()
                    .filter(|tg| tg.spec.key == f.target_group)
                    .flat_map(|tg| &tg.targets)
                    .filter(|t| t.availability_zone.as_ref() == Some(zone))
                    .map(|t| t.id.clone())
                    .collect()
            });
            let hits = previous
                .find(&f.id)
                .map_or(0, |old| old.hits.load(Ordering::Relaxed));
            let seen = previous
                .find(&f.id)
                .map_or(0, |old| old.seen.load(Ordering::Relaxed));
            by_group
                .entry(f.target_group.clone())
                .or_default()
                .push(Arc::new(ActiveFault {
                    id: f.id.clone(),
                    targets,
                    kind: f.kind.clone(),
                    percent: f.percent.clamp(0.0, 100.0),
                    started,
                    expires: started + f.duration,
                    seen: AtomicU64::new(seen),
                    hits: AtomicU64::new(hits),
                }));
        }
        FaultTable { by_group }
    }

    fn find(&self, id: &str) -> Option<&Arc<ActiveFault>> {
        self.by_group.values().flatten().find(|f| f.id == id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_group.is_empty()
    }

    /// The effect on the next request to `target_id` of `target_group`, if any.
    pub(crate) fn effect(
        &self,
        target_group: &str,
        target_id: &str,
        now: Instant,
    ) -> Option<Effect> {
        let faults = self.by_group.get(target_group)?;
        faults.iter().find_map(|f| f.effect(target_id, now))
    }

    /// Requests affected so far, per fault id.
    pub(crate) fn hits(&self) -> Vec<(String, u64)> {
        self.by_group
            .values()
            .flatten()
            .map(|f| (f.id.clone(), f.hits.load(Ordering::Relaxed)))
            .collect()
    }
}

impl ActiveFault {
    fn effect(&self, target_id: &str, now: Instant) -> Option<Effect> {
        if now >= self.expires
            || self
                .targets
                .as_ref()
                .is_some_and(|t| !t.contains(target_id))
        {
            return None;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        if !hit(n, self.percent) {
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(match &self.kind {
            FaultKind::Latency { delay, jitter } => Effect::Delay(*delay + spread(n, *jitter)),
            FaultKind::Reset => Effect::Reset,
            FaultKind::Status(code) => Effect::Status(*code),
        })
    }
}

/// Whether request `n` (0-based) is among the `percent` % hit, spread evenly.
fn hit(n: u64, percent: f64) -> bool {
    let p = percent / 100.0;
    ((n + 1) as f64 * p).floor() > (n as f64 * p).floor()
}

/// A deterministic jitter in `[0, jitter]` for request `n` (a multiplicative hash of `n`).
fn spread(n: u64, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return Duration::ZERO;
    }
    let h = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11;
    let unit = h as f64 / (1u64 << 53) as f64;
    jitter.mul_f64(unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fixtures::group;

    fn snapshot(faults: Vec<FaultConfig>) -> Snapshot {
        let mut tg = group("app", &[("a", "127.0.0.1:1"), ("b", "127.0.0.1:2")]);
        tg.targets[0].availability_zone = Some(AvailabilityZone::new("us-east-1a"));
        tg.targets[1].availability_zone = Some(AvailabilityZone::new("us-east-1b"));
        Snapshot {
            listeners: vec![],
            target_groups: vec![tg],
            faults,
        }
    }

    fn fault(kind: FaultKind, percent: f64, zone: Option<&str>) -> FaultConfig {
        FaultConfig {
            id: "drill-1".into(),
            target_group: "app".into(),
            availability_zone: zone.map(AvailabilityZone::new),
            kind,
            percent,
            duration: Duration::from_secs(10),
        }
    }

    #[test]
    fn exactly_the_share_asked_for_is_hit_and_evenly_spread() {
        for percent in [0.0, 10.0, 25.0, 33.3, 50.0, 100.0] {
            let hits = (0..1000).filter(|n| hit(*n, percent)).count() as f64;
            assert!((hits - percent * 10.0).abs() <= 1.0, "{percent}: {hits}");
        }
        let pattern: Vec<bool> = (0..4).map(|n| hit(n, 50.0)).collect();
        assert_eq!(pattern, [false, true, false, true]);
    }

    #[test]
    fn faults_expire_on_their_own_and_keep_their_start_across_applies() {
        let s = snapshot(vec![fault(FaultKind::Reset, 100.0, None)]);
        let t0 = Instant::now();
        let table = FaultTable::compile(&s, &FaultTable::default(), t0);
        assert_eq!(table.effect("app", "a", t0), Some(Effect::Reset));
        assert_eq!(table.effect("other", "a", t0), None);
        // Re-applied 6 s later: still expires 10 s after the first apply.
        let later = t0 + Duration::from_secs(6);
        let again = FaultTable::compile(&s, &table, later);
        assert_eq!(again.effect("app", "b", later), Some(Effect::Reset));
        assert_eq!(again.hits(), vec![("drill-1".to_string(), 2)]);
        let after = t0 + Duration::from_secs(10);
        assert_eq!(again.effect("app", "a", after), None);
    }

    #[test]
    fn a_zone_fault_hits_only_that_zone_and_latency_has_bounded_jitter() {
        let kind = FaultKind::Latency {
            delay: Duration::from_millis(200),
            jitter: Duration::from_millis(50),
        };
        let s = snapshot(vec![fault(kind, 100.0, Some("us-east-1b"))]);
        let now = Instant::now();
        let table = FaultTable::compile(&s, &FaultTable::default(), now);
        assert_eq!(table.effect("app", "a", now), None);
        for _ in 0..20 {
            let Some(Effect::Delay(d)) = table.effect("app", "b", now) else {
                panic!("expected a delay");
            };
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(250));
        }
    }
}
