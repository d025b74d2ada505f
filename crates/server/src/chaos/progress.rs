//! How a drill advances, tick by tick: when the stack noticed the fault (time to detect), when
//! it was back at its capacity (time to recover), when the fault is undone, and when the stack
//! has settled (rebalanced, all healthy). Pure: `advance(drill, observation, now)` returns the
//! next record and what the controller must do.

use std::collections::BTreeMap;

use model::{AvailabilityZone, InstanceId, LifecycleState, Timestamp};

use super::{Drill, DrillSpec, Phase};

/// What the controller sees, each tick.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Live instances (not Terminated) of every group.
    pub instances: Vec<ObservedInstance>,
    /// Each group's key, zones and desired capacity.
    pub groups: Vec<GroupObservation>,
    /// The balancer's counters, now.
    pub counters: Vec<proxy::TargetGroupCounters>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupObservation {
    pub key: String,
    pub zones: Vec<AvailabilityZone>,
    pub desired_capacity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInstance {
    pub id: InstanceId,
    pub group: String,
    pub availability_zone: AvailabilityZone,
    pub lifecycle: LifecycleState,
    /// Its targets are healthy (or, without target groups, it runs).
    pub healthy: bool,
}

impl ObservedInstance {
    fn serving(&self) -> bool {
        self.lifecycle == LifecycleState::InService && self.healthy
    }
}

/// What the controller must do for a drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrillAction {
    /// Undo the fault (zone takes launches again, fault removed, nftables table deleted).
    Restore,
    /// The record changed in a way worth persisting.
    Persist,
}

/// One tick of a drill.
pub fn advance(drill: &Drill, obs: &Observation, now: Timestamp) -> (Drill, Vec<DrillAction>) {
    let mut d = drill.clone();
    let mut actions = Vec::new();
    if d.is_finished() {
        return (d, actions);
    }
    d.counters = obs.counters.clone();
    let before = (d.detected_at, d.recovered_at, d.phase);

    if d.detected_at.is_none() && detected(&d, obs) {
        d.detected_at = Some(now);
        let what = match &d.spec {
            DrillSpec::KillInstance { .. } => "the group took the killed instance out of service",
            DrillSpec::StopAz { .. } => "every instance of the zone is out of service",
            DrillSpec::PartitionAz { .. } => {
                "health checks marked every target of the zone unhealthy"
            }
            DrillSpec::Latency { .. } | DrillSpec::Errors { .. } => {
                "the first request was affected (health checks do not see request-path faults)"
            }
        };
        d.log(now, format!("detected: {what}"));
    }
    let fault_over = d.fault_until.is_some_and(|t| now >= t);
    if d.phase == Phase::Active && fault_over {
        actions.push(DrillAction::Restore);
        d.phase = Phase::Settling;
        d.restored_at = Some(now);
        d.log(now, "fault undone: duration over");
    }
    let fault_drill = matches!(d.spec, DrillSpec::Latency { .. } | DrillSpec::Errors { .. });
    if (d.detected_at.is_some() || fault_drill) && d.recovered_at.is_none() && recovered(&d, obs) {
        d.recovered_at = Some(now);
        d.log(
            now,
            match &d.spec {
                DrillSpec::Latency { .. } | DrillSpec::Errors { .. } => {
                    "recovered: requests are no longer affected".into()
                }
                DrillSpec::KillInstance { .. } => {
                    "recovered: healthy capacity is back to what it was".to_string()
                }
                _ => "recovered: healthy capacity is back in the other zones".to_string(),
            },
        );
    }
    let done = match &d.spec {
        DrillSpec::KillInstance { .. } => d.recovered_at.is_some(),
        _ => d.phase == Phase::Settling && settled(&d, obs),
    };
    if done {
        if d.phase == Phase::Settling {
            d.settled_at = Some(now);
            if d.spec.zone().is_some() {
                d.log(
                    now,
                    "settled: the group is rebalanced over its zones and healthy",
                );
            }
        }
        finish(&mut d, now, "completed");
    } else if now >= d.deadline {
        if d.phase == Phase::Active {
            actions.push(DrillAction::Restore);
            d.restored_at = Some(now);
        }
        finish(&mut d, now, "time limit reached before the stack settled");
    }
    if (d.detected_at, d.recovered_at, d.phase) != before {
        actions.push(DrillAction::Persist);
    }
    (d, actions)
}

/// Ends a drill early (the user's Ctrl-C or `updraft chaos stop`, or a daemon that finds it
/// expired after a restart).
pub fn stop(drill: &Drill, now: Timestamp, why: &str) -> (Drill, Vec<DrillAction>) {
    let mut d = drill.clone();
    let mut actions = vec![DrillAction::Persist];
    if d.is_finished() {
        return (d, vec![]);
    }
    if d.phase == Phase::Active {
        actions.insert(0, DrillAction::Restore);
        d.restored_at = Some(now);
    }
    finish(&mut d, now, why);
    (d, actions)
}

fn finish(d: &mut Drill, now: Timestamp, why: &str) {
    d.phase = Phase::Finished;
    d.ended_at = Some(now);
    d.ended_by = Some(why.to_owned());
    d.log(now, format!("ended: {why}"));
}

fn detected(d: &Drill, obs: &Observation) -> bool {
    let serving = |id: &InstanceId| obs.instances.iter().any(|i| i.id == *id && i.serving());
    match &d.spec {
        DrillSpec::KillInstance { .. } | DrillSpec::StopAz { .. } => {
            d.victims.iter().all(|v| !serving(v))
        }
        DrillSpec::PartitionAz { .. } => {
            let zone = d.spec.zone();
            obs.instances
                .iter()
                .filter(|i| Some(&i.availability_zone) == zone.as_ref())
                .all(|i| !i.healthy)
        }
        DrillSpec::Latency { .. } | DrillSpec::Errors { .. } => injected(d, obs) > 0,
    }
}

fn injected(d: &Drill, obs: &Observation) -> u64 {
    obs.counters
        .iter()
        .map(|now| {
            let before = d
                .baseline
                .counters
                .iter()
                .find(|b| b.target_group == now.target_group);
            before.map_or(now.faults_injected, |b| now.since(b).faults_injected)
        })
        .sum()
}

/// Healthy capacity is back: every group has at least as many serving instances as before,
/// counting only zones the drill did not take down while the fault lasts.
fn recovered(d: &Drill, obs: &Observation) -> bool {
    match &d.spec {
        DrillSpec::Latency { .. } | DrillSpec::Errors { .. } => d.phase != Phase::Active,
        _ => {
            let zone = d.spec.zone().filter(|_| d.phase == Phase::Active);
            let victims_gone = d
                .victims
                .iter()
                .all(|v| !obs.instances.iter().any(|i| i.id == *v && i.serving()));
            victims_gone
                && d.baseline.healthy.iter().all(|(group, before)| {
                    let serving = obs
                        .instances
                        .iter()
                        .filter(|i| i.group == *group && i.serving())
                        .filter(|i| Some(&i.availability_zone) != zone.as_ref())
                        .count() as u32;
                    serving >= *before
                })
        }
    }
}

/// After the fault: every group runs exactly its desired capacity (the extra instance of a
/// rebalancing is gone), everything it runs is healthy, and it is spread over its zones (at most
/// one instance of difference).
fn settled(d: &Drill, obs: &Observation) -> bool {
    match &d.spec {
        DrillSpec::Latency { .. } | DrillSpec::Errors { .. } => true,
        _ => d.baseline.healthy.iter().all(|(group, before)| {
            let mine: Vec<&ObservedInstance> =
                obs.instances.iter().filter(|i| i.group == *group).collect();
            let all_serving = mine.iter().all(|i| i.serving());
            let Some(g) = obs.groups.iter().find(|g| g.key == *group) else {
                return true;
            };
            let zones = &g.zones;
            let mut per_zone: BTreeMap<&AvailabilityZone, u32> =
                zones.iter().map(|z| (z, 0)).collect();
            for i in &mine {
                *per_zone.entry(&i.availability_zone).or_default() += 1;
            }
            let max = per_zone.values().copied().max().unwrap_or(0);
            let min = per_zone.values().copied().min().unwrap_or(0);
            all_serving
                && mine.len() as u32 >= (*before).min(g.desired_capacity)
                && mine.len() as u32 == g.desired_capacity
                && max - min <= 1
        }),
    }
}
