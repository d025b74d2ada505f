//! Active health checks: [`state`] is the pure ALB state machine; `checker` is the thin tokio
//! shell that probes a target every interval and feeds the machine.

pub(crate) mod checker;
pub mod state;

pub use state::{CheckOutcome, HealthState, Thresholds, Transition};
