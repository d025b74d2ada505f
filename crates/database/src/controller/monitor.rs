//! Per-node health probes: a task per node keeps a connection as updraft's superuser and runs
//! one health query every probe interval, publishing the outcome for the controller to read
//! without waiting. A server that answers but rejects our credentials is alive: that is
//! reported as an error but not counted as a failure (it must not trigger a failover).

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::Timestamp;
use tokio::task::JoinHandle;

use crate::Clock;
use crate::failover::Probe;
use crate::postgres::{Credentials, sql};

/// What the probes of one node found.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub last_probe: Option<Probe>,
    pub failures: u32,
    pub failing_since: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Our credentials were rejected: alive, but not observable.
    pub auth_error: Option<String>,
}

pub struct Monitor {
    pub health: Arc<Mutex<Health>>,
    task: JoinHandle<()>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Monitor {
    pub fn spawn(
        host: Ipv4Addr,
        port: u16,
        creds: Credentials,
        interval: Duration,
        clock: Arc<dyn Clock>,
    ) -> Monitor {
        let health = Arc::new(Mutex::new(Health::default()));
        let shared = health.clone();
        let task = tokio::spawn(async move {
            let timeout = Duration::from_millis(400);
            let mut client = None;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if client.is_none() {
                    match sql::connect(host, port, &creds, timeout).await {
                        Ok(c) => client = Some(c),
                        Err(e) => {
                            record(&shared, clock.now(), Err(e));
                            continue;
                        }
                    }
                }
                let Some(c) = client.as_ref() else { continue };
                let result = sql::probe(c, clock.now(), timeout).await;
                if result.is_err() {
                    client = None;
                }
                record(&shared, clock.now(), result);
            }
        });
        Monitor { health, task }
    }

    pub fn read(&self) -> Health {
        self.health.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

fn record(shared: &Mutex<Health>, now: Timestamp, result: Result<Probe, sql::SqlError>) {
    let Ok(mut h) = shared.lock() else { return };
    match result {
        Ok(p) => {
            h.last_probe = Some(p);
            h.failures = 0;
            h.failing_since = None;
            h.last_error = None;
            h.auth_error = None;
        }
        Err(e) if e.starting => {
            // Alive (crash recovery, or a standby not yet consistent): not a failure.
            h.failures = 0;
            h.failing_since = None;
            h.last_error = Some(format!("{} (alive, not ready yet)", e.message));
        }
        Err(e) if e.auth => {
            h.failures = 0;
            h.failing_since = None;
            h.auth_error = Some(format!(
                "updraft's monitoring role was refused ({}); the server is alive but cannot be observed",
                e.message
            ));
            h.last_error = h.auth_error.clone();
        }
        Err(e) => {
            h.failures += 1;
            h.failing_since.get_or_insert(now);
            h.last_error = Some(e.message);
        }
    }
}
