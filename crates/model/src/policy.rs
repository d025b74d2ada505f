//! Scaling policies (`aws_autoscaling_policy`) and scheduled actions
//! (`aws_autoscaling_schedule`), with AWS's rules for step intervals.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alarm::{Float, MetricStat};
use crate::time::Timestamp;
use crate::validate::Violation;

/// `adjustment_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AdjustmentType {
    #[default]
    ChangeInCapacity,
    ExactCapacity,
    PercentChangeInCapacity,
}

impl AdjustmentType {
    pub const ALL: &'static [&'static str] = &[
        "ChangeInCapacity",
        "ExactCapacity",
        "PercentChangeInCapacity",
    ];

    pub fn parse(s: &str) -> Option<AdjustmentType> {
        Some(match s {
            "ChangeInCapacity" => AdjustmentType::ChangeInCapacity,
            "ExactCapacity" => AdjustmentType::ExactCapacity,
            "PercentChangeInCapacity" => AdjustmentType::PercentChangeInCapacity,
            _ => return None,
        })
    }
}

/// `metric_aggregation_type` of a step policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MetricAggregationType {
    #[default]
    Average,
    Minimum,
    Maximum,
}

/// One `step_adjustment`: bounds relative to the alarm threshold (`None` = infinite).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepAdjustment {
    pub lower_bound: Option<Float>,
    pub upper_bound: Option<Float>,
    pub scaling_adjustment: i64,
}

/// `policy_type = "StepScaling"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepScaling {
    pub adjustment_type: AdjustmentType,
    pub steps: Vec<StepAdjustment>,
    pub min_adjustment_magnitude: Option<u32>,
    pub metric_aggregation_type: MetricAggregationType,
    pub estimated_instance_warmup: Option<Duration>,
}

/// `policy_type = "SimpleScaling"` (the default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleScaling {
    pub adjustment_type: AdjustmentType,
    pub scaling_adjustment: i64,
    pub min_adjustment_magnitude: Option<u32>,
    /// Overrides the group's `default_cooldown`.
    pub cooldown: Option<Duration>,
}

/// What a target-tracking policy tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrackedMetric {
    /// `ASGAverageCPUUtilization`: `AWS/EC2 CPUUtilization` by `AutoScalingGroupName`.
    AsgAverageCpuUtilization,
    /// `ASGAverageNetworkIn` / `ASGAverageNetworkOut`.
    AsgAverageNetworkIn,
    AsgAverageNetworkOut,
    /// `ALBRequestCountPerTarget` of one target group; `resource_label` is
    /// `app/<lb>/<id>/targetgroup/<tg>/<id>`.
    AlbRequestCountPerTarget {
        resource_label: String,
    },
    /// `customized_metric_specification`.
    Custom(MetricStat),
}

impl TrackedMetric {
    pub fn predefined_name(&self) -> &'static str {
        match self {
            TrackedMetric::AsgAverageCpuUtilization => "ASGAverageCPUUtilization",
            TrackedMetric::AsgAverageNetworkIn => "ASGAverageNetworkIn",
            TrackedMetric::AsgAverageNetworkOut => "ASGAverageNetworkOut",
            TrackedMetric::AlbRequestCountPerTarget { .. } => "ALBRequestCountPerTarget",
            TrackedMetric::Custom(_) => "Custom",
        }
    }
}

/// `policy_type = "TargetTrackingScaling"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetTracking {
    pub metric: TrackedMetric,
    pub target_value: Float,
    pub disable_scale_in: bool,
    pub estimated_instance_warmup: Option<Duration>,
}

/// The kind of a policy and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyKind {
    TargetTracking(TargetTracking),
    Step(StepScaling),
    Simple(SimpleScaling),
}

impl PolicyKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            PolicyKind::TargetTracking(_) => "TargetTrackingScaling",
            PolicyKind::Step(_) => "StepScaling",
            PolicyKind::Simple(_) => "SimpleScaling",
        }
    }
}

/// `aws_autoscaling_policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingPolicy {
    pub key: String,
    pub name: String,
    pub arn: String,
    /// The group's resource key.
    pub group: String,
    pub enabled: bool,
    pub kind: PolicyKind,
}

/// `aws_autoscaling_schedule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledAction {
    pub key: String,
    /// `scheduled_action_name`.
    pub name: String,
    pub group: String,
    /// Five-field cron, in `time_zone`.
    pub recurrence: Option<String>,
    /// IANA name; UTC when absent.
    pub time_zone: Option<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub min_size: Option<u32>,
    pub max_size: Option<u32>,
    pub desired_capacity: Option<u32>,
}

/// AWS's rules for `step_adjustment` intervals: at most 20; no two overlap; no gap between
/// them; at most one open lower bound and one open upper bound, never both in one step; all on
/// one side of the threshold or spanning it without a hole. `above` says whether breaching means
/// above the threshold (which side the steps must cover).
pub fn validate_steps(steps: &[StepAdjustment]) -> Vec<Violation> {
    let mut v = Vec::new();
    if steps.is_empty() {
        v.push(
            Violation::new(
                "step_adjustment",
                "a step scaling policy needs at least one step",
            )
            .hint(
                "add step_adjustment { metric_interval_lower_bound = 0, scaling_adjustment = 1 }",
            ),
        );
        return v;
    }
    if steps.len() > 20 {
        v.push(Violation::new(
            "step_adjustment",
            format!("{} steps; AWS allows at most 20", steps.len()),
        ));
    }
    let lo = |s: &StepAdjustment| s.lower_bound.map_or(f64::NEG_INFINITY, |f| f.0);
    let hi = |s: &StepAdjustment| s.upper_bound.map_or(f64::INFINITY, |f| f.0);
    for (i, s) in steps.iter().enumerate() {
        if s.lower_bound.is_none() && s.upper_bound.is_none() {
            v.push(
                Violation::new(
                    format!("step_adjustment[{i}]"),
                    "both bounds are open: a step needs a lower or an upper bound",
                )
                .hint("set metric_interval_lower_bound = 0 for a step above the threshold"),
            );
        }
        if lo(s) >= hi(s) {
            v.push(
                Violation::new(
                    format!("step_adjustment[{i}]"),
                    format!("lower bound {} is not below upper bound {}", lo(s), hi(s)),
                )
                .hint("make metric_interval_lower_bound < metric_interval_upper_bound"),
            );
        }
    }
    if !v.is_empty() {
        return v;
    }
    let open_lower = steps.iter().filter(|s| s.lower_bound.is_none()).count();
    let open_upper = steps.iter().filter(|s| s.upper_bound.is_none()).count();
    if open_lower > 1 || open_upper > 1 {
        v.push(
            Violation::new(
                "step_adjustment",
                "more than one step has an open (null) lower or upper bound",
            )
            .hint("only the lowest step may omit its lower bound and only the highest its upper bound"),
        );
        return v;
    }
    let mut order: Vec<usize> = (0..steps.len()).collect();
    order.sort_by(|a, b| lo(&steps[*a]).total_cmp(&lo(&steps[*b])));
    for w in order.windows(2) {
        let (a, b) = (&steps[w[0]], &steps[w[1]]);
        if hi(a) > lo(b) {
            v.push(
                Violation::new(
                    format!("step_adjustment[{}]", w[1]),
                    format!(
                        "its interval [{}, {}) overlaps step_adjustment[{}]'s [{}, {})",
                        lo(b),
                        hi(b),
                        w[0],
                        lo(a),
                        hi(a)
                    ),
                )
                .hint("make each step's lower bound equal the previous step's upper bound"),
            );
        } else if hi(a) < lo(b) {
            v.push(
                Violation::new(
                    format!("step_adjustment[{}]", w[1]),
                    format!(
                        "gap between step_adjustment[{}] (upper bound {}) and this step (lower bound {})",
                        w[0],
                        hi(a),
                        lo(b)
                    ),
                )
                .hint(format!(
                    "set metric_interval_lower_bound = {} so the steps meet",
                    hi(a)
                )),
            );
        }
    }
    // The steps must reach the threshold (0) from one side: AWS requires the intervals to
    // cover the breaching side from the threshold on.
    let min_lo = order.first().map(|i| lo(&steps[*i])).unwrap_or(0.0);
    let max_hi = order.last().map(|i| hi(&steps[*i])).unwrap_or(0.0);
    if v.is_empty() && min_lo > 0.0 {
        v.push(
            Violation::new(
                "step_adjustment",
                format!("the steps start at {min_lo} above the threshold, leaving [0, {min_lo}) uncovered"),
            )
            .hint("start the lowest step at metric_interval_lower_bound = 0"),
        );
    }
    if v.is_empty() && max_hi < 0.0 {
        v.push(
            Violation::new(
                "step_adjustment",
                format!(
                    "the steps end at {max_hi} below the threshold, leaving ({max_hi}, 0] uncovered"
                ),
            )
            .hint("end the highest step at metric_interval_upper_bound = 0"),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(lo: Option<f64>, hi: Option<f64>, adj: i64) -> StepAdjustment {
        StepAdjustment {
            lower_bound: lo.map(Float),
            upper_bound: hi.map(Float),
            scaling_adjustment: adj,
        }
    }

    #[test]
    fn aws_user_guide_steps_are_valid() {
        let steps = [
            step(Some(0.0), Some(10.0), 0),
            step(Some(10.0), Some(20.0), 10),
            step(Some(20.0), None, 30),
        ];
        assert!(validate_steps(&steps).is_empty());
        let below = [
            step(None, Some(-20.0), -30),
            step(Some(-20.0), Some(0.0), -10),
        ];
        assert!(validate_steps(&below).is_empty());
    }

    #[test]
    fn overlaps_and_gaps_are_refused() {
        let overlap = [step(Some(0.0), Some(15.0), 1), step(Some(10.0), None, 2)];
        let v = validate_steps(&overlap);
        assert!(v[0].message.contains("overlaps"), "{v:?}");
        let gap = [step(Some(0.0), Some(10.0), 1), step(Some(20.0), None, 2)];
        let v = validate_steps(&gap);
        assert!(v[0].message.contains("gap"), "{v:?}");
        assert!(v[0].hint.as_deref().unwrap().contains("= 10"));
        let open = [step(None, None, 1)];
        assert!(!validate_steps(&open).is_empty());
        let two_open = [step(Some(0.0), None, 1), step(Some(5.0), None, 1)];
        assert!(!validate_steps(&two_open).is_empty());
        let not_from_zero = [step(Some(5.0), None, 1)];
        assert!(
            validate_steps(&not_from_zero)[0]
                .message
                .contains("uncovered")
        );
    }
}
