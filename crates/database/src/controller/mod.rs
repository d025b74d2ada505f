//! The cluster controller: one task per cluster running observe → decide → act every probe
//! interval (100 ms), and at once when a server process exits.
//!
//! - **observe**: process exits (the servers are its children), the monitors' latest probes,
//!   faults in the servers' logs, finished background work, zones marked down;
//! - **decide**: [`crate::failover::decide`] (pure);
//! - **act**: the state is written to disk *before* any action (so "who may write" survives a
//!   crash of updraft), the writer endpoint is closed first when its target changes, then the
//!   actions run in order — long ones (initdb, base backup, rewind) in the background — and
//!   the endpoints get their new targets.
//!
//! Every decision's events are appended to `events.jsonl` beside the state, stamped with the
//! time since the primary was lost when they belong to a failover.

mod act;
mod monitor;
mod persist;
mod report;
mod resume;
pub mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use model::{AvailabilityZone, Timestamp};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::Clock;
use crate::cluster::{ClusterSpec, ClusterState, NodeStatus};
use crate::failover::{self, Completion, NodeObservation, Observed, ProcessState, Request};
use crate::postgres::{Credentials, Installation, NodeConfig, NodeFiles, ServerProcess};
pub use view::{ClusterStatus, DbEvent, FailoverView, Killed, NodeView};

/// Where the endpoints of the data plane get their targets. The controller calls it without
/// awaiting (the data plane swaps its table atomically).
pub trait Endpoints: Send + Sync + 'static {
    /// The writer endpoint leads to `target`, or refuses connections saying `refusal`.
    /// Connections to any other node are cut.
    fn writer(&self, cluster: &str, target: Option<(String, SocketAddr)>, refusal: &str);
    /// The reader endpoint balances over `targets`.
    fn readers(&self, cluster: &str, targets: Vec<(String, SocketAddr)>, refusal: &str);
}

/// How to run clusters.
#[derive(Clone)]
pub struct Options {
    /// `<state_dir>/db`: one directory per cluster.
    pub dir: PathBuf,
    pub install: Installation,
    pub clock: Arc<dyn Clock>,
    pub endpoints: Arc<dyn Endpoints>,
}

enum Command {
    Status(oneshot::Sender<ClusterStatus>),
    Events(usize, oneshot::Sender<Vec<DbEvent>>),
    Switchover(oneshot::Sender<Result<String, String>>),
    KillPrimary(oneshot::Sender<Result<Killed, String>>),
    KillNode(String, oneshot::Sender<Result<Killed, String>>),
    ZonesDown(BTreeSet<AvailabilityZone>),
    Shutdown(oneshot::Sender<()>),
}

/// Talks to one running cluster controller.
#[derive(Clone)]
pub struct ClusterHandle {
    pub identifier: String,
    tx: mpsc::Sender<Command>,
    status: watch::Receiver<ClusterStatus>,
}

impl ClusterHandle {
    /// The status as of the last tick (never waits for the controller).
    pub fn status(&self) -> ClusterStatus {
        self.status.borrow().clone()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.ok()?;
        rx.await.ok()
    }

    pub async fn fresh_status(&self) -> Option<ClusterStatus> {
        self.ask(Command::Status).await
    }

    pub async fn events(&self, limit: usize) -> Vec<DbEvent> {
        self.ask(|r| Command::Events(limit, r))
            .await
            .unwrap_or_default()
    }

    pub async fn switchover(&self) -> Result<String, String> {
        self.ask(Command::Switchover)
            .await
            .unwrap_or_else(|| Err("the cluster is shutting down".into()))
    }

    pub async fn kill_primary(&self) -> Result<Killed, String> {
        self.ask(Command::KillPrimary)
            .await
            .unwrap_or_else(|| Err("the cluster is shutting down".into()))
    }

    pub async fn kill_node(&self, node: &str) -> Result<Killed, String> {
        let node = node.to_owned();
        self.ask(|r| Command::KillNode(node, r))
            .await
            .unwrap_or_else(|| Err("the cluster is shutting down".into()))
    }

    /// The zones that are down now (an AZ outage drill); nodes there are stopped.
    pub async fn zones_down(&self, zones: BTreeSet<AvailabilityZone>) {
        let _ = self.tx.send(Command::ZonesDown(zones)).await;
    }

    /// Stops every server (fast shutdown) and the controller. Data stays on disk.
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}

/// A background action's result.
struct Done {
    node: String,
    result: Result<Option<ServerProcess>, crate::postgres::NodeError>,
}

/// The controller's state.
pub(crate) struct Controller {
    spec: ClusterSpec,
    state: ClusterState,
    opts: Options,
    creds: Credentials,
    dir: PathBuf,
    processes: HashMap<String, ServerProcess>,
    /// When each exit was first seen.
    exits: HashMap<String, Timestamp>,
    monitors: HashMap<String, monitor::Monitor>,
    zones_down: BTreeSet<AvailabilityZone>,
    completed: Vec<Completion>,
    request: Option<Request>,
    done_tx: mpsc::UnboundedSender<Done>,
    wake: Arc<Notify>,
    events: Vec<DbEvent>,
    routed_writer: Option<String>,
    routed_readers: Vec<String>,
    status_tx: watch::Sender<ClusterStatus>,
    /// The master user's password was applied since start.
    roles_ensured: bool,
    /// Faults already told as events ([`report`]).
    reported: BTreeMap<String, report::Reported>,
    last_status: ClusterStatus,
}

/// Starts the controller of `spec`: loads (or creates) its state, restarts the servers the
/// state says should run, and returns its handle.
pub fn spawn(spec: ClusterSpec, opts: Options) -> Result<ClusterHandle, String> {
    let dir = opts.dir.join(&spec.identifier);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    opts.install
        .check_reachable(&dir.join("node"))
        .map_err(|e| e.to_string())?;
    let creds = persist::credentials(&dir)?;
    let state = persist::load_state(&dir, &spec.identifier)?;
    let events = persist::load_events(&dir, 500);
    let (tx, rx) = mpsc::channel(32);
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let initial = ClusterStatus {
        identifier: spec.identifier.clone(),
        engine: "postgres".into(),
        multi_az: spec.multi_az,
        writer_endpoint: SocketAddr::from((model::database::WRITER_HOST, spec.port)).to_string(),
        reader_endpoint: SocketAddr::from((model::database::READER_HOST, spec.port)).to_string(),
        primary: None,
        writes_refused: Some("starting".into()),
        synchronous_standby: None,
        max_replica_lag: spec.max_replica_lag,
        nodes: vec![],
        readers: vec![],
        promotions: state.promotions,
        error: None,
        last_failover: None,
    };
    let (status_tx, status_rx) = watch::channel(initial.clone());
    let handle = ClusterHandle {
        identifier: spec.identifier.clone(),
        tx,
        status: status_rx,
    };
    let mut c = Controller {
        spec,
        state,
        opts,
        creds,
        dir,
        processes: HashMap::new(),
        exits: HashMap::new(),
        monitors: HashMap::new(),
        zones_down: BTreeSet::new(),
        completed: Vec::new(),
        request: None,
        done_tx,
        wake: Arc::new(Notify::new()),
        events,
        routed_writer: None,
        routed_readers: Vec::new(),
        status_tx,
        roles_ensured: false,
        reported: BTreeMap::new(),
        last_status: initial,
    };
    tokio::spawn(async move {
        c.resume().await;
        c.run(rx, done_rx).await;
    });
    Ok(handle)
}

impl Controller {
    fn node_config(&self, name: &str) -> Option<NodeConfig> {
        let n = self.state.node(name)?;
        Some(NodeConfig {
            cluster: self.spec.identifier.clone(),
            name: n.name.clone(),
            host: n.host,
            port: self.spec.port,
            slot: n.slot(),
            files: NodeFiles::new(&self.dir, &n.name),
        })
    }

    fn now(&self) -> Timestamp {
        self.opts.clock.now()
    }

    async fn run(
        &mut self,
        mut commands: mpsc::Receiver<Command>,
        mut done: mpsc::UnboundedReceiver<Done>,
    ) {
        let mut tick = tokio::time::interval(self.spec.timing.probe_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let wake = self.wake.clone();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = wake.notified() => {}
                Some(d) = done.recv() => self.on_done(d),
                cmd = commands.recv() => match cmd {
                    Some(Command::Shutdown(reply)) => {
                        self.stop_all().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(cmd) => {
                        self.handle(cmd).await;
                        continue;
                    }
                    None => {
                        self.stop_all().await;
                        return;
                    }
                },
            }
            self.reconcile().await;
        }
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Status(reply) => {
                let _ = reply.send(self.view());
            }
            Command::Events(limit, reply) => {
                let from = self.events.len().saturating_sub(limit);
                let _ = reply.send(self.events[from..].to_vec());
            }
            Command::Switchover(reply) => {
                self.request = Some(Request::Switchover);
                self.reconcile().await;
                let answer = match self
                    .events
                    .iter()
                    .rev()
                    .find(|e| e.kind == failover::EventKind::Switchover)
                {
                    Some(e) if e.message.starts_with("switchover refused") => {
                        Err(e.message.clone())
                    }
                    Some(e) => Ok(e.message.clone()),
                    None => Err("switchover was not started".into()),
                };
                let _ = reply.send(answer);
            }
            Command::KillPrimary(reply) => {
                let result = match self.state.primary.clone() {
                    Some(p) => self.kill(&p),
                    None => Err(format!(
                        "{} has no primary to kill right now: {}",
                        self.spec.identifier,
                        self.state.writes_blocked.as_deref().unwrap_or("no primary")
                    )),
                };
                let _ = reply.send(result);
            }
            Command::KillNode(node, reply) => {
                let _ = reply.send(self.kill(&node));
            }
            Command::ZonesDown(zones) => {
                self.zones_down = zones;
                self.reconcile().await;
            }
            Command::Shutdown(_) => {}
        }
    }

    /// SIGKILL a node's whole process group, as a host crash would.
    fn kill(&mut self, node: &str) -> Result<Killed, String> {
        let p = self
            .processes
            .get(node)
            .filter(|p| p.exited().is_none())
            .ok_or_else(|| format!("{node} is not running"))?;
        crate::postgres::node::kill_group(p.pid);
        Ok(Killed {
            node: node.to_owned(),
            pid: p.pid,
            at: self.now(),
        })
    }

    fn on_done(&mut self, d: Done) {
        let result = match d.result {
            Ok(process) => {
                if let Some(p) = process {
                    self.exits.remove(&d.node);
                    self.processes.insert(d.node.clone(), p);
                }
                Ok(())
            }
            Err(e) => Err(failover::CompletionError {
                message: e.message,
                permanent: e.permanent,
            }),
        };
        self.completed.push(Completion {
            node: d.node,
            result,
        });
    }

    /// What the controller sees now.
    fn observe(&mut self) -> Observed {
        let now = self.now();
        let mut nodes = BTreeMap::new();
        for n in &self.state.nodes {
            let process = match self.processes.get(&n.name) {
                Some(p) => match p.exited() {
                    None => ProcessState::Running,
                    Some(detail) => ProcessState::Exited {
                        at: *self.exits.entry(n.name.clone()).or_insert(now),
                        detail,
                    },
                },
                None => ProcessState::NotRunning,
            };
            let health = self
                .monitors
                .get(&n.name)
                .map(|m| m.read())
                .unwrap_or_default();
            let files = NodeFiles::new(&self.dir, &n.name);
            let fault = if n.status.is_running() || matches!(n.status, NodeStatus::Down { .. }) {
                crate::faults::latest(&crate::postgres::tail(&files.log, 20))
            } else {
                None
            };
            nodes.insert(
                n.name.clone(),
                NodeObservation {
                    process,
                    last_probe: health.last_probe,
                    failures: health.failures,
                    failing_since: health.failing_since,
                    last_error: health.last_error,
                    fault,
                },
            );
        }
        Observed {
            nodes,
            zones_down: self.zones_down.clone(),
            free_hosts: self.free_hosts(),
            completed: std::mem::take(&mut self.completed),
            request: self.request.take(),
        }
    }

    /// A free address per zone, from the top of its block down.
    fn free_hosts(&self) -> BTreeMap<AvailabilityZone, std::net::Ipv4Addr> {
        let used: BTreeSet<_> = self.state.nodes.iter().map(|n| n.host).collect();
        self.spec
            .zone_blocks
            .iter()
            .filter_map(|(z, block)| {
                let host = block
                    .hosts()
                    .rev()
                    .filter(|h| h.octets()[3] != 1 && !used.contains(h))
                    .find(|h| std::net::TcpListener::bind((*h, self.spec.port)).is_ok())?;
                Some((z.clone(), host))
            })
            .collect()
    }

    /// One observe → decide → act pass.
    async fn reconcile(&mut self) {
        let observed = self.observe();
        let now = self.now();
        let decision = failover::decide(&self.spec, &self.state, &observed, now);
        let changed = decision.state != self.state;
        if changed && let Err(e) = persist::save_state(&self.dir, &decision.state) {
            // Nothing acts on a state that is not on disk: a crash would forget who may write.
            // Fencing is always safe and goes ahead; the rest is decided again next tick.
            tracing::error!(cluster = %self.spec.identifier, error = %e, "cannot persist the cluster state: only fencing goes ahead until it can be saved");
            self.completed = observed.completed;
            for action in decision.actions {
                if let failover::Action::Fence { node } | failover::Action::Kill { node } = &action
                {
                    if self.routed_writer.as_ref() == Some(node) {
                        self.route_writer(None, "the cluster state cannot be saved");
                    }
                    self.carry_out(action).await;
                }
            }
            return;
        }
        self.state = decision.state;
        for e in decision.events {
            self.record(e.kind, e.node, e.message);
        }
        let routes = failover::routes(&self.spec, &self.state, &observed, now);
        if !decision.actions.is_empty() && routes.writer != self.routed_writer {
            // The writer changes: close it before anything else happens.
            self.route_writer(None, &routes.refusal);
        }
        for action in decision.actions {
            if !self.carry_out(action).await {
                break;
            }
        }
        let observed = self.observe_quick(observed);
        let routes = failover::routes(&self.spec, &self.state, &observed, self.now());
        if routes.writer != self.routed_writer {
            self.route_writer(routes.writer.clone(), &routes.refusal);
        }
        if routes.readers != self.routed_readers {
            let targets = routes
                .readers
                .iter()
                .filter_map(|r| self.address(r).map(|a| (r.clone(), a)))
                .collect();
            self.opts
                .endpoints
                .readers(&self.spec.identifier, targets, &routes.refusal);
            self.routed_readers = routes.readers.clone();
        }
        self.report_faults(&observed);
        self.ensure_roles().await;
        self.publish(&observed);
    }

    /// The observation again after acting, keeping the probes (only completions are used).
    fn observe_quick(&mut self, mut observed: Observed) -> Observed {
        observed.completed.clear();
        observed.request = None;
        observed
    }

    fn address(&self, node: &str) -> Option<SocketAddr> {
        self.state
            .node(node)
            .map(|n| SocketAddr::from((n.host, self.spec.port)))
    }

    pub(crate) fn route_writer(&mut self, target: Option<String>, refusal: &str) {
        let addr = target.as_deref().and_then(|t| self.address(t));
        self.opts
            .endpoints
            .writer(&self.spec.identifier, target.clone().zip(addr), refusal);
        if let (Some(t), Some(f)) = (&target, &self.state.failover)
            && f.promoted.as_ref() == Some(t)
        {
            let ms = self.now().since(f.started).as_millis() as u64;
            self.record(
                failover::EventKind::Writes,
                Some(t.clone()),
                format!("writer endpoint → {t} ({}): writes accepted {ms} ms after the primary was lost", addr.map(|a| a.to_string()).unwrap_or_default()),
            );
        }
        self.routed_writer = target;
    }

    pub(crate) fn record(
        &mut self,
        kind: failover::EventKind,
        node: Option<String>,
        message: String,
    ) {
        let at = self.now();
        let since_failure_ms = self
            .state
            .failover
            .as_ref()
            .filter(|f| at.since(f.started) < Duration::from_secs(120))
            .map(|f| at.since(f.started).as_millis() as u64);
        let e = DbEvent {
            at,
            kind,
            node,
            message,
            since_failure_ms,
        };
        tracing::info!(cluster = %self.spec.identifier, kind = kind.as_str(), node = e.node.as_deref().unwrap_or("-"), since_failure_ms = ?since_failure_ms, "{}", e.message);
        persist::append_event(&self.dir, &e);
        self.events.push(e);
        if self.events.len() > 1000 {
            self.events.drain(..500);
        }
    }

    /// The master user's password follows the configuration (once per start).
    async fn ensure_roles(&mut self) {
        if self.roles_ensured {
            return;
        }
        let Some(p) = self.state.primary_node().filter(|p| p.status.is_running()) else {
            return;
        };
        let Ok(client) = crate::postgres::sql::connect(
            p.host,
            self.spec.port,
            &self.creds,
            Duration::from_secs(2),
        )
        .await
        else {
            return;
        };
        // Bounded: the controller never waits on a server for long.
        let applied = tokio::time::timeout(
            Duration::from_secs(5),
            crate::postgres::sql::ensure_roles(
                &client,
                &self.creds,
                &self.spec.username,
                &self.spec.password,
                self.spec.db_name.as_deref(),
            ),
        )
        .await;
        match applied {
            Ok(Ok(())) => self.roles_ensured = true,
            Ok(Err(e)) => {
                tracing::warn!(cluster = %self.spec.identifier, error = %e, "cannot set up updraft's roles and the master user yet")
            }
            Err(_) => {
                tracing::warn!(cluster = %self.spec.identifier, "setting up updraft's roles and the master user timed out; retrying")
            }
        }
    }

    fn publish(&mut self, observed: &Observed) {
        let v = self.view_with(observed);
        if v != self.last_status {
            self.last_status = v.clone();
            let _ = self.status_tx.send(v);
        }
    }

    fn view(&mut self) -> ClusterStatus {
        let observed = self.observe();
        self.completed = observed.completed.clone();
        self.view_with(&observed)
    }
}
