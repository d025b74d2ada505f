//! The data plane of updraft's Application Load Balancer: listeners, target groups, health
//! checks and balancing, served from a routing snapshot swapped atomically.
//!
//! The control plane builds a [`Snapshot`] (plain data) and calls [`DataPlane::apply`]; it reads
//! target health back with [`DataPlane::target_health`]. Requests flow
//! `listener` → `l7::forward` (route → pick target → forward → respond) → target.
//!
//! Invariants:
//! - **the data plane never awaits the control plane**: each request loads the current routing
//!   table from an `ArcSwap` and never takes a lock `apply` holds; health reads are atomics and a
//!   short std mutex;
//! - per-target runtime state (health, requests in flight) lives in `target::TargetRuntime`,
//!   outside the snapshot, so swapping snapshots neither resets health nor loses counts;
//! - health verdicts come from the pure state machine in [`health::state`]; the checker task is
//!   a thin shell around it.
//!
//! What this crate is not (yet): TLS and L4 (NLB). It reads no clock except tokio's, and decides
//! nothing about instances: draining and registration come in the snapshot.

mod access_log;
mod balance;
mod clock;
mod counters;
mod drain;
mod error;
mod fault;
pub mod framing;
#[doc(hidden)]
pub mod fuzzing {
    //! The HTTP/1.1 fast path's parsers, for the `cargo fuzz` targets under `fuzz/` only.
    pub use crate::l7::h1::fuzzing::*;
}
pub mod header_view;
pub mod health;
pub mod l4;
mod l7;
mod listener;
mod metrics;
mod passive;
mod plane;
mod routing;
pub mod rules;
mod snapshot;
mod sticky;
mod target;
mod upstream;

use std::net::SocketAddr;

pub use counters::TargetGroupCounters;
pub use error::ApplyError;
pub use fault::{FaultConfig, FaultKind};
pub use header_view::HeaderView;
pub use metrics::quantile;
pub use plane::{DataPlane, DataPlaneOptions, ListenerTraffic, TargetGroupTraffic, Traffic};
pub use snapshot::{ListenerConfig, Snapshot, TargetConfig, TargetGroupConfig};
pub use sticky::StickinessKey;

/// One registered target as `DescribeTargetHealth` would show it, plus live load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealthReport {
    /// Target group key.
    pub target_group: String,
    pub target_id: String,
    pub addr: SocketAddr,
    pub availability_zone: Option<model::AvailabilityZone>,
    pub health: model::TargetHealth,
    /// Requests sent to this target whose response has not finished streaming.
    pub in_flight: u64,
}
