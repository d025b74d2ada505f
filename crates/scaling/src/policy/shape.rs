//! The two alarms a target-tracking policy creates, and their shape.
//!
//! AWS creates `TargetTracking-<group>-AlarmHigh-<uuid>` (metric > target for 3 of 3 one-minute
//! datapoints) and `…-AlarmLow-<uuid>` (metric < a lower threshold for 15 of 15). updraft's
//! default, [`AlarmShape::FAST`], keeps the shape but uses 1-second datapoints: 3 s to scale
//! out, 15 s of low load to scale in. [`AlarmShape::AWS`] is AWS's own shape.

use model::metric::namespace;
use model::{
    AlarmAction, ComparisonOperator, Dimension, Float, MetricAlarm, MetricStat, ScalingPolicy,
    Statistic, TargetTracking, TrackedMetric, TreatMissingData,
};

/// One alarm's period and M of N.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmSide {
    pub period: u32,
    pub datapoints_to_alarm: u32,
    pub evaluation_periods: u32,
}

/// Periods, M of N, and the low threshold as a fraction of the target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmShape {
    pub high: AlarmSide,
    pub low: AlarmSide,
    pub low_ratio: f64,
}

impl AlarmShape {
    /// updraft's default: 1-second datapoints, 3 of 3 high, 15 of 15 low at 90% of the target.
    pub const FAST: AlarmShape = AlarmShape {
        high: AlarmSide {
            period: 1,
            datapoints_to_alarm: 3,
            evaluation_periods: 3,
        },
        low: AlarmSide {
            period: 1,
            datapoints_to_alarm: 15,
            evaluation_periods: 15,
        },
        low_ratio: 0.9,
    };

    /// AWS's (observed) shape: one-minute datapoints, 3 of 3 high, 15 of 15 low at 70% of the
    /// target (EC2 groups: target 40 → 28, 50 → 35, 60 → 42).
    pub const AWS: AlarmShape = AlarmShape {
        high: AlarmSide {
            period: 60,
            datapoints_to_alarm: 3,
            evaluation_periods: 3,
        },
        low: AlarmSide {
            period: 60,
            datapoints_to_alarm: 15,
            evaluation_periods: 15,
        },
        low_ratio: 0.7,
    };

    /// `fast`, `aws`, or `high=PERIODxM/N,low=PERIODxM/N[,ratio=R]` (e.g.
    /// `high=5x2/3,low=10x6/6,ratio=0.8`).
    pub fn parse(text: &str) -> Result<AlarmShape, String> {
        match text {
            "fast" => return Ok(AlarmShape::FAST),
            "aws" => return Ok(AlarmShape::AWS),
            _ => {}
        }
        let usage = "expected `fast`, `aws`, or `high=PERIODxM/N,low=PERIODxM/N[,ratio=R]` such as `high=1x3/3,low=5x6/6,ratio=0.9`";
        let side = |s: &str| -> Option<AlarmSide> {
            let (period, mn) = s.split_once('x')?;
            let (m, n) = mn.split_once('/')?;
            let side = AlarmSide {
                period: period.parse().ok()?,
                datapoints_to_alarm: m.parse().ok()?,
                evaluation_periods: n.parse().ok()?,
            };
            (model::alarm::period_allowed(side.period)
                && side.datapoints_to_alarm >= 1
                && side.datapoints_to_alarm <= side.evaluation_periods)
                .then_some(side)
        };
        let mut shape = AlarmShape::FAST;
        for part in text.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: {usage}"))?;
            match k.trim() {
                "high" => {
                    shape.high = side(v.trim()).ok_or_else(|| format!("`{part}`: {usage}"))?
                }
                "low" => shape.low = side(v.trim()).ok_or_else(|| format!("`{part}`: {usage}"))?,
                "ratio" => {
                    shape.low_ratio = v
                        .trim()
                        .parse()
                        .ok()
                        .filter(|r: &f64| *r > 0.0 && *r <= 1.0)
                        .ok_or_else(|| format!("`{part}`: the ratio is a number in (0, 1]"))?
                }
                _ => return Err(format!("`{part}`: {usage}")),
            }
        }
        Ok(shape)
    }
}

/// A target-tracking policy's generated alarms.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackingAlarms {
    pub high: MetricAlarm,
    /// Absent with `disable_scale_in`.
    pub low: Option<MetricAlarm>,
}

fn fnv(data: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn uuid(key: &str) -> String {
    let a = format!("{:016x}", fnv(key));
    let b = format!("{:016x}", fnv(&format!("{key}#")));
    format!(
        "{}-{}-{}-{}-{}",
        &a[..8],
        &a[8..12],
        &a[12..16],
        &b[..4],
        &b[4..16]
    )
}

/// Is the tracked metric a count per minute (so alarm thresholds scale with the period)?
pub fn is_count_per_minute(metric: &TrackedMetric) -> bool {
    matches!(metric, TrackedMetric::AlbRequestCountPerTarget { .. })
}

/// The alarm datapoint value expressed in the target's unit (counts are per minute).
pub fn to_target_unit(metric: &TrackedMetric, period: u32, value: f64) -> f64 {
    if is_count_per_minute(metric) {
        value * 60.0 / f64::from(period.max(1))
    } else {
        value
    }
}

/// The dimensions of `RequestCountPerTarget` for a `resource_label`
/// (`app/<lb>/<id>/targetgroup/<tg>/<id>`): ALB publishes it per LoadBalancer and TargetGroup.
pub fn request_count_dimensions(resource_label: &str) -> Vec<Dimension> {
    let (lb, tg) = match resource_label.find("/targetgroup/") {
        Some(i) => (&resource_label[..i], &resource_label[i + 1..]),
        None => ("", resource_label),
    };
    let mut dims = vec![Dimension::new("TargetGroup", tg)];
    if !lb.is_empty() {
        dims.push(Dimension::new("LoadBalancer", lb));
    }
    dims.sort();
    dims
}

fn metric_stat(metric: &TrackedMetric, group_name: &str, period: u32) -> MetricStat {
    let by_group = vec![Dimension::new("AutoScalingGroupName", group_name)];
    let (ns, name, dims, statistic) = match metric {
        TrackedMetric::AsgAverageCpuUtilization => (
            namespace::EC2,
            "CPUUtilization",
            by_group,
            Statistic::Average,
        ),
        TrackedMetric::AsgAverageNetworkIn => {
            (namespace::EC2, "NetworkIn", by_group, Statistic::Average)
        }
        TrackedMetric::AsgAverageNetworkOut => {
            (namespace::EC2, "NetworkOut", by_group, Statistic::Average)
        }
        TrackedMetric::AlbRequestCountPerTarget { resource_label } => (
            namespace::APPLICATION_ELB,
            "RequestCountPerTarget",
            request_count_dimensions(resource_label),
            Statistic::Sum,
        ),
        TrackedMetric::Custom(m) => {
            return MetricStat {
                period,
                ..m.clone()
            };
        }
    };
    let mut dimensions = dims;
    dimensions.sort();
    MetricStat {
        namespace: ns.into(),
        metric_name: name.into(),
        dimensions,
        period,
        statistic,
    }
}

/// The alarms AWS would create for `policy`, in `shape`.
pub fn tracking_alarms(
    policy: &ScalingPolicy,
    tt: &TargetTracking,
    group_name: &str,
    shape: &AlarmShape,
) -> TrackingAlarms {
    let id = uuid(&policy.key);
    let target = tt.target_value.0;
    let threshold = |period: u32, ratio: f64| {
        let t = target * ratio;
        if is_count_per_minute(&tt.metric) {
            t * f64::from(period) / 60.0
        } else {
            t
        }
    };
    let make = |side: &AlarmSide, which: &str, op, ratio: f64| MetricAlarm {
        key: format!("{}#{which}", policy.key),
        name: format!("TargetTracking-{group_name}-Alarm{which}-{id}"),
        metric: metric_stat(&tt.metric, group_name, side.period),
        evaluation_periods: side.evaluation_periods,
        datapoints_to_alarm: side.datapoints_to_alarm,
        threshold: Float(threshold(side.period, ratio)),
        comparison_operator: op,
        // AWS: with missing data the alarm goes to INSUFFICIENT_DATA and nothing scales.
        treat_missing_data: TreatMissingData::Missing,
        actions_enabled: true,
        alarm_actions: vec![AlarmAction::ScalingPolicy(policy.key.clone())],
        ok_actions: vec![],
        insufficient_data_actions: vec![],
    };
    TrackingAlarms {
        high: make(
            &shape.high,
            "High",
            ComparisonOperator::GreaterThanThreshold,
            1.0,
        ),
        low: (!tt.disable_scale_in).then(|| {
            make(
                &shape.low,
                "Low",
                ComparisonOperator::LessThanThreshold,
                shape.low_ratio,
            )
        }),
    }
}
