//! The routing table requests are served from: a [`Snapshot`] compiled against the live
//! per-target runtime state, published as one immutable value behind an `ArcSwap`.
//!
//! Invariants:
//! - a `Routing` is never mutated after it is published, except for its round robin counters
//!   (atomics) and the targets' runtime atomics it points to;
//! - draining targets are absent from the groups' candidate lists, so they get no new requests,
//!   while their `TargetRuntime` (and in-flight count) lives on in `reports`;
//! - everything a report needs is here, so reading health never waits for `apply`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use model::{Action, AvailabilityZone, TargetHealth, TargetHealthReason, TargetHealthState};

use crate::TargetHealthReport;
use crate::balance;
use crate::snapshot::{ListenerConfig, Snapshot};
use crate::target::TargetRuntime;

/// One published routing table.
#[derive(Debug, Default)]
pub(crate) struct Routing {
    pub(crate) listeners: HashMap<String, ListenerRoute>,
    /// Bound addresses, in snapshot order.
    pub(crate) listener_addrs: Vec<(String, SocketAddr)>,
    /// Every registered target of every target group, in snapshot order.
    pub(crate) targets: Vec<TargetEntry>,
}

/// What a listener does with a request.
#[derive(Debug)]
pub(crate) struct ListenerRoute {
    /// Value of `X-Forwarded-Proto`.
    pub(crate) scheme: &'static str,
    pub(crate) forward: Forward,
}

/// A forward action over one or several weighted target groups.
#[derive(Debug)]
pub(crate) struct Forward {
    groups: Vec<Arc<GroupRoute>>,
    /// One cycle of smooth weighted round robin over `groups`.
    schedule: Vec<usize>,
    next: AtomicUsize,
}

impl Forward {
    /// The target group for the next request; `None` when every weight is 0.
    pub(crate) fn pick_group(&self) -> Option<&Arc<GroupRoute>> {
        if self.groups.len() == 1 {
            return self.groups.first();
        }
        if self.schedule.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.groups.get(self.schedule[n % self.schedule.len()])
    }
}

/// A target group's candidates for new requests.
#[derive(Debug)]
pub(crate) struct GroupRoute {
    /// The target group's key.
    pub(crate) key: String,
    /// Registered, non-draining targets.
    targets: Vec<Arc<TargetRuntime>>,
    /// With checks disabled every target counts as healthy (ALB reports them `unavailable` and
    /// routes to them).
    checks_enabled: bool,
    next: AtomicUsize,
}

impl GroupRoute {
    /// Round robin over healthy targets, failing open to all candidates when none is healthy.
    /// `exclude` is a target that just failed (used by the safe retry).
    pub(crate) fn pick(&self, exclude: Option<&Arc<TargetRuntime>>) -> Option<Arc<TargetRuntime>> {
        let allowed = |i: usize| exclude.is_none_or(|x| !Arc::ptr_eq(x, &self.targets[i]));
        let healthy = |i: usize| !self.checks_enabled || self.targets[i].is_healthy();
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let i = balance::pick_index(self.targets.len(), n, allowed, healthy)?;
        Some(Arc::clone(&self.targets[i]))
    }
}

/// Why a target is not being health-checked, if it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    /// Health-checked; reports the machine's verdict.
    Checked,
    Draining,
    /// Its target group receives no traffic from any listener.
    Unused,
    /// Health checks are disabled for its target group.
    ChecksDisabled,
}

impl Activity {
    pub(crate) fn of(used: bool, checks_enabled: bool, draining: bool) -> Activity {
        if draining {
            Activity::Draining
        } else if !used {
            Activity::Unused
        } else if !checks_enabled {
            Activity::ChecksDisabled
        } else {
            Activity::Checked
        }
    }
}

/// One registered target, for reports.
#[derive(Debug)]
pub(crate) struct TargetEntry {
    pub(crate) runtime: Arc<TargetRuntime>,
    pub(crate) availability_zone: Option<AvailabilityZone>,
    pub(crate) activity: Activity,
}

impl TargetEntry {
    pub(crate) fn report(&self) -> TargetHealthReport {
        let r = &self.runtime;
        TargetHealthReport {
            target_group: r.target_group.clone(),
            target_id: r.id.clone(),
            addr: r.addr,
            availability_zone: self.availability_zone.clone(),
            health: reported_health(self.activity, r),
            in_flight: r.in_flight(),
        }
    }
}

fn reported_health(activity: Activity, runtime: &TargetRuntime) -> TargetHealth {
    let (state, reason, description) = match activity {
        Activity::Checked => return runtime.checked_health(),
        Activity::Draining => (
            TargetHealthState::Draining,
            Some(TargetHealthReason::DeregistrationInProgress),
            "Target deregistration is in progress",
        ),
        // The model has no reason code for ALB's `Target.NotInUse` yet; the description says it.
        Activity::Unused => (
            TargetHealthState::Unused,
            None,
            "Target group is not configured to receive traffic from the load balancer",
        ),
        Activity::ChecksDisabled => (
            TargetHealthState::Unavailable,
            Some(TargetHealthReason::HealthCheckDisabled),
            "Health checks disabled",
        ),
    };
    TargetHealth {
        state,
        reason,
        description: Some(description.into()),
    }
}

/// Compiles a validated snapshot. `runtime` returns the live state of (group key, target id);
/// `local_addr` the bound address of a listener key.
pub(crate) fn compile(
    snapshot: &Snapshot,
    runtime: impl Fn(&str, &str) -> Arc<TargetRuntime>,
    local_addr: impl Fn(&ListenerConfig) -> SocketAddr,
) -> Routing {
    let used = snapshot.used_target_groups();
    let mut groups = HashMap::new();
    let mut targets = Vec::new();
    for tg in &snapshot.target_groups {
        let key = tg.spec.key.as_str();
        let checks_enabled = tg.spec.health_check.enabled;
        let mut candidates = Vec::new();
        for t in &tg.targets {
            let rt = runtime(key, &t.id);
            if !t.draining {
                candidates.push(Arc::clone(&rt));
            }
            targets.push(TargetEntry {
                runtime: rt,
                availability_zone: t.availability_zone.clone(),
                activity: Activity::of(used.contains(key), checks_enabled, t.draining),
            });
        }
        let route = GroupRoute {
            key: key.to_owned(),
            targets: candidates,
            checks_enabled,
            next: AtomicUsize::new(0),
        };
        groups.insert(key, Arc::new(route));
    }
    let mut listeners = HashMap::new();
    let mut listener_addrs = Vec::new();
    for l in &snapshot.listeners {
        let Action::Forward { target_groups } = &l.default_action;
        // `validate` guarantees every named group exists; a missing one is simply skipped.
        let (routes, weights): (Vec<_>, Vec<_>) = target_groups
            .iter()
            .filter_map(|w| Some((Arc::clone(groups.get(w.target_group.as_str())?), w.weight)))
            .unzip();
        let forward = Forward {
            schedule: balance::smooth_weighted_schedule(&weights),
            groups: routes,
            next: AtomicUsize::new(0),
        };
        let scheme = match l.protocol {
            model::Protocol::Https | model::Protocol::Tls => "https",
            _ => "http",
        };
        listeners.insert(l.key.clone(), ListenerRoute { scheme, forward });
        listener_addrs.push((l.key.clone(), local_addr(l)));
    }
    Routing {
        listeners,
        listener_addrs,
        targets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{CheckOutcome, Thresholds};
    use crate::snapshot::fixtures::{group, listener};

    fn compiled(snapshot: &Snapshot) -> (Routing, HashMap<String, Arc<TargetRuntime>>) {
        let mut rts = HashMap::new();
        for tg in &snapshot.target_groups {
            for t in &tg.targets {
                let rt = TargetRuntime::new(&tg.spec.key, &t.id, t.addr);
                rts.insert(t.id.clone(), rt);
            }
        }
        let routing = compile(snapshot, |_, id| Arc::clone(&rts[id]), |l| l.bind);
        (routing, rts)
    }

    fn pass(rt: &TargetRuntime) {
        let t = Thresholds {
            healthy: 2,
            unhealthy: 2,
        };
        rt.record(&CheckOutcome::Passed, t);
    }

    #[test]
    fn routes_to_healthy_non_draining_targets_and_reports_all() {
        let mut s = Snapshot {
            listeners: vec![listener("web", "127.0.0.1:8080", &[("app", 1)])],
            target_groups: vec![
                group(
                    "app",
                    &[
                        ("a", "127.0.0.1:1"),
                        ("b", "127.0.0.1:2"),
                        ("c", "127.0.0.1:3"),
                    ],
                ),
                group("idle", &[("d", "127.0.0.1:4")]),
            ],
            faults: vec![],
        };
        s.target_groups[0].targets[2].draining = true;
        let (routing, rts) = compiled(&s);
        pass(&rts["a"]);
        pass(&rts["c"]);
        let fwd = &routing.listeners["web"].forward;
        let picked: Vec<_> = (0..4)
            .map(|_| fwd.pick_group().unwrap().pick(None).unwrap().id.clone())
            .collect();
        // c is healthy but draining; b is initial and a is healthy, so only a.
        assert_eq!(picked, vec!["a", "a", "a", "a"]);
        let states: Vec<_> = routing
            .targets
            .iter()
            .map(|t| t.report().health.state)
            .collect();
        use TargetHealthState::*;
        assert_eq!(states, vec![Healthy, Initial, Draining, Unused]);
        assert_eq!(
            routing.listener_addrs,
            vec![("web".into(), "127.0.0.1:8080".parse().unwrap())]
        );
    }

    #[test]
    fn retry_pick_excludes_the_failed_target() {
        let s = Snapshot {
            listeners: vec![listener("web", "127.0.0.1:8080", &[("app", 1)])],
            target_groups: vec![group("app", &[("a", "127.0.0.1:1"), ("b", "127.0.0.1:2")])],
            faults: vec![],
        };
        let (routing, rts) = compiled(&s);
        let g = routing.listeners["web"].forward.pick_group().unwrap();
        for _ in 0..4 {
            assert_eq!(g.pick(Some(&rts["a"])).unwrap().id, "b");
        }
    }

    #[test]
    fn weighted_groups_and_disabled_checks() {
        let mut s = Snapshot {
            listeners: vec![listener(
                "web",
                "127.0.0.1:8080",
                &[("blue", 3), ("green", 1)],
            )],
            target_groups: vec![
                group("blue", &[("b1", "127.0.0.1:1")]),
                group("green", &[("g1", "127.0.0.1:2")]),
            ],
            faults: vec![],
        };
        s.target_groups[1].spec.health_check.enabled = false;
        let (routing, _) = compiled(&s);
        let fwd = &routing.listeners["web"].forward;
        let picked: Vec<_> = (0..8)
            .map(|_| fwd.pick_group().unwrap().pick(None).unwrap().id.clone())
            .collect();
        assert_eq!(picked.iter().filter(|id| *id == "b1").count(), 6);
        let green = routing.targets[1].report();
        assert_eq!(green.health.state, TargetHealthState::Unavailable);
        assert_eq!(
            green.health.reason,
            Some(TargetHealthReason::HealthCheckDisabled)
        );
    }
}
