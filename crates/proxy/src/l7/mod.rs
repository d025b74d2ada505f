//! The L7 (HTTP) request path of the Application Load Balancer.
//!
//! A request goes through named phases, in order (see [`forward`]):
//! `route` (listener → action → target group) → `pick_target` (balancing) → `forward` (rewrite
//! the head, send upstream, safe retry) → `respond` (rewrite the head, stream the body back).
//! Later phases (rules, stickiness, WAF, metrics) slot in between without changing the shape.

mod actions;
mod body;
mod desync;
pub(crate) mod forward;
pub(crate) mod h1;
pub(crate) mod head;
pub(crate) mod headers;
mod trace;

pub(crate) use body::ProxyBody;
