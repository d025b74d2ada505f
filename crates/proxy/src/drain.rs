//! The end of a target's deregistration. A draining target gets no new requests (it is not a
//! candidate in the routing table); its requests in flight — WebSocket tunnels and long-lived
//! streams included — may go on until the target group's `deregistration_delay` is over, or
//! until nothing is in flight any more, whichever comes first. Then every connection to the
//! target is closed (`upstream::Pool::cut`), as ALB does.
//!
//! A target starts draining when a snapshot marks it `draining` (the ASG controller does, for
//! Terminating instances), or when a snapshot no longer lists it without having drained it
//! first (a static target removed by `apply`): the data plane then drains it itself. A target
//! that was draining and leaves the snapshot is done: the control plane decided its
//! deregistration is over, and its connections close at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::target::TargetRuntime;

/// How often a draining target's requests in flight are counted.
const POLL: Duration = Duration::from_millis(100);

/// A running deregistration; dropping it stops it without cutting anything (the target is
/// back in service).
#[derive(Debug)]
pub(crate) struct DrainTask(JoinHandle<()>);

impl DrainTask {
    pub(crate) fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for DrainTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts draining `target`: its connections close once nothing is in flight or `delay` has
/// passed.
pub(crate) fn start(target: Arc<TargetRuntime>, delay: Duration) -> DrainTask {
    DrainTask(tokio::spawn(async move {
        let deadline = Instant::now() + delay;
        let why = loop {
            if target.in_flight() == 0 {
                break "nothing in flight";
            }
            let now = Instant::now();
            if now >= deadline {
                break "deregistration delay over";
            }
            tokio::time::sleep_until(deadline.min(now + POLL)).await;
        };
        tracing::info!(
            target_group = %target.target_group,
            target = %target.id,
            addr = %target.addr,
            in_flight = target.in_flight(),
            why,
            "deregistration complete: closing the target's connections"
        );
        target.pool.cut();
    }))
}

/// Ends `target`'s deregistration now.
pub(crate) fn finish(target: &TargetRuntime) {
    target.pool.cut();
}
