//! The control plane's reconcile loop for auto scaling groups.
//!
//! One task owns the control plane's mutable state — the stack, each group's [`GroupState`],
//! the instance records, the store — and runs `observe → decide → act` every tick:
//! [`observe`] refreshes process status and target health, `scaling::decide` (pure) returns
//! actions, [`act`] carries them out (launch, register, drain, terminate) and persists the
//! result. Commands from the API (status, set desired capacity, shutdown) are served between
//! ticks, so no lock is shared with anything else. The data plane only ever receives new
//! snapshots; it never waits for this loop.

mod act;
mod apply;
mod autoscale;
mod drills;
mod lifecycle;
mod observe;
mod refresh;
mod status;

pub use apply::ApplyRefused;
pub use lifecycle::{LifecycleActionAnswer, MAX_PROTECTION_IDS};
pub use refresh::RefreshOverrides;
pub(crate) use status::describe_limits;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use compute::ProcessProvider;
use model::{InstanceId, LifecycleActionResult, Stack};
use proxy::DataPlane;
use scaling::{GroupState, InstanceRefresh};
use tokio::sync::{mpsc, oneshot};

use crate::chaos::{Drill, DrillSpec};
use crate::clock::SharedClock;
use crate::fleet::InstanceRecord;
use crate::store::{Activity, Store, StoreError};
use crate::views::{LaunchFailure, StackStatus};

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Reconcile period. Short, because reacting in about a second is the point.
    pub tick: Duration,
    /// SIGTERM-to-SIGKILL grace when an instance is terminated.
    pub terminate_grace: Duration,
    /// Where listeners bind.
    pub bind_host: IpAddr,
    /// The shape of the alarms target-tracking policies create.
    pub target_tracking_alarms: scaling::policy::AlarmShape,
    pub state_dir: PathBuf,
    pub config_label: String,
}

/// A request to the controller, answered between ticks.
pub enum Command {
    Status(oneshot::Sender<StackStatus>),
    SetDesiredCapacity {
        group: String,
        desired: u32,
        reply: oneshot::Sender<Result<u32, String>>,
    },
    Activities {
        group: String,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<Activity>, String>>,
    },
    /// The stack as applied, for `updraft plan`.
    Stack(oneshot::Sender<Stack>),
    /// Metrics and their statistics (`updraft metrics`).
    Metrics {
        query: crate::metrics_api::MetricsQuery,
        reply: oneshot::Sender<Result<Vec<crate::metrics_api::MetricView>, String>>,
    },
    /// Alarm states (`updraft alarms`).
    Alarms(oneshot::Sender<Vec<scaling::autoscaler::AlarmView>>),
    /// Apply a changed configuration (`updraft apply`).
    Apply {
        stack: Box<Stack>,
        sources: model::SourceMap,
        label: String,
        reply: oneshot::Sender<Result<config::Plan, ApplyRefused>>,
    },
    /// Start a failure drill (`updraft chaos …`).
    StartDrill {
        spec: DrillSpec,
        reply: oneshot::Sender<Result<Drill, String>>,
    },
    /// End a drill early and undo it.
    StopDrill {
        id: String,
        reply: oneshot::Sender<Result<Drill, String>>,
    },
    Drill {
        id: String,
        reply: oneshot::Sender<Result<Drill, String>>,
    },
    Drills(oneshot::Sender<Result<Vec<Drill>, String>>),
    /// `SetInstanceProtection`.
    SetInstanceProtection {
        group: String,
        instances: Vec<String>,
        protected: bool,
        reply: oneshot::Sender<Result<Vec<InstanceId>, String>>,
    },
    /// `CompleteLifecycleAction` (with a result) or `RecordLifecycleActionHeartbeat`.
    LifecycleAction {
        group: String,
        hook: String,
        instance: String,
        result: Option<LifecycleActionResult>,
        reply: oneshot::Sender<Result<LifecycleActionAnswer, String>>,
    },
    /// `StartInstanceRefresh`.
    StartInstanceRefresh {
        group: String,
        overrides: RefreshOverrides,
        reply: oneshot::Sender<Result<InstanceRefresh, String>>,
    },
    /// `DescribeInstanceRefreshes`, newest first.
    InstanceRefreshes {
        group: String,
        reply: oneshot::Sender<Result<Vec<InstanceRefresh>, String>>,
    },
    /// `CancelInstanceRefresh`.
    CancelInstanceRefresh {
        group: String,
        reply: oneshot::Sender<Result<InstanceRefresh, String>>,
    },
}

/// Something a background task reports back.
pub(crate) enum Event {
    /// An instance's process has been stopped.
    Stopped {
        id: InstanceId,
        error: Option<String>,
    },
}

/// Sends commands to a running controller.
#[derive(Clone)]
pub struct ControllerHandle {
    tx: mpsc::Sender<Command>,
}

impl ControllerHandle {
    pub(crate) fn new(tx: mpsc::Sender<Command>) -> Self {
        ControllerHandle { tx }
    }

    pub async fn status(&self) -> Option<StackStatus> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Status(reply)).await.ok()?;
        rx.await.ok()
    }

    pub async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<u32, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::SetDesiredCapacity {
                group: group.to_owned(),
                desired,
                reply,
            })
            .await
            .map_err(|_| "the stack is shutting down".to_string())?;
        rx.await
            .map_err(|_| "the stack is shutting down".to_string())?
    }

    pub async fn metrics(
        &self,
        query: crate::metrics_api::MetricsQuery,
    ) -> Result<Vec<crate::metrics_api::MetricView>, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Metrics { query, reply })
            .await
            .map_err(|_| "the stack is shutting down".to_string())?;
        rx.await
            .map_err(|_| "the stack is shutting down".to_string())?
    }

    pub async fn alarms(&self) -> Option<Vec<scaling::autoscaler::AlarmView>> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Alarms(reply)).await.ok()?;
        rx.await.ok()
    }

    pub async fn stack(&self) -> Option<Stack> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Stack(reply)).await.ok()?;
        rx.await.ok()
    }

    pub async fn apply(
        &self,
        stack: Stack,
        sources: model::SourceMap,
        label: String,
    ) -> Result<config::Plan, ApplyRefused> {
        let down = || ApplyRefused {
            message: "the stack is shutting down".into(),
            location: None,
        };
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Apply {
                stack: Box::new(stack),
                sources,
                label,
                reply,
            })
            .await
            .map_err(|_| down())?;
        rx.await.map_err(|_| down())?
    }

    pub async fn start_drill(&self, spec: DrillSpec) -> Result<Drill, String> {
        self.ask(|reply| Command::StartDrill { spec, reply }).await
    }

    pub async fn stop_drill(&self, id: &str) -> Result<Drill, String> {
        let id = id.to_owned();
        self.ask(|reply| Command::StopDrill { id, reply }).await
    }

    pub async fn drill(&self, id: &str) -> Result<Drill, String> {
        let id = id.to_owned();
        self.ask(|reply| Command::Drill { id, reply }).await
    }

    pub async fn drills(&self) -> Result<Vec<Drill>, String> {
        self.ask(Command::Drills).await
    }

    /// Sends a command built around a reply channel and waits for the answer.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Command,
    ) -> Result<T, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| "the stack is shutting down".to_string())?;
        rx.await
            .map_err(|_| "the stack is shutting down".to_string())?
    }

    pub async fn set_instance_protection(
        &self,
        group: &str,
        instances: Vec<String>,
        protected: bool,
    ) -> Result<Vec<InstanceId>, String> {
        let group = group.to_owned();
        self.ask(|reply| Command::SetInstanceProtection {
            group,
            instances,
            protected,
            reply,
        })
        .await
    }

    pub async fn lifecycle_action(
        &self,
        group: &str,
        hook: &str,
        instance: &str,
        result: Option<LifecycleActionResult>,
    ) -> Result<LifecycleActionAnswer, String> {
        let (group, hook, instance) = (group.to_owned(), hook.to_owned(), instance.to_owned());
        self.ask(|reply| Command::LifecycleAction {
            group,
            hook,
            instance,
            result,
            reply,
        })
        .await
    }

    pub async fn start_instance_refresh(
        &self,
        group: &str,
        overrides: RefreshOverrides,
    ) -> Result<InstanceRefresh, String> {
        let group = group.to_owned();
        self.ask(|reply| Command::StartInstanceRefresh {
            group,
            overrides,
            reply,
        })
        .await
    }

    pub async fn instance_refreshes(&self, group: &str) -> Result<Vec<InstanceRefresh>, String> {
        let group = group.to_owned();
        self.ask(|reply| Command::InstanceRefreshes { group, reply })
            .await
    }

    pub async fn cancel_instance_refresh(&self, group: &str) -> Result<InstanceRefresh, String> {
        let group = group.to_owned();
        self.ask(|reply| Command::CancelInstanceRefresh { group, reply })
            .await
    }

    pub async fn activities(&self, group: &str, limit: usize) -> Result<Vec<Activity>, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Activities {
                group: group.to_owned(),
                limit,
                reply,
            })
            .await
            .map_err(|_| "the stack is shutting down".to_string())?;
        rx.await
            .map_err(|_| "the stack is shutting down".to_string())?
    }
}

/// Per-group runtime: the spec it runs, its state, and what `updraft status` says about it.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub spec: model::AutoScalingGroup,
    pub state: GroupState,
    pub waiting: Option<String>,
    pub last_failure: Option<LaunchFailure>,
    /// Removed from the configuration: scaled to zero, dropped once its instances are gone.
    pub deleting: bool,
}

/// The controller's state.
pub struct Controller {
    pub(crate) stack: Stack,
    pub(crate) groups: BTreeMap<String, Group>,
    /// Live instances (not Terminated).
    pub(crate) instances: BTreeMap<InstanceId, InstanceRecord>,
    pub(crate) store: Store,
    pub(crate) provider: Arc<ProcessProvider>,
    pub(crate) data_plane: DataPlane,
    pub(crate) clock: SharedClock,
    pub(crate) config: ControllerConfig,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    events_rx: Option<mpsc::UnboundedReceiver<Event>>,
    /// Terminations still running in the background.
    pub(crate) stopping: usize,
    /// Failure drills that have not finished, by id.
    pub(crate) drills: BTreeMap<String, Drill>,
    /// Per running fault drill: the fault id the data plane knows and its duration, fixed when
    /// this process first injects it (so a re-applied snapshot never extends a fault).
    pub(crate) fault_budgets: BTreeMap<String, (String, Duration)>,
    /// The managed databases (their own controllers); this one tells them which zones are
    /// down and shows their status.
    pub(crate) databases: Arc<crate::databases::Databases>,
    /// Zones powered off by drills, as the databases were last told.
    pub(crate) db_zones_down: std::collections::BTreeSet<model::AvailabilityZone>,
    /// Metrics store, alarms and scaling policies.
    pub(crate) autoscale: autoscale::Autoscale,
}

impl Controller {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        stack: Stack,
        groups: BTreeMap<String, Group>,
        instances: BTreeMap<InstanceId, InstanceRecord>,
        store: Store,
        provider: Arc<ProcessProvider>,
        data_plane: DataPlane,
        clock: SharedClock,
        config: ControllerConfig,
    ) -> Controller {
        let (events, events_rx) = mpsc::unbounded_channel();
        let autoscale =
            autoscale::Autoscale::new(&stack, config.target_tracking_alarms, clock.now());
        Controller {
            autoscale,
            stack,
            groups,
            instances,
            store,
            provider,
            data_plane,
            clock,
            config,
            events,
            events_rx: Some(events_rx),
            stopping: 0,
            drills: BTreeMap::new(),
            fault_budgets: BTreeMap::new(),
            databases: Arc::new(crate::databases::Databases::none()),
            db_zones_down: Default::default(),
        }
    }

    /// Hands over the running databases.
    pub(crate) fn with_databases(mut self, databases: Arc<crate::databases::Databases>) -> Self {
        self.databases = databases;
        self
    }

    /// Tells the databases which zones are down (without waiting for them).
    pub(crate) fn tell_databases_zones(&self) {
        let zones = self.db_zones_down.clone();
        let databases = self.databases.clone();
        tokio::spawn(async move { databases.zones_down(zones).await });
    }

    /// Runs until `shutdown` fires, then terminates every instance and returns.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut events = self.events_rx.take().expect("run is called once");
        self.resume_drills().await;
        if !self.drills.is_empty() {
            self.apply_routing().await;
        }
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.reconcile().await {
                        tracing::error!(error = %e, "reconcile failed; retrying next tick");
                    }
                    self.tick_drills().await;
                }
                Some(cmd) = commands.recv() => self.handle(cmd).await,
                Some(event) = events.recv() => self.on_event(event),
                _ = shutdown.changed() => break,
            }
        }
        self.stop_all_drills("the stack was stopped").await;
        self.shut_down(&mut events).await;
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Stack(reply) => {
                let _ = reply.send(self.stack.clone());
            }
            Command::Metrics { query, reply } => {
                let now = self.clock.now();
                let _ = reply.send(crate::metrics_api::answer(
                    &self.autoscale.store,
                    &query,
                    now,
                ));
            }
            Command::Alarms(reply) => {
                let _ = reply.send(self.autoscale.autoscaler.alarm_views());
            }
            Command::Apply {
                stack,
                sources,
                label,
                reply,
            } => {
                let _ = reply.send(self.apply_stack(*stack, sources, label).await);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::StartDrill { spec, reply } => {
                let _ = reply.send(self.start_drill(spec).await);
            }
            Command::StopDrill { id, reply } => {
                let _ = reply.send(self.stop_drill(&id, "stopped early by the user").await);
            }
            Command::Drill { id, reply } => {
                let _ = reply.send(self.drill(&id));
            }
            Command::Drills(reply) => {
                let _ = reply.send(self.list_drills());
            }
            Command::SetDesiredCapacity {
                group,
                desired,
                reply,
            } => {
                let _ = reply.send(self.set_desired_capacity(&group, desired));
            }
            Command::SetInstanceProtection {
                group,
                instances,
                protected,
                reply,
            } => {
                let _ = reply.send(self.set_instance_protection(&group, &instances, protected));
            }
            Command::LifecycleAction {
                group,
                hook,
                instance,
                result,
                reply,
            } => {
                let _ = reply.send(self.lifecycle_action(&group, &hook, &instance, result));
            }
            Command::StartInstanceRefresh {
                group,
                overrides,
                reply,
            } => {
                let _ = reply.send(self.start_instance_refresh(&group, &overrides));
            }
            Command::InstanceRefreshes { group, reply } => {
                let _ = reply.send(self.instance_refreshes(&group));
            }
            Command::CancelInstanceRefresh { group, reply } => {
                let _ = reply.send(self.cancel_instance_refresh(&group));
            }
            Command::Activities {
                group,
                limit,
                reply,
            } => {
                let result = match self.find_group(&group) {
                    Some(key) => self
                        .store
                        .activities(&key, limit)
                        .map_err(|e| e.to_string()),
                    None => Err(self.no_such_group(&group)),
                };
                let _ = reply.send(result);
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Stopped { id, error } => {
                self.stopping = self.stopping.saturating_sub(1);
                if let Some(error) = error {
                    tracing::warn!(instance = %id, %error, "instance did not stop cleanly");
                }
            }
        }
    }

    /// Finds a group by AWS name, then by resource name; returns its key.
    pub(crate) fn find_group(&self, name: &str) -> Option<String> {
        self.stack.auto_scaling_group(name).map(|g| g.key.clone())
    }

    pub(crate) fn no_such_group(&self, name: &str) -> String {
        let names: Vec<_> = self.groups.values().map(|g| g.spec.name.as_str()).collect();
        format!(
            "no auto scaling group named `{name}` in this stack; groups: {}",
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        )
    }

    fn set_desired_capacity(&mut self, name: &str, desired: u32) -> Result<u32, String> {
        let key = self
            .find_group(name)
            .ok_or_else(|| self.no_such_group(name))?;
        let now = self.clock.now();
        let group = self.groups.get_mut(&key).expect("stack and groups agree");
        let next = scaling::asg::set_desired_capacity(&group.spec, &group.state, desired, now)
            .map_err(|e| e.to_string())?;
        group.state = next;
        self.store
            .save_group(&group.spec, &group.state)
            .map_err(|e| e.to_string())?;
        tracing::info!(group = %group.spec.name, desired, "desired capacity set");
        Ok(desired)
    }

    /// A group seen through warmup, for metrics: which InService instances contribute to the
    /// group's aggregated metrics and which are still warming up (launching, held by a launch
    /// hook, or InService for less than `warmup`; see `scaling::warmup::effective`).
    pub(crate) fn warmup_view(
        &self,
        key: &str,
        warmup: Duration,
    ) -> Option<scaling::warmup::WarmupView> {
        self.groups.get(key)?;
        let views: Vec<_> = self
            .group_instances(key)
            .into_iter()
            .map(|i| i.view(None, 0))
            .collect();
        Some(scaling::warmup::view(&views, warmup, self.clock.now()))
    }

    /// Instances of one group, oldest first.
    pub(crate) fn group_instances(&self, key: &str) -> Vec<&InstanceRecord> {
        let mut v: Vec<_> = self.instances.values().filter(|i| i.group == key).collect();
        v.sort_by_key(|i| (i.launched_at, i.id.clone()));
        v
    }

    pub(crate) fn persist(&self, record: &InstanceRecord) -> Result<(), StoreError> {
        self.store.save_instance(record)
    }
}
