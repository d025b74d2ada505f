//! The alarms → policies → desired capacity loop, as one pure state machine shared by the
//! daemon and `updraft simulate`.
//!
//! Once per second, [`Autoscaler::step`] evaluates every alarm whose period has completed
//! (configured `aws_cloudwatch_metric_alarm`s and the two alarms of each target-tracking
//! policy) against a [`MetricStore`], invokes the scaling policies their actions point at,
//! runs due scheduled actions, resolves several proposals per group (largest capacity wins,
//! target tracking scales in only when all agree) and returns the capacity changes with the
//! cause AWS would write. It reads no clock and does no I/O: `now` and the metrics are given.

use std::collections::BTreeMap;

use metrics::MetricStore;
use metrics::alarm::{self, AlarmState, AlarmStateValue};
use model::{
    AlarmAction, MetricAlarm, PolicyKind, ScalingPolicy, ScheduledAction, Stack, Timestamp,
};
use serde::Serialize;

use crate::policy::{
    self, AlarmShape, GroupView, PolicyState, Proposal, resolve, target_tracking, to_target_unit,
    tracking_alarms,
};
use crate::schedule::Schedule;

/// One alarm and its state.
#[derive(Debug, Clone)]
pub struct AlarmRuntime {
    pub spec: MetricAlarm,
    pub state: AlarmState,
    /// For a target-tracking alarm: the policy key, and whether it is AlarmHigh.
    pub tracking: Option<(String, bool)>,
}

/// What `updraft alarms` shows.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AlarmView {
    pub name: String,
    pub state: AlarmStateValue,
    pub reason: String,
    pub updated_at: Timestamp,
    pub metric: String,
    pub condition: String,
    pub actions: Vec<String>,
    /// The target-tracking policy that created it, if any.
    pub created_by: Option<String>,
}

/// A new desired capacity (and possibly bounds) for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityChange {
    /// Group key.
    pub group: String,
    pub desired: u32,
    /// Bounds set by a scheduled action.
    pub min: Option<u32>,
    pub max: Option<u32>,
    /// AWS-style cause: `At … a monitor alarm … changing the desired capacity from 3 to 5.`
    pub cause: String,
}

/// Bounds a scheduled action set, overriding the group's configured ones.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bounds {
    pub min: Option<u32>,
    pub max: Option<u32>,
}

/// The autoscaler's state.
#[derive(Debug, Clone)]
pub struct Autoscaler {
    pub shape: AlarmShape,
    alarms: BTreeMap<String, AlarmRuntime>,
    policies: BTreeMap<String, ScalingPolicy>,
    policy_state: BTreeMap<String, PolicyState>,
    schedules: BTreeMap<String, (ScheduledAction, Schedule)>,
    schedule_last: BTreeMap<String, Timestamp>,
    bounds: BTreeMap<String, Bounds>,
    /// Group key → AWS group name (alarm names and dimensions use the name).
    group_names: BTreeMap<String, String>,
}

fn describe_alarm(a: &MetricAlarm) -> (String, String) {
    let dims: Vec<String> = a
        .metric
        .dimensions
        .iter()
        .map(|d| format!("{}={}", d.name, d.value))
        .collect();
    (
        format!(
            "{} {} {} ({} per {} s)",
            a.metric.namespace,
            a.metric.metric_name,
            dims.join(","),
            a.metric.statistic,
            a.metric.period
        ),
        format!(
            "{} {} {} for {} of {} datapoints",
            a.metric.statistic,
            a.comparison_operator.symbol(),
            a.threshold,
            a.datapoints_to_alarm,
            a.evaluation_periods
        ),
    )
}

impl Autoscaler {
    pub fn new(stack: &Stack, shape: AlarmShape, now: Timestamp) -> Autoscaler {
        let mut a = Autoscaler {
            shape,
            alarms: BTreeMap::new(),
            policies: BTreeMap::new(),
            policy_state: BTreeMap::new(),
            schedules: BTreeMap::new(),
            schedule_last: BTreeMap::new(),
            bounds: BTreeMap::new(),
            group_names: BTreeMap::new(),
        };
        a.reconfigure(stack, now);
        a
    }

    /// Takes a changed configuration; alarms and policies that did not change keep their state.
    pub fn reconfigure(&mut self, stack: &Stack, now: Timestamp) {
        self.group_names = stack
            .auto_scaling_groups
            .values()
            .map(|g| (g.key.clone(), g.name.clone()))
            .collect();
        let mut alarms = BTreeMap::new();
        for spec in stack.metric_alarms.values() {
            alarms.insert(spec.key.clone(), (spec.clone(), None));
        }
        for p in stack.scaling_policies.values() {
            let (PolicyKind::TargetTracking(tt), Some(group)) =
                (&p.kind, self.group_names.get(&p.group))
            else {
                continue;
            };
            let generated = tracking_alarms(p, tt, group, &self.shape);
            alarms.insert(
                generated.high.key.clone(),
                (generated.high, Some((p.key.clone(), true))),
            );
            if let Some(low) = generated.low {
                alarms.insert(low.key.clone(), (low, Some((p.key.clone(), false))));
            }
        }
        let old = std::mem::take(&mut self.alarms);
        for (key, (spec, tracking)) in alarms {
            let state = match old.get(&key) {
                Some(o) if o.spec == spec => o.state.clone(),
                _ => AlarmState::new(now),
            };
            self.alarms.insert(
                key,
                AlarmRuntime {
                    spec,
                    state,
                    tracking,
                },
            );
        }
        self.policies = stack.scaling_policies.clone();
        self.policy_state
            .retain(|k, _| stack.scaling_policies.contains_key(k));
        self.schedules = stack
            .scheduled_actions
            .values()
            .filter_map(|s| {
                Schedule::new(s)
                    .ok()
                    .map(|p| (s.key.clone(), (s.clone(), p)))
            })
            .collect();
        for key in self.schedules.keys() {
            self.schedule_last.entry(key.clone()).or_insert(now);
        }
        self.schedule_last
            .retain(|k, _| stack.scheduled_actions.contains_key(k));
    }

    /// Bounds a scheduled action has set for `group`.
    pub fn bounds(&self, group: &str) -> Bounds {
        self.bounds.get(group).copied().unwrap_or_default()
    }

    pub fn alarm_views(&self) -> Vec<AlarmView> {
        self.alarms
            .values()
            .map(|a| {
                let (metric, condition) = describe_alarm(&a.spec);
                AlarmView {
                    name: a.spec.name.clone(),
                    state: a.state.value,
                    reason: a.state.reason.clone(),
                    updated_at: a.state.updated_at,
                    metric,
                    condition,
                    actions: a
                        .spec
                        .alarm_actions
                        .iter()
                        .map(|x| match x {
                            AlarmAction::ScalingPolicy(k) => format!(
                                "policy {}",
                                self.policies.get(k).map_or(k.as_str(), |p| p.name.as_str())
                            ),
                            AlarmAction::Recorded(arn) => format!("{arn} (recorded)"),
                        })
                        .collect(),
                    created_by: a
                        .tracking
                        .as_ref()
                        .map(|(k, _)| self.policies.get(k).map_or(k.clone(), |p| p.name.clone())),
                }
            })
            .collect()
    }

    /// One pass, at most once per second: alarms, policies, schedules.
    pub fn step(
        &mut self,
        store: &MetricStore,
        groups: &BTreeMap<String, GroupView>,
        now: Timestamp,
    ) -> Vec<CapacityChange> {
        // Alarms whose period has completed; remember which invoked policies.
        let mut invoked: Vec<(String, String)> = Vec::new(); // (policy key, alarm key)
        for (key, a) in self.alarms.iter_mut() {
            let Some(e) = alarm::evaluate(&a.spec, &a.state, store, now) else {
                continue;
            };
            for action in &e.actions {
                if let AlarmAction::ScalingPolicy(p) = action {
                    invoked.push((p.clone(), key.clone()));
                }
            }
            a.state = e.state;
        }

        let mut changes = Vec::new();
        for (group_key, view) in groups {
            let bounds = self.bounds(group_key);
            let mut g = *view;
            g.min = bounds.min.unwrap_or(g.min);
            g.max = bounds.max.unwrap_or(g.max);
            let mut proposals: Vec<Proposal> = Vec::new();
            for (policy_key, alarm_key) in &invoked {
                let (Some(p), Some(a)) =
                    (self.policies.get(policy_key), self.alarms.get(alarm_key))
                else {
                    continue;
                };
                if &p.group != group_key || !p.enabled {
                    continue;
                }
                let state = self
                    .policy_state
                    .get(policy_key)
                    .cloned()
                    .unwrap_or_default();
                let prop = match (&p.kind, &a.tracking) {
                    (PolicyKind::TargetTracking(tt), Some((_, high))) => policy::alarm_metric(
                        &a.spec,
                        &a.state,
                        model::MetricAggregationType::Average,
                    )
                    .map(|v| to_target_unit(&tt.metric, a.spec.metric.period, v))
                    .and_then(|v| target_tracking(p, tt, &a.spec.name, *high, v, &g, now)),
                    _ => policy::invoke(p, &a.spec, &a.state, &g, &state, now),
                };
                proposals.extend(prop);
            }
            let tt_scale_in = self
                .policies
                .values()
                .filter(|p| &p.group == group_key && p.enabled)
                .filter(
                    |p| matches!(&p.kind, PolicyKind::TargetTracking(tt) if !tt.disable_scale_in),
                )
                .count();
            if let Some(chosen) = resolve(g.desired, &proposals, tt_scale_in) {
                self.policy_state
                    .insert(chosen.policy.clone(), chosen.state.clone());
                changes.push(CapacityChange {
                    group: group_key.clone(),
                    desired: chosen.desired,
                    min: None,
                    max: None,
                    cause: policy::cause_text(&chosen.trigger, g.desired, chosen.desired),
                });
            }
        }

        // Scheduled actions (not gated by cooldowns).
        for (key, (action, schedule)) in &self.schedules {
            let last = self.schedule_last.get(key).copied().unwrap_or(now);
            let Some(at) = schedule.due(last, now) else {
                continue;
            };
            self.schedule_last.insert(key.clone(), at);
            let Some(view) = groups.get(&action.group) else {
                continue;
            };
            let bounds = self.bounds.entry(action.group.clone()).or_default();
            if action.min_size.is_some() {
                bounds.min = action.min_size;
            }
            if action.max_size.is_some() {
                bounds.max = action.max_size;
            }
            let min = bounds.min.unwrap_or(view.min);
            let max = bounds.max.unwrap_or(view.max).max(min);
            // A policy change this same second is the starting point.
            let from = changes
                .iter()
                .rev()
                .find(|c| c.group == action.group)
                .map_or(view.desired, |c| c.desired);
            let desired = action.desired_capacity.unwrap_or(from).clamp(min, max);
            let show = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
            changes.push(CapacityChange {
                group: action.group.clone(),
                desired,
                min: action.min_size,
                max: action.max_size,
                cause: format!(
                    "At {at} a scheduled action update of AutoScalingGroup constraints to min: {}, max: {}, desired: {} changing the desired capacity from {from} to {desired}.",
                    show(action.min_size),
                    show(action.max_size),
                    show(action.desired_capacity)
                ),
            });
        }
        changes
    }
}
