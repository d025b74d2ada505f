//! Failure drills, carried out: start (validate whole, persist, then break), advance every tick
//! (`chaos::advance`, pure), undo, stop early, and resume or undo after a daemon restart.
//!
//! Zone outages go through [`Controller::zone_power_off`] / [`Controller::zone_power_on`]: the
//! auto scaling side (instances stop; the zone takes no launches while a `stop-az` drill is
//! active, see [`Controller::impaired_zones`]) lives here, and the database controller hooks its
//! nodes into the same two methods (stop the nodes in the zone, start them again).

use std::collections::BTreeMap;
use std::time::Duration;

use model::{AvailabilityZone, LifecycleState, TargetHealthState};

use super::Controller;
use crate::chaos::{
    self, Baseline, Candidate, Drill, DrillAction, DrillSpec, GroupObservation, Observation,
    ObservedInstance, Phase, netfilter, progress,
};

/// How many finished drills `updraft chaos list` shows.
const LIST_LIMIT: usize = 20;

impl Controller {
    /// Zones that cannot take launches now: those of active `stop-az` drills.
    pub(crate) fn impaired_zones(&self) -> Vec<AvailabilityZone> {
        self.drills
            .values()
            .filter(|d| d.phase == Phase::Active && matches!(d.spec, DrillSpec::StopAz { .. }))
            .filter_map(|d| d.spec.zone())
            .collect()
    }

    /// The faults active drills inject, for the routing snapshot; only for target groups `stack`
    /// still has.
    pub(crate) fn drill_faults(&self, stack: &model::Stack) -> Vec<proxy::FaultConfig> {
        self.drills
            .values()
            .filter(|d| d.phase == Phase::Active)
            .filter_map(|d| {
                let (target_group, zone, kind, percent) = match &d.spec {
                    DrillSpec::Latency {
                        target_group,
                        availability_zone,
                        delay_ms,
                        jitter_ms,
                        percent,
                        ..
                    } => (
                        target_group,
                        availability_zone,
                        proxy::FaultKind::Latency {
                            delay: Duration::from_millis(*delay_ms),
                            jitter: Duration::from_millis(*jitter_ms),
                        },
                        *percent,
                    ),
                    DrillSpec::Errors {
                        target_group,
                        availability_zone,
                        percent,
                        status,
                        ..
                    } => (
                        target_group,
                        availability_zone,
                        status.map_or(proxy::FaultKind::Reset, proxy::FaultKind::Status),
                        *percent,
                    ),
                    _ => return None,
                };
                let tg = stack
                    .target_groups
                    .values()
                    .find(|t| t.name == *target_group || t.key == *target_group)?;
                let (id, duration) = self.fault_budgets.get(&d.id)?.clone();
                Some(proxy::FaultConfig {
                    id,
                    target_group: tg.key.clone(),
                    availability_zone: zone.as_ref().map(|z| AvailabilityZone::new(z.clone())),
                    kind,
                    percent,
                    duration,
                })
            })
            .collect()
    }

    /// Power off a zone (the `stop-az` drill): every instance there stops at once (SIGKILL; the
    /// groups see them exit and replace them elsewhere). Database nodes in the zone: hook here.
    pub(crate) fn zone_power_off(&mut self, zone: &AvailabilityZone) {
        let victims: Vec<_> = self
            .instances
            .values()
            .filter(|i| i.availability_zone == *zone && i.is_live())
            .filter_map(|i| i.process.clone())
            .collect();
        for p in victims {
            if let Err(e) = self.provider.kill(&p) {
                tracing::warn!(instance = %p.id, error = %e, "could not stop instance");
            }
        }
        self.db_zones_down.insert(zone.clone());
        self.tell_databases_zones();
        tracing::warn!(az = %zone, "availability zone powered off (drill)");
    }

    /// Power a zone back on: it takes launches again (the groups rebalance into it).
    /// Database nodes in the zone: hook here.
    pub(crate) fn zone_power_on(&mut self, zone: &AvailabilityZone) {
        self.db_zones_down.remove(zone);
        self.tell_databases_zones();
        tracing::info!(az = %zone, "availability zone powered on again (drill over)");
    }

    /// Starts a drill: checked whole against the running stack first; nothing changes on error.
    pub(crate) async fn start_drill(&mut self, spec: DrillSpec) -> Result<Drill, String> {
        let candidates: Vec<Candidate> = self
            .instances
            .values()
            .map(|i| Candidate {
                id: i.id.clone(),
                group: i.group.clone(),
                group_name: self
                    .groups
                    .get(&i.group)
                    .map_or(i.group.clone(), |g| g.spec.name.clone()),
                availability_zone: i.availability_zone.clone(),
                lifecycle: i.lifecycle,
            })
            .collect();
        let running: Vec<&Drill> = self.drills.values().collect();
        let victims = chaos::plan(&spec, &self.stack, &candidates, &running, |n| {
            rand::random_range(0..n)
        })?;
        let blocks = self.zone_blocks(&spec);
        if matches!(spec, DrillSpec::PartitionAz { .. }) {
            netfilter::available().await?;
        }

        let now = self.clock.now();
        let id = format!("drill-{:08x}", rand::random::<u32>());
        let baseline = Baseline {
            healthy: self.healthy_per_group(),
            counters: self.data_plane.target_group_counters(),
        };
        let mut drill = Drill::start(id.clone(), spec.clone(), baseline, victims.clone(), now);
        // Recorded before the fault is in place: a crash right after still finds and undoes it.
        self.store
            .save_drill(&drill)
            .map_err(|e| format!("cannot record the drill: {e}"))?;

        match &spec {
            DrillSpec::KillInstance { .. } => {
                for v in &victims {
                    let process = self.instances.get(v).and_then(|i| i.process.clone());
                    if let Some(p) = process
                        && let Err(e) = self.provider.kill(&p)
                    {
                        let (d, _) = progress::stop(&drill, now, "could not kill the instance");
                        let _ = self.store.save_drill(&d);
                        return Err(format!("cannot SIGKILL instance {v}: {e}"));
                    }
                    tracing::warn!(instance = %v, drill = %id, "instance SIGKILLed (drill)");
                }
            }
            DrillSpec::StopAz { .. } => {
                let zone = spec.zone().expect("a zone drill");
                self.zone_power_off(&zone);
            }
            DrillSpec::Latency { .. } | DrillSpec::Errors { .. } => {}
            DrillSpec::PartitionAz { .. } => {
                let table = netfilter::table_name(&self.provider.config().scope, &id);
                if let Err(e) = netfilter::apply(&table, &blocks).await {
                    let (d, _) = progress::stop(&drill, now, "nftables refused the partition");
                    let _ = self.store.save_drill(&d);
                    return Err(e);
                }
                tracing::warn!(az = ?spec.zone(), %table, "availability zone partitioned (drill)");
            }
        }
        if let Some(until) = drill.fault_until {
            self.fault_budgets.insert(
                id.clone(),
                (format!("{id}@{}", now.as_millis()), until.since(now)),
            );
        }
        drill.log(now, format!("victims: {}", describe_victims(&victims)));
        self.drills.insert(id.clone(), drill.clone());
        if matches!(spec, DrillSpec::Latency { .. } | DrillSpec::Errors { .. }) {
            self.apply_routing().await;
        }
        tracing::info!(drill = %id, "{}", spec.describe());
        Ok(drill)
    }

    /// One tick of every running drill.
    pub(crate) async fn tick_drills(&mut self) {
        if self.drills.is_empty() {
            return;
        }
        let now = self.clock.now();
        let obs = self.observation();
        let ids: Vec<String> = self.drills.keys().cloned().collect();
        let mut routing = false;
        for id in ids {
            let (next, actions) = chaos::advance(&self.drills[&id], &obs, now);
            routing |= self.carry_out_drill(&next, &actions).await;
            self.finish_tick(next, &actions);
        }
        if routing {
            self.apply_routing().await;
        }
    }

    /// Ends a drill early and undoes it (Ctrl-C on `updraft chaos`, `updraft chaos stop`).
    pub(crate) async fn stop_drill(&mut self, id: &str, why: &str) -> Result<Drill, String> {
        let Some(drill) = self.drills.get(id).cloned() else {
            return match self.store.drill(id) {
                Ok(Some(d)) => Ok(d),
                _ => Err(format!(
                    "no drill `{id}`; `updraft chaos list` shows the drills"
                )),
            };
        };
        let (next, actions) = progress::stop(&drill, self.clock.now(), why);
        let routing = self.carry_out_drill(&next, &actions).await;
        // Out of the running set first, so the snapshot no longer carries its fault.
        self.finish_tick(next.clone(), &actions);
        if routing {
            self.apply_routing().await;
        }
        Ok(next)
    }

    /// Ends and undoes every running drill (`updraft down`).
    pub(crate) async fn stop_all_drills(&mut self, why: &str) {
        let ids: Vec<String> = self.drills.keys().cloned().collect();
        for id in ids {
            if let Err(e) = self.stop_drill(&id, why).await {
                tracing::error!(drill = %id, error = %e, "cannot stop drill");
            }
        }
    }

    pub(crate) fn drill(&self, id: &str) -> Result<Drill, String> {
        if let Some(d) = self.drills.get(id) {
            return Ok(d.clone());
        }
        match self.store.drill(id) {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(format!(
                "no drill `{id}`; `updraft chaos list` shows the drills"
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    pub(crate) fn list_drills(&self) -> Result<Vec<Drill>, String> {
        self.store
            .drills(false, LIST_LIMIT)
            .map(|mut all| {
                // The live records are fresher than the last persisted ones.
                for d in &mut all {
                    if let Some(live) = self.drills.get(&d.id) {
                        *d = live.clone();
                    }
                }
                all
            })
            .map_err(|e| e.to_string())
    }

    /// After a restart: drills whose fault time is over are ended and undone; the others go on.
    /// nftables tables of this stack that no running drill owns are removed.
    pub(crate) async fn resume_drills(&mut self) {
        let now = self.clock.now();
        let running = match self.store.drills(true, 1000) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot read drills from the state store");
                return;
            }
        };
        for d in running {
            let over = d.fault_until.is_none_or(|t| now >= t) || now >= d.deadline;
            if over {
                let (next, actions) = progress::stop(
                    &d,
                    now,
                    "ended after updraft restarted; its fault was undone at restart",
                );
                self.carry_out_drill(&next, &actions).await;
                self.finish_tick(next, &actions);
                tracing::info!(drill = %d.id, "expired drill undone after restart");
            } else {
                if let Some(until) = d.fault_until {
                    self.fault_budgets.insert(
                        d.id.clone(),
                        (format!("{}@{}", d.id, now.as_millis()), until.since(now)),
                    );
                }
                tracing::info!(drill = %d.id, "drill resumed after restart");
                self.drills.insert(d.id.clone(), d);
            }
        }
        let scope = self.provider.config().scope.clone();
        let owned: Vec<String> = self
            .drills
            .values()
            .filter(|d| matches!(d.spec, DrillSpec::PartitionAz { .. }))
            .map(|d| netfilter::table_name(&scope, &d.id))
            .collect();
        for table in netfilter::tables_of(&scope).await {
            if !owned.contains(&table) {
                match netfilter::delete(&table).await {
                    Ok(()) => tracing::info!(%table, "removed a partition left by a crashed run"),
                    Err(e) => tracing::error!(%table, error = %e, "cannot remove partition"),
                }
            }
        }
    }

    /// Carries out a drill's actions; returns whether routing must be re-applied.
    async fn carry_out_drill(&mut self, next: &Drill, actions: &[DrillAction]) -> bool {
        let mut routing = false;
        if actions.contains(&DrillAction::Restore) {
            match &next.spec {
                DrillSpec::StopAz { .. } => {
                    if let Some(z) = next.spec.zone() {
                        self.zone_power_on(&z);
                    }
                }
                DrillSpec::Latency { .. } | DrillSpec::Errors { .. } => routing = true,
                DrillSpec::PartitionAz { .. } => {
                    let table = netfilter::table_name(&self.provider.config().scope, &next.id);
                    match netfilter::delete(&table).await {
                        Ok(()) => tracing::info!(%table, "partition removed"),
                        Err(e) => tracing::error!(%table, error = %e, "cannot remove partition"),
                    }
                }
                DrillSpec::KillInstance { .. } => {}
            }
        }
        routing
    }

    /// Stores the advanced record: persisted when it changed, dropped from the running set once
    /// finished.
    fn finish_tick(&mut self, next: Drill, actions: &[DrillAction]) {
        if !actions.is_empty()
            && let Err(e) = self.store.save_drill(&next)
        {
            tracing::error!(drill = %next.id, error = %e, "cannot persist drill");
        }
        if next.is_finished() {
            let r = next.report();
            tracing::info!(
                drill = %next.id,
                ended_by = next.ended_by.as_deref().unwrap_or(""),
                time_to_detect_ms = ?r.time_to_detect_ms,
                time_to_recover_ms = ?r.time_to_recover_ms,
                requests = r.requests,
                failed = r.failed,
                "drill finished"
            );
            self.fault_budgets.remove(&next.id);
            self.drills.remove(&next.id);
        } else {
            self.drills.insert(next.id.clone(), next);
        }
    }

    fn observation(&self) -> Observation {
        let health = self.instance_health();
        let instances = self
            .instances
            .values()
            .filter(|i| i.is_live())
            .map(|i| {
                let has_tgs = self
                    .groups
                    .get(&i.group)
                    .is_some_and(|g| !g.spec.target_groups.is_empty());
                let healthy = if has_tgs {
                    health.get(i.id.as_str()) == Some(&TargetHealthState::Healthy)
                } else {
                    i.exit_detail.is_none()
                };
                ObservedInstance {
                    id: i.id.clone(),
                    group: i.group.clone(),
                    availability_zone: i.availability_zone.clone(),
                    lifecycle: i.lifecycle,
                    healthy,
                }
            })
            .collect();
        Observation {
            instances,
            groups: self
                .groups
                .values()
                .map(|g| GroupObservation {
                    key: g.spec.key.clone(),
                    zones: self.stack.group_zones(&g.spec),
                    desired_capacity: g.state.desired_capacity,
                })
                .collect(),
            counters: self.data_plane.target_group_counters(),
        }
    }

    /// The worst target health of each instance over its target groups.
    fn instance_health(&self) -> BTreeMap<String, TargetHealthState> {
        let mut health = BTreeMap::new();
        for r in self.data_plane.target_health() {
            health
                .entry(r.target_id.clone())
                .and_modify(|h| *h = crate::fleet::worse(*h, r.health.state))
                .or_insert(r.health.state);
        }
        health
    }

    fn healthy_per_group(&self) -> Vec<(String, u32)> {
        let obs = self.observation();
        self.groups
            .keys()
            .map(|g| {
                let n = obs
                    .instances
                    .iter()
                    .filter(|i| {
                        i.group == *g && i.healthy && i.lifecycle == LifecycleState::InService
                    })
                    .count() as u32;
                (g.clone(), n)
            })
            .collect()
    }

    fn zone_blocks(&self, spec: &DrillSpec) -> Vec<ipnet::Ipv4Net> {
        let Some(zone) = spec.zone() else {
            return vec![];
        };
        let mut blocks: Vec<_> = self
            .stack
            .subnets
            .values()
            .filter(|s| s.availability_zone == zone)
            .map(|s| s.loopback_block)
            .collect();
        blocks.sort();
        blocks.dedup();
        blocks
    }
}

fn describe_victims(v: &[model::InstanceId]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
