//! ALB semantics end to end: listener rules and actions, balancing algorithms, stickiness.

mod balancing;
mod changes;
mod http1;
mod metrics;
mod parking;
mod protocols;
mod rules;
