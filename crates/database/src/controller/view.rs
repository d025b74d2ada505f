//! What `updraft status` and `updraft db …` show about a cluster, and its event log.

use model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::failover::EventKind;

/// One step of the cluster's life, with its timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbEvent {
    pub at: Timestamp,
    pub kind: EventKind,
    pub node: Option<String>,
    pub message: String,
    /// Milliseconds since the primary was lost, for the steps of a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_failure_ms: Option<u64>,
}

/// A cluster as `updraft status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub identifier: String,
    pub engine: String,
    pub multi_az: bool,
    /// `host:port` of the writer endpoint.
    pub writer_endpoint: String,
    pub reader_endpoint: String,
    pub primary: Option<String>,
    /// `None` when writes are accepted; else why not.
    pub writes_refused: Option<String>,
    pub synchronous_standby: Option<String>,
    /// Reader endpoint lag bound, bytes.
    pub max_replica_lag: u64,
    pub nodes: Vec<NodeView>,
    pub readers: Vec<String>,
    pub promotions: u32,
    /// The cluster could not run at all (e.g. PostgreSQL is not installed).
    pub error: Option<String>,
    pub last_failover: Option<FailoverView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub name: String,
    pub role: String,
    pub availability_zone: String,
    pub address: String,
    pub status: String,
    pub reason: Option<String>,
    pub pid: Option<u32>,
    /// Its server was left running by a crashed updraft and adopted by this one.
    #[serde(default)]
    pub adopted: bool,
    /// WAL position (current on a primary, received/replayed on a standby).
    pub lsn: Option<String>,
    /// Bytes of WAL the primary has that it has not replayed.
    pub lag_bytes: Option<u64>,
    /// Replay lag as the primary measures it (`pg_stat_replication.replay_lag`), in ms; 0
    /// when it streams caught up.
    #[serde(default)]
    pub replica_lag_ms: Option<u64>,
    /// Client connections to this node.
    #[serde(default)]
    pub connections: Option<u32>,
    pub streaming: bool,
    pub fault: Option<String>,
    /// Health queries failing right now: why.
    pub probe_error: Option<String>,
    pub log: String,
}

/// The last failover, for status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverView {
    pub lost: String,
    pub promoted: Option<String>,
    pub reason: String,
    pub started: Timestamp,
    pub manual: bool,
    /// From the loss of the primary to the new primary taking writes, when it did.
    pub writes_restored_ms: Option<u64>,
}

/// What `kill-db-primary` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Killed {
    pub node: String,
    pub pid: u32,
    pub at: Timestamp,
}
