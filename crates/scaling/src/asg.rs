//! The auto scaling group's reconcile decision.
//!
//! [`decide`] looks at one group — its spec, its own [`GroupState`] (desired capacity and launch
//! backoff), what is observed of its instances — and returns the [`Action`]s that move it toward
//! desired capacity, each with its cause:
//!
//! 1. an instance whose process has exited is terminated at once (EC2 health check); if it never
//!    became healthy, that was a failed launch and the launch backoff grows;
//! 2. a Pending instance whose process runs goes InService (and is registered with the group's
//!    target groups);
//! 3. with `health_check_type = "ELB"`, an InService instance that a target group reports
//!    unhealthy after the grace period is taken out of service (deregistered, then terminated);
//! 4. a Terminating instance is terminated once draining is over: no request in flight, or the
//!    deregistration delay has passed;
//! 5. capacity is brought to desired: launches go to the zone with the fewest instances,
//!    scale-in picks instances by AZ balance and termination policy.

use std::collections::BTreeMap;
use std::time::Duration;

use model::{
    AutoScalingGroup, AvailabilityZone, HealthCheckType, InstanceId, LifecycleState,
    TargetHealthState, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::placement::{SubnetSlot, choose_subnet};
use crate::termination::{Candidate, select};
use crate::{backoff, cause};

/// How long an instance of a group without target groups must run before its launch counts as
/// successful (with target groups, passing one health check is the proof).
pub const BOOT_PROOF: Duration = Duration::from_secs(10);

/// The group's own state, owned by the controller and persisted between decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub desired_capacity: u32,
    /// Consecutive failed launches.
    pub launch_failures: u32,
    pub last_launch_failure_at: Option<Timestamp>,
    /// Why desired capacity last changed, prefixed to the causes of the activities that follow.
    pub desired_cause: Option<String>,
    /// An AZ-rebalancing launch is under way: the scale-in that completes it waits until the
    /// new instance has proved healthy (launch before terminate).
    #[serde(default)]
    pub rebalancing: bool,
}

impl GroupState {
    /// The state of a group that has just been created from its spec.
    pub fn new(spec: &AutoScalingGroup) -> Self {
        GroupState {
            desired_capacity: spec.initial_desired(),
            launch_failures: 0,
            last_launch_failure_at: None,
            desired_cause: None,
            rebalancing: false,
        }
    }

    /// Records a launch that failed before any process ran (no address free, spawn error).
    pub fn record_launch_failure(&mut self, now: Timestamp) {
        self.launch_failures += 1;
        self.last_launch_failure_at = Some(now);
    }

    /// When the next launch may be attempted, if the group is backing off.
    pub fn next_launch_at(&self) -> Option<Timestamp> {
        self.last_launch_failure_at
            .map(|at| at + backoff::delay(self.launch_failures))
    }
}

/// Whether the instance's process still runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessState {
    Running,
    /// The process is gone; `detail` says how ("exited with code 1: <last log line>").
    Exited {
        detail: String,
    },
}

/// What the controller observed of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    pub id: InstanceId,
    pub availability_zone: AvailabilityZone,
    pub subnet: String,
    pub lifecycle: LifecycleState,
    pub launched_at: Timestamp,
    pub in_service_at: Option<Timestamp>,
    pub terminating_at: Option<Timestamp>,
    pub launch_template_version: u32,
    pub protected_from_scale_in: bool,
    pub process: ProcessState,
    /// The worst health any of the group's target groups reports for it; `None` when it is not
    /// registered anywhere.
    pub target_health: Option<TargetHealthState>,
    /// Has any target group ever reported it healthy?
    pub ever_healthy: bool,
    /// Requests in flight to it, summed over target groups.
    pub in_flight: u64,
}

/// Everything [`decide`] needs besides the spec and the group's state.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub instances: &'a [InstanceView],
    /// The group's subnets with their zones, in the order written.
    pub subnets: &'a [SubnetSlot],
    /// Zones that cannot take launches now (an AZ outage drill).
    pub impaired_zones: &'a [AvailabilityZone],
    pub current_template_version: u32,
    /// The longest deregistration delay of the group's target groups (zero without any).
    pub deregistration_delay: Duration,
    pub has_target_groups: bool,
}

/// One thing the controller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a new instance in `subnet`.
    Launch {
        subnet: String,
        availability_zone: AvailabilityZone,
        cause: String,
    },
    /// Mark the instance InService and register it with the group's target groups.
    PutInService { id: InstanceId },
    /// Mark the instance Terminating and deregister it (draining starts).
    Deregister { id: InstanceId, cause: String },
    /// Stop the instance's process and mark it Terminated. `failed_launch` carries the reason
    /// when the instance never became healthy, so the launch activity is recorded as Failed.
    Terminate {
        id: InstanceId,
        cause: String,
        failed_launch: Option<String>,
    },
}

/// The result of one decision: what to do, why nothing more is done, and the next state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub actions: Vec<Action>,
    /// Why the group is not (yet) at desired capacity, when it is held back.
    pub waiting: Option<String>,
    pub state: GroupState,
}

/// Decides the next actions for one group. Pure: same inputs, same decision.
pub fn decide(
    spec: &AutoScalingGroup,
    state: &GroupState,
    observed: Observed<'_>,
    now: Timestamp,
) -> Decision {
    let mut next = state.clone();
    let mut actions = Vec::new();
    let mut waiting = None;
    let mut leaving: Vec<&InstanceId> = Vec::new();

    for inst in observed.instances {
        match (inst.lifecycle, &inst.process) {
            (LifecycleState::Terminated, _) => {}
            (LifecycleState::Terminating, process) => {
                let drained = inst.in_flight == 0
                    || matches!(process, ProcessState::Exited { .. })
                    || inst
                        .terminating_at
                        .is_none_or(|at| now.since(at) >= observed.deregistration_delay);
                if drained {
                    actions.push(Action::Terminate {
                        id: inst.id.clone(),
                        cause: "Draining finished.".into(),
                        failed_launch: None,
                    });
                }
            }
            (_, ProcessState::Exited { detail }) => {
                let failed_launch =
                    (!launch_succeeded(inst, &observed, now)).then(|| cause::launch_failed(detail));
                if failed_launch.is_some() {
                    next.record_launch_failure(now);
                }
                actions.push(Action::Terminate {
                    id: inst.id.clone(),
                    cause: cause::ec2_unhealthy(now, detail),
                    failed_launch,
                });
                leaving.push(&inst.id);
            }
            (LifecycleState::Pending, ProcessState::Running) => {
                actions.push(Action::PutInService {
                    id: inst.id.clone(),
                });
            }
            (LifecycleState::InService, ProcessState::Running) => {
                if elb_unhealthy(spec, inst, &observed, now) {
                    actions.push(Action::Deregister {
                        id: inst.id.clone(),
                        cause: cause::elb_unhealthy(now),
                    });
                    leaving.push(&inst.id);
                }
            }
        }
    }

    // A launch that proved itself ends the backoff.
    if let Some(failed_at) = next.last_launch_failure_at
        && observed
            .instances
            .iter()
            .any(|i| i.launched_at >= failed_at && launch_succeeded(i, &observed, now))
    {
        next.launch_failures = 0;
        next.last_launch_failure_at = None;
    }

    let staying: Vec<&InstanceView> = observed
        .instances
        .iter()
        .filter(|i| i.lifecycle.counts_toward_capacity() && !leaving.contains(&&i.id))
        .collect();
    let current = staying.len() as u32;
    let desired = next.desired_capacity;
    let prefix = next
        .desired_cause
        .take()
        .map(|c| c + " ")
        .unwrap_or_default();

    if current < desired {
        let pending = staying
            .iter()
            .filter(|i| i.lifecycle == LifecycleState::Pending)
            .count();
        let mut budget = desired - current;
        if next.launch_failures > 0 {
            let retry_at = next.next_launch_at().unwrap_or(now);
            if now < retry_at {
                budget = 0;
                waiting = Some(format!(
                    "{} consecutive launches failed; next attempt in {} s",
                    next.launch_failures,
                    retry_at.since(now).as_secs().max(1)
                ));
            } else if pending > 0 {
                budget = 0;
                waiting = Some("probing with one launch while launches are failing".into());
            } else {
                budget = 1;
            }
        }
        let launches = plan_launches(&staying, &observed, budget);
        if launches.len() < budget as usize {
            waiting = Some("no availability zone of the group can take a launch now".into());
        }
        let cause = format!(
            "{prefix}{}",
            cause::capacity_increase(now, current, desired)
        );
        actions.extend(launches.into_iter().map(|s| Action::Launch {
            subnet: s.subnet.clone(),
            availability_zone: s.availability_zone.clone(),
            cause: cause.clone(),
        }));
        if budget == 0 && waiting.is_some() && !prefix.is_empty() {
            // Keep the user's reason for the launches that come after the wait.
            next.desired_cause = Some(prefix.trim_end().to_owned());
        }
    } else if current > desired
        && next.rebalancing
        && staying
            .iter()
            .any(|i| i.lifecycle == LifecycleState::Pending || !launch_succeeded(i, &observed, now))
    {
        waiting =
            Some("rebalancing zones: waiting for the new instance to pass its health check".into());
    } else if current > desired {
        next.rebalancing = false;
        let mut candidates: Vec<Candidate> = staying
            .iter()
            .map(|i| Candidate {
                id: i.id.clone(),
                availability_zone: i.availability_zone.clone(),
                launched_at: i.launched_at,
                launch_template_version: i.launch_template_version,
                protected_from_scale_in: i.protected_from_scale_in,
            })
            .collect();
        for _ in desired..current {
            let Some(id) = select(
                &candidates,
                &spec.termination_policies,
                observed.current_template_version,
                now,
            ) else {
                waiting = Some(
                    "Could not scale to desired capacity because all remaining instances are \
                     protected from scale-in."
                        .into(),
                );
                break;
            };
            candidates.retain(|c| c.id != id);
            let cause = format!(
                "{prefix}{}",
                cause::capacity_decrease(now, current, desired, &id)
            );
            actions.push(Action::Deregister { id, cause });
        }
    }

    if current == desired
        && leaving.is_empty()
        && let Some(slot) = crate::rebalance::launch(
            &staying.iter().map(|i| (*i).clone()).collect::<Vec<_>>(),
            &observed,
            next.launch_failures,
        )
    {
        let zones: Vec<&AvailabilityZone> = observed
            .subnets
            .iter()
            .map(|s| &s.availability_zone)
            .fold(Vec::new(), |mut v, z| {
                if !v.contains(&z) {
                    v.push(z);
                }
                v
            });
        actions.push(Action::Launch {
            subnet: slot.subnet.clone(),
            availability_zone: slot.availability_zone.clone(),
            cause: crate::rebalance::cause(now, &zones),
        });
        next.rebalancing = true;
    }

    Decision {
        actions,
        waiting,
        state: next,
    }
}

/// A launch succeeded once a target group reported the instance healthy, or — for a group
/// without target groups — once it has run for [`BOOT_PROOF`].
fn launch_succeeded(inst: &InstanceView, observed: &Observed<'_>, now: Timestamp) -> bool {
    if observed.has_target_groups {
        inst.ever_healthy
    } else {
        inst.in_service_at
            .is_some_and(|at| now.since(at) >= BOOT_PROOF)
    }
}

fn elb_unhealthy(
    spec: &AutoScalingGroup,
    inst: &InstanceView,
    observed: &Observed<'_>,
    now: Timestamp,
) -> bool {
    spec.health_check_type == HealthCheckType::Elb
        && observed.has_target_groups
        && inst.target_health == Some(TargetHealthState::Unhealthy)
        && inst
            .in_service_at
            .is_some_and(|at| now.since(at) >= spec.health_check_grace_period)
}

fn plan_launches<'a>(
    staying: &[&InstanceView],
    observed: &Observed<'a>,
    budget: u32,
) -> Vec<&'a SubnetSlot> {
    let mut by_zone: BTreeMap<AvailabilityZone, u32> = BTreeMap::new();
    let mut by_subnet: BTreeMap<String, u32> = BTreeMap::new();
    for i in staying {
        *by_zone.entry(i.availability_zone.clone()).or_default() += 1;
        *by_subnet.entry(i.subnet.clone()).or_default() += 1;
    }
    let mut out = Vec::new();
    for _ in 0..budget {
        let Some(slot) = choose_subnet(
            observed.subnets,
            &by_zone,
            &by_subnet,
            observed.impaired_zones,
        ) else {
            break;
        };
        *by_zone.entry(slot.availability_zone.clone()).or_default() += 1;
        *by_subnet.entry(slot.subnet.clone()).or_default() += 1;
        out.push(slot);
    }
    out
}

/// Why a new desired capacity is refused (AWS's `ValidationError` texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    #[error(
        "New SetDesiredCapacity value {desired} is above max value {max} for the AutoScalingGroup."
    )]
    AboveMax { desired: u32, max: u32 },
    #[error(
        "New SetDesiredCapacity value {desired} is below min value {min} for the AutoScalingGroup."
    )]
    BelowMin { desired: u32, min: u32 },
}

/// `SetDesiredCapacity` by a user: checked against min and max, recorded as the cause of what
/// follows.
pub fn set_desired_capacity(
    spec: &AutoScalingGroup,
    state: &GroupState,
    desired: u32,
    now: Timestamp,
) -> Result<GroupState, CapacityError> {
    if desired > spec.max_size {
        return Err(CapacityError::AboveMax {
            desired,
            max: spec.max_size,
        });
    }
    if desired < spec.min_size {
        return Err(CapacityError::BelowMin {
            desired,
            min: spec.min_size,
        });
    }
    let mut next = state.clone();
    if desired != state.desired_capacity {
        next.desired_cause = Some(cause::user_set_desired(
            now,
            state.desired_capacity,
            desired,
        ));
        next.desired_capacity = desired;
    }
    Ok(next)
}

/// A new spec for an existing group (a changed config): desired follows an explicit
/// `desired_capacity` change, and is clamped into `[min_size, max_size]`.
pub fn respec(
    old: &AutoScalingGroup,
    new: &AutoScalingGroup,
    state: &GroupState,
    now: Timestamp,
) -> GroupState {
    let mut next = state.clone();
    let mut desired = state.desired_capacity;
    if new.desired_capacity.is_some() && new.desired_capacity != old.desired_capacity {
        desired = new.initial_desired();
    }
    desired = desired.clamp(new.min_size, new.max_size.max(new.min_size));
    if desired != state.desired_capacity {
        next.desired_cause = Some(cause::config_set_desired(
            now,
            state.desired_capacity,
            desired,
        ));
        next.desired_capacity = desired;
    }
    next
}

#[cfg(test)]
mod tests;
