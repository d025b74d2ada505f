//! CloudWatch alarm evaluation.
//!
//! [`classify`] is AWS's documented algorithm for one evaluation ("How alarm state is evaluated
//! when data is missing", CloudWatch User Guide): CloudWatch fetches an *evaluation range* of
//! `N + 2` periods; if at least N of them have data, the most recent N real datapoints decide and
//! `treat_missing_data` is not used; otherwise the missing ones are filled per
//! `treat_missing_data`, as few as possible, with every real datapoint kept. M of N breaching →
//! ALARM, else OK; with `missing`, a window with no non-breaching datapoint is
//! INSUFFICIENT_DATA, unless its oldest breaching datapoint is at least M periods old
//! ("premature alarm" avoidance). The two tables of the guide are the tests below.
//!
//! [`evaluate`] runs it on a [`MetricStore`] once per completed period and says which actions to
//! invoke: those of the new state on a change and, for Auto Scaling actions, again for every
//! period the alarm stays in ALARM (CloudWatch re-invokes Auto Scaling actions while in ALARM).

use std::time::Duration;

use model::{AlarmAction, MetricAlarm, Timestamp, TreatMissingData};
use serde::{Deserialize, Serialize};

use crate::store::{MetricKey, MetricStore};

/// `StateValue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmStateValue {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ALARM")]
    Alarm,
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmStateValue {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmStateValue::Ok => "OK",
            AlarmStateValue::Alarm => "ALARM",
            AlarmStateValue::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// An alarm's state, as `DescribeAlarms` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmState {
    pub value: AlarmStateValue,
    pub reason: String,
    pub updated_at: Timestamp,
    /// End (second) of the last period evaluated.
    pub evaluated_through: Option<i64>,
    /// The datapoints of the last evaluation, oldest first (`None` = missing).
    pub datapoints: Vec<Option<f64>>,
}

impl AlarmState {
    /// A new alarm starts in INSUFFICIENT_DATA.
    pub fn new(now: Timestamp) -> Self {
        AlarmState {
            value: AlarmStateValue::InsufficientData,
            reason: "Unchecked: Initial alarm creation".into(),
            updated_at: now,
            evaluated_through: None,
            datapoints: Vec::new(),
        }
    }
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub state: AlarmState,
    pub changed: bool,
    /// Actions to invoke now.
    pub actions: Vec<AlarmAction>,
}

/// The evaluation range for N evaluation periods.
pub fn evaluation_range(n: u32) -> usize {
    n as usize + 2
}

/// AWS's rule: the state for one evaluation of `points` (the evaluation range, oldest first;
/// `Some(true)` breaching, `Some(false)` not breaching, `None` missing), for an M-of-N alarm.
pub fn classify(
    points: &[Option<bool>],
    n: usize,
    m: usize,
    treat: TreatMissingData,
    current: AlarmStateValue,
) -> AlarmStateValue {
    let real: Vec<bool> = points.iter().flatten().copied().collect();
    let verdict = |breaching: usize| {
        if breaching >= m {
            AlarmStateValue::Alarm
        } else {
            AlarmStateValue::Ok
        }
    };
    if real.len() >= n {
        let recent = &real[real.len() - n..];
        return verdict(recent.iter().filter(|b| **b).count());
    }
    let breaching = real.iter().filter(|b| **b).count();
    let fills = n - real.len();
    match treat {
        TreatMissingData::Breaching => verdict(breaching + fills),
        TreatMissingData::NotBreaching => verdict(breaching),
        TreatMissingData::Missing | TreatMissingData::Ignore => {
            if breaching >= m {
                return AlarmStateValue::Alarm;
            }
            if real.len() > breaching {
                return AlarmStateValue::Ok;
            }
            if treat == TreatMissingData::Ignore {
                return current;
            }
            if real.is_empty() {
                return AlarmStateValue::InsufficientData;
            }
            // Only breaching datapoints, fewer than M: ALARM if the oldest is at least M
            // periods old (newer ones all missing or breaching), else not enough data yet.
            let oldest = points.iter().position(|p| *p == Some(true)).unwrap_or(0);
            let age = points.len() - oldest;
            if age >= m {
                AlarmStateValue::Alarm
            } else {
                AlarmStateValue::InsufficientData
            }
        }
    }
}

/// The metric an alarm reads.
pub fn metric_key(alarm: &MetricAlarm) -> MetricKey {
    MetricKey::new(
        &alarm.metric.namespace,
        &alarm.metric.metric_name,
        alarm.metric.dimensions.clone(),
    )
}

fn verb(op: model::ComparisonOperator, breaching: bool) -> &'static str {
    use model::ComparisonOperator::*;
    match (op, breaching) {
        (GreaterThanOrEqualToThreshold, true) => "greater than or equal to",
        (GreaterThanOrEqualToThreshold, false) => "not greater than or equal to",
        (GreaterThanThreshold, true) => "greater than",
        (GreaterThanThreshold, false) => "not greater than",
        (LessThanThreshold, true) => "less than",
        (LessThanThreshold, false) => "not less than",
        (LessThanOrEqualToThreshold, true) => "less than or equal to",
        (LessThanOrEqualToThreshold, false) => "not less than or equal to",
    }
}

fn short_time(t: Timestamp) -> String {
    // AWS prints "(30/11/26 20:01:00)"; the RFC 3339 form is unambiguous.
    t.rfc3339()
}

/// The AWS-style `StateReason`.
pub fn reason(
    alarm: &MetricAlarm,
    value: AlarmStateValue,
    values: &[Option<f64>],
    period_starts: &[Timestamp],
) -> String {
    let n = alarm.evaluation_periods as usize;
    let op = alarm.comparison_operator;
    let threshold = alarm.threshold.0;
    let recent: Vec<(f64, Timestamp)> = values
        .iter()
        .zip(period_starts)
        .filter_map(|(v, t)| v.map(|v| (v, *t)))
        .collect();
    let recent = &recent[recent.len().saturating_sub(n)..];
    if value == AlarmStateValue::InsufficientData {
        let missing = values.iter().rev().take(n).filter(|v| v.is_none()).count();
        return format!(
            "Insufficient Data: {missing} datapoint{} {} unknown.",
            if missing == 1 { "" } else { "s" },
            if missing == 1 { "was" } else { "were" }
        );
    }
    let breaching = value == AlarmStateValue::Alarm;
    let shown: Vec<&(f64, Timestamp)> = recent
        .iter()
        .filter(|(v, _)| op.breaches(*v, threshold) == breaching)
        .collect();
    let list: Vec<String> = shown
        .iter()
        .rev()
        .map(|(v, t)| format!("{} ({})", fmt_value(*v), short_time(*t)))
        .collect();
    let (from, to, min) = if breaching {
        ("OK", "ALARM", alarm.datapoints_to_alarm)
    } else {
        ("ALARM", "OK", 1)
    };
    format!(
        "Threshold Crossed: {} out of the last {n} datapoints [{}] {} {} the threshold ({}) \
         (minimum {min} datapoint{} for {from} -> {to} transition).",
        shown.len(),
        list.join(", "),
        if shown.len() == 1 { "was" } else { "were" },
        verb(op, breaching),
        fmt_value(threshold),
        if min == 1 { "" } else { "s" },
    )
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

/// Evaluates `alarm` if a period has completed since the last evaluation; `None` otherwise.
pub fn evaluate(
    alarm: &MetricAlarm,
    state: &AlarmState,
    store: &MetricStore,
    now: Timestamp,
) -> Option<Evaluation> {
    let p = i64::from(alarm.metric.period.max(1));
    let end = now.as_secs().div_euclid(p) * p;
    if state.evaluated_through.is_some_and(|t| t >= end) {
        return None;
    }
    let range = evaluation_range(alarm.evaluation_periods);
    let values = store.period_values(
        &metric_key(alarm),
        alarm.metric.statistic,
        Duration::from_secs(p as u64),
        Timestamp::from_secs(end),
        range,
    );
    let starts: Vec<Timestamp> = (0..range)
        .map(|i| Timestamp::from_secs(end - p * (range - i) as i64))
        .collect();
    let points: Vec<Option<bool>> = values
        .iter()
        .map(|v| v.map(|v| alarm.comparison_operator.breaches(v, alarm.threshold.0)))
        .collect();
    let value = classify(
        &points,
        alarm.evaluation_periods as usize,
        alarm.datapoints_to_alarm as usize,
        alarm.treat_missing_data,
        state.value,
    );
    let changed = value != state.value;
    let mut next = state.clone();
    next.evaluated_through = Some(end);
    next.datapoints = values.clone();
    if changed {
        next.value = value;
        next.reason = reason(alarm, value, &values, &starts);
        next.updated_at = now;
    }
    let mut actions = Vec::new();
    if alarm.actions_enabled {
        let list = match value {
            AlarmStateValue::Ok => &alarm.ok_actions,
            AlarmStateValue::Alarm => &alarm.alarm_actions,
            AlarmStateValue::InsufficientData => &alarm.insufficient_data_actions,
        };
        for a in list {
            let again =
                value == AlarmStateValue::Alarm && matches!(a, AlarmAction::ScalingPolicy(_));
            if changed || again {
                actions.push(a.clone());
            }
        }
    }
    Some(Evaluation {
        state: next,
        changed,
        actions,
    })
}

#[cfg(test)]
mod tests;
