//! What a database cluster should be ([`ClusterSpec`], from the configuration) and what it is
//! ([`ClusterState`], persisted): its nodes, which one may take writes, and which standby is
//! known to hold every acknowledged commit.
//!
//! The state is the single source of truth for "who may write": a node runs as a primary only
//! while it is [`ClusterState::primary`], and it is written to disk before any node is promoted,
//! so a crash of updraft can never leave two writable nodes behind.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

use model::{AvailabilityZone, DbInstanceKind, Stack, Timestamp};
use serde::{Deserialize, Serialize};

/// The desired shape of one cluster: a primary `aws_db_instance` and its read replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// The primary's DB instance identifier: the cluster's name.
    pub identifier: String,
    /// The primary's resource name.
    pub key: String,
    pub multi_az: bool,
    /// Where the first primary goes.
    pub primary_zone: AvailabilityZone,
    /// Zones the Multi-AZ pair may use (the subnet group's), in order.
    pub zones: Vec<AvailabilityZone>,
    pub replicas: Vec<ReplicaSpec>,
    pub port: u16,
    pub db_name: Option<String>,
    pub username: String,
    pub password: String,
    /// Reader endpoint lag bound, in bytes of WAL not yet replayed.
    pub max_replica_lag: u64,
    /// The loopback block of each zone the cluster may use (its subnets').
    pub zone_blocks: BTreeMap<AvailabilityZone, Ipv4Net>,
    pub timing: Timing,
}

/// One `aws_db_instance` with `replicate_source_db`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSpec {
    pub key: String,
    pub identifier: String,
    pub zone: AvailabilityZone,
}

/// How fast the controller reacts. Detection is what dominates failover time (see the
/// reference: promotion itself takes ~0.15 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// How often each node is probed.
    pub probe_interval: Duration,
    /// A live primary process whose health queries have failed for this long (and at least
    /// [`Timing::probe_failures`] times in a row) is declared lost and fenced.
    pub detect_timeout: Duration,
    /// The same, when no standby is receiving WAL from it any more (lost replication
    /// connections corroborate the failed probes).
    pub detect_timeout_unreplicated: Duration,
    pub probe_failures: u32,
    /// A probe older than this does not count as "healthy now".
    pub probe_fresh: Duration,
    /// The synchronous standby may be detached this long before writes stop waiting for it.
    pub sync_detach_grace: Duration,
    /// A standby whose AZ is down is replaced in a healthy AZ after this long.
    pub replace_after: Duration,
    /// Wait this long before restarting a node that exited again right after a restart.
    pub restart_backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            probe_interval: Duration::from_millis(100),
            detect_timeout: Duration::from_millis(1000),
            detect_timeout_unreplicated: Duration::from_millis(500),
            probe_failures: 3,
            probe_fresh: Duration::from_millis(1500),
            sync_detach_grace: Duration::from_millis(300),
            replace_after: Duration::from_secs(3),
            restart_backoff: Duration::from_secs(2),
        }
    }
}

impl ClusterSpec {
    /// The cluster led by the primary `aws_db_instance` with resource name `key`; `None` when
    /// it is not a primary of `stack`.
    pub fn from_stack(stack: &Stack, key: &str) -> Option<ClusterSpec> {
        let db = stack.db_instances.get(key)?;
        let DbInstanceKind::Primary {
            multi_az,
            db_name,
            username,
            password,
        } = &db.kind
        else {
            return None;
        };
        let mut zones = stack.db_zones(db);
        let primary_zone = db
            .availability_zone
            .clone()
            .or_else(|| zones.first().cloned())?;
        if !zones.contains(&primary_zone) {
            zones.insert(0, primary_zone.clone());
        }
        let replicas: Vec<ReplicaSpec> = stack
            .db_replicas_of(key)
            .map(|r| ReplicaSpec {
                key: r.key.clone(),
                identifier: r.identifier.clone(),
                zone: r
                    .availability_zone
                    .clone()
                    .unwrap_or_else(|| primary_zone.clone()),
            })
            .collect();
        let mut zone_blocks = BTreeMap::new();
        for z in zones
            .iter()
            .chain(replicas.iter().map(|r: &ReplicaSpec| &r.zone))
        {
            let block = stack
                .subnets
                .values()
                .find(|s| &s.availability_zone == z)
                .map(|s| s.loopback_block)
                .or_else(|| z.default_loopback_block());
            if let Some(b) = block {
                zone_blocks.insert(z.clone(), b);
            }
        }
        Some(ClusterSpec {
            identifier: db.identifier.clone(),
            key: key.to_owned(),
            multi_az: *multi_az,
            primary_zone,
            zones,
            replicas,
            port: db.port,
            db_name: db_name.clone(),
            username: username.clone(),
            password: password.clone(),
            max_replica_lag: db.max_replica_lag,
            zone_blocks,
            timing: Timing::default(),
        })
    }
}

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes writes (only while it is `ClusterState::primary`).
    Primary,
    /// The other half of the Multi-AZ pair: the synchronous standby, promoted on failover.
    Standby,
    /// An asynchronous read replica (`replicate_source_db`).
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
            Role::Replica => "replica",
        }
    }
}

/// Where a node is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NodeStatus {
    /// `initdb` (the first primary) or a base backup is running.
    Creating { since: Timestamp },
    /// Its server should be running.
    Running { since: Timestamp },
    /// Its server is not running; it is restarted (as a standby unless it is the primary)
    /// when its AZ is up. `clone` asks for a fresh base backup instead of a restart.
    Down {
        since: Timestamp,
        reason: String,
        #[serde(default)]
        clone: bool,
    },
    /// A former primary: it must never take writes again. It rejoins as a standby through
    /// `pg_rewind` (or a fresh base backup).
    Fenced { since: Timestamp, reason: String },
    /// `pg_rewind` or a base backup is running to make it a standby of the primary.
    Rejoining { since: Timestamp },
    /// Needs an operator: updraft will not touch it (e.g. a data directory that is not ours).
    Failed { since: Timestamp, reason: String },
}

impl NodeStatus {
    pub fn name(&self) -> &'static str {
        match self {
            NodeStatus::Creating { .. } => "creating",
            NodeStatus::Running { .. } => "running",
            NodeStatus::Down { .. } => "down",
            NodeStatus::Fenced { .. } => "fenced",
            NodeStatus::Rejoining { .. } => "rejoining",
            NodeStatus::Failed { .. } => "failed",
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self, NodeStatus::Running { .. })
    }

    /// A long action (initdb, base backup, rewind) is in progress.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            NodeStatus::Creating { .. } | NodeStatus::Rejoining { .. }
        )
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            NodeStatus::Down { reason, .. }
            | NodeStatus::Fenced { reason, .. }
            | NodeStatus::Failed { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// One PostgreSQL server of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// `main-1`: also its `application_name` and replication slot (with `-` as `_`).
    pub name: String,
    pub zone: AvailabilityZone,
    /// Its own loopback address in its AZ's block; it listens on the cluster's port.
    pub host: Ipv4Addr,
    pub role: Role,
    /// For read replicas: the `aws_db_instance` resource it serves.
    #[serde(default)]
    pub replica_of: Option<String>,
    pub status: NodeStatus,
    /// Restarts since it last ran for a while (backoff).
    #[serde(default)]
    pub restarts: u32,
}

impl NodeRecord {
    /// The replication slot that keeps WAL for this node on its upstream.
    pub fn slot(&self) -> String {
        slot_name(&self.name)
    }
}

/// Replication slot names allow lowercase letters, digits and underscores only.
pub fn slot_name(node: &str) -> String {
    node.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A standby being made synchronous: first it is named in `synchronous_standby_names`; once
/// the primary reports it as `sync`, `since` records the primary's WAL position; once the
/// standby has flushed that far it holds every acknowledged commit and joins
/// [`ClusterState::sync`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPending {
    pub node: String,
    pub requested_at: Timestamp,
    pub since: Option<crate::Lsn>,
}

/// A failover (or switchover) in progress or just finished, for timing its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverRecord {
    /// When the primary was lost (its process exit, when known).
    pub started: Timestamp,
    pub lost: String,
    pub reason: String,
    /// The node promoted, once one is.
    pub promoted: Option<String>,
    pub manual: bool,
}

/// The persisted state of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub identifier: String,
    pub nodes: Vec<NodeRecord>,
    /// The node that may take writes. Set before it is promoted; `None` while there is none
    /// (the writer endpoint refuses connections).
    pub primary: Option<String>,
    /// Standbys known to hold every acknowledged commit (`synchronous_standby_names` names
    /// them with quorum [`ClusterState::sync_quorum`]). Only they may be promoted.
    pub sync: Vec<String>,
    /// `ANY k`: every acknowledged commit is on at least this many members of `sync`.
    pub sync_quorum: u32,
    pub sync_pending: Option<SyncPending>,
    /// Why writes are refused right now, if they are.
    pub writes_blocked: Option<String>,
    pub failover: Option<FailoverRecord>,
    /// Promotions so far (each starts a new timeline).
    pub promotions: u32,
    /// Numbers node names (`main-1`, `main-2`, …).
    pub next_node: u32,
}

impl ClusterState {
    pub fn new(identifier: &str) -> ClusterState {
        ClusterState {
            identifier: identifier.to_owned(),
            nodes: Vec::new(),
            primary: None,
            sync: Vec::new(),
            sync_quorum: 1,
            sync_pending: None,
            writes_blocked: Some("the cluster is being created".into()),
            failover: None,
            promotions: 0,
            next_node: 1,
        }
    }

    pub fn node(&self, name: &str) -> Option<&NodeRecord> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn node_mut(&mut self, name: &str) -> Option<&mut NodeRecord> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    pub fn primary_node(&self) -> Option<&NodeRecord> {
        self.primary.as_deref().and_then(|p| self.node(p))
    }
}
