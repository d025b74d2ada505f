//! What `updraft status` shows: plain serializable views of the running stack, shared by the
//! API (which sends them) and the CLI (which renders them).

use model::{InstanceId, LifecycleState, TargetHealthState, Timestamp};
use scaling::InstanceRefresh;
use serde::{Deserialize, Serialize};

use crate::store::Activity;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackStatus {
    /// The config file or directory the stack was brought up from.
    pub config: String,
    pub region: String,
    pub state_dir: String,
    pub daemon_pid: u32,
    /// Whether instance types are enforced with cgroups, and if not, why.
    pub limits: String,
    pub now: Timestamp,
    pub load_balancers: Vec<LoadBalancerStatus>,
    pub target_groups: Vec<TargetGroupStatus>,
    pub auto_scaling_groups: Vec<GroupStatus>,
    /// Resources accepted but not simulated (`aws_vpc.main`, …).
    pub recorded: Vec<String>,
    /// Load balancer traffic since the daemon started (ALB metric names, totals).
    #[serde(default)]
    pub traffic: proxy::Traffic,
    /// Zones taken down by a running drill (`stop-az`, `partition-az`).
    #[serde(default)]
    pub impaired_zones: Vec<String>,
    /// Failure drills still running.
    #[serde(default)]
    pub drills: Vec<DrillSummary>,
    /// Stateful nodes placed in zones — database and cache nodes — for `updraft status` and
    /// `updraft diagram`. The database and cache controllers fill this when they run.
    #[serde(default)]
    pub nodes: Vec<NodeStatus>,
    /// Managed databases (`aws_db_instance` clusters): endpoints, nodes, failovers.
    #[serde(default)]
    pub databases: Vec<database::controller::ClusterStatus>,
}

/// A running drill, in one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillSummary {
    pub id: String,
    pub drill: String,
    pub description: String,
}

/// A database or cache node in an availability zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// `database` or `cache`.
    pub kind: String,
    /// The cluster it belongs to (`aws_rds_cluster` / `aws_elasticache_replication_group` name).
    pub cluster: String,
    /// Node id (`mylearning-db-1`).
    pub id: String,
    /// `writer`/`primary`, `standby`, `reader`/`replica`.
    pub role: String,
    pub availability_zone: String,
    /// `available`, `failing-over`, `stopped`, …
    pub state: String,
    /// `host:port`.
    #[serde(default)]
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerStatus {
    pub key: String,
    pub name: String,
    pub load_balancer_type: String,
    pub availability_zones: Vec<String>,
    pub listeners: Vec<ListenerStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerStatus {
    pub key: String,
    pub protocol: String,
    /// Where it really listens, e.g. `127.0.0.1:8080`.
    pub address: String,
    pub forwards_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupStatus {
    pub key: String,
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub targets: Vec<TargetStatus>,
    /// The balancer's request counters for this target group.
    #[serde(default)]
    pub counters: proxy::TargetGroupCounters,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetStatus {
    pub id: String,
    pub address: String,
    pub availability_zone: Option<String>,
    pub state: TargetHealthState,
    pub reason: Option<String>,
    pub description: Option<String>,
    pub in_flight: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStatus {
    pub key: String,
    pub name: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_capacity: u32,
    pub availability_zones: Vec<String>,
    pub instances: Vec<InstanceStatus>,
    /// Why the group is held back from desired capacity, if it is.
    pub waiting: Option<String>,
    pub last_failure: Option<LaunchFailure>,
    /// Newest first.
    pub recent_activities: Vec<Activity>,
    /// The warm pool, when the group has one.
    #[serde(default)]
    pub warm_pool: Option<WarmPoolStatus>,
    /// The latest instance refresh.
    #[serde(default)]
    pub instance_refresh: Option<InstanceRefresh>,
    /// Names of its lifecycle hooks with their transition.
    #[serde(default)]
    pub lifecycle_hooks: Vec<String>,
    #[serde(default)]
    pub suspended_processes: Vec<String>,
    /// Instances still warming up (excluded from the group's metrics, counted as capacity).
    #[serde(default)]
    pub warming: Vec<InstanceId>,
}

/// A group's warm pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarmPoolStatus {
    pub pool_state: String,
    pub min_size: u32,
    pub max_group_prepared_capacity: Option<u32>,
    pub reuse_on_scale_in: bool,
    /// How many instances the pool should hold now.
    pub size: u32,
}

impl GroupStatus {
    pub fn count(&self, state: LifecycleState) -> usize {
        self.instances
            .iter()
            .filter(|i| i.lifecycle == state)
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub id: InstanceId,
    pub availability_zone: String,
    pub address: String,
    pub lifecycle: LifecycleState,
    pub instance_type: String,
    /// The worst target health over the group's target groups.
    pub target_health: Option<TargetHealthState>,
    pub launched_at: Timestamp,
    pub pid: Option<u32>,
    pub log: Option<String>,
    #[serde(default)]
    pub protected_from_scale_in: bool,
    #[serde(default)]
    pub launch_template_version: u32,
    /// What it waits for in a `…:Wait` state: "boot until 2026-…".
    #[serde(default)]
    pub waiting_for: Option<String>,
}

/// The last launch that failed, with the end of its console log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchFailure {
    pub instance: InstanceId,
    pub at: Timestamp,
    pub reason: String,
    pub log_tail: Vec<String>,
}
