//! `updraft load` pointed at an updraft stack: which auto scaling groups serve the URL, their
//! in-service capacity once a second, and the scaling activities of the run — read from the
//! daemon found through the state directory (`daemon.json`).

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loadgen::report::ActivityMark;
use model::{LifecycleState, Timestamp};
use server::ApiClient;
use server::views::StackStatus;

/// The groups behind the target listener, and the latest capacity seen.
pub struct StackWatch {
    client: ApiClient,
    pub groups: Vec<String>,
    /// (in service, desired), refreshed by [`StackWatch::spawn_sampler`].
    pub latest: Arc<Mutex<Option<(u32, u32)>>>,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(2);

impl StackWatch {
    /// The stack whose listener is at `host:port`, if the daemon of `state_dir` runs one.
    pub async fn discover(state_dir: &Path, host: &str, port: u16) -> Option<StackWatch> {
        let client = ApiClient::for_state_dir(state_dir).ok()?;
        let status = tokio::time::timeout(CALL_TIMEOUT, client.status())
            .await
            .ok()?
            .ok()?;
        let stack = tokio::time::timeout(CALL_TIMEOUT, client.stack())
            .await
            .ok()?
            .ok()?;
        let listener = status
            .load_balancers
            .iter()
            .flat_map(|lb| &lb.listeners)
            .find(|l| listens_at(&l.address, host, port))?;
        let target_groups: Vec<&str> = status
            .target_groups
            .iter()
            .filter(|tg| listener.forwards_to.contains(&tg.name))
            .map(|tg| tg.key.as_str())
            .collect();
        let groups: Vec<String> = stack
            .auto_scaling_groups
            .values()
            .filter(|g| {
                g.target_groups
                    .iter()
                    .any(|k| target_groups.contains(&k.as_str()))
            })
            .map(|g| g.name.clone())
            .collect();
        if groups.is_empty() {
            return None;
        }
        let latest = Arc::new(Mutex::new(capacity(&status, &groups)));
        Some(StackWatch {
            client,
            groups,
            latest,
        })
    }

    /// Refreshes [`StackWatch::latest`] once a second until the task is aborted.
    pub fn spawn_sampler(&self) -> tokio::task::JoinHandle<()> {
        let client = self.client.clone();
        let groups = self.groups.clone();
        let latest = self.latest.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                if let Ok(Ok(status)) = tokio::time::timeout(CALL_TIMEOUT, client.status()).await
                    && let Ok(mut l) = latest.lock()
                {
                    *l = capacity(&status, &groups);
                }
            }
        })
    }

    /// The groups' activities that started at or after `start` (wall time of the run's start).
    pub async fn activities_since(&self, start: Timestamp) -> Vec<ActivityMark> {
        let mut marks = Vec::new();
        for group in &self.groups {
            let Ok(Ok(activities)) =
                tokio::time::timeout(CALL_TIMEOUT, self.client.activities(group, 1000)).await
            else {
                continue;
            };
            marks.extend(
                activities
                    .into_iter()
                    .filter(|a| a.start_time >= start)
                    .map(|a| ActivityMark {
                        t_s: (a.start_time.as_millis() - start.as_millis()) as f64 / 1000.0,
                        group: a.group,
                        description: a.description,
                        cause: a.cause,
                        status: format!("{:?}", a.status),
                    }),
            );
        }
        marks.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        marks
    }
}

/// (in service, desired) summed over `groups`.
fn capacity(status: &StackStatus, groups: &[String]) -> Option<(u32, u32)> {
    let mine: Vec<_> = status
        .auto_scaling_groups
        .iter()
        .filter(|g| groups.contains(&g.name))
        .collect();
    if mine.is_empty() {
        return None;
    }
    Some((
        mine.iter()
            .map(|g| g.count(LifecycleState::InService) as u32)
            .sum(),
        mine.iter().map(|g| g.desired_capacity).sum(),
    ))
}

/// Whether a listener bound at `address` (`ip:port`) serves `host:port`.
fn listens_at(address: &str, host: &str, port: u16) -> bool {
    let Ok(bound) = address.parse::<std::net::SocketAddr>() else {
        return false;
    };
    if bound.port() != port {
        return false;
    }
    let loopback = |ip: IpAddr| ip.is_loopback() || ip.is_unspecified();
    match host.parse::<IpAddr>() {
        Ok(ip) => ip == bound.ip() || bound.ip().is_unspecified(),
        Err(_) => host.eq_ignore_ascii_case("localhost") && loopback(bound.ip()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_addresses_match_urls() {
        assert!(listens_at("127.0.0.1:8080", "127.0.0.1", 8080));
        assert!(listens_at("127.0.0.1:8080", "localhost", 8080));
        assert!(listens_at("0.0.0.0:8080", "10.1.2.3", 8080));
        assert!(!listens_at("127.0.0.1:8080", "127.0.0.1", 8081));
        assert!(!listens_at("10.0.0.1:8080", "127.0.0.1", 8080));
        assert!(!listens_at("garbage", "127.0.0.1", 8080));
    }
}
