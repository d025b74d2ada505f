//! Managed PostgreSQL for updraft: a primary, a synchronous standby in another AZ
//! (`multi_az`), asynchronous read replicas, a writer and a reader endpoint, and automated
//! failover that never loses an acknowledged commit.
//!
//! Layout (pure core, thin shell):
//! - [`cluster`]: what a cluster should be ([`ClusterSpec`]) and is ([`ClusterState`]);
//! - [`failover`]: every decision, as pure functions of (spec, state, observed, now);
//! - [`lsn`], [`faults`]: parsing WAL positions and classifying server log lines (pure);
//! - [`postgres`]: the I/O — finding the installation, `initdb`, base backups, server
//!   processes, `pg_rewind`, health queries, promotion;
//! - [`controller`]: one task per cluster running observe → decide → act, persisting its
//!   state and events, steering the endpoints through [`controller::Endpoints`].
//!
//! Pure modules use neither tokio nor the clock; the shell reads time only through the
//! [`Clock`] it is handed.

pub mod cluster;
pub mod controller;
pub mod failover;
pub mod faults;
pub mod lsn;
pub mod metrics;
pub mod postgres;

pub use cluster::{ClusterSpec, ClusterState, NodeRecord, NodeStatus, ReplicaSpec, Role, Timing};
pub use lsn::Lsn;

/// The shell's source of time (updraft's `server::clock`).
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> model::Timestamp;
}
