//! The metrics store: one time series per metric (namespace, name, dimensions), in 1-second
//! buckets for the recent past and 1-minute roll-ups beyond, with CloudWatch's queries.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use model::{Dimension, MetricDatum, Statistic, Timestamp, Unit};
use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;

/// What identifies a metric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    /// Sorted by name.
    pub dimensions: Vec<Dimension>,
}

impl MetricKey {
    pub fn new(namespace: &str, name: &str, mut dimensions: Vec<Dimension>) -> Self {
        dimensions.sort();
        MetricKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions,
        }
    }

    fn of(d: &MetricDatum) -> Self {
        MetricKey {
            namespace: d.namespace.clone(),
            name: d.name.clone(),
            dimensions: d.dimensions.clone(),
        }
    }

    /// `AWS/EC2 CPUUtilization AutoScalingGroupName=web`.
    pub fn display(&self) -> String {
        let dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|d| format!("{}={}", d.name, d.value))
            .collect();
        format!("{} {} {}", self.namespace, self.name, dims.join(","))
            .trim_end()
            .to_owned()
    }
}

/// How long data is kept at each resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// 1-second buckets (CloudWatch keeps high-resolution data for 3 hours).
    pub fine: Duration,
    /// 1-minute roll-ups (CloudWatch: 15 days).
    pub coarse: Duration,
    /// At most this many series; datums of further metrics are dropped (and counted).
    pub max_series: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            fine: Duration::from_secs(3 * 3600),
            coarse: Duration::from_secs(15 * 86_400),
            max_series: 10_000,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Series {
    unit: Option<Unit>,
    /// `(second, bucket)`, ascending.
    fine: VecDeque<(i64, Aggregate)>,
    /// `(minute start second, bucket)`, ascending.
    coarse: VecDeque<(i64, Aggregate)>,
    last_put: i64,
}

fn add_bucket(buckets: &mut VecDeque<(i64, Aggregate)>, at: i64, value: &model::DatumValue) {
    match buckets.back_mut() {
        Some((t, agg)) if *t == at => agg.add_datum(value),
        Some((t, _)) if *t > at => match buckets.binary_search_by_key(&at, |(t, _)| *t) {
            Ok(i) => buckets[i].1.add_datum(value),
            Err(i) => {
                let mut agg = Aggregate::default();
                agg.add_datum(value);
                buckets.insert(i, (at, agg));
            }
        },
        _ => {
            let mut agg = Aggregate::default();
            agg.add_datum(value);
            buckets.push_back((at, agg));
        }
    }
}

/// Aggregates the buckets whose time lies in `[start, end)`, grouped by `period` counted from
/// `origin`.
fn fold_buckets(
    buckets: &VecDeque<(i64, Aggregate)>,
    (origin, start, end): (i64, i64, i64),
    period: i64,
    out: &mut BTreeMap<i64, Aggregate>,
) {
    let from = buckets.partition_point(|(t, _)| *t < start);
    for (t, agg) in buckets.range(from..) {
        if *t >= end {
            break;
        }
        let slot = origin + (t - origin).div_euclid(period) * period;
        out.entry(slot).or_default().merge(agg);
    }
}

/// One datapoint of a query: the period's start and its statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub timestamp: Timestamp,
    pub aggregate: Aggregate,
}

impl Datapoint {
    pub fn statistic(&self, stat: Statistic) -> Option<f64> {
        self.aggregate.statistic(stat)
    }
}

/// Why a query is refused (CloudWatch's `InvalidParameterCombination` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    BadPeriod(i64),
    EmptyRange,
    TooManyDatapoints(i64),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::BadPeriod(p) => write!(f, "period must be at least 1 second, got {p}"),
            QueryError::EmptyRange => f.write_str("the start time must be before the end time"),
            QueryError::TooManyDatapoints(n) => write!(
                f,
                "the query asks for {n} datapoints; at most {MAX_DATAPOINTS} per query (use a longer period)"
            ),
        }
    }
}

/// `GetMetricData`'s limit per query.
pub const MAX_DATAPOINTS: i64 = 100_800;

/// The store.
#[derive(Debug, Clone, Default)]
pub struct MetricStore {
    retention: Retention,
    series: BTreeMap<MetricKey, Series>,
    /// Fine buckets before this second have been rolled up (minute-aligned).
    fine_horizon: i64,
    last_prune: i64,
    /// Datums refused because `max_series` was reached.
    pub dropped: u64,
}

impl MetricStore {
    pub fn new(retention: Retention) -> Self {
        MetricStore {
            retention,
            fine_horizon: i64::MIN,
            last_prune: i64::MIN,
            ..MetricStore::default()
        }
    }

    /// `PutMetricData`: records `datums` as observed in the second that contains `at`.
    pub fn put(&mut self, at: Timestamp, datums: &[MetricDatum]) {
        let sec = at.as_secs();
        let minute = sec.div_euclid(60) * 60;
        for d in datums {
            let key = MetricKey::of(d);
            let series = match self.series.get_mut(&key) {
                Some(s) => s,
                None => {
                    if self.series.len() >= self.retention.max_series {
                        self.dropped += 1;
                        continue;
                    }
                    self.series.entry(key).or_default()
                }
            };
            series.unit.get_or_insert(d.unit);
            series.last_put = series.last_put.max(sec);
            if sec >= self.fine_horizon {
                add_bucket(&mut series.fine, sec, &d.value);
            }
            add_bucket(&mut series.coarse, minute, &d.value);
        }
        self.prune(at);
    }

    /// Drops data past retention (at most once per minute of `now`).
    pub fn prune(&mut self, now: Timestamp) {
        let sec = now.as_secs();
        if sec < self.last_prune + 60 {
            return;
        }
        self.last_prune = sec;
        let fine_cut = (sec - self.retention.fine.as_secs() as i64).div_euclid(60) * 60;
        let coarse_cut = sec - self.retention.coarse.as_secs() as i64;
        self.fine_horizon = self.fine_horizon.max(fine_cut);
        let horizon = self.fine_horizon;
        self.series.retain(|_, s| {
            while s.fine.front().is_some_and(|(t, _)| *t < horizon) {
                s.fine.pop_front();
            }
            while s.coarse.front().is_some_and(|(t, _)| *t < coarse_cut) {
                s.coarse.pop_front();
            }
            s.last_put >= coarse_cut
        });
    }

    /// `ListMetrics`: metrics matching the optional namespace and name and carrying every
    /// dimension in `dimensions` (a dimension with an empty value matches any value).
    pub fn list(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
        dimensions: &[Dimension],
    ) -> Vec<&MetricKey> {
        self.series
            .keys()
            .filter(|k| namespace.is_none_or(|n| k.namespace == n))
            .filter(|k| name.is_none_or(|n| k.name == n))
            .filter(|k| {
                dimensions.iter().all(|want| {
                    k.dimensions.iter().any(|d| {
                        d.name == want.name && (want.value.is_empty() || d.value == want.value)
                    })
                })
            })
            .collect()
    }

    pub fn unit(&self, key: &MetricKey) -> Option<Unit> {
        self.series.get(key).and_then(|s| s.unit)
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Buckets held in total (a measure of memory).
    pub fn bucket_count(&self) -> usize {
        self.series
            .values()
            .map(|s| s.fine.len() + s.coarse.len())
            .sum()
    }

    /// `GetMetricStatistics`: one datapoint per period of `[start, end)` that has samples,
    /// periods counted from `start`. Recent data comes from 1-second buckets; data older than
    /// the fine retention from 1-minute roll-ups.
    pub fn statistics(
        &self,
        key: &MetricKey,
        start: Timestamp,
        end: Timestamp,
        period: Duration,
    ) -> Result<Vec<Datapoint>, QueryError> {
        let (start, end, period) = (start.as_secs(), end.as_secs(), period.as_secs() as i64);
        if period < 1 {
            return Err(QueryError::BadPeriod(period));
        }
        if start >= end {
            return Err(QueryError::EmptyRange);
        }
        let n = (end - start + period - 1) / period;
        if n > MAX_DATAPOINTS {
            return Err(QueryError::TooManyDatapoints(n));
        }
        let Some(series) = self.series.get(key) else {
            return Ok(Vec::new());
        };
        let mut slots: BTreeMap<i64, Aggregate> = BTreeMap::new();
        let split = self.fine_horizon.clamp(start, end);
        if start < split {
            fold_buckets(&series.coarse, (start, start, split), period, &mut slots);
        }
        fold_buckets(&series.fine, (start, split, end), period, &mut slots);
        // Periods that started before the split and were filled from both tiers are fine:
        // the tiers cover disjoint times.
        Ok(slots
            .into_iter()
            .map(|(t, aggregate)| Datapoint {
                timestamp: Timestamp::from_secs(t),
                aggregate,
            })
            .collect())
    }

    /// The statistic of each of the `count` periods that end at `end` (aligned to the period
    /// by the caller), oldest first; `None` for a period without data. What an alarm reads.
    pub fn period_values(
        &self,
        key: &MetricKey,
        stat: Statistic,
        period: Duration,
        end: Timestamp,
        count: usize,
    ) -> Vec<Option<f64>> {
        let p = period.as_secs().max(1) as i64;
        let start = end.as_secs() - p * count as i64;
        let points = self
            .statistics(key, Timestamp::from_secs(start), end, period)
            .unwrap_or_default();
        let mut out = vec![None; count];
        for dp in points {
            let i = ((dp.timestamp.as_secs() - start) / p) as usize;
            if let Some(slot) = out.get_mut(i) {
                *slot = dp.statistic(stat);
            }
        }
        out
    }

    /// The most recent second with data for `key`, and its statistic.
    pub fn latest(&self, key: &MetricKey, stat: Statistic) -> Option<(Timestamp, f64)> {
        let s = self.series.get(key)?;
        let (t, agg) = s.fine.back()?;
        Some((Timestamp::from_secs(*t), agg.statistic(stat)?))
    }
}

/// One query of a `GetMetricData` call.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDataQuery {
    pub id: String,
    pub metric: MetricKey,
    pub period: Duration,
    pub statistic: Statistic,
}

/// Its answer: timestamps (period starts) and values, oldest first, periods without data left
/// out, as CloudWatch returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDataResult {
    pub id: String,
    pub timestamps: Vec<Timestamp>,
    pub values: Vec<f64>,
}

impl MetricStore {
    /// `GetMetricData` over `[start, end)` for several metric/statistic/period queries.
    pub fn metric_data(
        &self,
        queries: &[MetricDataQuery],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<MetricDataResult>, QueryError> {
        queries
            .iter()
            .map(|q| {
                let points = self.statistics(&q.metric, start, end, q.period)?;
                let (timestamps, values) = points
                    .iter()
                    .filter_map(|p| p.statistic(q.statistic).map(|v| (p.timestamp, v)))
                    .unzip();
                Ok(MetricDataResult {
                    id: q.id.clone(),
                    timestamps,
                    values,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::DatumValue;
    use model::metric::namespace;

    fn cpu(group: &str, v: f64) -> MetricDatum {
        MetricDatum::new(
            namespace::EC2,
            "CPUUtilization",
            vec![Dimension::new("AutoScalingGroupName", group)],
            Unit::Percent,
            DatumValue::Value(v),
        )
    }

    fn key(group: &str) -> MetricKey {
        MetricKey::new(
            namespace::EC2,
            "CPUUtilization",
            vec![Dimension::new("AutoScalingGroupName", group)],
        )
    }

    #[test]
    fn one_second_datapoints_and_longer_periods() {
        let mut s = MetricStore::new(Retention::default());
        for t in 0..120 {
            s.put(
                Timestamp::from_secs(1000 + t),
                &[cpu("web", t as f64), cpu("web", 0.0)],
            );
        }
        let k = key("web");
        let per_sec = s
            .statistics(
                &k,
                Timestamp::from_secs(1000),
                Timestamp::from_secs(1010),
                Duration::from_secs(1),
            )
            .unwrap();
        assert_eq!(per_sec.len(), 10);
        assert_eq!(per_sec[3].statistic(Statistic::Maximum), Some(3.0));
        assert_eq!(per_sec[3].statistic(Statistic::SampleCount), Some(2.0));
        let per_min = s
            .statistics(
                &k,
                Timestamp::from_secs(1000),
                Timestamp::from_secs(1120),
                Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(per_min.len(), 2);
        assert_eq!(
            per_min[0].statistic(Statistic::Sum),
            Some((0..60).sum::<i64>() as f64)
        );
        assert_eq!(per_min[1].statistic(Statistic::Minimum), Some(0.0));
        assert_eq!(
            s.latest(&k, Statistic::Maximum),
            Some((Timestamp::from_secs(1119), 119.0))
        );
    }

    #[test]
    fn missing_periods_are_none_for_alarms() {
        let mut s = MetricStore::new(Retention::default());
        s.put(Timestamp::from_secs(10), &[cpu("web", 50.0)]);
        s.put(Timestamp::from_secs(12), &[cpu("web", 70.0)]);
        let v = s.period_values(
            &key("web"),
            Statistic::Average,
            Duration::from_secs(1),
            Timestamp::from_secs(13),
            4,
        );
        assert_eq!(v, vec![None, Some(50.0), None, Some(70.0)]);
    }

    #[test]
    fn old_data_is_rolled_up_and_memory_stays_bounded() {
        let retention = Retention {
            fine: Duration::from_secs(600),
            coarse: Duration::from_secs(3600),
            max_series: 2,
        };
        let mut s = MetricStore::new(retention);
        for t in 0..7200 {
            s.put(Timestamp::from_secs(t), &[cpu("web", 10.0)]);
        }
        // ≈600 fine buckets and ≈60 minute buckets, not 7200.
        assert!(s.bucket_count() < 800, "{}", s.bucket_count());
        let k = key("web");
        // An hour ago is only available per minute.
        let old = s
            .statistics(
                &k,
                Timestamp::from_secs(3600),
                Timestamp::from_secs(3720),
                Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(old.len(), 2);
        assert_eq!(old[0].statistic(Statistic::SampleCount), Some(60.0));
        // A period straddling the horizon counts every sample once.
        let straddle = s
            .statistics(
                &k,
                Timestamp::from_secs(6000),
                Timestamp::from_secs(7200),
                Duration::from_secs(1200),
            )
            .unwrap();
        assert_eq!(straddle[0].statistic(Statistic::SampleCount), Some(1200.0));
        s.put(Timestamp::from_secs(7200), &[cpu("a", 1.0), cpu("b", 1.0)]);
        assert_eq!(s.series_count(), 2);
        assert_eq!(s.dropped, 1);
    }

    #[test]
    fn get_metric_data_answers_several_queries() {
        let mut s = MetricStore::new(Retention::default());
        for t in 0..10 {
            s.put(Timestamp::from_secs(t), &[cpu("web", t as f64 * 10.0)]);
        }
        let q = |id: &str, stat, period| MetricDataQuery {
            id: id.into(),
            metric: key("web"),
            period: Duration::from_secs(period),
            statistic: stat,
        };
        let r = s
            .metric_data(
                &[
                    q("avg5", Statistic::Average, 5),
                    q("p90", Statistic::Percentile(90.0), 10),
                    q("none", Statistic::Sum, 1),
                ],
                Timestamp::from_secs(0),
                Timestamp::from_secs(10),
            )
            .unwrap();
        assert_eq!(r[0].values, vec![20.0, 70.0]);
        assert_eq!(
            r[0].timestamps,
            vec![Timestamp::from_secs(0), Timestamp::from_secs(5)]
        );
        assert!((r[1].values[0] - 80.0).abs() < 2.0, "{:?}", r[1]);
        assert_eq!(r[2].values.len(), 10);
    }

    #[test]
    fn listing_filters_by_dimension() {
        let mut s = MetricStore::new(Retention::default());
        s.put(Timestamp::from_secs(1), &[cpu("web", 1.0), cpu("api", 1.0)]);
        assert_eq!(s.list(Some(namespace::EC2), None, &[]).len(), 2);
        let only = s.list(
            None,
            Some("CPUUtilization"),
            &[Dimension::new("AutoScalingGroupName", "api")],
        );
        assert_eq!(only.len(), 1);
        assert_eq!(
            only[0].display(),
            "AWS/EC2 CPUUtilization AutoScalingGroupName=api"
        );
        assert!(
            s.statistics(
                &key("web"),
                Timestamp::from_secs(5),
                Timestamp::from_secs(1),
                Duration::from_secs(1)
            )
            .is_err()
        );
    }
}
