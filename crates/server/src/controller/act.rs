//! Decide and act: run `scaling::decide` for each group and carry out its actions —
//! launch processes, register and drain targets, stop processes — recording every change as a
//! scaling activity and in the store.

use std::collections::HashSet;
use std::time::Duration;

use compute::LaunchRequest;
use model::{AvailabilityZone, InstanceId, InstanceType, LifecycleState, Timestamp};
use scaling::placement::SubnetSlot;
use scaling::{Action, Observed};

use super::{Controller, Event};
use crate::addresses;
use crate::fleet::InstanceRecord;
use crate::routing;
use crate::store::{ActivityStatus, StoreError};
use crate::views::LaunchFailure;

/// Port an instance listens on when its group has no target group.
const DEFAULT_INSTANCE_PORT: u16 = 8080;

impl Controller {
    /// One pass of observe → decide → act over every group.
    pub(crate) async fn reconcile(&mut self) -> Result<(), StoreError> {
        self.probe_boots().await?;
        let seen = self.observe()?;
        let now = self.clock.now();
        let impaired = self.impaired_zones();
        self.autoscale(&seen, now);
        let mut routing_changed = false;
        let keys: Vec<String> = self.groups.keys().cloned().collect();
        for key in keys {
            let decision = {
                let group = &self.groups[&key];
                let spec = &group.spec;
                let views: Vec<_> = self
                    .group_instances(&key)
                    .into_iter()
                    .map(|i| {
                        let s = seen.get(i.id.as_str()).copied().unwrap_or_default();
                        i.view(s.health, s.in_flight)
                    })
                    .collect();
                let slots: Vec<SubnetSlot> = spec
                    .subnets
                    .iter()
                    .filter_map(|k| self.stack.subnets.get(k))
                    .map(|s| SubnetSlot {
                        subnet: s.name.clone(),
                        availability_zone: s.availability_zone.clone(),
                    })
                    .collect();
                let target_groups: Vec<_> = spec
                    .target_groups
                    .iter()
                    .filter_map(|k| self.stack.target_groups.get(k))
                    .collect();
                let hooks = self.stack.lifecycle_hooks_of(spec);
                let observed = Observed {
                    instances: &views,
                    subnets: &slots,
                    impaired_zones: &impaired,
                    current_template_version: self
                        .stack
                        .launch_template_of(spec)
                        .map_or(1, |t| t.version),
                    deregistration_delay: target_groups
                        .iter()
                        .map(|t| t.deregistration_delay)
                        .max()
                        .unwrap_or(Duration::ZERO),
                    has_target_groups: !target_groups.is_empty(),
                    lifecycle_hooks: &hooks,
                };
                scaling::decide(spec, &group.state, observed, now)
            };
            let group = self.groups.get_mut(&key).expect("key from groups");
            let state_changed = group.state != decision.state;
            group.state = decision.state;
            // Log when the reason for waiting changes, not every tick of a countdown.
            let gist = |w: &Option<String>| {
                w.as_deref()
                    .map(|w| w.split(';').next().unwrap_or(w).to_owned())
            };
            if gist(&group.waiting) != gist(&decision.waiting)
                && let Some(why) = &decision.waiting
            {
                tracing::info!(group = %group.spec.name, "{why}");
            }
            group.waiting = decision.waiting;
            for action in decision.actions {
                routing_changed |= self.carry_out(&key, action, now).await?;
            }
            let group = &self.groups[&key];
            if state_changed || group.state.desired_cause.is_some() {
                self.store.save_group(&group.spec, &group.state)?;
            }
        }
        // Groups removed from the configuration go once their last instance is gone.
        let gone: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.deleting && self.group_instances(&g.spec.key).is_empty())
            .map(|g| g.spec.key.clone())
            .collect();
        for key in gone {
            self.groups.remove(&key);
            self.store.delete_group(&key)?;
            tracing::info!(group = %key, "auto scaling group deleted");
            routing_changed = true;
        }
        if routing_changed {
            self.apply_routing().await;
        }
        Ok(())
    }

    /// Sends the data plane the snapshot for the current instances.
    pub(crate) async fn apply_routing(&self) {
        let live: Vec<InstanceRecord> = self.instances.values().cloned().collect();
        let deleting: Vec<_> = self
            .groups
            .values()
            .filter(|g| g.deleting)
            .map(|g| g.spec.clone())
            .collect();
        let mut snapshot =
            routing::snapshot_with(&self.stack, &deleting, &live, self.config.bind_host);
        snapshot.faults = self.drill_faults(&self.stack);
        if let Err(e) = self.data_plane.apply(snapshot).await {
            tracing::error!(error = %e, "the data plane refused a routing update");
        }
    }

    /// Carries out one action; returns whether routing (target registration) changed.
    async fn carry_out(
        &mut self,
        group: &str,
        action: Action,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        match action {
            Action::Launch {
                subnet,
                availability_zone,
                cause,
                warm_pool,
            } => {
                self.launch(group, &subnet, availability_zone, &cause, warm_pool, now)
                    .await?;
                Ok(false)
            }
            Action::PutInService { id } => {
                let Some(r) = self.instances.get_mut(&id) else {
                    return Ok(false);
                };
                r.lifecycle = LifecycleState::InService;
                r.in_service_at = Some(now);
                r.lifecycle_actions.clear();
                let r = r.clone();
                self.persist(&r)?;
                if let Some(activity) = self.store.open_activity(&id)? {
                    self.store
                        .finish_activity(activity, ActivityStatus::Successful, None, now)?;
                }
                tracing::info!(instance = %id, group, az = %r.availability_zone, address = %r.addr(), "instance InService");
                Ok(true)
            }
            Action::Deregister {
                id,
                cause,
                to_warm_pool,
            } => {
                let Some(r) = self.instances.get_mut(&id) else {
                    return Ok(false);
                };
                r.lifecycle = LifecycleState::Terminating;
                r.terminating_at = Some(now);
                r.to_warm_pool = to_warm_pool;
                r.lifecycle_actions.clear();
                let r = r.clone();
                self.persist(&r)?;
                // Taken out before it went InService (scale-in of a launching instance): its
                // launch ends here.
                if let Some(open) = self.store.open_activity(&id)?
                    && self.store.is_launch_activity(open)?
                {
                    self.store.finish_activity(
                        open,
                        ActivityStatus::Cancelled,
                        Some("the instance was taken out of service before it was InService"),
                        now,
                    )?;
                }
                let description = if to_warm_pool {
                    format!("Moving EC2 instance to the warm pool: {id}")
                } else {
                    format!("Terminating EC2 instance: {id}")
                };
                self.store
                    .start_activity(group, Some(&id), &description, &cause, now)?;
                tracing::info!(instance = %id, group, to_warm_pool, "instance Terminating (draining)");
                Ok(true)
            }
            Action::Terminate {
                id,
                cause,
                failed_launch,
            } => {
                self.terminate(group, &id, &cause, failed_launch, now)?;
                Ok(true)
            }
            Action::WaitForLifecycleActions { id, state, actions } => {
                self.wait_for_lifecycle_actions(&id, state, actions)
            }
            Action::EnterWarmPool { id, state } => {
                self.enter_warm_pool(&id, state, now).await?;
                Ok(false)
            }
            Action::LeaveWarmPool { id, cause } => {
                self.leave_warm_pool(group, &id, &cause, now)?;
                Ok(false)
            }
            Action::ReturnToWarmPool { id } => {
                self.return_to_warm_pool(&id, now)?;
                Ok(true)
            }
        }
    }

    async fn launch(
        &mut self,
        group: &str,
        subnet_key: &str,
        availability_zone: AvailabilityZone,
        cause: &str,
        warm_pool: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let id = InstanceId::from_bits(rand::random::<u128>());
        let description = if warm_pool {
            format!("Launching a new EC2 instance into warm pool: {id}")
        } else {
            format!("Launching a new EC2 instance: {id}")
        };
        let activity = self
            .store
            .start_activity(group, Some(&id), &description, cause, now)?;
        match self
            .spawn_instance(group, subnet_key, &availability_zone, &id, now)
            .await
        {
            Ok(mut record) => {
                if warm_pool {
                    record.lifecycle = LifecycleState::WarmedPending;
                    record.protected_from_scale_in = false;
                }
                tracing::info!(instance = %id, group, az = %availability_zone, address = %record.addr(), lifecycle = %record.lifecycle, "instance launched");
                self.persist(&record)?;
                self.instances.insert(id, record);
            }
            Err(reason) => {
                tracing::warn!(instance = %id, group, %reason, "launch failed");
                self.store
                    .finish_activity(activity, ActivityStatus::Failed, Some(&reason), now)?;
                let g = self.groups.get_mut(group).expect("group exists");
                g.state.record_launch_failure(now);
                g.last_failure = Some(LaunchFailure {
                    instance: id,
                    at: now,
                    reason,
                    log_tail: vec![],
                });
            }
        }
        Ok(())
    }

    /// Allocates an address and starts the process. The error is the activity's status message.
    async fn spawn_instance(
        &self,
        group: &str,
        subnet_key: &str,
        availability_zone: &AvailabilityZone,
        id: &InstanceId,
        now: Timestamp,
    ) -> Result<InstanceRecord, String> {
        if self.impaired_zones().contains(availability_zone) {
            // What EC2 answers during an AZ power interruption (the `stop-az` drill).
            return Err(format!(
                "InsufficientInstanceCapacity: We currently do not have sufficient capacity in the Availability Zone you requested ({availability_zone}). Launching EC2 instance failed."
            ));
        }
        let spec = &self.groups[group].spec;
        let template = self
            .stack
            .launch_template_of(spec)
            .ok_or("the group's launch template is missing")?;
        let instance_type = InstanceType::lookup(&template.instance_type)
            .ok_or_else(|| format!("unknown instance type {}", template.instance_type))?;
        let subnet = self
            .stack
            .subnets
            .get(subnet_key)
            .ok_or_else(|| format!("subnet {subnet_key} is missing"))?;
        let port = spec
            .target_groups
            .first()
            .and_then(|k| self.stack.target_groups.get(k))
            .map_or(DEFAULT_INSTANCE_PORT, |t| t.port);
        let in_use: HashSet<_> = self.instances.values().map(|i| i.host).collect();
        let host = addresses::allocate(subnet.loopback_block, port, &in_use, addresses::port_is_free)
            .ok_or_else(|| {
                format!(
                    "There is no free address in subnet {} ({}) for port {port}. Launching EC2 instance failed.",
                    subnet.name, subnet.loopback_block
                )
            })?;
        let request = LaunchRequest {
            id: id.clone(),
            availability_zone: availability_zone.clone(),
            host,
            port,
            user_data: template.user_data.clone(),
            instance_type,
            env: vec![
                ("UPDRAFT_ASG".into(), spec.name.clone()),
                ("UPDRAFT_INSTANCE_TYPE".into(), instance_type.name.into()),
                ("UPDRAFT_REGION".into(), self.stack.region.clone()),
                ("UPDRAFT_SUBNET".into(), subnet.id.clone()),
                // Lets user data answer lifecycle hooks: `updraft lifecycle complete …`.
                (
                    "UPDRAFT_STATE_DIR".into(),
                    self.config.state_dir.display().to_string(),
                ),
            ]
            .into_iter()
            .chain(crate::databases::instance_env(&self.stack))
            .collect(),
        };
        let process = self
            .provider
            .launch(request)
            .await
            .map_err(|e| e.to_string())?;
        Ok(InstanceRecord {
            id: id.clone(),
            group: group.to_owned(),
            availability_zone: availability_zone.clone(),
            subnet: subnet_key.to_owned(),
            host,
            port,
            lifecycle: LifecycleState::Pending,
            launched_at: now,
            in_service_at: None,
            terminating_at: None,
            terminated_at: None,
            launch_template_version: template.version,
            protected_from_scale_in: spec.protect_from_scale_in,
            process: Some(process),
            ever_healthy: false,
            exit_detail: None,
            log_tail: vec![],
            lifecycle_actions: vec![],
            booted: false,
            to_warm_pool: false,
        })
    }

    /// Marks an instance Terminated, closes its activities and stops its process in the
    /// background.
    fn terminate(
        &mut self,
        group: &str,
        id: &InstanceId,
        cause: &str,
        failed_launch: Option<String>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(mut record) = self.instances.remove(id) else {
            return Ok(());
        };
        record.lifecycle = LifecycleState::Terminated;
        record.terminated_at = Some(now);
        self.persist(&record)?;
        let open = self.store.open_activity(id)?;
        if let Some(reason) = failed_launch {
            let message = match record.log_tail.is_empty() {
                true => reason.clone(),
                false => format!("{reason}\n{}", record.log_tail.join("\n")),
            };
            let activity = match open {
                Some(a) => a,
                None => self.store.start_activity(
                    group,
                    Some(id),
                    &format!("Launching a new EC2 instance: {id}"),
                    cause,
                    record.launched_at,
                )?,
            };
            self.store
                .finish_activity(activity, ActivityStatus::Failed, Some(&message), now)?;
            tracing::warn!(instance = %id, group, %reason, "launch failed");
            if let Some(g) = self.groups.get_mut(group) {
                g.last_failure = Some(LaunchFailure {
                    instance: id.clone(),
                    at: now,
                    reason,
                    log_tail: record.log_tail.clone(),
                });
            }
        } else {
            // A launch still in progress (a warm pool instance trimmed while booting, say)
            // ends as Cancelled; the termination is an activity of its own.
            let open = match open {
                Some(a) if self.store.is_launch_activity(a)? => {
                    self.store.finish_activity(
                        a,
                        ActivityStatus::Cancelled,
                        Some("the instance was terminated before it was ready"),
                        now,
                    )?;
                    None
                }
                other => other,
            };
            // An open termination activity already has its cause (the scale-in, the health
            // check); how it ended (draining over, the termination hook's answer) is its
            // status message.
            let (activity, message) = match open {
                Some(a) => (a, Some(cause)),
                None => (
                    self.store.start_activity(
                        group,
                        Some(id),
                        &format!("Terminating EC2 instance: {id}"),
                        cause,
                        now,
                    )?,
                    None,
                ),
            };
            self.store
                .finish_activity(activity, ActivityStatus::Successful, message, now)?;
            tracing::info!(instance = %id, group, "instance Terminated");
        }
        if let Some(process) = record.process {
            self.stopping += 1;
            let provider = self.provider.clone();
            let events = self.events.clone();
            let grace = self.config.terminate_grace;
            let id = id.clone();
            tokio::spawn(async move {
                let error = provider
                    .terminate(&process, grace)
                    .await
                    .err()
                    .map(|e| e.to_string());
                let _ = events.send(Event::Stopped { id, error });
            });
        }
        Ok(())
    }

    /// Stops listeners, then every instance, and forgets the stack (the `updraft down` path).
    pub(crate) async fn shut_down(
        &mut self,
        events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    ) {
        let grace = self.config.terminate_grace.min(Duration::from_secs(5));
        self.data_plane.shutdown(grace).await;
        let now = self.clock.now();
        let cause = scaling::cause::group_deleted(now);
        let all: Vec<(String, InstanceId)> = self
            .instances
            .values()
            .map(|i| (i.group.clone(), i.id.clone()))
            .collect();
        let count = all.len();
        for (group, id) in all {
            if let Err(e) = self.terminate(&group, &id, &cause, None, now) {
                tracing::error!(error = %e, instance = %id, "could not record termination");
            }
        }
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(5);
        while self.stopping > 0 {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => self.on_event(event),
                _ => break,
            }
        }
        if self.stopping > 0 {
            tracing::error!(left = self.stopping, "some instances did not stop in time");
        }
        if let Err(e) = self.store.clear_stack() {
            tracing::error!(error = %e, "could not clear the stack from the state store");
        }
        tracing::info!(instances = count, "stack stopped");
    }
}
