//! Architecture diagrams of a running stack, drawn from its live state (what `updraft status`
//! reports), not from its configuration: the region, one column per availability zone, the load
//! balancers and their listeners across the top, target groups with their live health and
//! request counts, each instance with its health in its zone, and database and cache nodes in
//! their zones when the stack has them.
//!
//! Four outputs from one [`Diagram`]: [`svg`] (a deterministic layout written directly: same
//! state, same bytes), [`png`] (the SVG rendered with resvg), [`dot`] (Graphviz) and [`mermaid`].
//!
//! Pure: no I/O besides reading system fonts for PNG text, no clock, no async runtime.

mod model;
mod png;
mod svg;
mod text;

pub use model::{Diagram, Instance, Listener, LoadBalancer, Node, TargetGroup};
pub use png::{PngError, png};
pub use svg::svg;
pub use text::{dot, mermaid};
