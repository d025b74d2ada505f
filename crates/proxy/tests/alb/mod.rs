//! ALB semantics end to end: listener rules and actions, balancing algorithms, stickiness.

mod balancing;
mod changes;
mod metrics;
mod protocols;
mod rules;
