//! Scaling policies: from alarms to a new desired capacity, each decision pure.
//!
//! - Target tracking ([`target_tracking`]): two generated alarms per policy
//!   ([`tracking_alarms`], shape [`AlarmShape`]); AlarmHigh in ALARM proposes
//!   `ceil(ready × metric / target)` (proportional, one jump), AlarmLow in ALARM proposes the
//!   same, for scale-in, unless `disable_scale_in`.
//! - Step scaling ([`step`]): the alarm's metric (aggregated by `metric_aggregation_type`) minus
//!   the threshold picks the step; ChangeInCapacity / ExactCapacity / PercentChangeInCapacity
//!   with `min_adjustment_magnitude`; while a scale-out warms up, a breach in the same step adds
//!   nothing and a breach in a higher step adds only the difference.
//! - Simple scaling ([`simple`]): one adjustment, then nothing until the cooldown has passed.
//! - [`resolve`]: several proposals → one capacity. The largest capacity wins; target tracking
//!   scales in only when every target-tracking policy that may scale in agrees.
//!
//! Inputs are data ([`GroupView`], the alarm state), `now` is given: a day of decisions runs in
//! milliseconds, and the simulator drives the same functions.

mod adjust;
mod shape;
#[cfg(test)]
mod tests;

use std::time::Duration;

use metrics::{AlarmState, AlarmStateValue};
use model::{
    MetricAggregationType, MetricAlarm, PolicyKind, ScalingPolicy, SimpleScaling, StepScaling,
    TargetTracking, Timestamp,
};
use serde::{Deserialize, Serialize};

pub use adjust::apply_adjustment;
pub use shape::{
    AlarmShape, AlarmSide, TrackingAlarms, is_count_per_minute, request_count_dimensions,
    to_target_unit, tracking_alarms,
};

/// What the policies see of their group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupView {
    /// Current desired capacity.
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    /// InService instances past their warmup: the ones the group's metrics average over.
    pub ready: u32,
    /// Instances counted in `desired` that are still warming up (or not yet InService).
    pub warming: u32,
    /// The group's `default_cooldown`.
    pub default_cooldown: Duration,
    /// The group's `default_instance_warmup`.
    pub default_instance_warmup: Option<Duration>,
}

impl GroupView {
    /// What the policies see of a group with `desired` capacity, seen through warmup
    /// ([`crate::warmup::view`]): `ready` are the instances that contribute to the group's
    /// metrics, `warming` the launching and warming ones.
    pub fn of(
        spec: &model::AutoScalingGroup,
        desired: u32,
        warmup: &crate::warmup::WarmupView,
    ) -> GroupView {
        GroupView {
            desired,
            min: spec.min_size,
            max: spec.max_size,
            ready: warmup.contributing.len() as u32,
            warming: warmup.warming.len() as u32,
            default_cooldown: spec.default_cooldown,
            default_instance_warmup: spec.default_instance_warmup,
        }
    }
}

/// Runtime state of one policy (persisted with the group).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyState {
    /// Simple scaling: no new adjustment before this.
    pub cooldown_until: Option<Timestamp>,
    /// Step scaling: the scale-out in progress while its instances warm up.
    pub step_out: Option<StepOut>,
}

/// A step scale-out whose instances are still warming.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOut {
    /// Capacity before the scale-out (what later breaches are computed from).
    pub from: u32,
    pub to: u32,
    pub until: Timestamp,
}

/// The kind of a proposal, for [`resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalKind {
    TargetTrackingOut,
    TargetTrackingIn,
    Step,
    Simple,
}

/// One policy's answer to one alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub policy: String,
    pub kind: ProposalKind,
    pub desired: u32,
    /// `At … a monitor alarm … in state ALARM triggered policy …` (without the capacity part).
    pub trigger: String,
    pub state: PolicyState,
}

/// The trigger text AWS writes at the start of a policy-driven activity's cause.
pub fn trigger_text(now: Timestamp, alarm: &str, policy: &str) -> String {
    format!("At {now} a monitor alarm {alarm} in state ALARM triggered policy {policy}")
}

/// The whole cause: trigger plus the capacity change.
pub fn cause_text(trigger: &str, from: u32, to: u32) -> String {
    format!("{trigger} changing the desired capacity from {from} to {to}.")
}

/// The value a policy acts on: the alarm's most recent `evaluation_periods` datapoints,
/// aggregated. `None` when they are all missing.
pub fn alarm_metric(
    alarm: &MetricAlarm,
    state: &AlarmState,
    how: MetricAggregationType,
) -> Option<f64> {
    let n = alarm.evaluation_periods as usize;
    let recent: Vec<f64> = state
        .datapoints
        .iter()
        .rev()
        .take(n)
        .flatten()
        .copied()
        .collect();
    if recent.is_empty() {
        return None;
    }
    Some(match how {
        MetricAggregationType::Average => recent.iter().sum::<f64>() / recent.len() as f64,
        MetricAggregationType::Minimum => recent.iter().copied().fold(f64::INFINITY, f64::min),
        MetricAggregationType::Maximum => recent.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

fn clamp(v: i64, g: &GroupView) -> u32 {
    v.clamp(i64::from(g.min), i64::from(g.max.max(g.min))) as u32
}

/// Target tracking: a generated alarm of `policy` is in ALARM with `value` (per-instance
/// metric, in the target's unit). `high` says which of the two alarms it is.
pub fn target_tracking(
    policy: &ScalingPolicy,
    tt: &TargetTracking,
    alarm_name: &str,
    high: bool,
    value: f64,
    group: &GroupView,
    now: Timestamp,
) -> Option<Proposal> {
    let target = tt.target_value.0;
    if target <= 0.0 || !value.is_finite() {
        return None;
    }
    let base = if group.ready == 0 {
        group.desired
    } else {
        group.ready
    };
    let wanted = (f64::from(base) * value / target - 1e-9).ceil().max(0.0) as i64;
    let trigger = trigger_text(now, alarm_name, &policy.name);
    if high {
        // Warming instances count toward the capacity already asked for.
        let desired = clamp(wanted.max(i64::from(group.desired)), group);
        (desired > group.desired).then(|| Proposal {
            policy: policy.key.clone(),
            kind: ProposalKind::TargetTrackingOut,
            desired,
            trigger,
            state: PolicyState::default(),
        })
    } else {
        if tt.disable_scale_in || group.warming > 0 {
            return None;
        }
        // Removal rounds down: 6 instances at 40% of a 50% target want 4.8, so 1 goes → 5.
        let desired = clamp(wanted, group);
        (desired < group.desired).then(|| Proposal {
            policy: policy.key.clone(),
            kind: ProposalKind::TargetTrackingIn,
            desired,
            trigger,
            state: PolicyState::default(),
        })
    }
}

/// The warmup a policy assumes for new instances: its own, else the group's default instance
/// warmup, else the group's default cooldown (AWS's fallback order).
pub fn warmup(own: Option<Duration>, group: &GroupView) -> Duration {
    own.or(group.default_instance_warmup)
        .unwrap_or(group.default_cooldown)
}

/// Step scaling, invoked by `alarm` (in ALARM).
pub fn step(
    policy: &ScalingPolicy,
    spec: &StepScaling,
    alarm: &MetricAlarm,
    alarm_state: &AlarmState,
    group: &GroupView,
    state: &PolicyState,
    now: Timestamp,
) -> Option<Proposal> {
    let value = alarm_metric(alarm, alarm_state, spec.metric_aggregation_type)?;
    let diff = value - alarm.threshold.0;
    let upper = alarm.comparison_operator.is_upper();
    let s = spec.steps.iter().find(|s| {
        let lo = s.lower_bound.map_or(f64::NEG_INFINITY, |f| f.0);
        let hi = s.upper_bound.map_or(f64::INFINITY, |f| f.0);
        // Above the threshold: lower bound inclusive, upper exclusive; below: the reverse.
        if upper {
            lo <= diff && diff < hi
        } else {
            lo < diff && diff <= hi
        }
    })?;
    let mut next = state.clone();
    if next.step_out.as_ref().is_some_and(|o| now >= o.until) {
        next.step_out = None;
    }
    let trigger = trigger_text(now, &alarm.name, &policy.name);
    // While a scale-out warms up, breaches are computed from the capacity before it.
    let base = next.step_out.as_ref().map_or(group.desired, |o| o.from);
    let target = clamp(
        apply_adjustment(
            spec.adjustment_type,
            s.scaling_adjustment,
            spec.min_adjustment_magnitude,
            base,
        ),
        group,
    );
    if target > group.desired {
        let from = next.step_out.as_ref().map_or(group.desired, |o| o.from);
        next.step_out = Some(StepOut {
            from,
            to: target,
            until: now + warmup(spec.estimated_instance_warmup, group),
        });
        return Some(Proposal {
            policy: policy.key.clone(),
            kind: ProposalKind::Step,
            desired: target,
            trigger,
            state: next,
        });
    }
    if target < group.desired && next.step_out.is_none() && group.warming == 0 {
        return Some(Proposal {
            policy: policy.key.clone(),
            kind: ProposalKind::Step,
            desired: target,
            trigger,
            state: next,
        });
    }
    None
}

/// Simple scaling, invoked by `alarm_name` (in ALARM).
pub fn simple(
    policy: &ScalingPolicy,
    spec: &SimpleScaling,
    alarm_name: &str,
    group: &GroupView,
    state: &PolicyState,
    now: Timestamp,
) -> Option<Proposal> {
    if state.cooldown_until.is_some_and(|t| now < t) {
        return None;
    }
    let target = clamp(
        apply_adjustment(
            spec.adjustment_type,
            spec.scaling_adjustment,
            spec.min_adjustment_magnitude,
            group.desired,
        ),
        group,
    );
    if target == group.desired {
        return None;
    }
    let cooldown = spec.cooldown.unwrap_or(group.default_cooldown);
    Some(Proposal {
        policy: policy.key.clone(),
        kind: ProposalKind::Simple,
        desired: target,
        trigger: trigger_text(now, alarm_name, &policy.name),
        state: PolicyState {
            cooldown_until: Some(now + cooldown),
            ..state.clone()
        },
    })
}

/// Invokes `policy` for `alarm` in ALARM. Target-tracking alarms are handled by
/// [`target_tracking`] (they carry the per-instance metric).
pub fn invoke(
    policy: &ScalingPolicy,
    alarm: &MetricAlarm,
    alarm_state: &AlarmState,
    group: &GroupView,
    state: &PolicyState,
    now: Timestamp,
) -> Option<Proposal> {
    if !policy.enabled || alarm_state.value != AlarmStateValue::Alarm {
        return None;
    }
    match &policy.kind {
        PolicyKind::Step(s) => step(policy, s, alarm, alarm_state, group, state, now),
        PolicyKind::Simple(s) => simple(policy, s, &alarm.name, group, state, now),
        PolicyKind::TargetTracking(_) => None,
    }
}

/// Several proposals → the one to carry out. Scale-out: the largest capacity. Otherwise
/// scale-in: step and simple proposals stand on their own; target-tracking scale-in only if
/// every target-tracking policy that may scale in (`tt_scale_in_policies`) proposed it. Of the
/// scale-ins, the largest capacity (the smallest change) wins.
pub fn resolve(
    desired: u32,
    proposals: &[Proposal],
    tt_scale_in_policies: usize,
) -> Option<&Proposal> {
    if let Some(out) = proposals
        .iter()
        .filter(|p| p.desired > desired)
        .max_by_key(|p| p.desired)
    {
        return Some(out);
    }
    let tt_in = proposals
        .iter()
        .filter(|p| p.kind == ProposalKind::TargetTrackingIn)
        .count();
    let tt_agree = tt_in > 0 && tt_in >= tt_scale_in_policies;
    proposals
        .iter()
        .filter(|p| p.desired < desired)
        .filter(|p| p.kind != ProposalKind::TargetTrackingIn || tt_agree)
        .max_by_key(|p| p.desired)
}
