//! The updraft daemon: the control plane of a running stack.
//!
//! It wires the other crates together. [`Daemon::start`] takes a parsed config, opens the
//! state store ([`store`], SQLite), adopts instances left by a crashed run, binds the data
//! plane's listeners ([`proxy::DataPlane`]), and starts the auto scaling controller
//! ([`controller`]) and the local API ([`api`]) that the CLI talks to ([`client`]).
//!
//! Invariants:
//! - [`clock`] is the only module that reads the real clock; everything else is handed `now`;
//! - the controller is the only writer of control-plane state and the store; the data plane
//!   receives immutable snapshots from it and never waits for it;
//! - every decision is `scaling`'s (pure); this crate gathers inputs and carries out actions.

pub mod addresses;
pub mod api;
pub mod chaos;
pub mod client;
pub mod clock;
pub mod controller;
pub mod daemon;
pub mod databases;
pub mod fleet;
pub mod metrics_api;
pub mod routing;
pub mod store;
pub mod views;

#[cfg(test)]
mod test_util;

pub use client::{ApiClient, ClientError};
pub use daemon::{Daemon, DaemonInfo, DaemonOptions, StartError};
