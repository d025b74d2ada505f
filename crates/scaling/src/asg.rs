//! The auto scaling group's reconcile decision.
//!
//! [`decide`] looks at one group — its spec, its own [`GroupState`] (desired capacity, launch
//! backoff, rebalancing, instance refreshes), what is observed of its instances — and returns
//! the [`Action`]s that move it toward desired capacity, each with its cause. In order:
//!
//! 1. **instances** (`asg::instances`): a dead process is terminated at once (EC2 health
//!    check; a launch that never proved itself grows the backoff); a Pending instance waits for
//!    the launch lifecycle hooks (`Pending:Wait`) or goes InService; a drained Terminating one
//!    waits for the termination hooks (`Terminating:Wait`), returns to the warm pool, or is
//!    terminated; a warm pool instance that has booted is frozen (`Warmed:Stopped`) or left
//!    running (`Warmed:Running`); with `health_check_type = "ELB"`, InService instances a
//!    target group reports unhealthy after the grace period are replaced, at most 10% of
//!    desired capacity at a time;
//! 2. **max instance lifetime** (`asg::lifetime`): the oldest expired instance is replaced, one
//!    at a time;
//! 3. **instance refresh** ([`crate::refresh`]): outdated instances are replaced while the
//!    healthy, warmed-up capacity stays at or above the minimum healthy percentage;
//! 4. **capacity** (`asg::capacity`): below desired, warm pool instances go first, then new
//!    launches into the emptiest zone (with backoff while launches fail); above desired,
//!    instances are chosen by AZ balance and termination policy (never a protected one) and
//!    drained, or returned to the warm pool;
//! 5. **AZ rebalancing** (`asg::rebalance`): an unbalanced, otherwise settled group launches
//!    into the emptiest zone first, then drains one instance of the fullest zone;
//! 6. **warm pool** (`asg::warm_pool`): the pool is filled or trimmed to its size.
//!
//! Suspended processes (`suspended_processes`) switch the matching steps off.

pub(crate) mod capacity;
mod instances;
mod lifetime;
mod rebalance;
mod warm_pool;

pub(crate) use capacity::candidate as capacity_candidate;

use std::collections::BTreeSet;
use std::time::Duration;

use model::{
    AutoScalingGroup, AvailabilityZone, InstanceId, LifecycleHook, LifecycleState,
    LifecycleTransition, TargetHealthState, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::lifecycle::LifecycleAction;
use crate::placement::SubnetSlot;
use crate::refresh::InstanceRefresh;
use crate::{backoff, cause};

/// How long an instance of a group without target groups must run before its launch counts as
/// successful (with target groups, passing one health check is the proof). Also how long a
/// warm pool instance that never accepts a connection boots before it is stopped.
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
    /// An AZ rebalancing in progress: one instance launched beyond desired capacity, to be
    /// followed by the termination of one in the fullest zone.
    #[serde(default)]
    pub rebalance: Option<Rebalance>,
    /// Instance refreshes, oldest first (the last few are kept as history).
    #[serde(default)]
    pub instance_refreshes: Vec<InstanceRefresh>,
}

/// A rebalancing launch-before-terminate in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebalance {
    /// Desired capacity when it started; a change of desired capacity ends it (the capacity
    /// step then balances through placement and termination).
    pub desired: u32,
    pub started_at: Timestamp,
    /// The zones it balances, for the cause text.
    pub zones: String,
}

impl GroupState {
    /// The state of a group that has just been created from its spec.
    pub fn new(spec: &AutoScalingGroup) -> Self {
        GroupState {
            desired_capacity: spec.initial_desired(),
            launch_failures: 0,
            last_launch_failure_at: None,
            desired_cause: None,
            rebalance: None,
            instance_refreshes: Vec::new(),
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

    /// The refresh that is not finished, if any.
    pub fn active_refresh(&self) -> Option<&InstanceRefresh> {
        self.instance_refreshes.last().filter(|r| r.is_active())
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
    /// The lifecycle actions it waits for (in a `…:Wait` state).
    pub lifecycle_actions: Vec<LifecycleAction>,
    /// Its port has accepted a connection (the application is up).
    pub booted: bool,
    /// Terminating on scale-in with `reuse_on_scale_in`: returns to the warm pool once drained.
    pub to_warm_pool: bool,
}

impl InstanceView {
    /// A running instance with nothing else known yet.
    pub fn new(
        id: InstanceId,
        availability_zone: AvailabilityZone,
        subnet: impl Into<String>,
        lifecycle: LifecycleState,
        launched_at: Timestamp,
        launch_template_version: u32,
    ) -> Self {
        InstanceView {
            id,
            availability_zone,
            subnet: subnet.into(),
            lifecycle,
            launched_at,
            in_service_at: None,
            terminating_at: None,
            launch_template_version,
            protected_from_scale_in: false,
            process: ProcessState::Running,
            target_health: None,
            ever_healthy: false,
            in_flight: 0,
            lifecycle_actions: Vec::new(),
            booted: false,
            to_warm_pool: false,
        }
    }

    pub fn is_running(&self) -> bool {
        self.process == ProcessState::Running
    }
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
    /// Every lifecycle hook of the group (`model::Stack::lifecycle_hooks_of`).
    pub lifecycle_hooks: &'a [LifecycleHook],
}

/// One thing the controller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a new instance in `subnet`; into the warm pool (`Warmed:Pending`) when
    /// `warm_pool`, else into the group (`Pending`).
    Launch {
        subnet: String,
        availability_zone: AvailabilityZone,
        cause: String,
        warm_pool: bool,
    },
    /// Hold the instance in `state` (`Pending:Wait`, `Warmed:Pending:Wait`,
    /// `Terminating:Wait`) for these lifecycle actions.
    WaitForLifecycleActions {
        id: InstanceId,
        state: LifecycleState,
        actions: Vec<LifecycleAction>,
    },
    /// Mark the instance InService and register it with the group's target groups.
    PutInService { id: InstanceId },
    /// Mark the instance Terminating and deregister it (draining starts). With `to_warm_pool`
    /// it returns to the warm pool once drained instead of being terminated.
    Deregister {
        id: InstanceId,
        cause: String,
        to_warm_pool: bool,
    },
    /// Stop the instance's process and mark it Terminated. `failed_launch` carries the reason
    /// when the instance never became healthy, so the launch activity is recorded as Failed.
    Terminate {
        id: InstanceId,
        cause: String,
        failed_launch: Option<String>,
    },
    /// A booted warm pool instance settles: `Warmed:Stopped` (freeze its processes) or
    /// `Warmed:Running` (thaw them if they were frozen).
    EnterWarmPool {
        id: InstanceId,
        state: LifecycleState,
    },
    /// Move a warm pool instance into the group: thaw it, and it becomes Pending.
    LeaveWarmPool { id: InstanceId, cause: String },
    /// A drained instance goes back to the warm pool (`Warmed:Pending`).
    ReturnToWarmPool { id: InstanceId },
}

/// The result of one decision: what to do, why nothing more is done, and the next state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub actions: Vec<Action>,
    /// Why the group is not (yet) at desired capacity, when it is held back.
    pub waiting: Option<String>,
    pub state: GroupState,
}

/// What one decision works with while it is being made.
pub(crate) struct Ctx<'a> {
    pub spec: &'a AutoScalingGroup,
    pub observed: Observed<'a>,
    pub now: Timestamp,
    pub next: GroupState,
    pub actions: Vec<Action>,
    pub waiting: Option<String>,
    /// Instances this decision takes out of the group or the pool.
    pub leaving: BTreeSet<InstanceId>,
    /// Warm pool instances this decision moves into the group.
    pub from_pool: BTreeSet<InstanceId>,
    /// Instances replaced for failing health checks (their replacements get that cause).
    pub unhealthy_replaced: u32,
    /// Group launches still missing after the capacity step (the warm pool waits for them).
    pub short: u32,
    /// Launches planned by this decision, per zone (group and pool separately).
    pub launched: Vec<(AvailabilityZone, bool)>,
}

impl<'a> Ctx<'a> {
    pub fn instances(&self) -> &'a [InstanceView] {
        self.observed.instances
    }

    /// Instances that count toward capacity after this decision's moves: Pending,
    /// Pending:Wait and InService ones not leaving, plus pool instances joining now.
    pub fn staying(&self) -> Vec<&'a InstanceView> {
        self.instances()
            .iter()
            .filter(|i| {
                (i.lifecycle.counts_toward_capacity() && !self.leaving.contains(&i.id))
                    || self.from_pool.contains(&i.id)
            })
            .collect()
    }

    /// Warm pool instances that stay in the pool after this decision.
    pub fn pool(&self) -> Vec<&'a InstanceView> {
        self.instances()
            .iter()
            .filter(|i| {
                i.lifecycle.is_warmed()
                    && !self.leaving.contains(&i.id)
                    && !self.from_pool.contains(&i.id)
            })
            .collect()
    }

    pub fn hooks(&self, transition: LifecycleTransition) -> Vec<&'a LifecycleHook> {
        crate::lifecycle::hooks_for(self.observed.lifecycle_hooks, transition).collect()
    }

    /// Holds instance `id` in the wait `state` until the `transition`'s lifecycle hooks are
    /// answered. False (and nothing done) when the group has no hook for that transition.
    pub fn wait_for_hooks(
        &mut self,
        id: &InstanceId,
        transition: LifecycleTransition,
        state: LifecycleState,
    ) -> bool {
        let hooks = self.hooks(transition);
        if hooks.is_empty() {
            return false;
        }
        let actions = hooks
            .iter()
            .map(|h| LifecycleAction::start(h, self.now))
            .collect();
        self.actions.push(Action::WaitForLifecycleActions {
            id: id.clone(),
            state,
            actions,
        });
        true
    }

    /// Says why the group is held back, unless an earlier step already did.
    pub fn wait(&mut self, why: impl Into<String>) {
        if self.waiting.is_none() {
            self.waiting = Some(why.into());
        }
    }

    pub fn leave(&mut self, id: &InstanceId) {
        self.leaving.insert(id.clone());
    }

    /// A launch succeeded once a target group reported the instance healthy, or — for a group
    /// without target groups — once it has been InService for [`BOOT_PROOF`].
    pub fn launch_succeeded(&self, inst: &InstanceView) -> bool {
        if self.observed.has_target_groups {
            inst.ever_healthy
        } else {
            inst.in_service_at
                .is_some_and(|at| self.now.since(at) >= BOOT_PROOF)
        }
    }

    /// InService, proven, not reported unhealthy, and past `warmup`: healthy capacity.
    pub fn healthy_ready(&self, inst: &InstanceView, warmup: Duration) -> bool {
        inst.lifecycle == LifecycleState::InService
            && inst.is_running()
            && self.launch_succeeded(inst)
            && inst.target_health != Some(TargetHealthState::Unhealthy)
            && inst
                .in_service_at
                .is_some_and(|at| self.now.since(at) >= warmup)
    }

    /// Whether `zone` is one of the group's zones.
    pub fn zone_enabled(&self, zone: &AvailabilityZone) -> bool {
        self.observed
            .subnets
            .iter()
            .any(|s| &s.availability_zone == zone)
    }

    /// The cause prefix left by a desired capacity change ("At … a user request …"), taken once.
    pub fn take_prefix(&mut self) -> String {
        self.next
            .desired_cause
            .take()
            .map(|c| c + " ")
            .unwrap_or_default()
    }
}

/// Decides the next actions for one group. Pure: same inputs, same decision.
pub fn decide(
    spec: &AutoScalingGroup,
    state: &GroupState,
    observed: Observed<'_>,
    now: Timestamp,
) -> Decision {
    let mut ctx = Ctx {
        spec,
        observed,
        now,
        next: state.clone(),
        actions: Vec::new(),
        waiting: None,
        leaving: BTreeSet::new(),
        from_pool: BTreeSet::new(),
        unhealthy_replaced: 0,
        short: 0,
        launched: Vec::new(),
    };
    instances::step(&mut ctx);
    end_backoff(&mut ctx);
    // A rebalancing ends when desired capacity changes, a refresh takes over, or the
    // process is suspended: the capacity step then brings the group back to desired.
    if ctx.next.rebalance.as_ref().is_some_and(|r| {
        r.desired != ctx.next.desired_capacity
            || ctx.next.active_refresh().is_some()
            || spec.suspended(model::ScalingProcess::AZRebalance)
    }) {
        ctx.next.rebalance = None;
    }
    lifetime::step(&mut ctx);
    let surge = crate::refresh::step(&mut ctx);
    capacity::step(&mut ctx, surge);
    rebalance::step(&mut ctx);
    warm_pool::step(&mut ctx);
    Decision {
        actions: ctx.actions,
        waiting: ctx.waiting,
        state: ctx.next,
    }
}

/// A launch that proved itself ends the backoff.
fn end_backoff(ctx: &mut Ctx<'_>) {
    if let Some(failed_at) = ctx.next.last_launch_failure_at
        && ctx.instances().iter().any(|i| {
            i.launched_at >= failed_at
                && (ctx.launch_succeeded(i) || (i.lifecycle.is_warmed() && i.booted))
        })
    {
        ctx.next.launch_failures = 0;
        ctx.next.last_launch_failure_at = None;
    }
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
/// follows. Not held back by warmup (only policies are).
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

/// What a scaling policy's wish does to the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyCapacity {
    pub state: GroupState,
    /// The desired capacity now in force.
    pub desired: u32,
    /// Why the wish was not (fully) granted: clamped to min/max, or scale-in held back by
    /// warming instances.
    pub note: Option<String>,
}

/// A scaling policy (target tracking, step, simple, scheduled…) asks for `wanted` capacity:
/// clamped to `[min_size, max_size]` as AWS clamps policies, and — AWS's warmup rule — a
/// scale-in is held back while any instance of the group is still launching or warming up
/// (`warmup` from [`crate::warmup::effective`]). `cause` is the AWS-style text of the
/// change, e.g. "At … a monitor alarm … triggered policy … changing the desired capacity from
/// 2 to 4."; it prefixes the causes of the launches and terminations that follow.
pub fn set_desired_by_policy(
    spec: &AutoScalingGroup,
    state: &GroupState,
    instances: &[InstanceView],
    warmup: Duration,
    wanted: u32,
    cause: String,
    now: Timestamp,
) -> PolicyCapacity {
    let clamped = wanted.clamp(spec.min_size, spec.max_size.max(spec.min_size));
    let mut note = (clamped != wanted).then(|| {
        format!(
            "capacity {wanted} is outside [{}, {}]; using {clamped}",
            spec.min_size, spec.max_size
        )
    });
    let mut next = state.clone();
    if clamped < state.desired_capacity {
        let view = crate::warmup::view(instances, warmup, now);
        if view.is_warming() {
            let until = view
                .warm_at
                .map(|t| format!(" (until {t})"))
                .unwrap_or_default();
            return PolicyCapacity {
                state: next,
                desired: state.desired_capacity,
                note: Some(format!(
                    "scale-in to {clamped} held back: {} instance(s) still warming up{until}",
                    view.warming.len()
                )),
            };
        }
    }
    if clamped != state.desired_capacity {
        next.desired_capacity = clamped;
        next.desired_cause = Some(cause);
    } else if note.is_none() && wanted != state.desired_capacity {
        note = Some(format!("already at {clamped}"));
    }
    PolicyCapacity {
        state: next,
        desired: clamped,
        note,
    }
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
pub(crate) mod tests_support;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_group;

#[cfg(test)]
mod tests_hooks;

#[cfg(test)]
mod tests_warm_pool;
