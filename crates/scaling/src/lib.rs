//! Pure Auto Scaling decisions.
//!
//! Every decision an auto scaling group makes — how many instances to launch and where, which
//! Pending instance goes InService or waits for a lifecycle hook, which instance is unhealthy
//! and must be replaced, which one to terminate on scale-in, when zones are rebalanced, which
//! instances an instance refresh or the maximum lifetime replaces, how big the warm pool is,
//! when a failing launch may be retried — is a function of
//! `(spec, state, observed, now)` that returns [`asg::Decision`]: actions, each with the
//! AWS-style cause that explains it, plus the group's next state.
//!
//! What this crate is not: it launches nothing, reads no clock and does no I/O (it has no async
//! runtime to do it with). `server` gathers the inputs and carries out the actions. Because time
//! is an input, a day of scaling behaviour is tested in milliseconds.

pub mod asg;
pub mod autoscaler;
pub mod backoff;
pub mod cause;
pub mod fleet;
pub mod lifecycle;
pub mod placement;
pub mod policy;
pub mod refresh;
pub mod replay;
pub mod schedule;
pub mod termination;
pub mod warmup;

pub use asg::{Action, Decision, GroupState, InstanceView, Observed, ProcessState, decide};
pub use lifecycle::LifecycleAction;
pub use refresh::{InstanceRefresh, RefreshStatus};
