//! Carrying out the decisions: each [`Action`] as PostgreSQL I/O. Quick ones run inline
//! (promotion is on the failover's critical path); initdb, base backups and rewinds run in
//! the background and report back as completions.

use std::sync::Arc;
use std::time::Duration;

use super::{Controller, Done, monitor::Monitor};
use crate::cluster::{NodeStatus, Role};
use crate::failover::{Action, EventKind, ProcessState};
use crate::postgres::node::{self, kill_group};
use crate::postgres::{
    Credentials, Installation, NodeConfig, NodeError, Runner, ServerProcess, Upstream, sql,
};

impl Controller {
    fn upstream(&self, name: &str) -> Option<Upstream> {
        self.state.node(name).map(|n| Upstream {
            host: n.host,
            port: self.spec.port,
        })
    }

    pub(super) fn watch(&mut self, node: &str) {
        if self.monitors.contains_key(node) {
            return;
        }
        if let Some(n) = self.state.node(node) {
            let m = Monitor::spawn(
                n.host,
                self.spec.port,
                self.creds.clone(),
                self.spec.timing.probe_interval,
                self.opts.clock.clone(),
            );
            self.monitors.insert(node.to_owned(), m);
        }
    }

    pub(super) fn live_process(&self, node: &str) -> Option<&ServerProcess> {
        self.processes.get(node).filter(|p| p.exited().is_none())
    }

    fn start_process(&mut self, cfg: &NodeConfig) -> Result<(), NodeError> {
        let wake = self.wake.clone();
        let runner = Runner {
            install: &self.opts.install,
        };
        let p = runner.start(cfg, move || wake.notify_one())?;
        self.exits.remove(&cfg.name);
        self.processes.insert(cfg.name.clone(), p);
        self.watch(&cfg.name);
        Ok(())
    }

    /// Carries out one action; `false` stops the rest of this tick's actions.
    pub(super) async fn carry_out(&mut self, action: Action) -> bool {
        let started = self.now();
        match action {
            Action::Fence { node } | Action::Kill { node } => {
                if let Some(p) = self.live_process(&node) {
                    kill_group(p.pid);
                }
                kill_leftover(&self.dir.join(&node).join("data")).await;
                // Whatever restarts it comes up as a standby.
                let signal = self.dir.join(&node).join("data").join("standby.signal");
                if signal.parent().is_some_and(|d| d.exists()) {
                    let _ = std::fs::write(&signal, "");
                }
                true
            }
            Action::StopClean { node } => {
                if let Some(p) = self.live_process(&node).cloned() {
                    node::stop_clean(&p, Duration::from_secs(10)).await;
                }
                true
            }
            Action::Promote { node } => {
                let result = self.promote(&node).await;
                let ms = self.now().since(started).as_millis();
                match result {
                    Ok(()) => {
                        self.record(
                            EventKind::Promotion,
                            Some(node.clone()),
                            format!("{node} promoted in {ms} ms"),
                        );
                        // Writes go to it now; repointing the others can follow.
                        if self.state.primary.as_deref() == Some(node.as_str()) {
                            self.route_writer(Some(node.clone()), "");
                        }
                        true
                    }
                    Err(e) => {
                        self.record(
                            EventKind::Failure,
                            Some(node.clone()),
                            format!("promoting {node} failed: {e}"),
                        );
                        self.state.primary = None;
                        self.state.writes_blocked = Some(format!("promoting {node} failed: {e}"));
                        if let Some(n) = self.state.node_mut(&node) {
                            n.status = NodeStatus::Down {
                                since: started,
                                reason: format!("promotion failed: {e}"),
                                clone: false,
                            };
                        }
                        let _ = super::persist::save_state(&self.dir, &self.state);
                        false
                    }
                }
            }
            Action::Follow { node, upstream } => {
                if let Err(e) = self.follow(&node, &upstream).await {
                    tracing::info!(node, error = %e, "could not repoint now; it follows when restarted");
                } else {
                    self.record(
                        EventKind::Node,
                        Some(node.clone()),
                        format!("{node} now streams from {upstream}"),
                    );
                }
                true
            }
            Action::SetSync { primary, standby } => {
                let value = sql::sync_names(standby.as_deref());
                match self.client(&primary).await {
                    Ok(c) => {
                        if let Err(e) =
                            sql::set_and_reload(&c, "synchronous_standby_names", &value).await
                        {
                            tracing::warn!(primary, error = %e, "cannot set synchronous_standby_names");
                        } else if let Some(s) = &standby {
                            tracing::info!(primary, standby = %s, "synchronous standby requested");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(primary, error = %e, "cannot reach the primary to set synchronous_standby_names")
                    }
                }
                true
            }
            Action::Start { node, upstream } => {
                let Some(cfg) = self.node_config(&node) else {
                    return true;
                };
                if let Some(p) = self.live_process(&node) {
                    kill_group(p.pid);
                }
                kill_leftover(&cfg.files.data).await;
                let up = upstream.as_deref().and_then(|u| self.upstream(u));
                let runner = Runner {
                    install: &self.opts.install,
                };
                let result = runner
                    .check_ownership(&cfg)
                    .and_then(|()| runner.configure(&cfg, up.as_ref(), &self.creds))
                    .and_then(|()| self.start_process(&cfg));
                if let Err(e) = result {
                    self.record(
                        EventKind::Failure,
                        Some(node.clone()),
                        format!("cannot start {node}: {e}"),
                    );
                    if let Some(n) = self.state.node_mut(&node) {
                        n.status = if e.permanent {
                            NodeStatus::Failed {
                                since: started,
                                reason: e.message,
                            }
                        } else {
                            NodeStatus::Down {
                                since: started,
                                reason: e.message,
                                clone: false,
                            }
                        };
                    }
                    if self.state.primary.as_deref() == Some(&node) {
                        self.state.primary = None;
                    }
                    let _ = super::persist::save_state(&self.dir, &self.state);
                }
                true
            }
            Action::Create { node, upstream } => {
                self.background(node, upstream, true);
                true
            }
            Action::Rejoin {
                node,
                upstream,
                clone,
            } => {
                if let Some(p) = self.live_process(&node) {
                    kill_group(p.pid);
                }
                self.background(node, Some(upstream), clone);
                true
            }
            Action::Remove { node } => {
                if let Some(p) = self.live_process(&node) {
                    kill_group(p.pid);
                }
                self.monitors.remove(&node);
                self.processes.remove(&node);
                let dir = self.dir.join(&node);
                kill_leftover(&dir.join("data")).await;
                let _ = std::fs::remove_dir_all(&dir);
                true
            }
        }
    }

    async fn client(&self, node: &str) -> Result<tokio_postgres::Client, sql::SqlError> {
        let n = self.state.node(node).ok_or_else(|| sql::SqlError {
            message: format!("no node {node}"),
            auth: false,
            starting: false,
        })?;
        sql::connect(n.host, self.spec.port, &self.creds, Duration::from_secs(2)).await
    }

    /// Promotes `node`, then creates on it the slots of every other node.
    async fn promote(&mut self, node: &str) -> Result<(), sql::SqlError> {
        let c = self.client(node).await?;
        sql::promote(&c).await?;
        let slots: Vec<String> = self
            .state
            .nodes
            .iter()
            .filter(|n| n.name != node)
            .map(|n| n.slot())
            .collect();
        for s in slots {
            if let Err(e) = sql::ensure_slot(&c, &s).await {
                tracing::warn!(slot = %s, error = %e, "cannot create a replication slot on the new primary");
            }
        }
        // pg_rewind needs the new timeline in the control file: checkpoint soon, off the
        // critical path.
        tokio::spawn(async move {
            let _ = sql::checkpoint(&c).await;
        });
        Ok(())
    }

    async fn follow(&self, node: &str, upstream: &str) -> Result<(), sql::SqlError> {
        let up = self.client(upstream).await?;
        let n = self
            .state
            .node(node)
            .cloned()
            .ok_or_else(|| sql::SqlError {
                message: format!("no node {node}"),
                auth: false,
                starting: false,
            })?;
        sql::ensure_slot(&up, &n.slot()).await?;
        let c = self.client(node).await?;
        let u = self.upstream(upstream).expect("upstream exists");
        sql::set_and_reload(
            &c,
            "primary_conninfo",
            &node::conninfo(&u, node, &self.creds),
        )
        .await?;
        sql::set_and_reload(&c, "primary_slot_name", &n.slot()).await
    }

    /// initdb / base backup / rewind in the background.
    fn background(&mut self, node: String, upstream: Option<String>, clone: bool) {
        let Some(cfg) = self.node_config(&node) else {
            return;
        };
        let up = upstream.as_deref().and_then(|u| self.upstream(u));
        let install = self.opts.install.clone();
        let creds = self.creds.clone();
        let done = self.done_tx.clone();
        let wake = self.wake.clone();
        let first_primary = upstream.is_none();
        self.watch(&node);
        tokio::spawn(async move {
            let result = build(
                &install,
                &cfg,
                up.as_ref(),
                &creds,
                clone,
                first_primary,
                wake.clone(),
            )
            .await;
            let _ = done.send(Done { node, result });
            wake.notify_one();
        });
    }

    /// `updraft down`: every server stops (fast shutdown: the standbys get all WAL first).
    pub(super) async fn stop_all(&mut self) {
        self.route_writer(None, "the stack is stopping");
        self.opts
            .endpoints
            .readers(&self.spec.identifier, vec![], "the stack is stopping");
        let processes: Vec<ServerProcess> = self
            .processes
            .values()
            .filter(|p| p.exited().is_none())
            .cloned()
            .collect();
        let mut set = tokio::task::JoinSet::new();
        for p in processes {
            set.spawn(async move { node::stop_clean(&p, Duration::from_secs(10)).await });
        }
        while set.join_next().await.is_some() {}
        self.monitors.clear();
        tracing::info!(cluster = %self.spec.identifier, "database servers stopped; data kept in {}", self.dir.display());
    }

    pub(super) fn view_with(&self, observed: &crate::failover::Observed) -> super::ClusterStatus {
        let primary_probe = self
            .state
            .primary
            .as_deref()
            .and_then(|p| observed.nodes.get(p))
            .and_then(|o| o.last_probe.as_ref());
        let primary_lsn = primary_probe.and_then(|p| p.current_lsn);
        let nodes = self
            .state
            .nodes
            .iter()
            .map(|n| {
                let o = observed.nodes.get(&n.name);
                let probe = o.and_then(|o| o.last_probe.as_ref());
                let link = primary_probe
                    .and_then(|p| p.replication.iter().find(|l| l.application_name == n.name))
                    .filter(|_| self.state.primary.as_deref() != Some(&n.name));
                let replica_lag_ms = link.map(|l| l.replay_lag_ms.unwrap_or(0));
                let lag = match (primary_lsn, probe.and_then(|p| p.replay_lsn)) {
                    (Some(h), Some(r)) if self.state.primary.as_deref() != Some(&n.name) => {
                        Some(h.bytes_after(r))
                    }
                    _ => None,
                };
                let role = if self.state.primary.as_deref() == Some(&n.name) {
                    "primary"
                } else if self.state.sync.contains(&n.name) && n.role == Role::Standby {
                    "standby (synchronous)"
                } else if self.state.sync.contains(&n.name) {
                    "replica (synchronous)"
                } else {
                    n.role.as_str()
                };
                super::NodeView {
                    name: n.name.clone(),
                    role: role.into(),
                    availability_zone: n.zone.to_string(),
                    address: format!("{}:{}", n.host, self.spec.port),
                    status: n.status.name().into(),
                    reason: n.status.reason().map(str::to_owned),
                    pid: self.live_process(&n.name).map(|p| p.pid),
                    adopted: self.live_process(&n.name).is_some_and(|p| p.adopted),
                    lsn: probe.and_then(|p| p.wal_position()).map(|l| l.to_string()),
                    lag_bytes: lag,
                    replica_lag_ms,
                    connections: probe.and_then(|p| p.connections),
                    streaming: probe.is_some_and(|p| p.streaming),
                    fault: o
                        .and_then(|o| o.fault.as_ref())
                        .map(|(k, l)| format!("{}: {l}", k.describe())),
                    probe_error: o
                        .filter(|o| o.failures > 0 || o.process != ProcessState::Running)
                        .and_then(|o| o.last_error.clone())
                        .or_else(|| self.monitors.get(&n.name).and_then(|m| m.read().auth_error)),
                    log: self
                        .dir
                        .join(&n.name)
                        .join("postgres.log")
                        .display()
                        .to_string(),
                }
            })
            .collect();
        let last_failover = self.state.failover.as_ref().map(|f| {
            let restored = self
                .events
                .iter()
                .rev()
                .find(|e| {
                    e.at >= f.started
                        && e.kind == EventKind::Writes
                        && e.message.starts_with("writer endpoint →")
                        && e.node == f.promoted
                })
                .and_then(|e| e.since_failure_ms);
            super::FailoverView {
                lost: f.lost.clone(),
                promoted: f.promoted.clone(),
                reason: f.reason.clone(),
                started: f.started,
                manual: f.manual,
                writes_restored_ms: restored,
            }
        });
        super::ClusterStatus {
            identifier: self.spec.identifier.clone(),
            engine: "postgres".into(),
            multi_az: self.spec.multi_az,
            writer_endpoint: std::net::SocketAddr::from((
                model::database::WRITER_HOST,
                self.spec.port,
            ))
            .to_string(),
            reader_endpoint: std::net::SocketAddr::from((
                model::database::READER_HOST,
                self.spec.port,
            ))
            .to_string(),
            primary: self.routed_writer.clone(),
            writes_refused: match &self.routed_writer {
                Some(_) => None,
                None => Some(
                    self.state
                        .writes_blocked
                        .clone()
                        .unwrap_or_else(|| "no primary".into()),
                ),
            },
            synchronous_standby: self.state.sync.first().cloned(),
            max_replica_lag: self.spec.max_replica_lag,
            nodes,
            readers: self.routed_readers.clone(),
            promotions: self.state.promotions,
            error: None,
            last_failover,
        }
    }
}

/// A postmaster left by an earlier run (its `postmaster.pid`): SIGKILL its group, so that only
/// servers this controller started or adopted run.
pub(super) async fn kill_leftover(data: &std::path::Path) {
    let lock = data.join("postmaster.pid");
    let Ok(text) = std::fs::read_to_string(&lock) else {
        return;
    };
    let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<u32>().ok())
    else {
        // Empty: a server killed while starting. Nothing else starts this node: clear it.
        let _ = std::fs::remove_file(&lock);
        return;
    };
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() == "postgres" && compute::procfs::read_stat(pid).is_some_and(|s| s.is_live()) {
        kill_group(pid);
        // Wait (bounded) for it to go, so its port and data are free.
        for _ in 0..100 {
            if compute::procfs::read_stat(pid).is_none_or(|s| !s.is_live()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The lock of a server that is gone would stop the next one from starting.
    if compute::procfs::read_stat(pid).is_none_or(|s| !s.is_live()) {
        let _ = std::fs::remove_file(&lock);
    }
}

/// Builds a node: initdb (first primary) or base backup, or rewind; configures and starts it;
/// waits until it answers.
async fn build(
    install: &Installation,
    cfg: &NodeConfig,
    upstream: Option<&Upstream>,
    creds: &Credentials,
    clone: bool,
    first_primary: bool,
    wake: Arc<tokio::sync::Notify>,
) -> Result<Option<ServerProcess>, NodeError> {
    let runner = Runner { install };
    let err = |m: String| NodeError {
        message: m,
        permanent: false,
    };
    match (first_primary, upstream) {
        (true, _) => runner.initdb(cfg, creds).await?,
        (false, Some(up)) => {
            let c = sql::connect(up.host, up.port, creds, Duration::from_secs(5))
                .await
                .map_err(|e| err(format!("cannot reach the upstream: {e}")))?;
            sql::checkpoint(&c)
                .await
                .map_err(|e| err(format!("CHECKPOINT on the upstream failed: {e}")))?;
            sql::ensure_slot(&c, &cfg.slot)
                .await
                .map_err(|e| err(format!("cannot create the replication slot: {e}")))?;
            let rewound = if clone || !cfg.files.data.exists() {
                false
            } else {
                match runner.rewind(cfg, up, creds).await {
                    Ok(()) => true,
                    Err(e) if e.permanent => return Err(e),
                    Err(e) => {
                        tracing::warn!(node = %cfg.name, error = %e, "pg_rewind failed; taking a fresh base backup instead");
                        false
                    }
                }
            };
            if !rewound {
                runner.check_ownership(cfg).or_else(|e| {
                    if cfg.files.data.exists() {
                        Err(e)
                    } else {
                        Ok(())
                    }
                })?;
                runner.base_backup(cfg, up, creds).await?;
            }
        }
        (false, None) => return Err(err("no upstream to copy from".into())),
    }
    runner.configure(cfg, upstream, creds)?;
    let process = runner.start(cfg, move || wake.notify_one())?;
    // Ready when it answers (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(exit) = process.exited() {
            let tail = crate::postgres::tail(&cfg.files.log, 3).join(" | ");
            return Err(err(format!("the server {exit} while starting: {tail}")));
        }
        if sql::connect(cfg.host, cfg.port, creds, Duration::from_secs(1))
            .await
            .is_ok()
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            kill_group(process.pid);
            return Err(err(
                "the server did not accept connections within 120 s".into()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if first_primary {
        // The replication role must exist before standbys copy from it.
        let c = sql::connect(cfg.host, cfg.port, creds, Duration::from_secs(5))
            .await
            .map_err(|e| err(e.to_string()))?;
        let repl = format!(
            "CREATE ROLE {} WITH REPLICATION LOGIN PASSWORD '{}'",
            node::REPLICATION_ROLE,
            creds.replication_password
        );
        c.batch_execute(&repl)
            .await
            .map_err(|e| err(sql::SqlError::from(e).message))?;
    }
    Ok(Some(process))
}
