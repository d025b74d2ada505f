//! The L7 (HTTP) request path of the Application Load Balancer.
//!
//! A request goes through named phases, in order (see [`forward`]):
//! `route` (listener → action → target group) → `pick_target` (balancing) → `forward` (rewrite
//! the head, send upstream, safe retry) → `respond` (rewrite the head, stream the body back).
//! Later phases (rules, stickiness, WAF, metrics) slot in between without changing the shape.

mod actions;
mod body;
pub(crate) mod forward;
pub(crate) mod headers;

pub(crate) use body::ProxyBody;
