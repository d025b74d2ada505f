//! End-to-end tests: the real `updraft` binary, real instances (`mylearning` processes), real
//! HTTP through the real load balancer — on loopback only, with free ports, every wait bounded.

// These tests watch real processes in real time from outside, so they read the real clock and
// sleep between polls; the clock ban in clippy.toml protects the product code, not this.
#![allow(clippy::disallowed_methods)]

mod adoption;
mod apply;
mod bad_input;
mod chaos;
mod database;
mod db_adoption;
mod db_faults;
mod diagram;
mod lifecycle;
mod load;
mod ramp;
mod refresh;
mod scaling;
mod skeleton;
mod static_targets;
mod support;
mod warm_pool;
