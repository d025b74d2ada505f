//! The data plane's notion of "now": milliseconds on tokio's monotonic clock since the first
//! call, so that atomics can hold instants and tests can pause time. Decisions take `now_ms` as
//! a parameter; only shells call [`now_ms`].

use std::sync::OnceLock;

use tokio::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

pub(crate) fn now_ms() -> u64 {
    ms_at(Instant::now())
}

/// `instant` on the same scale as [`now_ms`] (for an instant a caller has read already).
pub(crate) fn ms_at(instant: Instant) -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(instant.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}
