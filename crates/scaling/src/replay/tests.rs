use std::time::Duration;

use model::{Float, PolicyKind, ScalingPolicy, Stack, TargetTracking, TrackedMetric};

use super::*;
use crate::policy::AlarmShape;

fn stack() -> Stack {
    let mut s = Stack::default();
    let tt = TargetTracking {
        metric: TrackedMetric::AsgAverageCpuUtilization,
        target_value: Float(50.0),
        disable_scale_in: false,
        estimated_instance_warmup: None,
    };
    s.scaling_policies.insert(
        "cpu".into(),
        ScalingPolicy {
            key: "cpu".into(),
            name: "cpu50".into(),
            arn: "arn".into(),
            group: "web".into(),
            enabled: true,
            kind: PolicyKind::TargetTracking(tt),
        },
    );
    let mut g = model::AutoScalingGroup {
        key: "web".into(),
        name: "web".into(),
        min_size: 2,
        max_size: 2000,
        desired_capacity: Some(2),
        subnets: vec![],
        target_groups: vec![],
        launch_template: model::LaunchTemplateRef {
            template: "t".into(),
            version: model::LaunchTemplateVersion::Latest,
        },
        health_check_type: model::HealthCheckType::Ec2,
        health_check_grace_period: Duration::ZERO,
        default_cooldown: Duration::from_secs(300),
        default_instance_warmup: Some(Duration::from_secs(5)),
        termination_policies: vec![],
        protect_from_scale_in: false,
        max_instance_lifetime: None,
        suspended_processes: vec![],
        initial_lifecycle_hooks: vec![],
        warm_pool: None,
        instance_refresh: None,
    };
    g.desired_capacity = Some(2);
    s.auto_scaling_groups.insert("web".into(), g);
    s
}

fn group() -> GroupSpec {
    GroupSpec {
        key: "web".into(),
        name: "web".into(),
        min: 2,
        max: 2000,
        desired: 2,
        default_cooldown: Duration::from_secs(300),
        default_instance_warmup: Some(Duration::from_secs(5)),
        resource_label: None,
    }
}

const MODEL: InstanceModel = InstanceModel {
    capacity: 100.0,
    boot_secs: 10,
    price_per_hour: 0.0104,
    base_latency_ms: 20.0,
    slo_ms: 200.0,
};

/// 10 minutes at 60 rps, then 20 minutes at 400 rps, then 30 minutes at 60 rps.
fn step_trace() -> Trace {
    let mut rate = vec![60.0; 600];
    rate.extend(vec![400.0; 1200]);
    rate.extend(vec![60.0; 1800]);
    Trace {
        start: 1_800_000_000,
        rate,
    }
}

fn policies(shape: AlarmShape) -> Scaler {
    let s = stack();
    Scaler::Policies(Box::new(Autoscaler::new(
        &s,
        shape,
        Timestamp::from_secs(1_800_000_000),
    )))
}

#[test]
fn fast_target_tracking_reacts_in_seconds_and_scales_back_in() {
    let trace = step_trace();
    let r = run(
        "updraft",
        &trace,
        &group(),
        &MODEL,
        policies(AlarmShape::FAST),
    );
    let first = &r.actions[0];
    // The step is at 600 s; 3 breaching 1-second datapoints, then one proportional jump.
    assert!(first.at >= 600 && first.at <= 605, "{first:?}");
    // CPU saturates at 100%, so the first jump can only double (100% / 50%): 2 → 4.
    assert_eq!(first.to, 4, "{first:?}");
    // The next jump, once the new instances serve and warm up, reaches the 8 needed.
    let eight = r.series.billed.iter().position(|b| *b >= 8).unwrap();
    assert!(eight <= 640, "8 instances at {eight} s: {:?}", r.actions);
    assert!(
        first
            .cause
            .contains("a monitor alarm TargetTracking-web-AlarmHigh-"),
        "{}",
        first.cause
    );
    assert!(first.cause.ends_with(&format!(
        "changing the desired capacity from 2 to {}.",
        first.to
    )));
    // Back to 2 once the load is gone.
    assert_eq!(*r.series.billed.last().unwrap(), 2, "{:?}", r.actions);
    // No flapping on the steady high plateau: a handful of actions, not dozens.
    assert!(r.summary.scaling_actions <= 8, "{:?}", r.actions);
    // Invariants: within [min, max] every second.
    assert!(r.series.billed.iter().all(|b| (2..=2000).contains(b)));
}

#[test]
fn aws_shaped_alarms_take_minutes_and_the_hpa_baseline_takes_a_sync_period() {
    let trace = step_trace();
    let fast = run(
        "updraft",
        &trace,
        &group(),
        &MODEL,
        policies(AlarmShape::FAST),
    );
    let aws = run("aws", &trace, &group(), &MODEL, policies(AlarmShape::AWS));
    let hpa = run("hpa", &trace, &group(), &MODEL, Scaler::Hpa(Hpa::new(50.0)));
    let aws_first = aws.actions[0].at;
    assert!(
        (600 + 180..=600 + 240).contains(&aws_first),
        "{:?}",
        aws.actions[0]
    );
    let hpa_first = hpa.actions[0].at;
    assert!(
        (600..=600 + 31).contains(&hpa_first),
        "{:?}",
        hpa.actions[0]
    );
    // Reacting sooner means fewer minutes over the SLO.
    assert!(fast.summary.slo_violation_minutes < aws.summary.slo_violation_minutes);
    assert!(
        fast.summary.elasticity.under_provisioning_timeshare
            < aws.summary.elasticity.under_provisioning_timeshare
    );
}

#[test]
fn runs_are_deterministic_and_the_plot_is_byte_identical() {
    let trace = step_trace();
    let a = run(
        "updraft",
        &trace,
        &group(),
        &MODEL,
        policies(AlarmShape::FAST),
    );
    let b = run(
        "updraft",
        &trace,
        &group(),
        &MODEL,
        policies(AlarmShape::FAST),
    );
    assert_eq!(a.actions, b.actions);
    assert_eq!(a.summary, b.summary);
    let svg = svg::plot("step", std::slice::from_ref(&a), &MODEL);
    assert_eq!(svg, svg::plot("step", &[b], &MODEL));
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}
