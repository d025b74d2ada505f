//! The failover controller's decisions, as one pure function:
//! [`decide`]`(spec, state, observed, now) → Decision { state, actions, events }`.
//!
//! Rules, in the order they apply each tick:
//! 1. **AZ outage**: nodes in a zone marked down are killed (as a power loss would).
//! 2. **Primary loss**: its process exited (detected at once), or its health queries failed for
//!    [`Timing::detect_timeout`](crate::Timing) (sooner when no standby still receives its
//!    WAL), or its AZ is down. The writer endpoint stops routing to it, it is **fenced**
//!    (SIGKILLed and marked so that it only ever comes back as a standby).
//! 3. **Promotion**: only a member of [`ClusterState::sync`] may be promoted, and only when
//!    `N − k + 1` of the `N` members answered (`ANY k` of `N`: every acknowledged commit is on
//!    at least `k` of them, so any `N − k + 1` include one that has it; the most advanced of
//!    them wins). The other nodes follow the new primary. With no safe candidate the writer
//!    stays closed and the reason is said; the old primary is restarted in place when it can
//!    be (it alone holds every acknowledged commit).
//! 4. **Split brain guard**: a node that is not the primary but answers as writable is fenced.
//! 5. **Repair**: a fenced former primary rejoins as a standby (`pg_rewind`, or a fresh base
//!    backup); a crashed standby or replica is restarted (with backoff), or re-cloned when its
//!    log says it cannot catch up.
//! 6. **Topology**: the first primary, the Multi-AZ standby and the read replicas are created;
//!    a standby whose AZ is down is replaced in a healthy AZ.
//! 7. **Synchronous replication** (Multi-AZ): a standby becomes a member of `sync` only after
//!    the primary reports it `sync` *and* it has flushed past the primary's WAL position at
//!    that moment; a member that detaches is dropped from `sync` *before* the primary stops
//!    waiting for it. So `sync` never names a node that may miss an acknowledged commit.
//!
//! [`routes`] derives the endpoints' targets from the same inputs.

mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use model::{AvailabilityZone, Timestamp};
use serde::{Deserialize, Serialize};

use crate::cluster::{ClusterSpec, ClusterState, NodeStatus};
use crate::faults::FaultKind;
use crate::lsn::Lsn;

/// What the shell saw of one node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeObservation {
    pub process: ProcessState,
    /// The last health query that succeeded.
    pub last_probe: Option<Probe>,
    /// Health queries failed in a row since the last success, and when the streak began.
    pub failures: u32,
    pub failing_since: Option<Timestamp>,
    pub last_error: Option<String>,
    /// The latest fault its log reports.
    pub fault: Option<(FaultKind, String)>,
}

/// The node's server process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProcessState {
    Running,
    /// It exited (or was killed) at `at`.
    Exited {
        at: Timestamp,
        detail: String,
    },
    /// Not started (or not found).
    #[default]
    NotRunning,
}

/// One successful health query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Probe {
    pub at: Timestamp,
    pub in_recovery: bool,
    /// `pg_current_wal_lsn()` on a primary.
    pub current_lsn: Option<Lsn>,
    pub receive_lsn: Option<Lsn>,
    pub replay_lsn: Option<Lsn>,
    /// On a standby: its WAL receiver is streaming, and from which host.
    pub streaming: bool,
    pub upstream: Option<String>,
    /// On a primary: `pg_stat_replication`.
    pub replication: Vec<ReplicaLink>,
    /// Client connections (`pg_stat_activity`'s client backends, updraft's own included).
    pub connections: Option<u32>,
}

impl Probe {
    /// How far its WAL goes: `greatest(receive, replay)` (replay can run ahead of receive when
    /// WAL came from elsewhere), or the current position on a primary.
    pub fn wal_position(&self) -> Option<Lsn> {
        [self.current_lsn, self.receive_lsn, self.replay_lsn]
            .into_iter()
            .flatten()
            .max()
    }
}

/// One row of the primary's `pg_stat_replication`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaLink {
    pub application_name: String,
    pub state: String,
    /// `async`, `potential`, `sync` or `quorum`.
    pub sync_state: String,
    pub flush_lsn: Option<Lsn>,
    pub replay_lsn: Option<Lsn>,
    /// `replay_lag` in milliseconds (`None` once the standby has been caught up for a while:
    /// PostgreSQL then clears it).
    pub replay_lag_ms: Option<u64>,
}

/// A long action that finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub node: String,
    pub result: Result<(), CompletionError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionError {
    pub message: String,
    /// Retrying cannot help (e.g. a data directory that is not ours).
    pub permanent: bool,
}

/// Something an operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `updraft db failover NAME`: hand the primary role to a standby without losing a commit.
    Switchover,
}

/// Everything [`decide`] looks at besides the spec and the state.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub nodes: BTreeMap<String, NodeObservation>,
    pub zones_down: BTreeSet<AvailabilityZone>,
    /// A free address per zone, for a node created now.
    pub free_hosts: BTreeMap<AvailabilityZone, Ipv4Addr>,
    pub completed: Vec<Completion>,
    pub request: Option<Request>,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `initdb` (no upstream) or a base backup from `upstream`; then start the server.
    Create {
        node: String,
        upstream: Option<String>,
    },
    /// Start the server in place: as a standby of `upstream`, or as the primary (`None`).
    Start {
        node: String,
        upstream: Option<String>,
    },
    /// SIGKILL its whole process group, cut the writer endpoint's connections to it, and make
    /// sure it can only start as a standby.
    Fence { node: String },
    /// Kill it as an AZ outage would.
    Kill { node: String },
    /// A clean (fast) shutdown: every WAL record reaches the standbys first.
    StopClean { node: String },
    /// `pg_promote()`; its replication slots for the others are created right after.
    Promote { node: String },
    /// Stream from `upstream` (`primary_conninfo` reloaded; the slot exists there first).
    Follow { node: String, upstream: String },
    /// Set the primary's `synchronous_standby_names` (`None`: no synchronous standby).
    SetSync {
        primary: String,
        standby: Option<String>,
    },
    /// `CHECKPOINT` on `upstream`, `pg_rewind` (or a fresh base backup when `clone` or when
    /// the rewind fails), restore the node's own settings, start it as a standby.
    Rejoin {
        node: String,
        upstream: String,
        clone: bool,
    },
    /// Delete its data: it was replaced.
    Remove { node: String },
}

/// A step worth telling the user, before the shell stamps it with time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDraft {
    pub kind: EventKind,
    pub node: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A node's lifecycle: created, started, stopped, restarted.
    Node,
    /// The primary was lost or a fault found.
    Failure,
    Fence,
    Promotion,
    /// Writes are refused, or accepted again.
    Writes,
    Rejoin,
    /// Synchronous replication changed.
    Sync,
    Switchover,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Node => "node",
            EventKind::Failure => "failure",
            EventKind::Fence => "fence",
            EventKind::Promotion => "promotion",
            EventKind::Writes => "writes",
            EventKind::Rejoin => "rejoin",
            EventKind::Sync => "sync",
            EventKind::Switchover => "switchover",
        }
    }
}

/// The outcome of one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub state: ClusterState,
    /// In order; the shell stops at a failed `Promote` (the next tick re-decides).
    pub actions: Vec<Action>,
    pub events: Vec<EventDraft>,
}

/// One tick of the failover controller. Pure: same inputs, same decision.
pub fn decide(
    spec: &ClusterSpec,
    state: &ClusterState,
    observed: &Observed,
    now: Timestamp,
) -> Decision {
    let mut t = rules::Tick {
        spec,
        obs: observed,
        now,
        next: state.clone(),
        actions: Vec::new(),
        events: Vec::new(),
    };
    t.apply_completions();
    t.zone_outages();
    t.notice_exits();
    t.primary_loss();
    t.switchover();
    t.promote_or_wait();
    t.split_brain_guard();
    t.repair();
    t.topology();
    t.synchronous_replication();
    t.settle();
    Decision {
        state: t.next,
        actions: t.actions,
        events: t.events,
    }
}

/// The targets of the cluster's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routes {
    /// The primary, or none (connections are refused with `refusal`).
    pub writer: Option<String>,
    /// Healthy replicas within the lag bound; the primary when there is none (as Aurora's
    /// reader endpoint does).
    pub readers: Vec<String>,
    /// What a refused client is told.
    pub refusal: String,
}

/// Where the writer and reader endpoints lead now.
pub fn routes(
    spec: &ClusterSpec,
    state: &ClusterState,
    observed: &Observed,
    now: Timestamp,
) -> Routes {
    let writer = state
        .primary_node()
        .filter(|p| p.status.is_running())
        .map(|p| p.name.clone());
    let primary_lsn = writer
        .as_deref()
        .and_then(|p| observed.nodes.get(p))
        .and_then(|o| o.last_probe.as_ref())
        .filter(|p| !p.in_recovery)
        .and_then(|p| p.current_lsn);
    let fresh = spec.timing.probe_fresh;
    let mut readers: Vec<String> = state
        .nodes
        .iter()
        .filter(|n| Some(&n.name) != writer.as_ref() && n.status.is_running())
        .filter(|n| {
            let Some(obs) = observed.nodes.get(&n.name) else {
                return false;
            };
            let Some(p) = obs.last_probe.as_ref() else {
                return false;
            };
            // A probe from before its last start says nothing about the server now running.
            let started = match n.status {
                NodeStatus::Running { since } => since,
                _ => now,
            };
            let healthy = obs.process == ProcessState::Running
                && obs.failures == 0
                && now.since(p.at) <= fresh
                && p.at > started
                && p.in_recovery;
            let lag_ok = match (primary_lsn, p.replay_lsn) {
                (Some(head), Some(replay)) => head.bytes_after(replay) <= spec.max_replica_lag,
                (Some(_), None) => false,
                // No primary to compare with (a failover): keep serving reads.
                (None, _) => true,
            };
            healthy && lag_ok && (p.streaming || primary_lsn.is_none())
        })
        .map(|n| n.name.clone())
        .collect();
    if readers.is_empty()
        && let Some(w) = &writer
    {
        readers.push(w.clone());
    }
    let refusal = match (&writer, &state.writes_blocked) {
        (Some(_), _) => String::new(),
        (None, Some(why)) => why.clone(),
        (None, None) => "no primary".into(),
    };
    Routes {
        writer,
        readers,
        refusal,
    }
}

/// Whether `status` shows the node may be restarted now (backoff after repeated crashes).
pub(crate) fn backoff_over(
    status: &NodeStatus,
    restarts: u32,
    spec: &ClusterSpec,
    now: Timestamp,
) -> bool {
    let since = match status {
        NodeStatus::Down { since, .. } | NodeStatus::Fenced { since, .. } => *since,
        _ => return true,
    };
    let factor = 1u32 << restarts.min(5);
    if restarts == 0 {
        return true;
    }
    now.since(since) >= spec.timing.restart_backoff * factor
}
