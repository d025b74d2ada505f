//! Observe: refresh what the control plane knows of each instance from the compute provider
//! (is its process still running?) and the data plane (target health, requests in flight).

use std::collections::HashMap;

use compute::ProcessStatus;
use model::TargetHealthState;

use super::Controller;
use crate::fleet::worse;
use crate::store::StoreError;

/// Lines of console log kept with a failed instance.
const LOG_TAIL: usize = 8;

/// What the data plane says about one instance, over all its target groups.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
    pub health: Option<TargetHealthState>,
    pub in_flight: u64,
}

/// How long a boot probe waits for a connection (loopback answers at once or refuses).
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(200);

impl Controller {
    /// Marks warm pool instances whose port accepts a connection as booted: they are ready to
    /// be stopped. (Instances in the group prove themselves through target health instead.)
    pub(crate) async fn probe_boots(&mut self) -> Result<(), StoreError> {
        let mut probes = tokio::task::JoinSet::new();
        for r in self.instances.values() {
            if r.lifecycle == model::LifecycleState::WarmedPending
                && !r.booted
                && r.exit_detail.is_none()
            {
                let (id, addr) = (r.id.clone(), r.addr());
                probes.spawn(async move {
                    let ok =
                        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr))
                            .await
                            .is_ok_and(|c| c.is_ok());
                    (id, ok)
                });
            }
        }
        while let Some(done) = probes.join_next().await {
            if let Ok((id, true)) = done
                && let Some(r) = self.instances.get_mut(&id)
            {
                r.booted = true;
                let r = r.clone();
                self.persist(&r)?;
                tracing::debug!(instance = %id, "warm pool instance accepts connections");
            }
        }
        Ok(())
    }

    /// Refreshes process state and returns target health per instance id.
    pub(crate) fn observe(&mut self) -> Result<HashMap<String, Seen>, StoreError> {
        let mut seen: HashMap<String, Seen> = HashMap::new();
        let mut healthy_somewhere: HashMap<String, bool> = HashMap::new();
        for report in self.data_plane.target_health() {
            let entry = seen.entry(report.target_id.clone()).or_default();
            entry.health = Some(match entry.health {
                Some(h) => worse(h, report.health.state),
                None => report.health.state,
            });
            entry.in_flight += report.in_flight;
            *healthy_somewhere.entry(report.target_id).or_default() |=
                report.health.state == TargetHealthState::Healthy;
        }

        let mut changed = Vec::new();
        for record in self.instances.values_mut() {
            let mut dirty = false;
            if record.exit_detail.is_none() {
                let detail = match record.process.as_ref().map(|p| self.provider.status(p)) {
                    Some(ProcessStatus::Running) => None,
                    Some(ProcessStatus::Exited { code, signal }) => {
                        Some(describe_exit(code, signal))
                    }
                    Some(ProcessStatus::Gone) | None => Some("the process is gone".to_string()),
                };
                if let Some(detail) = detail {
                    record.log_tail = record
                        .process
                        .as_ref()
                        .map(|p| compute::tail_log(&p.log_path, LOG_TAIL))
                        .unwrap_or_default();
                    let last = record.log_tail.last().cloned();
                    record.exit_detail = Some(match last {
                        Some(line) => format!("{detail}; last log line: {line}"),
                        None => detail,
                    });
                    dirty = true;
                }
            }
            if !record.ever_healthy
                && healthy_somewhere
                    .get(record.id.as_str())
                    .copied()
                    .unwrap_or(false)
            {
                record.ever_healthy = true;
                dirty = true;
            }
            if dirty {
                changed.push(record.clone());
            }
        }
        for record in &changed {
            self.persist(record)?;
        }
        Ok(seen)
    }
}

/// "exited with code 1", "killed by signal 9 (SIGKILL)".
pub(crate) fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("user data exited with code {code}"),
        (None, Some(sig)) => {
            let name = nix::sys::signal::Signal::try_from(sig)
                .map(|s| s.as_str())
                .unwrap_or("?");
            format!("killed by signal {sig} ({name})")
        }
        (None, None) => "exited".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_for_people() {
        assert_eq!(describe_exit(Some(3), None), "user data exited with code 3");
        assert_eq!(describe_exit(None, Some(9)), "killed by signal 9 (SIGKILL)");
    }
}
