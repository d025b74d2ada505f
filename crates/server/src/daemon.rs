//! Starting and stopping a stack: the daemon behind `updraft up`.
//!
//! [`Daemon::start`] opens the state store, adopts instances a crashed earlier run left behind,
//! binds every listener (all or nothing: a port in use is a config error pointing at the
//! listener's `port` line, and nothing is started), then starts the controller and the local
//! API and writes `daemon.json` so that other `updraft` commands find it.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use compute::{ProcessProvider, ProviderConfig};
use model::{LifecycleState, Location, ResourceAddress, Stack, Timestamp};
use proxy::{ApplyError, DataPlane, DataPlaneOptions, StickinessKey};
use scaling::GroupState;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::{SharedClock, SystemClock};
use crate::controller::{Controller, ControllerConfig, ControllerHandle, Group};
use crate::fleet::InstanceRecord;
use crate::store::{ActivityStatus, Store, StoreError};
use crate::{api, routing};

/// How to run a stack.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub state_dir: PathBuf,
    /// Where listeners bind (default loopback).
    pub bind_host: IpAddr,
    /// Local millicores per AWS vCPU.
    pub millicores_per_vcpu: u32,
    pub memory_scale: f64,
    /// Reconcile period.
    pub tick: Duration,
    /// SIGTERM-to-SIGKILL grace for instances.
    pub terminate_grace: Duration,
    /// How managed databases run.
    pub database: crate::databases::DatabaseOptions,
    /// The shape of target-tracking alarms (`fast` by default, `aws` for AWS's own).
    pub target_tracking_alarms: scaling::policy::AlarmShape,
}

impl DaemonOptions {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        DaemonOptions {
            state_dir: state_dir.into(),
            bind_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            millicores_per_vcpu: ProviderConfig::DEFAULT_MILLICORES_PER_VCPU,
            memory_scale: 1.0,
            tick: Duration::from_millis(250),
            terminate_grace: Duration::from_secs(10),
            database: Default::default(),
            target_tracking_alarms: scaling::policy::AlarmShape::FAST,
        }
    }
}

/// What `daemon.json` records about a running daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub api: SocketAddr,
    pub config: String,
    pub started_at: Timestamp,
}

impl DaemonInfo {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("daemon.json")
    }

    pub fn read(state_dir: &Path) -> Option<DaemonInfo> {
        let text = std::fs::read_to_string(Self::path(state_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Whether the recorded process still runs.
    pub fn is_alive(&self) -> bool {
        compute::procfs::read_stat(self.pid).is_some_and(|s| s.is_live())
    }
}

/// Why a stack could not start. Nothing is left half-started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "a stack is already running from {state_dir} (updraft pid {pid}); stop it with `updraft down`, or use another --state-dir"
    )]
    AlreadyRunning { pid: u32, state_dir: String },
    #[error("cannot use state directory {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{address}: cannot listen on {addr}: {source}{}\n  = help: choose another port, or stop what listens there (`ss -ltnp 'sport = :{}'`)",
        location.as_ref().map(|l| format!("\n  --> {l}")).unwrap_or_default(), addr.port())]
    Listener {
        address: ResourceAddress,
        addr: SocketAddr,
        location: Option<Location>,
        source: std::io::Error,
    },
    #[error("the data plane refused the stack: {0}")]
    DataPlane(ApplyError),
    #[error("cannot start the local API: {0}")]
    Api(std::io::Error),
    #[error(transparent)]
    Database(Box<crate::databases::DatabaseError>),
}

/// A running stack.
pub struct Daemon {
    handle: ControllerHandle,
    api_addr: SocketAddr,
    stop: watch::Sender<bool>,
    controller: JoinHandle<()>,
    api: JoinHandle<()>,
    data_plane: DataPlane,
    state_dir: PathBuf,
    databases: Arc<crate::databases::Databases>,
}

impl Daemon {
    /// Starts `loaded` (a parsed config) from `config_label` (its path, for status).
    pub async fn start(
        loaded: config::Loaded,
        config_label: String,
        options: DaemonOptions,
    ) -> Result<Daemon, StartError> {
        Self::start_with_clock(loaded, config_label, options, SystemClock::shared()).await
    }

    pub async fn start_with_clock(
        loaded: config::Loaded,
        config_label: String,
        options: DaemonOptions,
        clock: SharedClock,
    ) -> Result<Daemon, StartError> {
        let state_dir = options.state_dir.clone();
        std::fs::create_dir_all(&state_dir).map_err(|source| StartError::StateDir {
            path: state_dir.display().to_string(),
            source,
        })?;
        // Instances run in their own directories: every path handed to them must be absolute.
        let state_dir = std::path::absolute(&state_dir).map_err(|source| StartError::StateDir {
            path: state_dir.display().to_string(),
            source,
        })?;
        if let Some(info) = DaemonInfo::read(&state_dir)
            && info.is_alive()
            && info.pid != std::process::id()
        {
            return Err(StartError::AlreadyRunning {
                pid: info.pid,
                state_dir: state_dir.display().to_string(),
            });
        }
        let store = Store::open(&state_dir.join("state.db"))?;
        let stack = loaded.stack;
        for r in &stack.recorded {
            tracing::info!(resource = %r.address, "recorded, not simulated: {}", r.note);
        }

        let provider = Arc::new(ProcessProvider::new(ProviderConfig {
            state_dir: state_dir.clone(),
            scope: scope_of(&state_dir),
            millicores_per_vcpu: options.millicores_per_vcpu,
            memory_scale: options.memory_scale,
        }));
        tracing::info!(
            limits = %crate::controller::describe_limits(provider.limits()),
            "instance types are enforced with"
        );

        let now = clock.now();
        let instances = adopt(&store, &provider, &stack, now, options.terminate_grace)?;
        let groups = reconcile_groups(&store, &stack, now)?;

        // PostgreSQL installed, every database endpoint bound: checked before anything runs.
        let prepared = crate::databases::Databases::prepare(
            &stack,
            &loaded.sources,
            &state_dir,
            &options.database,
        )
        .await
        .map_err(|e| StartError::Database(Box::new(e)))?;
        let data_plane = DataPlane::with_options(DataPlaneOptions {
            stickiness_key: stickiness_key(&state_dir)?,
            // `UPDRAFT_HTTP1=hyper` serves HTTP/1.1 with hyper only, to compare the two paths.
            http1_fast_path: std::env::var("UPDRAFT_HTTP1").map_or(true, |v| v != "hyper"),
            ..DataPlaneOptions::default()
        });
        let live: Vec<InstanceRecord> = instances.values().cloned().collect();
        let snapshot = routing::snapshot(&stack, &live, options.bind_host);
        if let Err(e) = data_plane.apply(snapshot).await {
            prepared.abandon();
            return Err(match e {
                ApplyError::Bind {
                    listener,
                    addr,
                    source,
                } => {
                    let address = ResourceAddress::new("aws_lb_listener", listener);
                    StartError::Listener {
                        location: loaded.sources.get(&address, Some("port")).cloned(),
                        address,
                        addr,
                        source,
                    }
                }
                other => StartError::DataPlane(other),
            });
        }

        store.save_stack(&config_label, &stack, now)?;
        for g in groups.values() {
            store.save_group(&g.spec, &g.state)?;
        }

        let (api_listener, api_addr) = api::bind().await.map_err(StartError::Api)?;
        let databases = Arc::new(crate::databases::Databases::run(
            prepared,
            &state_dir,
            clock.clone(),
        ));
        let (stop, stop_rx) = watch::channel(false);
        let (tx, rx) = mpsc::channel(64);
        let handle = ControllerHandle::new(tx);
        let controller = Controller::new(
            stack,
            groups,
            instances,
            store,
            provider,
            data_plane.clone(),
            clock.clone(),
            ControllerConfig {
                tick: options.tick,
                terminate_grace: options.terminate_grace,
                bind_host: options.bind_host,
                target_tracking_alarms: options.target_tracking_alarms,
                state_dir: state_dir.clone(),
                config_label: config_label.clone(),
            },
        );
        let controller = controller.with_databases(databases.clone());
        let controller = tokio::spawn(controller.run(rx, stop_rx));
        let api = tokio::spawn(api::serve(
            api_listener,
            handle.clone(),
            stop.clone(),
            databases.clone(),
        ));

        let info = DaemonInfo {
            pid: std::process::id(),
            api: api_addr,
            config: config_label,
            started_at: now,
        };
        let json = serde_json::to_string_pretty(&info).expect("DaemonInfo serializes");
        std::fs::write(DaemonInfo::path(&state_dir), json).map_err(|source| {
            StartError::StateDir {
                path: state_dir.display().to_string(),
                source,
            }
        })?;
        tracing::info!(api = %api_addr, state_dir = %state_dir.display(), "updraft daemon running");
        Ok(Daemon {
            handle,
            api_addr,
            stop,
            controller,
            api,
            data_plane,
            state_dir,
            databases,
        })
    }

    pub fn handle(&self) -> ControllerHandle {
        self.handle.clone()
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Where each listener really listens.
    pub fn listener_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.data_plane.listener_addrs()
    }

    /// Resolves once a shutdown has been requested (through the API or [`Self::request_shutdown`]).
    pub async fn shutdown_requested(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    pub fn request_shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops listeners and every instance, forgets the stack, and returns when all is down.
    pub async fn shutdown(self) {
        self.request_shutdown();
        let _ = self.controller.await;
        let _ = self.api.await;
        self.databases.shutdown().await;
        let _ = std::fs::remove_file(DaemonInfo::path(&self.state_dir));
    }
}

/// The cgroup scope of a state directory: stable across runs, distinct between directories.
fn scope_of(state_dir: &Path) -> String {
    let canonical = state_dir
        .canonicalize()
        .unwrap_or_else(|_| state_dir.to_path_buf());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canonical.hash(&mut h);
    format!("stack-{:08x}", h.finish() as u32)
}

/// Re-finds instances an earlier run left running. Those still alive (same pid and start time)
/// and still wanted by a group of `stack` are kept; the others are recorded as Terminated (and
/// stopped, if they still run).
fn adopt(
    store: &Store,
    provider: &Arc<ProcessProvider>,
    stack: &Stack,
    now: Timestamp,
    grace: Duration,
) -> Result<BTreeMap<model::InstanceId, InstanceRecord>, StoreError> {
    let mut kept = BTreeMap::new();
    for mut record in store.live_instances()? {
        let alive = record.process.as_ref().and_then(|p| provider.adopt(p));
        let wanted = stack.auto_scaling_groups.contains_key(&record.group);
        let verdict = match (&alive, wanted) {
            (Some(_), true) => None,
            (Some(process), false) => {
                let provider = provider.clone();
                let process = process.clone();
                tokio::spawn(async move { provider.terminate(&process, grace).await });
                Some("its group is no longer in the configuration")
            }
            (None, _) => Some("it stopped while updraft was not running"),
        };
        match verdict {
            None => {
                tracing::info!(instance = %record.id, group = %record.group, "adopted instance left running by an earlier run");
                record.process = alive;
                kept.insert(record.id.clone(), record);
            }
            Some(why) => {
                record.lifecycle = LifecycleState::Terminated;
                record.terminated_at = Some(now);
                store.save_instance(&record)?;
                let activity = store.start_activity(
                    &record.group,
                    Some(&record.id),
                    &format!("Terminating EC2 instance: {}", record.id),
                    &format!(
                        "At {now} instance {} was found terminated: {why}.",
                        record.id
                    ),
                    now,
                )?;
                store.finish_activity(activity, ActivityStatus::Successful, None, now)?;
            }
        }
    }
    store.prune_terminated(now - Duration::from_secs(7 * 24 * 3600))?;
    Ok(kept)
}

/// Group states for `stack`: carried over (and re-specced) from an earlier run, or new.
fn reconcile_groups(
    store: &Store,
    stack: &Stack,
    now: Timestamp,
) -> Result<BTreeMap<String, Group>, StoreError> {
    let previous: BTreeMap<String, _> = store
        .load_groups()?
        .into_iter()
        .map(|(spec, state)| (spec.key.clone(), (spec, state)))
        .collect();
    store.clear_stack()?;
    Ok(stack
        .auto_scaling_groups
        .values()
        .map(|spec| {
            let state = match previous.get(&spec.key) {
                Some((old, state)) => scaling::asg::respec(old, spec, state, now),
                None => GroupState::new(spec),
            };
            (
                spec.key.clone(),
                Group {
                    spec: spec.clone(),
                    state,
                    waiting: None,
                    last_failure: None,
                    deleting: false,
                },
            )
        })
        .collect())
}

/// The stack's stickiness key, kept in `stickiness.key` in the state directory so that
/// stickiness cookies stay valid across restarts of updraft. Created (random) on first use.
fn stickiness_key(state_dir: &Path) -> Result<StickinessKey, StartError> {
    let path = state_dir.join("stickiness.key");
    let err = |source| StartError::StateDir {
        path: path.display().to_string(),
        source,
    };
    let parse = |text: &str| -> Option<[u8; 32]> {
        let text = text.trim();
        let mut key = [0u8; 32];
        if text.len() != 64 {
            return None;
        }
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(key)
    };
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some(key) = parse(&text)
    {
        return Ok(StickinessKey::new(key));
    }
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, hex).map_err(err)?;
    Ok(StickinessKey::new(key))
}
