//! The alarms → policies → desired capacity loop, as one pure state machine shared by the
//! daemon and `updraft simulate`.
//!
//! Once per second, [`Autoscaler::step`] evaluates every alarm whose period has completed
//! (configured `aws_cloudwatch_metric_alarm`s and the two alarms of each target-tracking
//! policy) against a [`MetricStore`], invokes the scaling policies their actions point at,
//! runs due scheduled actions, resolves several proposals per group (largest capacity wins,
//! target tracking scales in only when all agree) and returns the capacity changes with the
//! cause AWS would write. It reads no clock and does no I/O: `now` and the metrics are given.

use std::collections::{BTreeMap, BTreeSet};

use metrics::MetricStore;
use metrics::alarm::{self, AlarmState, AlarmStateValue};
use model::{
    AlarmAction, MetricAlarm, PolicyKind, ScalingPolicy, ScalingProcess, ScheduledAction, Stack,
    Timestamp,
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
    /// What asked for it, which decides how the group takes it.
    pub trigger: Trigger,
}

/// Who asked for a capacity change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A target-tracking or step policy: warmup applies (the group holds scale-in back while
    /// instances warm up; `scaling::asg::set_desired_by_policy`), with the policy's
    /// `estimated_instance_warmup` if it has one.
    Policy {
        estimated_instance_warmup: Option<std::time::Duration>,
    },
    /// A simple scaling policy: its cooldown gates it, not warmup.
    SimplePolicy,
    /// A scheduled action: neither cooldown nor warmup gates it.
    ScheduledAction,
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
    /// Group keys whose `suspended_processes` include `AlarmNotification`: their alarms are
    /// evaluated, but invoke no policy.
    alarms_suspended: BTreeSet<String>,
    /// Group keys whose `suspended_processes` include `ScheduledActions`: scheduled actions
    /// that fall due are skipped.
    schedules_suspended: BTreeSet<String>,
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
            alarms_suspended: BTreeSet::new(),
            schedules_suspended: BTreeSet::new(),
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
        let suspended = |p: ScalingProcess| {
            stack
                .auto_scaling_groups
                .values()
                .filter(|g| g.suspended(p))
                .map(|g| g.key.clone())
                .collect()
        };
        self.alarms_suspended = suspended(ScalingProcess::AlarmNotification);
        self.schedules_suspended = suspended(ScalingProcess::ScheduledActions);
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
                if &p.group != group_key || !p.enabled || self.alarms_suspended.contains(group_key)
                {
                    continue;
                }
                let state = self
                    .policy_state
                    .get(policy_key)
                    .cloned()
                    .unwrap_or_default();
                let prop = match (&p.kind, &a.tracking) {
                    (PolicyKind::TargetTracking(tt), Some((_, high))) => {
                        // Scale-out acts on the newest datapoint (older ones may predate the
                        // last capacity change); scale-in on the average of its long window.
                        let value = if *high {
                            a.state.datapoints.iter().rev().flatten().next().copied()
                        } else {
                            policy::alarm_metric(
                                &a.spec,
                                &a.state,
                                model::MetricAggregationType::Average,
                            )
                        };
                        value
                            .map(|v| to_target_unit(&tt.metric, a.spec.metric.period, v))
                            .and_then(|v| target_tracking(p, tt, &a.spec.name, *high, v, &g, now))
                    }
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
                let trigger = match self.policies.get(&chosen.policy).map(|p| &p.kind) {
                    Some(PolicyKind::Simple(_)) => Trigger::SimplePolicy,
                    Some(PolicyKind::Step(s)) => Trigger::Policy {
                        estimated_instance_warmup: s.estimated_instance_warmup,
                    },
                    Some(PolicyKind::TargetTracking(t)) => Trigger::Policy {
                        estimated_instance_warmup: t.estimated_instance_warmup,
                    },
                    None => Trigger::Policy {
                        estimated_instance_warmup: None,
                    },
                };
                changes.push(CapacityChange {
                    group: group_key.clone(),
                    desired: chosen.desired,
                    min: None,
                    max: None,
                    cause: policy::cause_text(&chosen.trigger, g.desired, chosen.desired),
                    trigger,
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
            // AWS skips (does not defer) the actions that fall due while suspended.
            if self.schedules_suspended.contains(&action.group) {
                continue;
            }
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
                trigger: Trigger::ScheduledAction,
            });
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metrics::Retention;
    use model::{
        AdjustmentType, ComparisonOperator, DatumValue, Dimension, Float, MetricAggregationType,
        MetricDatum, MetricStat, Statistic, StepAdjustment, StepScaling, TreatMissingData, Unit,
    };

    use super::*;

    fn stack() -> Stack {
        let mut s = Stack::default();
        let g = model::AutoScalingGroup {
            key: "web".into(),
            name: "web".into(),
            min_size: 2,
            max_size: 10,
            desired_capacity: Some(4),
            subnets: vec![],
            target_groups: vec![],
            launch_template: model::LaunchTemplateRef {
                template: "t".into(),
                version: model::LaunchTemplateVersion::Latest,
            },
            health_check_type: model::HealthCheckType::Ec2,
            health_check_grace_period: Duration::ZERO,
            default_cooldown: Duration::from_secs(300),
            default_instance_warmup: Some(Duration::from_secs(30)),
            termination_policies: vec![],
            protect_from_scale_in: false,
            max_instance_lifetime: None,
            suspended_processes: vec![],
            initial_lifecycle_hooks: vec![],
            warm_pool: None,
            instance_refresh: None,
        };
        s.auto_scaling_groups.insert("web".into(), g);
        s.scaling_policies.insert(
            "out".into(),
            ScalingPolicy {
                key: "out".into(),
                name: "step-out".into(),
                arn: "arn:out".into(),
                group: "web".into(),
                enabled: true,
                kind: PolicyKind::Step(StepScaling {
                    adjustment_type: AdjustmentType::ChangeInCapacity,
                    steps: vec![
                        StepAdjustment {
                            lower_bound: Some(Float(0.0)),
                            upper_bound: Some(Float(20.0)),
                            scaling_adjustment: 1,
                        },
                        StepAdjustment {
                            lower_bound: Some(Float(20.0)),
                            upper_bound: None,
                            scaling_adjustment: 3,
                        },
                    ],
                    min_adjustment_magnitude: None,
                    metric_aggregation_type: MetricAggregationType::Average,
                    estimated_instance_warmup: Some(Duration::from_secs(60)),
                }),
            },
        );
        s.metric_alarms.insert(
            "high".into(),
            MetricAlarm {
                key: "high".into(),
                name: "cpu-high".into(),
                metric: MetricStat {
                    namespace: "AWS/EC2".into(),
                    metric_name: "CPUUtilization".into(),
                    dimensions: vec![Dimension::new("AutoScalingGroupName", "web")],
                    period: 10,
                    statistic: Statistic::Average,
                },
                evaluation_periods: 2,
                datapoints_to_alarm: 2,
                threshold: Float(60.0),
                comparison_operator: ComparisonOperator::GreaterThanOrEqualToThreshold,
                treat_missing_data: TreatMissingData::Missing,
                actions_enabled: true,
                alarm_actions: vec![AlarmAction::ScalingPolicy("out".into())],
                ok_actions: vec![],
                insufficient_data_actions: vec![],
            },
        );
        s.scheduled_actions.insert(
            "night".into(),
            ScheduledAction {
                key: "night".into(),
                name: "night".into(),
                group: "web".into(),
                recurrence: Some("0 22 * * *".into()),
                time_zone: Some("Europe/Paris".into()),
                start_time: None,
                end_time: None,
                min_size: Some(1),
                max_size: None,
                desired_capacity: Some(1),
            },
        );
        s
    }

    fn view(desired: u32) -> BTreeMap<String, GroupView> {
        BTreeMap::from([(
            "web".to_string(),
            GroupView {
                desired,
                min: 2,
                max: 10,
                ready: desired,
                warming: 0,
                default_cooldown: Duration::from_secs(300),
                default_instance_warmup: Some(Duration::from_secs(30)),
            },
        )])
    }

    fn cpu(v: f64) -> MetricDatum {
        MetricDatum::new(
            "AWS/EC2",
            "CPUUtilization",
            vec![Dimension::new("AutoScalingGroupName", "web")],
            Unit::Percent,
            DatumValue::Value(v),
        )
    }

    #[test]
    fn an_alarm_invokes_its_step_policy_and_a_schedule_runs_at_its_local_time() {
        // 2026-11-30T20:00:00Z = 21:00 in Paris.
        let t0: jiff::Timestamp = "2026-11-30T20:00:00Z".parse().unwrap();
        let t0 = t0.as_second();
        let mut a = Autoscaler::new(&stack(), AlarmShape::FAST, Timestamp::from_secs(t0));
        let mut store = MetricStore::new(Retention::default());
        let mut changes = Vec::new();
        let mut desired = 4;
        for s in 0..3700 {
            let t = t0 + s;
            store.put(
                Timestamp::from_secs(t),
                &[cpu(if s < 60 { 85.0 } else { 30.0 })],
            );
            for c in a.step(&store, &view(desired), Timestamp::from_secs(t + 1)) {
                desired = c.desired;
                changes.push((s + 1, c));
            }
        }
        // Two 10-second periods ≥ 60% (85 − 60 = 25 → the +3 step) at 20 s.
        let (at, first) = &changes[0];
        assert_eq!(*at, 20);
        assert_eq!(first.desired, 7);
        assert_eq!(
            first.trigger,
            Trigger::Policy {
                estimated_instance_warmup: Some(Duration::from_secs(60))
            }
        );
        assert!(first.cause.contains("a monitor alarm cpu-high in state ALARM triggered policy step-out changing the desired capacity from 4 to 7."), "{}", first.cause);
        // Re-invoked every period while in ALARM, the same step adds nothing during warmup.
        assert_eq!(
            changes
                .iter()
                .filter(|(_, c)| c.cause.contains("step-out"))
                .count(),
            1,
            "{changes:?}"
        );
        // 22:00 in Paris = 21:00Z: min 1, desired 1.
        let (at, night) = changes.last().unwrap();
        assert_eq!(*at, 3600);
        assert_eq!((night.desired, night.min), (1, Some(1)));
        assert_eq!(night.trigger, Trigger::ScheduledAction);
        assert!(night.cause.contains("a scheduled action update of AutoScalingGroup constraints to min: 1, max: -, desired: 1 changing the desired capacity from 7 to 1."), "{}", night.cause);
        assert_eq!(a.bounds("web").min, Some(1));
        let views = a.alarm_views();
        assert_eq!(views[0].name, "cpu-high");
        assert_eq!(views[0].state, AlarmStateValue::Ok);
        assert_eq!(views[0].actions, vec!["policy step-out"]);
    }

    #[test]
    fn suspended_processes_pause_alarm_actions_and_schedules() {
        let t0: jiff::Timestamp = "2026-11-30T20:59:00Z".parse().unwrap();
        let t0 = t0.as_second();
        let mut stack = stack();
        if let Some(g) = stack.auto_scaling_groups.get_mut("web") {
            g.suspended_processes = vec![
                ScalingProcess::AlarmNotification,
                ScalingProcess::ScheduledActions,
            ];
        }
        let mut a = Autoscaler::new(&stack, AlarmShape::FAST, Timestamp::from_secs(t0));
        let mut store = MetricStore::new(Retention::default());
        for s in 0..120 {
            let t = t0 + s;
            store.put(Timestamp::from_secs(t), &[cpu(85.0)]);
            let changes = a.step(&store, &view(4), Timestamp::from_secs(t + 1));
            assert!(changes.is_empty(), "at {s}: {changes:?}");
        }
        // The alarm itself is evaluated as usual; the 22:00 Paris schedule was skipped.
        assert_eq!(a.alarm_views()[0].state, AlarmStateValue::Alarm);
        assert_eq!(a.bounds("web"), Bounds::default());
        // Resumed: the alarm, still in ALARM, invokes its policy again at the next period.
        stack
            .auto_scaling_groups
            .get_mut("web")
            .unwrap()
            .suspended_processes = vec![];
        a.reconfigure(&stack, Timestamp::from_secs(t0 + 120));
        let (mut changes, mut desired) = (Vec::new(), 4);
        for s in 120..140 {
            let t = t0 + s;
            store.put(Timestamp::from_secs(t), &[cpu(85.0)]);
            for c in a.step(&store, &view(desired), Timestamp::from_secs(t + 1)) {
                desired = c.desired;
                changes.push(c);
            }
        }
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].desired, 7);
    }

    #[test]
    fn policies_see_the_group_through_its_warmup_and_its_seam_holds_scale_in_back() {
        use crate::asg::{InstanceView, set_desired_by_policy};
        use crate::policy::target_tracking;
        use model::{AvailabilityZone, InstanceId, LifecycleState, TargetTracking, TrackedMetric};

        let spec = stack().auto_scaling_groups["web"].clone(); // warmup 30 s
        let now = Timestamp::from_secs(10_000);
        let inst = |bits: u128, in_service: i64| {
            let mut i = InstanceView::new(
                InstanceId::from_bits(bits),
                AvailabilityZone::new("us-east-1a"),
                "a",
                LifecycleState::InService,
                Timestamp::from_secs(0),
                1,
            );
            i.in_service_at = Some(Timestamp::from_secs(in_service));
            i
        };
        // Two warmed up, one InService for 10 s, one still launching.
        let mut pending = inst(4, 0);
        pending.lifecycle = LifecycleState::Pending;
        pending.in_service_at = None;
        let instances = [inst(1, 9_000), inst(2, 9_000), inst(3, 9_990), pending];
        let warmup = crate::warmup::effective(&spec, None);
        let w = crate::warmup::view(&instances, warmup, now);
        let g = GroupView::of(&spec, 4, &w);
        assert_eq!((g.ready, g.warming, g.desired), (2, 2, 4));

        let tt = TargetTracking {
            metric: TrackedMetric::AsgAverageCpuUtilization,
            target_value: Float(50.0),
            disable_scale_in: false,
            estimated_instance_warmup: None,
        };
        let p = ScalingPolicy {
            key: "tt".into(),
            name: "cpu-50".into(),
            arn: "arn:tt".into(),
            group: "web".into(),
            enabled: true,
            kind: PolicyKind::TargetTracking(tt.clone()),
        };
        // The 2 contributing instances at 75% want 3: the warming two already count toward
        // desired 4, so nothing more is asked for the same load.
        assert_eq!(target_tracking(&p, &tt, "high", true, 75.0, &g, now), None);
        // At 3× the target they want 6 (computed from the 2 that measure, not from 4).
        let out = target_tracking(&p, &tt, "high", true, 150.0, &g, now).unwrap();
        assert_eq!(out.desired, 6);
        // 2 at 40% want 2 — no scale-in proposal while instances warm up.
        assert_eq!(target_tracking(&p, &tt, "low", false, 20.0, &g, now), None);
        // And the group's seam refuses one, whoever asks.
        let state = crate::asg::GroupState {
            desired_capacity: 4,
            ..crate::asg::GroupState::new(&spec)
        };
        let granted = set_desired_by_policy(&spec, &state, &instances, warmup, 2, "c".into(), now);
        assert_eq!(granted.desired, 4);
        assert!(
            granted.note.as_deref().unwrap_or("").contains("held back"),
            "{granted:?}"
        );
        // Once everything has warmed up, the seam lets it through.
        let later = Timestamp::from_secs(10_100);
        let mut warmed = instances.clone();
        warmed[3] = inst(4, 9_995);
        let granted = set_desired_by_policy(&spec, &state, &warmed, warmup, 2, "c".into(), later);
        assert_eq!(granted.desired, 2);
    }
}
