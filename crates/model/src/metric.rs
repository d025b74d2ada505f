//! CloudWatch's data model for metrics, so that producers (the data plane, the compute
//! provider, the auto scaling controller) and the metrics store speak one language.
//!
//! A [`MetricDatum`] is what `PutMetricData` carries: a metric (namespace, name, dimensions), a
//! unit and either one value, a statistic set, or values with counts (a distribution, which is
//! how percentiles such as `TargetResponseTime` p99 survive aggregation).

use serde::{Deserialize, Serialize};

/// Well-known namespaces.
pub mod namespace {
    pub const APPLICATION_ELB: &str = "AWS/ApplicationELB";
    pub const NETWORK_ELB: &str = "AWS/NetworkELB";
    pub const EC2: &str = "AWS/EC2";
    pub const AUTO_SCALING: &str = "AWS/AutoScaling";
    pub const RDS: &str = "AWS/RDS";
}

/// A name/value pair that identifies a metric together with its namespace and name, e.g.
/// `LoadBalancer = app/web/0123…` or `AutoScalingGroupName = web`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dimension {
    pub name: String,
    pub value: String,
}

impl Dimension {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Dimension {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// CloudWatch's `StandardUnit` values that updraft produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
    Bytes,
    Percent,
    None,
}

/// The value part of a datum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DatumValue {
    Value(f64),
    StatisticSet {
        sample_count: f64,
        sum: f64,
        minimum: f64,
        maximum: f64,
    },
    /// Parallel arrays: `counts[i]` samples had value `values[i]`.
    Values {
        values: Vec<f64>,
        counts: Vec<f64>,
    },
}

/// One observation of one metric over one period (`PutMetricData`'s `MetricDatum`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDatum {
    pub namespace: String,
    pub name: String,
    /// Sorted by name, so equal metrics compare equal.
    pub dimensions: Vec<Dimension>,
    pub unit: Unit,
    pub value: DatumValue,
}

impl MetricDatum {
    pub fn new(
        namespace: &str,
        name: &str,
        mut dimensions: Vec<Dimension>,
        unit: Unit,
        value: DatumValue,
    ) -> Self {
        dimensions.sort();
        MetricDatum {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions,
            unit,
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_are_sorted_so_equal_metrics_compare_equal() {
        let a = MetricDatum::new(
            namespace::APPLICATION_ELB,
            "RequestCount",
            vec![
                Dimension::new("TargetGroup", "tg"),
                Dimension::new("LoadBalancer", "lb"),
            ],
            Unit::Count,
            DatumValue::Value(1.0),
        );
        assert_eq!(a.dimensions[0].name, "LoadBalancer");
    }
}
