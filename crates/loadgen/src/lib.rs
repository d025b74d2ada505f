//! The load generator behind `updraft load`.
//!
//! - [`engine::run`] sends the load: an **open model** (requests due on a [`Schedule`], latency
//!   measured from each request's *intended* send time, so a stalled server cannot hide its
//!   stall — no coordinated omission, as wrk2) or a **closed model** (N connections sending
//!   back to back, as wrk); HTTP/1.1 or HTTP/2 (h2c); HDR histograms; progress once a second.
//! - [`stages`] and [`threshold`] parse the rate curve and the pass/fail criteria; both are pure
//!   and fuzzed (`fuzz/fuzz_targets/loadgen_parse.rs`).
//! - [`report`] turns [`engine::Results`] into the JSON summary and the self-contained HTML
//!   report, optionally overlaid with the target stack's capacity and scaling activities.
//!
//! The crate knows nothing about updraft's daemon: the caller (the CLI) samples capacity and
//! hands it to the report. It reads only tokio's monotonic clock; wall time comes from the
//! caller.

pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod h1;
mod lane;
pub mod report;
pub mod schedule;
pub mod stages;
pub mod stats;
pub mod target;
pub mod threshold;
pub mod units;

pub use engine::{Live, Load, Options, Results, run};
pub use schedule::Schedule;
pub use target::Target;

/// Why a run could not start. Each names what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad URL `{url}`: {why}")]
    BadUrl { url: String, why: String },
    #[error("{why}")]
    BadRequest { why: String },
    #[error(
        "cannot reach {url}: {why}\n  = help: is the server running and listening there? For an \
         updraft stack, start it with `updraft up` and load a listener's address (`updraft status` \
         lists them)"
    )]
    Unreachable { url: String, why: String },
    #[error("{0}")]
    Options(String),
    #[error("cannot start the load generator's threads: {0}")]
    Runtime(std::io::Error),
}
