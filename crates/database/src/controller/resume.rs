//! Resuming after a restart of updraft: servers a crashed updraft left running are adopted
//! (pid and start time verified, then queried), anything else it left working on a node's
//! data is stopped, and the primary is started if it was not adopted.

use std::time::Duration;

use super::Controller;
use super::act::kill_leftover;
use crate::cluster::{NodeStatus, Role};
use crate::failover::{Action, EventKind};
use crate::postgres::adopt;
use crate::postgres::node::kill_group;

impl Controller {
    /// At start: a server a crashed updraft left running is **adopted** when its record (pid
    /// and start time) still names the postmaster of its data, and it is queried before the
    /// endpoints open; anything else still working on a node's data (a postmaster that was
    /// not ours to adopt, initdb, `pg_basebackup`, `pg_rewind`) is stopped. The primary is
    /// started if it was not adopted; the other nodes come back through the rules, as
    /// standbys. Adopted servers that disagree with the state (a second writable node) are
    /// fenced by the first decision, as any split brain is.
    pub(super) async fn resume(&mut self) {
        let now = self.now();
        let primary = self.state.primary.clone();
        let names: Vec<String> = self.state.nodes.iter().map(|n| n.name.clone()).collect();
        let mut adopted = Vec::new();
        for name in &names {
            let Some(cfg) = self.node_config(name) else {
                continue;
            };
            if self.state.node(name).is_some_and(|n| n.status.is_running()) {
                let wake = self.wake.clone();
                match adopt::adopt(&cfg, move || wake.notify_one()) {
                    Ok(p) => {
                        self.processes.insert(name.clone(), p);
                        adopted.push(name.clone());
                        continue;
                    }
                    Err(why) => {
                        tracing::info!(cluster = %self.spec.identifier, node = %name, "not adopted: {why}")
                    }
                }
            }
            stop_leftovers(&cfg.files.data).await;
        }
        let mut creating_primary = false;
        for n in self.state.nodes.iter_mut() {
            n.status = match &n.status {
                NodeStatus::Running { .. } if adopted.contains(&n.name) => continue,
                NodeStatus::Running { .. } if Some(&n.name) == primary.as_ref() => {
                    NodeStatus::Running { since: now }
                }
                NodeStatus::Running { .. } => NodeStatus::Down {
                    since: now,
                    reason: "updraft restarted".into(),
                    clone: false,
                },
                NodeStatus::Creating { .. } if n.role == Role::Primary && primary.is_none() => {
                    creating_primary = true;
                    continue;
                }
                NodeStatus::Creating { .. } | NodeStatus::Rejoining { .. } => NodeStatus::Down {
                    since: now,
                    reason: "interrupted by an updraft restart".into(),
                    clone: true,
                },
                other => other.clone(),
            };
        }
        if creating_primary {
            // initdb never finished: start over.
            for n in &self.state.nodes {
                let _ = std::fs::remove_dir_all(self.dir.join(&n.name));
            }
            self.state = crate::cluster::ClusterState::new(&self.spec.identifier);
        }
        for name in &names {
            self.watch(name);
        }
        self.verify_adopted(&adopted).await;
        if let Some(p) = primary.filter(|p| {
            !adopted.contains(p) && self.state.node(p).is_some_and(|n| n.status.is_running())
        }) {
            let _ = self
                .carry_out(Action::Start {
                    node: p,
                    upstream: None,
                })
                .await;
        }
        let _ = super::persist::save_state(&self.dir, &self.state);
    }

    /// Queries every adopted server (bounded: [`ADOPT_QUERY`]) so that the first decision sees
    /// what each one is, and tells it as an event.
    async fn verify_adopted(&mut self, adopted: &[String]) {
        let deadline = tokio::time::Instant::now() + ADOPT_QUERY;
        let answered = |c: &Self, n: &String| {
            let h = c.monitors.get(n).map(|m| m.read()).unwrap_or_default();
            h.last_probe.is_some() || h.auth_error.is_some() || c.live_process(n).is_none()
        };
        while !adopted.iter().all(|n| answered(self, n)) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for name in adopted {
            let Some(p) = self.processes.get(name).cloned() else {
                continue;
            };
            let h = self
                .monitors
                .get(name)
                .map(|m| m.read())
                .unwrap_or_default();
            let primary = self.state.primary.as_deref() == Some(name.as_str());
            let what = match (&h.last_probe, &h.auth_error) {
                (Some(probe), _) if !probe.in_recovery => {
                    let at = probe
                        .wal_position()
                        .map(|l| format!(" at LSN {l}"))
                        .unwrap_or_default();
                    if primary {
                        format!("it answers as the primary{at}")
                    } else {
                        format!("it answers as a WRITABLE node{at} although it is not the primary")
                    }
                }
                (Some(probe), _) => format!(
                    "it answers as a standby at LSN {}{}",
                    probe
                        .wal_position()
                        .map_or_else(|| "?".into(), |l| l.to_string()),
                    if probe.streaming { ", streaming" } else { "" }
                ),
                (None, Some(auth)) => format!("alive, but {auth}"),
                (None, None) if p.exited().is_some() => "it exited meanwhile".into(),
                (None, None) => format!(
                    "it does not answer yet ({})",
                    h.last_error.as_deref().unwrap_or("no answer")
                ),
            };
            self.record(
                EventKind::Node,
                Some(name.clone()),
                format!(
                    "{name} adopted after an updraft restart: its server (pid {}, start time verified) was left running; {what}",
                    p.pid
                ),
            );
        }
    }
}

/// How long a restarted updraft waits for the servers it adopted to answer a first query
/// before it opens the endpoints (one that does not answer is then judged by the usual rules).
const ADOPT_QUERY: Duration = Duration::from_secs(3);

/// What a crashed updraft left working on a node it does not adopt: the postmaster its
/// `postmaster.pid` names, and initdb, `pg_basebackup` or `pg_rewind` processes on its data.
async fn stop_leftovers(data: &std::path::Path) {
    kill_leftover(data).await;
    let pids = adopt::processes_on(data);
    for &pid in &pids {
        tracing::info!(pid, data = %data.display(), "stopping a PostgreSQL program left by an earlier run");
        if compute::procfs::read_stat(pid).is_some_and(|s| s.pgrp == pid) {
            kill_group(pid);
        } else {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    for _ in 0..100 {
        if pids
            .iter()
            .all(|p| compute::procfs::read_stat(*p).is_none_or(|s| !s.is_live()))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !pids.is_empty() {
        kill_leftover(data).await;
    }
}
