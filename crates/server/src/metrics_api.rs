//! What `updraft metrics` and `updraft alarms` ask the daemon and get back.

use std::collections::BTreeMap;
use std::time::Duration;

use metrics::{MetricKey, MetricStore};
use model::{Dimension, Statistic, Timestamp};
use serde::{Deserialize, Serialize};

/// `ListMetrics` + `GetMetricStatistics` in one: the metrics that match, each with its
/// datapoints over `[start, end)` when `statistics` are asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricsQuery {
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Every one must match (an empty value matches any value).
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    /// Seconds before now (default 300).
    #[serde(default)]
    pub since_secs: Option<u64>,
    /// Seconds (default 1).
    #[serde(default)]
    pub period: Option<u32>,
    /// `Average`, `p99`, …; none lists metrics only.
    #[serde(default)]
    pub statistics: Vec<String>,
}

/// One datapoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatapointView {
    pub timestamp: Timestamp,
    pub values: BTreeMap<String, f64>,
}

/// One metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricView {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<Dimension>,
    pub unit: Option<String>,
    #[serde(default)]
    pub datapoints: Vec<DatapointView>,
}

/// At most this many metrics per answer.
pub const MAX_METRICS: usize = 500;

/// Answers a query against the store at `now`.
pub fn answer(
    store: &MetricStore,
    q: &MetricsQuery,
    now: Timestamp,
) -> Result<Vec<MetricView>, String> {
    let stats: Vec<Statistic> = q
        .statistics
        .iter()
        .map(|s| {
            Statistic::parse(s).ok_or_else(|| {
                format!("unknown statistic `{s}`: use SampleCount, Average, Sum, Minimum, Maximum or pNN (p99)")
            })
        })
        .collect::<Result<_, _>>()?;
    let period = Duration::from_secs(u64::from(q.period.unwrap_or(1).max(1)));
    let end = Timestamp::from_secs(now.as_secs());
    let start = end - Duration::from_secs(q.since_secs.unwrap_or(300).max(1));
    let keys: Vec<MetricKey> = store
        .list(q.namespace.as_deref(), q.name.as_deref(), &q.dimensions)
        .into_iter()
        .take(MAX_METRICS)
        .cloned()
        .collect();
    let mut out = Vec::new();
    for key in keys {
        let mut datapoints = Vec::new();
        if !stats.is_empty() {
            for dp in store
                .statistics(&key, start, end, period)
                .map_err(|e| e.to_string())?
            {
                let values = stats
                    .iter()
                    .filter_map(|s| dp.statistic(*s).map(|v| (s.to_string(), v)))
                    .collect();
                datapoints.push(DatapointView {
                    timestamp: dp.timestamp,
                    values,
                });
            }
        }
        out.push(MetricView {
            unit: store.unit(&key).map(|u| format!("{u:?}")),
            namespace: key.namespace,
            name: key.name,
            dimensions: key.dimensions,
            datapoints,
        });
    }
    Ok(out)
}
