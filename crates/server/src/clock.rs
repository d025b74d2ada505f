//! The one module that reads the real clock.
//!
//! Everything else is handed `now` (pure code) or a [`Clock`] (shells). [`SystemClock`] anchors
//! wall time once and then advances it with tokio's monotonic clock, so under
//! `tokio::time::pause` wall time advances with tokio's virtual time and one knob drives both.

use std::sync::Arc;

use model::Timestamp;

/// A source of "now".
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// Shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// Wall time anchored at construction, advanced by tokio's clock.
#[derive(Debug, Clone)]
pub struct SystemClock {
    anchor_wall: Timestamp,
    anchor: tokio::time::Instant,
}

impl SystemClock {
    #[allow(clippy::disallowed_methods)] // the single sanctioned read of the wall clock
    pub fn new() -> Self {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        SystemClock {
            anchor_wall: Timestamp::from_millis(wall),
            anchor: tokio::time::Instant::now(),
        }
    }

    pub fn shared() -> SharedClock {
        Arc::new(SystemClock::new())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        self.anchor_wall + self.anchor.elapsed()
    }
}

/// Measures how long work took, for benchmark commands (never for decisions).
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // benchmarks time real work; nothing decides on it
    pub fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn wall_time_follows_tokio_time() {
        let clock = SystemClock::new();
        let t0 = clock.now();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(clock.now().since(t0), Duration::from_secs(3600));
    }
}
