use std::time::Duration;

use metrics::{AlarmState, AlarmStateValue};
use model::{
    AdjustmentType, ComparisonOperator, Float, MetricAggregationType, PolicyKind, ScalingPolicy,
    SimpleScaling, StepAdjustment, StepScaling, TargetTracking, Timestamp, TrackedMetric,
};

use super::*;

fn group(desired: u32) -> GroupView {
    GroupView {
        desired,
        min: 1,
        max: 20,
        ready: desired,
        warming: 0,
        default_cooldown: Duration::from_secs(300),
        default_instance_warmup: Some(Duration::from_secs(60)),
    }
}

fn tt_policy(key: &str, target: f64, disable_scale_in: bool) -> (ScalingPolicy, TargetTracking) {
    let tt = TargetTracking {
        metric: TrackedMetric::AsgAverageCpuUtilization,
        target_value: Float(target),
        disable_scale_in,
        estimated_instance_warmup: None,
    };
    (
        ScalingPolicy {
            key: key.into(),
            name: format!("{key}-policy"),
            arn: format!("arn:{key}"),
            group: "web".into(),
            enabled: true,
            kind: PolicyKind::TargetTracking(tt.clone()),
        },
        tt,
    )
}

const T0: Timestamp = Timestamp::from_secs(1_800_000_000);

#[test]
fn target_tracking_scales_out_proportionally_in_one_jump() {
    let (p, tt) = tt_policy("cpu", 50.0, false);
    // 3 instances at 100% CPU with a 50% target → 6.
    let prop = target_tracking(&p, &tt, "AlarmHigh", true, 100.0, &group(3), T0).unwrap();
    assert_eq!(prop.desired, 6);
    assert_eq!(prop.kind, ProposalKind::TargetTrackingOut);
    // 51% on 3 → 3.06 → rounds up to 4.
    assert_eq!(
        target_tracking(&p, &tt, "h", true, 51.0, &group(3), T0)
            .unwrap()
            .desired,
        4
    );
    // Capped by max.
    let mut g = group(3);
    g.max = 5;
    assert_eq!(
        target_tracking(&p, &tt, "h", true, 200.0, &g, T0)
            .unwrap()
            .desired,
        5
    );
    // Warming instances count: 3 ready at 100% already asked for 6 → nothing more.
    let mut g = group(6);
    g.ready = 3;
    g.warming = 3;
    assert!(target_tracking(&p, &tt, "h", true, 100.0, &g, T0).is_none());
}

#[test]
fn target_tracking_scale_in_rounds_the_removal_down_and_waits_for_warmup() {
    let (p, tt) = tt_policy("cpu", 50.0, false);
    // 6 at 40% → 4.8 → remove 1 → 5.
    assert_eq!(
        target_tracking(&p, &tt, "l", false, 40.0, &group(6), T0)
            .unwrap()
            .desired,
        5
    );
    // 6 at 10% → 1.2 → 2.
    assert_eq!(
        target_tracking(&p, &tt, "l", false, 10.0, &group(6), T0)
            .unwrap()
            .desired,
        2
    );
    let mut g = group(6);
    g.warming = 1;
    assert!(target_tracking(&p, &tt, "l", false, 10.0, &g, T0).is_none());
    let (p, tt) = tt_policy("cpu", 50.0, true);
    assert!(target_tracking(&p, &tt, "l", false, 10.0, &group(6), T0).is_none());
}

#[test]
fn generated_alarms_have_the_chosen_shape_and_aws_names() {
    let (p, tt) = tt_policy("cpu", 50.0, false);
    let a = tracking_alarms(&p, &tt, "web", &AlarmShape::FAST);
    assert!(a.high.name.starts_with("TargetTracking-web-AlarmHigh-"));
    assert_eq!(
        (
            a.high.metric.period,
            a.high.datapoints_to_alarm,
            a.high.evaluation_periods
        ),
        (1, 3, 3)
    );
    let low = a.low.unwrap();
    assert_eq!((low.metric.period, low.evaluation_periods), (1, 15));
    assert_eq!(low.threshold, Float(45.0));
    let aws = tracking_alarms(&p, &tt, "web", &AlarmShape::AWS);
    assert_eq!(aws.high.metric.period, 60);
    assert_eq!(aws.low.unwrap().threshold, Float(35.0));
    assert_eq!(AlarmShape::parse("aws"), Ok(AlarmShape::AWS));
    let custom = AlarmShape::parse("high=5x2/3,low=10x6/6,ratio=0.8").unwrap();
    assert_eq!(custom.high.period, 5);
    assert_eq!(custom.low.evaluation_periods, 6);
    assert!(
        AlarmShape::parse("high=61x2/3").is_err(),
        "61 s is not an alarm period"
    );
    assert!(AlarmShape::parse("high=1x4/3").is_err());
    assert!(AlarmShape::parse("quick").is_err());
    // Request counts per target are per minute: a 1-second alarm compares to target/60.
    let tt = TargetTracking {
        metric: TrackedMetric::AlbRequestCountPerTarget {
            resource_label: "app/web/0123/targetgroup/web/4567".into(),
        },
        target_value: Float(600.0),
        disable_scale_in: false,
        estimated_instance_warmup: None,
    };
    let a = tracking_alarms(&p, &tt, "web", &AlarmShape::FAST);
    assert_eq!(a.high.threshold, Float(10.0));
    let dims: Vec<(&str, &str)> = a
        .high
        .metric
        .dimensions
        .iter()
        .map(|d| (d.name.as_str(), d.value.as_str()))
        .collect();
    assert_eq!(
        dims,
        [
            ("LoadBalancer", "app/web/0123"),
            ("TargetGroup", "targetgroup/web/4567")
        ]
    );
    assert_eq!(to_target_unit(&tt.metric, 1, 20.0), 1200.0);
}

fn step_setup(
    steps: Vec<StepAdjustment>,
    kind: AdjustmentType,
) -> (ScalingPolicy, StepScaling, MetricAlarm) {
    let spec = StepScaling {
        adjustment_type: kind,
        steps,
        min_adjustment_magnitude: None,
        metric_aggregation_type: MetricAggregationType::Average,
        estimated_instance_warmup: Some(Duration::from_secs(60)),
    };
    let policy = ScalingPolicy {
        key: "step".into(),
        name: "step-out".into(),
        arn: "arn:step".into(),
        group: "web".into(),
        enabled: true,
        kind: PolicyKind::Step(spec.clone()),
    };
    let (p, tt) = tt_policy("x", 50.0, true);
    let mut alarm = tracking_alarms(&p, &tt, "web", &AlarmShape::FAST).high;
    alarm.name = "cpu-high".into();
    alarm.evaluation_periods = 1;
    alarm.datapoints_to_alarm = 1;
    alarm.comparison_operator = ComparisonOperator::GreaterThanOrEqualToThreshold;
    (policy, spec, alarm)
}

fn in_alarm(value: f64) -> AlarmState {
    AlarmState {
        value: AlarmStateValue::Alarm,
        reason: String::new(),
        updated_at: T0,
        evaluated_through: None,
        datapoints: vec![None, Some(value)],
    }
}

fn s(lo: Option<f64>, hi: Option<f64>, adj: i64) -> StepAdjustment {
    StepAdjustment {
        lower_bound: lo.map(Float),
        upper_bound: hi.map(Float),
        scaling_adjustment: adj,
    }
}

/// The User Guide's worked example: desired 10, threshold 50%, +10% at [10, 20), +30% at
/// [20, ∞): at 60% → 11; at 70% (after warmup) → +30% of 11 → 14.
#[test]
fn step_scaling_follows_the_user_guide_example() {
    let (p, spec, alarm) = step_setup(
        vec![
            s(Some(0.0), Some(10.0), 0),
            s(Some(10.0), Some(20.0), 10),
            s(Some(20.0), None, 30),
        ],
        AdjustmentType::PercentChangeInCapacity,
    );
    let g = group(10);
    let st = PolicyState::default();
    let first = step(&p, &spec, &alarm, &in_alarm(60.0), &g, &st, T0).unwrap();
    assert_eq!(first.desired, 11);
    assert!(
        first
            .trigger
            .contains("a monitor alarm cpu-high in state ALARM triggered policy step-out")
    );
    // Same step again while warming: nothing more.
    let g11 = GroupView {
        desired: 11,
        ready: 10,
        warming: 1,
        ..g
    };
    assert!(
        step(
            &p,
            &spec,
            &alarm,
            &in_alarm(61.0),
            &g11,
            &first.state,
            T0 + Duration::from_secs(10)
        )
        .is_none()
    );
    // A higher step while warming: computed from 10 → 13, only the difference is added.
    let higher = step(
        &p,
        &spec,
        &alarm,
        &in_alarm(70.0),
        &g11,
        &first.state,
        T0 + Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(higher.desired, 13);
    // After the warmup, 70% on 11 → +30% → 14.
    let later = step(
        &p,
        &spec,
        &alarm,
        &in_alarm(70.0),
        &group(11),
        &first.state,
        T0 + Duration::from_secs(61),
    )
    .unwrap();
    assert_eq!(later.desired, 14);
    // [0, 10) → 0% → no change.
    assert!(step(&p, &spec, &alarm, &in_alarm(55.0), &group(10), &st, T0).is_none());
}

#[test]
fn step_bounds_are_inclusive_below_exclusive_above() {
    let (p, spec, alarm) = step_setup(
        vec![s(Some(0.0), Some(10.0), 1), s(Some(10.0), None, 3)],
        AdjustmentType::ChangeInCapacity,
    );
    let st = PolicyState::default();
    // Exactly 10 above the threshold is in the second step.
    assert_eq!(
        step(&p, &spec, &alarm, &in_alarm(60.0), &group(4), &st, T0)
            .unwrap()
            .desired,
        7
    );
    assert_eq!(
        step(&p, &spec, &alarm, &in_alarm(59.9), &group(4), &st, T0)
            .unwrap()
            .desired,
        5
    );
    // Exact capacity.
    let (p, spec, alarm) = step_setup(vec![s(Some(0.0), None, 8)], AdjustmentType::ExactCapacity);
    assert_eq!(
        step(&p, &spec, &alarm, &in_alarm(99.0), &group(4), &st, T0)
            .unwrap()
            .desired,
        8
    );
}

#[test]
fn simple_scaling_waits_for_its_cooldown() {
    let spec = SimpleScaling {
        adjustment_type: AdjustmentType::ChangeInCapacity,
        scaling_adjustment: 2,
        min_adjustment_magnitude: None,
        cooldown: Some(Duration::from_secs(120)),
    };
    let p = ScalingPolicy {
        key: "simple".into(),
        name: "add-two".into(),
        arn: "arn".into(),
        group: "web".into(),
        enabled: true,
        kind: PolicyKind::Simple(spec.clone()),
    };
    let first = simple(&p, &spec, "a", &group(3), &PolicyState::default(), T0).unwrap();
    assert_eq!(first.desired, 5);
    assert!(
        simple(
            &p,
            &spec,
            "a",
            &group(5),
            &first.state,
            T0 + Duration::from_secs(119)
        )
        .is_none()
    );
    assert_eq!(
        simple(
            &p,
            &spec,
            "a",
            &group(5),
            &first.state,
            T0 + Duration::from_secs(120)
        )
        .unwrap()
        .desired,
        7
    );
}

fn prop(kind: ProposalKind, desired: u32) -> Proposal {
    Proposal {
        policy: format!("{kind:?}{desired}"),
        kind,
        desired,
        trigger: String::new(),
        state: PolicyState::default(),
    }
}

#[test]
fn the_largest_capacity_wins_and_target_tracking_scales_in_only_when_all_agree() {
    use ProposalKind::*;
    let out = [
        prop(Step, 7),
        prop(TargetTrackingOut, 9),
        prop(TargetTrackingIn, 3),
    ];
    assert_eq!(resolve(5, &out, 2).unwrap().desired, 9);
    // UG: −3 vs −25% of 8 (= −2) → remove 2.
    let ins = [prop(Step, 5), prop(Simple, 6)];
    assert_eq!(resolve(8, &ins, 0).unwrap().desired, 6);
    // One of two target-tracking policies wants to scale in: nothing.
    assert!(resolve(8, &[prop(TargetTrackingIn, 4)], 2).is_none());
    assert_eq!(
        resolve(
            8,
            &[prop(TargetTrackingIn, 4), prop(TargetTrackingIn, 6)],
            2
        )
        .unwrap()
        .desired,
        6
    );
    // Step scale-in is not blocked by target tracking.
    assert_eq!(resolve(8, &[prop(Step, 7)], 2).unwrap().desired, 7);
}
