//! CloudWatch metric alarms (`aws_cloudwatch_metric_alarm`): what an alarm watches, how it
//! compares, how it treats missing data, and whom it notifies.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::metric::Dimension;

/// An `f64` that compares by bits, so specs holding numbers stay `Eq` (the stack is compared
/// whole by `updraft plan`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Float(pub f64);

impl PartialEq for Float {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Float {}

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A CloudWatch statistic: one of the five simple ones, or a percentile (`p99`, `p99.9`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    /// `pNN`: the percentile, 0–100.
    Percentile(f64),
}

impl Eq for Statistic {}

impl Statistic {
    /// Parses `Average`, `Sum`, …, or an extended statistic `p50`, `p99.9`.
    pub fn parse(s: &str) -> Option<Statistic> {
        Some(match s {
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Sum" => Statistic::Sum,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            other => {
                let p: f64 = other.strip_prefix(['p', 'P'])?.parse().ok()?;
                if !(0.0..=100.0).contains(&p) || !p.is_finite() {
                    return None;
                }
                Statistic::Percentile(p)
            }
        })
    }

    /// The five statistics `statistic` accepts (percentiles go in `extended_statistic`).
    pub const SIMPLE: &'static [&'static str] =
        &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statistic::SampleCount => f.write_str("SampleCount"),
            Statistic::Average => f.write_str("Average"),
            Statistic::Sum => f.write_str("Sum"),
            Statistic::Minimum => f.write_str("Minimum"),
            Statistic::Maximum => f.write_str("Maximum"),
            Statistic::Percentile(p) => write!(f, "p{p}"),
        }
    }
}

/// A metric, a period and a statistic: what one alarm datapoint is made of (`MetricStat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricStat {
    pub namespace: String,
    pub metric_name: String,
    /// Sorted by name.
    pub dimensions: Vec<Dimension>,
    /// Seconds, ≥ 1.
    pub period: u32,
    pub statistic: Statistic,
}

/// `comparison_operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComparisonOperator {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl ComparisonOperator {
    pub const ALL: &'static [&'static str] = &[
        "GreaterThanOrEqualToThreshold",
        "GreaterThanThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    ];

    pub fn parse(s: &str) -> Option<ComparisonOperator> {
        Some(match s {
            "GreaterThanOrEqualToThreshold" => ComparisonOperator::GreaterThanOrEqualToThreshold,
            "GreaterThanThreshold" => ComparisonOperator::GreaterThanThreshold,
            "LessThanThreshold" => ComparisonOperator::LessThanThreshold,
            "LessThanOrEqualToThreshold" => ComparisonOperator::LessThanOrEqualToThreshold,
            _ => return None,
        })
    }

    /// Does `value` breach `threshold`?
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => value >= threshold,
            ComparisonOperator::GreaterThanThreshold => value > threshold,
            ComparisonOperator::LessThanThreshold => value < threshold,
            ComparisonOperator::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    /// `>=`, `>`, `<`, `<=`, as AWS prints them in state reasons.
    pub fn symbol(self) -> &'static str {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => ">=",
            ComparisonOperator::GreaterThanThreshold => ">",
            ComparisonOperator::LessThanThreshold => "<",
            ComparisonOperator::LessThanOrEqualToThreshold => "<=",
        }
    }

    /// Whether breaching means "above" (for step bounds relative to the threshold).
    pub fn is_upper(self) -> bool {
        matches!(
            self,
            ComparisonOperator::GreaterThanOrEqualToThreshold
                | ComparisonOperator::GreaterThanThreshold
        )
    }
}

/// `treat_missing_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TreatMissingData {
    /// The default: missing datapoints are not considered.
    #[default]
    Missing,
    NotBreaching,
    Breaching,
    /// Keep the current state.
    Ignore,
}

impl TreatMissingData {
    pub const ALL: &'static [&'static str] = &["missing", "notBreaching", "breaching", "ignore"];

    pub fn parse(s: &str) -> Option<TreatMissingData> {
        Some(match s {
            "missing" => TreatMissingData::Missing,
            "notBreaching" => TreatMissingData::NotBreaching,
            "breaching" => TreatMissingData::Breaching,
            "ignore" => TreatMissingData::Ignore,
            _ => return None,
        })
    }
}

/// Where an alarm action points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmAction {
    /// An `aws_autoscaling_policy` of this stack, by resource key.
    ScalingPolicy(String),
    /// Anything else (an SNS topic ARN…): recorded, not carried out.
    Recorded(String),
}

/// `aws_cloudwatch_metric_alarm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricAlarm {
    pub key: String,
    /// `alarm_name`.
    pub name: String,
    pub metric: MetricStat,
    pub evaluation_periods: u32,
    /// M of N; defaults to `evaluation_periods`.
    pub datapoints_to_alarm: u32,
    pub threshold: Float,
    pub comparison_operator: ComparisonOperator,
    pub treat_missing_data: TreatMissingData,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<AlarmAction>,
    pub ok_actions: Vec<AlarmAction>,
    pub insufficient_data_actions: Vec<AlarmAction>,
}

/// Alarm periods AWS accepts: 10, 20, 30 or a multiple of 60; updraft also takes any whole
/// number of seconds from 1 to 60 (its metrics have 1-second resolution).
pub fn period_allowed(period: u32) -> bool {
    (1..=60).contains(&period) || (period.is_multiple_of(60) && (60..=86_400).contains(&period))
}

/// Metrics updraft produces in the AWS namespaces, for checking alarms and policies.
/// Namespaces outside `AWS/` are the user's own and are not checked.
pub const KNOWN_METRICS: &[(&str, &[&str])] = &[
    ("AWS/EC2", &["CPUUtilization"]),
    (
        "AWS/AutoScaling",
        &[
            "GroupMinSize",
            "GroupMaxSize",
            "GroupDesiredCapacity",
            "GroupInServiceInstances",
            "GroupPendingInstances",
            "GroupTerminatingInstances",
            "GroupTotalInstances",
            "GroupInServiceCapacity",
            "GroupPendingCapacity",
            "GroupTerminatingCapacity",
            "GroupTotalCapacity",
        ],
    ),
    (
        "AWS/ApplicationELB",
        &[
            "RequestCount",
            "RequestCountPerTarget",
            "HealthyHostCount",
            "UnHealthyHostCount",
            "ActiveConnectionCount",
            "NewConnectionCount",
            "ProcessedBytes",
            "TargetResponseTime",
            "TargetConnectionErrorCount",
            "HTTPCode_Target_2XX_Count",
            "HTTPCode_Target_3XX_Count",
            "HTTPCode_Target_4XX_Count",
            "HTTPCode_Target_5XX_Count",
            "HTTPCode_ELB_4XX_Count",
            "HTTPCode_ELB_5XX_Count",
            "HTTPCode_ELB_502_Count",
            "HTTPCode_ELB_503_Count",
            "HTTPCode_ELB_504_Count",
            "HTTP_Fixed_Response_Count",
            "HTTP_Redirect_Count",
        ],
    ),
];

/// `Err(known names)` when `namespace` is an AWS namespace updraft fills and `name` is not one
/// of its metrics.
pub fn check_known_metric(namespace: &str, name: &str) -> Result<(), Vec<&'static str>> {
    if !namespace.starts_with("AWS/") {
        return Ok(());
    }
    match KNOWN_METRICS.iter().find(|(ns, _)| *ns == namespace) {
        Some((_, names)) if names.contains(&name) => Ok(()),
        Some((_, names)) => Err(names.to_vec()),
        None => Err(KNOWN_METRICS.iter().map(|(ns, _)| *ns).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_parse_like_cloudwatch() {
        assert_eq!(Statistic::parse("Average"), Some(Statistic::Average));
        assert_eq!(Statistic::parse("p99.9"), Some(Statistic::Percentile(99.9)));
        assert_eq!(Statistic::parse("p101"), None);
        assert_eq!(Statistic::parse("avg"), None);
        assert_eq!(Statistic::Percentile(99.0).to_string(), "p99");
    }

    #[test]
    fn operators_compare() {
        use ComparisonOperator::*;
        assert!(GreaterThanOrEqualToThreshold.breaches(5.0, 5.0));
        assert!(!GreaterThanThreshold.breaches(5.0, 5.0));
        assert!(LessThanThreshold.breaches(4.0, 5.0));
        assert!(LessThanOrEqualToThreshold.breaches(5.0, 5.0));
    }

    #[test]
    fn periods() {
        for ok in [1, 5, 10, 20, 30, 60, 120, 3600] {
            assert!(period_allowed(ok), "{ok}");
        }
        for bad in [0, 61, 90, 100_000] {
            assert!(!period_allowed(bad), "{bad}");
        }
    }
}
