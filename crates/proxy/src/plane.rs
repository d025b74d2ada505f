//! [`DataPlane`]: the handle the control plane drives. `apply` turns a [`Snapshot`] into bound
//! listeners, running health checks and a published routing table; reads are lock-free.
//!
//! Invariants:
//! - `apply` calls are serialised by an async mutex that only the control plane touches; the
//!   request path never takes it;
//! - `apply` is all-or-nothing: validation and every new bind happen before anything changes;
//! - per-target runtime state is keyed by (target group, target id) and survives `apply` as long
//!   as the target keeps its address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::task::JoinHandle;

use crate::access_log::AccessLog;
use crate::counters::GroupCounters;
use crate::drain::{self, DrainTask};
use crate::fault::{Effect, FaultTable};
use crate::health::checker::{self, HealthTask, Probe};
use crate::l7::forward::RetryBudget;
use crate::listener::{self, RunningListener};
use crate::metrics::{Collector, GroupReading, ListenerCounters, Reading, TargetReading};
use crate::routing::{self, Activity, Routing};
use crate::snapshot::Snapshot;
use crate::sticky::StickinessKey;
use crate::target::TargetRuntime;
use crate::{ApplyError, TargetGroupCounters, TargetHealthReport};

/// Tunables of the data plane. The defaults are ALB's.
#[derive(Debug, Clone)]
pub struct DataPlaneOptions {
    /// Idle timeout of listeners the routing table does not know (yet); each listener otherwise
    /// uses its load balancer's `idle_timeout` from `ListenerConfig`. ALB default: 60 s.
    pub idle_timeout: Duration,
    /// Time allowed to open a TCP connection to a target before answering 504. ALB: 10 s.
    pub connect_timeout: Duration,
    /// The secret behind stickiness cookies. Keep it for the life of a stack (the server
    /// stores one in the state directory) so that cookies stay valid across restarts.
    pub stickiness_key: StickinessKey,
    /// Wall-clock time (Unix seconds) when the data plane was created, for request ids
    /// (`X-Amzn-Trace-Id`) and access logs: the data plane reads only a monotonic clock.
    pub epoch_unix_secs: u64,
    /// Serve plain HTTP/1.1 requests with the fast path (`crate::l7::h1`) rather than hyper.
    /// On by default; off only to compare the two (`UPDRAFT_HTTP1=hyper`).
    pub http1_fast_path: bool,
}

impl Default for DataPlaneOptions {
    fn default() -> Self {
        DataPlaneOptions {
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            stickiness_key: StickinessKey::random(),
            epoch_unix_secs: 0,
            http1_fast_path: true,
        }
    }
}

/// What every request task shares.
pub(crate) struct Shared {
    pub(crate) routing: ArcSwap<Routing>,
    /// Faults injected by failure drills; empty almost always.
    pub(crate) faults: ArcSwap<FaultTable>,
    /// Request counters per target group key; carried over across snapshots.
    pub(crate) counters: ArcSwap<HashMap<String, Arc<GroupCounters>>>,
    /// Counters of the running listeners, by key (replaced by `apply`).
    pub(crate) listener_counters: ArcSwap<HashMap<String, Arc<ListenerCounters>>>,
    pub(crate) retry_budget: RetryBudget,
    pub(crate) options: DataPlaneOptions,
    pub(crate) server: auto::Builder<TokioExecutor>,
}

impl Shared {
    /// The counters of target group `key` (a detached set if the group just went away).
    pub(crate) fn counters(&self, key: &str) -> Arc<GroupCounters> {
        self.counters.load().get(key).cloned().unwrap_or_default()
    }

    /// The fault a drill injects on the next request to `target`, if any.
    pub(crate) fn fault_effect(&self, target: &TargetRuntime) -> Option<Effect> {
        let faults = self.faults.load();
        if faults.is_empty() {
            return None;
        }
        let effect = faults.effect(
            &target.target_group,
            &target.id,
            tokio::time::Instant::now(),
        );
        if effect.is_some() {
            self.counters(&target.target_group).fault_injected();
        }
        effect
    }
}

/// The running data plane. Cloning gives another handle to the same one; dropping the last
/// handle stops listeners and health checks.
#[derive(Clone)]
pub struct DataPlane {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// The previous metrics reading; only `metrics` touches it (the control plane, once per
    /// period), never the request path.
    collector: std::sync::Mutex<Collector>,
    control: tokio::sync::Mutex<Control>,
}

/// State only `apply` and `shutdown` touch.
#[derive(Default)]
struct Control {
    listeners: HashMap<String, RunningListener>,
    targets: HashMap<(String, String), TargetSlot>,
    /// Open access logs, by path; kept while some listener logs there.
    access_logs: HashMap<std::path::PathBuf, Arc<AccessLog>>,
    /// Listeners stopped by `apply` whose connections are still finishing.
    stopping: Vec<JoinHandle<()>>,
    /// Targets that left the snapshot without draining first: the data plane drains them
    /// (see `crate::drain`) until their deregistration is over.
    departing: HashMap<(String, String), TargetSlot>,
}

struct TargetSlot {
    runtime: Arc<TargetRuntime>,
    /// Running while the target is checked; dropping it stops the checks.
    checks: Option<HealthTask>,
    /// Running while the target drains.
    drain: Option<DrainTask>,
    /// Its target group's `deregistration_delay`, as of the latest apply.
    delay: Duration,
}

impl TargetSlot {
    fn new(runtime: Arc<TargetRuntime>, delay: Duration) -> Self {
        TargetSlot {
            runtime,
            checks: None,
            drain: None,
            delay,
        }
    }

    /// The snapshot no longer lists the target: a draining target is done; any other one
    /// starts draining now. Returns the slot if it still has to drain.
    fn deregister(mut self) -> Option<TargetSlot> {
        self.checks = None;
        match self.drain.take() {
            Some(_) => {
                drain::finish(&self.runtime);
                None
            }
            None => {
                self.drain = Some(drain::start(Arc::clone(&self.runtime), self.delay));
                Some(self)
            }
        }
    }
}

impl Default for DataPlane {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DataPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataPlane")
            .field("listeners", &self.listener_addrs())
            .finish_non_exhaustive()
    }
}

impl DataPlane {
    /// A data plane serving nothing yet, with ALB's default timeouts.
    pub fn new() -> DataPlane {
        Self::with_options(DataPlaneOptions::default())
    }

    pub fn with_options(options: DataPlaneOptions) -> DataPlane {
        // Start the monotonic clock now, so that `epoch_unix_secs + now` is the wall clock.
        crate::clock::now_ms();
        let shared = Shared {
            routing: ArcSwap::from_pointee(Routing::default()),
            faults: ArcSwap::from_pointee(FaultTable::default()),
            counters: ArcSwap::from_pointee(HashMap::new()),
            listener_counters: ArcSwap::from_pointee(HashMap::new()),
            retry_budget: RetryBudget::new(),
            options,
            server: listener::server_builder(),
        };
        DataPlane {
            inner: Arc::new(Inner {
                shared: Arc::new(shared),
                collector: std::sync::Mutex::new(Collector::default()),
                control: tokio::sync::Mutex::new(Control::default()),
            }),
        }
    }

    /// Binds listeners that are new, stops listeners that are gone (in-flight requests on them
    /// finish), swaps the routing snapshot, starts/stops health checks for targets.
    /// All-or-nothing: if the snapshot is invalid or any new listener cannot bind, nothing
    /// changes and the error says which listener and address.
    pub async fn apply(&self, snapshot: Snapshot) -> Result<(), ApplyError> {
        snapshot.validate()?;
        let mut guard = self.inner.control.lock().await;
        let control = &mut *guard;

        // 1. Bind every new (or moved) listener. On error the sockets bound so far close here.
        let mut fresh = Vec::new();
        for l in &snapshot.listeners {
            let running = control.listeners.get(&l.key);
            if running.is_none_or(|r| r.bind != l.bind) {
                fresh.push((l.key.clone(), listener::bind(&l.key, l.bind)?));
            }
        }
        // Access logs: open new ones now, so that a path that cannot be written fails the
        // apply before anything changed.
        let mut access_logs = HashMap::new();
        for path in snapshot
            .listeners
            .iter()
            .filter_map(|l| l.access_log.as_ref())
        {
            if access_logs.contains_key(path) {
                continue;
            }
            let log = match control.access_logs.get(path) {
                Some(log) => Arc::clone(log),
                None => {
                    Arc::new(
                        AccessLog::open(path).map_err(|source| ApplyError::AccessLog {
                            path: path.clone(),
                            source,
                        })?,
                    )
                }
            };
            access_logs.insert(path.clone(), log);
        }
        control.access_logs = access_logs;
        // Nothing below can fail.

        // 2. Carry runtime state over, create it for new targets, start and stop checks.
        let used = snapshot.used_target_groups();
        let mut targets = HashMap::new();
        let mut departed = Vec::new();
        for tg in &snapshot.target_groups {
            let key = tg.spec.key.as_str();
            let hc = &tg.spec.health_check;
            let delay = tg.spec.deregistration_delay;
            for t in &tg.targets {
                let id = (key.to_owned(), t.id.clone());
                let known = control
                    .targets
                    .remove(&id)
                    .or_else(|| control.departing.remove(&id));
                let mut slot = match known {
                    Some(slot) if slot.runtime.addr == t.addr => slot,
                    moved => {
                        // Same id, new address: the old one deregisters.
                        if let Some(old) = moved.and_then(TargetSlot::deregister) {
                            departed.push((id.clone(), old));
                        }
                        TargetSlot::new(TargetRuntime::new(key, &t.id, t.addr), delay)
                    }
                };
                slot.delay = delay;
                slot.drain = match (slot.drain.take(), t.draining) {
                    (Some(running), true) => Some(running),
                    (None, true) => Some(drain::start(Arc::clone(&slot.runtime), delay)),
                    // In service (again): nothing to end.
                    (_, false) => None,
                };
                let activity = Activity::of(used.contains(key), hc.enabled, t.draining);
                let wanted = (activity == Activity::Checked)
                    .then(|| Probe::new(hc, tg.spec.protocol_version, t.addr));
                slot.checks = match (slot.checks.take(), wanted) {
                    (_, None) => None,
                    (Some(task), Some(probe)) if task.probe == probe => Some(task),
                    // New settings: restart the timer, keep the verdict and counters.
                    (Some(_), Some(probe)) => {
                        Some(checker::spawn(Arc::clone(&slot.runtime), probe))
                    }
                    // Checked again after a pause (or for the first time): start from `initial`.
                    (None, Some(probe)) => {
                        slot.runtime.reset_health();
                        Some(checker::spawn(Arc::clone(&slot.runtime), probe))
                    }
                };
                targets.insert(id, slot);
            }
        }
        // Targets no longer registered: a draining one is done (its connections close), any
        // other drains now; requests in flight keep their runtime alive until they finish.
        for (id, slot) in std::mem::replace(&mut control.targets, targets) {
            if let Some(slot) = slot.deregister() {
                departed.push((id, slot));
            }
        }
        control
            .departing
            .retain(|_, slot| slot.drain.as_ref().is_some_and(|d| !d.is_finished()));
        control.departing.extend(departed);

        // 3. Publish counters and faults, then the routing table (so every group a request can
        // be routed to already has its counters).
        let old_counters = self.inner.shared.counters.load();
        let counters: HashMap<String, Arc<GroupCounters>> = snapshot
            .target_groups
            .iter()
            .map(|tg| {
                let c = old_counters.get(&tg.spec.key).cloned().unwrap_or_default();
                (tg.spec.key.clone(), c)
            })
            .collect();
        self.inner.shared.counters.store(Arc::new(counters));
        let faults = FaultTable::compile(
            &snapshot,
            &self.inner.shared.faults.load(),
            tokio::time::Instant::now(),
        );
        self.inner.shared.faults.store(Arc::new(faults));
        let local_addr = |key: &str| {
            fresh
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, b)| b.local_addr)
                .or_else(|| control.listeners.get(key).map(|r| r.local_addr))
        };
        let routing = routing::compile(
            &snapshot,
            &self.inner.shared.options.stickiness_key,
            |l| {
                l.access_log
                    .as_ref()
                    .and_then(|p| control.access_logs.get(p).cloned())
            },
            |group, id| {
                let slot = &control.targets[&(group.to_owned(), id.to_owned())];
                Arc::clone(&slot.runtime)
            },
            |l| local_addr(&l.key).unwrap_or(l.bind),
        );
        self.inner.shared.routing.store(Arc::new(routing));

        // 4. Stop listeners that are gone or moved; serve the new ones.
        let wanted: HashMap<&str, SocketAddr> = snapshot
            .listeners
            .iter()
            .map(|l| (l.key.as_str(), l.bind))
            .collect();
        let running = std::mem::take(&mut control.listeners);
        for (key, l) in running {
            if wanted.get(key.as_str()) == Some(&l.bind) {
                control.listeners.insert(key, l);
            } else {
                tracing::info!(listener = %key, addr = %l.local_addr, "stopping listener");
                control.stopping.push(l.stop());
            }
        }
        for (key, bound) in fresh {
            tracing::info!(listener = %key, addr = %bound.local_addr, "listening");
            let running = listener::spawn(&key, bound, Arc::clone(&self.inner.shared));
            control.listeners.insert(key, running);
        }
        control.stopping.retain(|task| !task.is_finished());
        let listener_counters = control
            .listeners
            .iter()
            .map(|(k, l)| (k.clone(), Arc::clone(&l.counters)))
            .collect();
        self.inner
            .shared
            .listener_counters
            .store(Arc::new(listener_counters));
        Ok(())
    }

    /// Every registered target of every target group with its health, the number of requests
    /// in flight to it, and its AZ, in snapshot order. Non-blocking.
    pub fn target_health(&self) -> Vec<TargetHealthReport> {
        let routing = self.inner.shared.routing.load();
        routing.targets.iter().map(|t| t.report()).collect()
    }

    /// CloudWatch datums (`AWS/ApplicationELB`) for the period since the previous call: request
    /// and error counts, bytes, connections, target response time (a distribution, so
    /// percentiles survive), healthy/unhealthy hosts per target group and AZ. Call it once per
    /// period (the server does, every second); it never blocks the request path.
    pub fn metrics(&self) -> Vec<model::MetricDatum> {
        let shared = &self.inner.shared;
        let routing = shared.routing.load();
        let mut reading = Reading::default();
        for (key, c) in shared.listener_counters.load().iter() {
            if let Some(lb) = routing.listener_load_balancer.get(key) {
                reading.listeners.push(reading.listener(lb.clone(), c));
            }
        }
        let counters = shared.counters.load();
        for (key, dimension, lbs) in &routing.group_dimensions {
            let Some(c) = counters.get(key) else {
                continue;
            };
            reading.groups.push(GroupReading {
                key: key.clone(),
                dimension: dimension.clone(),
                load_balancers: lbs.clone(),
                counters: c.read(key),
                connection_errors: c
                    .connection_errors
                    .load(std::sync::atomic::Ordering::Relaxed),
                response_time: c.response_time.read(),
            });
        }
        for t in &routing.targets {
            let report = t.report();
            reading.targets.push(TargetReading {
                group_key: report.target_group,
                id: report.target_id,
                availability_zone: report.availability_zone.map(|z| z.to_string()),
                state: report.health.state,
                requests: t.runtime.requests(),
            });
        }
        drop(routing);
        let mut collector = self
            .inner
            .collector
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        collector.collect(reading)
    }

    /// Totals since the data plane started, for `updraft status`: per listener (requests,
    /// the balancer's own 5xx, open connections) and per target group (requests, targets'
    /// 5xx, response time p50/p99). Non-blocking, and independent of `metrics` periods.
    pub fn traffic(&self) -> Traffic {
        let shared = &self.inner.shared;
        let mut listeners: Vec<ListenerTraffic> = shared
            .listener_counters
            .load()
            .iter()
            .map(|(key, c)| {
                let r =
                    |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
                ListenerTraffic {
                    listener: key.clone(),
                    requests: r(&c.requests),
                    elb_5xx: r(&c.elb_502) + r(&c.elb_503) + r(&c.elb_504),
                    active_connections: r(&c.active_connections),
                    parked_connections: r(&c.parked_connections),
                }
            })
            .collect();
        listeners.sort_by(|a, b| a.listener.cmp(&b.listener));
        let mut target_groups: Vec<TargetGroupTraffic> = shared
            .counters
            .load()
            .iter()
            .map(|(key, c)| {
                let read = c.read(key);
                let buckets = c.response_time.read();
                let ms = |q| crate::metrics::quantile(&buckets, q).map(|s| s * 1000.0);
                TargetGroupTraffic {
                    target_group: key.clone(),
                    requests: read.requests,
                    target_5xx: read.target_5xx,
                    elb_5xx: read.elb_5xx(),
                    p50_ms: ms(0.5),
                    p99_ms: ms(0.99),
                }
            })
            .collect();
        target_groups.sort_by(|a, b| a.target_group.cmp(&b.target_group));
        Traffic {
            listeners,
            target_groups,
        }
    }

    /// Request counters of every target group, sorted by key. Non-blocking.
    pub fn target_group_counters(&self) -> Vec<TargetGroupCounters> {
        let mut all: Vec<_> = self
            .inner
            .shared
            .counters
            .load()
            .iter()
            .map(|(key, c)| c.read(key))
            .collect();
        all.sort_by(|a, b| a.target_group.cmp(&b.target_group));
        all
    }

    /// Requests each injected fault has affected so far, by fault id.
    pub fn fault_hits(&self) -> Vec<(String, u64)> {
        self.inner.shared.faults.load().hits()
    }

    /// Bound listener addresses, in snapshot order (useful when a listener binds port 0).
    pub fn listener_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.inner.shared.routing.load().listener_addrs.clone()
    }

    /// Stops all listeners and health checks; waits (bounded by `grace`) for in-flight requests,
    /// then closes whatever is left. The data plane can be given a new snapshot afterwards.
    pub async fn shutdown(&self, grace: Duration) {
        let mut control = self.inner.control.lock().await;
        for slot in control.targets.values_mut() {
            slot.checks = None;
        }
        let mut tasks: Vec<JoinHandle<()>> =
            control.listeners.drain().map(|(_, l)| l.stop()).collect();
        tasks.append(&mut control.stopping);
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let drained = tokio::time::timeout(grace, async {
            for task in tasks {
                let _ = task.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                ?grace,
                "in-flight requests outlived the shutdown grace; closing them"
            );
            // Aborting a listener task drops its connections.
            aborts.iter().for_each(|a| a.abort());
        }
        control.targets.clear();
        control.departing.clear();
        self.inner
            .shared
            .routing
            .store(Arc::new(Routing::default()));
    }
}

/// Traffic totals since the data plane started (see [`DataPlane::traffic`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Traffic {
    pub listeners: Vec<ListenerTraffic>,
    pub target_groups: Vec<TargetGroupTraffic>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ListenerTraffic {
    pub listener: String,
    pub requests: u64,
    /// 502, 503 and 504 answered by the balancer itself.
    pub elb_5xx: u64,
    pub active_connections: u64,
    /// Of the active connections, those idle long enough to be parked (socket only).
    #[serde(default)]
    pub parked_connections: u64,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TargetGroupTraffic {
    pub target_group: String,
    pub requests: u64,
    pub target_5xx: u64,
    pub elb_5xx: u64,
    /// `TargetResponseTime` percentiles in milliseconds (bucket upper bounds, ±19 %).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}
