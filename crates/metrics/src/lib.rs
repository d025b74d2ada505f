//! CloudWatch-style metrics, in memory, at 1-second resolution.
//!
//! - [`MetricStore`]: `PutMetricData` ([`MetricStore::put`]) of [`model::MetricDatum`]s at a
//!   given time; `GetMetricStatistics` ([`MetricStore::statistics`]) and `GetMetricData`
//!   ([`MetricStore::metric_data`]) over `(start, end, period)`; `ListMetrics`.
//!   Memory is bounded: 1-second buckets are kept for [`Retention::fine`] (3 h by default, like
//!   CloudWatch's high-resolution data), 1-minute roll-ups for [`Retention::coarse`] (15 days).
//! - [`Aggregate`]: SampleCount/Sum/Minimum/Maximum/Average plus a small log-bucketed
//!   [`Sketch`] for percentiles (≈1% relative error), mergeable across buckets.
//! - [`alarm`]: CloudWatch alarm evaluation (M of N, `treat_missing_data`, AWS's reasons).
//!
//! What this crate is not: it reads no clock and collects nothing. The server feeds it once per
//! second; the simulator feeds it simulated time.

pub mod aggregate;
pub mod alarm;
pub mod sketch;
pub mod store;

pub use aggregate::Aggregate;
pub use alarm::{AlarmState, AlarmStateValue, Evaluation};
pub use sketch::Sketch;
pub use store::{Datapoint, MetricDataQuery, MetricDataResult, MetricKey, MetricStore, Retention};
