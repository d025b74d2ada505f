//! End-to-end tests: the real `updraft` binary, real instances (`mylearning` processes), real
//! HTTP through the real load balancer — on loopback only, with free ports, every wait bounded.

mod bad_input;
mod skeleton;
mod support;
