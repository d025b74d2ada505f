use model::{
    AlarmAction, ComparisonOperator, DatumValue, Dimension, Float, MetricAlarm, MetricDatum,
    MetricStat, Statistic, Unit,
};

use super::*;
use crate::store::Retention;

const OK: AlarmStateValue = AlarmStateValue::Ok;
const ALARM: AlarmStateValue = AlarmStateValue::Alarm;
const INSUFFICIENT: AlarmStateValue = AlarmStateValue::InsufficientData;
/// Stands for "Retain current state" in the tables; the current state used is this one.
const RETAIN: AlarmStateValue = AlarmStateValue::InsufficientData;

/// "0 - X - X" → points, oldest first.
fn parse(row: &str) -> Vec<Option<bool>> {
    row.split_whitespace()
        .map(|c| match c {
            "0" => Some(false),
            "X" => Some(true),
            "-" => None,
            other => panic!("bad cell {other}"),
        })
        .collect()
}

fn check(n: usize, m: usize, table: &[(&str, [AlarmStateValue; 4])]) {
    use TreatMissingData::*;
    for (row, want) in table {
        let points = parse(row);
        for (treat, want) in [Missing, Ignore, Breaching, NotBreaching]
            .into_iter()
            .zip(want)
        {
            // "Retain current state" shows as the current state: try two different ones.
            for current in [RETAIN, OK] {
                let got = classify(&points, n, m, treat, current);
                let want = if treat == Ignore && *want == RETAIN {
                    current
                } else {
                    *want
                };
                assert_eq!(
                    got, want,
                    "{m} of {n}, `{row}`, {treat:?}, current {current:?}"
                );
            }
        }
    }
}

/// CloudWatch User Guide, first table: Datapoints to Alarm = Evaluation Periods = 3.
#[test]
fn aws_table_three_of_three() {
    check(
        3,
        3,
        &[
            ("0 - X - X", [OK, OK, OK, OK]),
            ("0 - - - -", [OK, OK, OK, OK]),
            ("- - - - -", [INSUFFICIENT, RETAIN, ALARM, OK]),
            ("0 X X - X", [ALARM, ALARM, ALARM, ALARM]),
            ("- - - - X", [INSUFFICIENT, RETAIN, ALARM, OK]),
            ("X - - - -", [ALARM, RETAIN, ALARM, OK]),
        ],
    );
}

/// Second table: 2 out of 3.
#[test]
fn aws_table_two_of_three() {
    check(
        3,
        2,
        &[
            ("0 - X - X", [ALARM, ALARM, ALARM, ALARM]),
            ("0 0 X 0 X", [ALARM, ALARM, ALARM, ALARM]),
            ("0 - X - -", [OK, OK, ALARM, OK]),
            ("- - - - 0", [OK, OK, ALARM, OK]),
            ("- - - - X", [INSUFFICIENT, RETAIN, ALARM, OK]),
        ],
    );
}

fn alarm(period: u32, n: u32, m: u32) -> MetricAlarm {
    MetricAlarm {
        key: "high".into(),
        name: "cpu-high".into(),
        metric: MetricStat {
            namespace: "AWS/EC2".into(),
            metric_name: "CPUUtilization".into(),
            dimensions: vec![Dimension::new("AutoScalingGroupName", "web")],
            period,
            statistic: Statistic::Average,
        },
        evaluation_periods: n,
        datapoints_to_alarm: m,
        threshold: Float(50.0),
        comparison_operator: ComparisonOperator::GreaterThanThreshold,
        treat_missing_data: TreatMissingData::Missing,
        actions_enabled: true,
        alarm_actions: vec![
            AlarmAction::ScalingPolicy("up".into()),
            AlarmAction::Recorded("arn:aws:sns:us-east-1:000000000000:ops".into()),
        ],
        ok_actions: vec![],
        insufficient_data_actions: vec![],
    }
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
fn three_breaching_seconds_raise_the_alarm_and_scaling_actions_repeat() {
    let a = alarm(1, 3, 3);
    let mut store = MetricStore::new(Retention::default());
    let mut state = AlarmState::new(Timestamp::from_secs(0));
    let mut log = Vec::new();
    for t in 0..12 {
        let v = if (3..9).contains(&t) { 90.0 } else { 10.0 };
        store.put(Timestamp::from_secs(t), &[cpu(v)]);
        // Evaluated right after the second [t, t+1) is complete.
        let e = evaluate(&a, &state, &store, Timestamp::from_secs(t + 1)).expect("a new period");
        assert!(evaluate(&a, &e.state, &store, Timestamp::from_secs(t + 1)).is_none());
        log.push((t, e.state.value, e.actions.len()));
        if e.changed && e.state.value == ALARM {
            assert!(
                e.state
                    .reason
                    .starts_with("Threshold Crossed: 3 out of the last 3 datapoints [90.0 ("),
                "{}",
                e.state.reason
            );
            assert!(e.state.reason.contains("were greater than the threshold (50.0) (minimum 3 datapoints for OK -> ALARM transition)"));
        }
        state = e.state;
    }
    let states: Vec<_> = log.iter().map(|(_, s, _)| *s).collect();
    // One real non-breaching datapoint is enough for OK (AWS: "0 - - - -" is OK).
    assert_eq!(states[..3], [OK, OK, OK]);
    assert_eq!(states[4], OK);
    assert_eq!(states[5], ALARM, "{log:?}");
    // Both actions on the change, only the scaling policy while it stays in ALARM.
    assert_eq!(log[5].2, 2);
    assert_eq!(log[6].2, 1);
    assert_eq!(states[9], OK);
    assert!(
        state.reason.contains("was not greater than the threshold"),
        "{}",
        state.reason
    );
}

#[test]
fn long_periods_aggregate_seconds() {
    let a = alarm(10, 2, 2);
    let mut store = MetricStore::new(Retention::default());
    for t in 0..40 {
        store.put(
            Timestamp::from_secs(t),
            &[cpu(if t >= 20 { 60.0 } else { 40.0 })],
        );
    }
    let state = AlarmState::new(Timestamp::from_secs(0));
    let e = evaluate(&a, &state, &store, Timestamp::from_secs(45)).unwrap();
    assert_eq!(e.state.value, ALARM);
    assert_eq!(e.state.evaluated_through, Some(40));
    assert_eq!(
        e.state.datapoints,
        vec![Some(40.0), Some(40.0), Some(60.0), Some(60.0)]
    );
    // Nothing more to evaluate until the next 10-second boundary.
    assert!(evaluate(&a, &e.state, &store, Timestamp::from_secs(49)).is_none());
    assert!(evaluate(&a, &e.state, &store, Timestamp::from_secs(50)).is_some());
}
