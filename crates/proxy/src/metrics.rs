//! CloudWatch metrics of the data plane, with ALB's names (`AWS/ApplicationELB`): cheap atomic
//! counters and fixed-bucket latency histograms on the request path, turned into
//! `model::MetricDatum`s (deltas since the previous reading) by [`Collector::collect`], once
//! per period, off the request path.
//!
//! Dimensions follow ALB: `LoadBalancer` (`app/<name>/<id>`), `TargetGroup`
//! (`targetgroup/<name>/<id>`), `AvailabilityZone`; per-target request counts additionally carry
//! `Target` (an updraft extension: ALB has no per-target metrics).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use model::metric::namespace::APPLICATION_ELB;
use model::{DatumValue, Dimension, MetricDatum, TargetHealthState, Unit};

use crate::counters::TargetGroupCounters;

/// Buckets per doubling of latency.
const STEPS_PER_DOUBLING: f64 = 4.0;
/// The first bucket's upper bound.
const FIRST_US: f64 = 16.0;
/// 16 µs · 2^(96/4) ≈ 268 s: enough for any idle timeout.
const BUCKETS: usize = 97;

/// A latency histogram with fixed, log-spaced buckets (about 19 % wide): recording is one
/// atomic add; percentiles survive aggregation in the metrics store as value/count pairs.
#[derive(Debug)]
pub(crate) struct Histogram {
    counts: [AtomicU64; BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Histogram {
    pub(crate) fn record(&self, d: Duration) {
        self.counts[bucket_of(d)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

fn bucket_of(d: Duration) -> usize {
    let us = d.as_secs_f64() * 1e6;
    if us <= FIRST_US {
        return 0;
    }
    let i = ((us / FIRST_US).log2() * STEPS_PER_DOUBLING).ceil();
    (i as usize).min(BUCKETS - 1)
}

/// The representative value of bucket `i`, in seconds (its upper bound).
fn bucket_value(i: usize) -> f64 {
    FIRST_US * 2f64.powf(i as f64 / STEPS_PER_DOUBLING) / 1e6
}

/// The `q`-quantile (0–1) of bucket counts, in seconds; `None` when empty.
pub fn quantile(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(bucket_value(i));
        }
    }
    None
}

/// Per-listener counters (summed per load balancer when published).
#[derive(Debug, Default)]
pub(crate) struct ListenerCounters {
    pub(crate) requests: AtomicU64,
    pub(crate) elb_4xx: AtomicU64,
    pub(crate) elb_502: AtomicU64,
    pub(crate) elb_503: AtomicU64,
    pub(crate) elb_504: AtomicU64,
    pub(crate) fixed_responses: AtomicU64,
    pub(crate) redirects: AtomicU64,
    pub(crate) new_connections: AtomicU64,
    pub(crate) active_connections: AtomicU64,
    /// Of the active connections, those parked idle (see `crate::l7::h1::parking`).
    pub(crate) parked_connections: AtomicU64,
    /// Bytes received from and sent to clients.
    pub(crate) processed_bytes: AtomicU64,
}

impl ListenerCounters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts an answer the load balancer generated itself.
    pub(crate) fn elb(&self, status: u16) {
        let c = match status {
            502 => &self.elb_502,
            503 => &self.elb_503,
            504 => &self.elb_504,
            _ => &self.elb_4xx,
        };
        Self::add(c, 1);
    }

    fn read(&self) -> [u64; 10] {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            r(&self.requests),
            r(&self.elb_4xx),
            r(&self.elb_502),
            r(&self.elb_503),
            r(&self.elb_504),
            r(&self.fixed_responses),
            r(&self.redirects),
            r(&self.new_connections),
            r(&self.active_connections),
            r(&self.processed_bytes),
        ]
    }
}

/// What one collection reads from the data plane.
#[derive(Debug, Default)]
pub(crate) struct Reading {
    /// (load balancer dimension, listener counters).
    pub(crate) listeners: Vec<(String, [u64; 10])>,
    /// (target group dimension, load balancer dimensions, counters, connection errors,
    /// response time buckets).
    pub(crate) groups: Vec<GroupReading>,
    /// Every registered target.
    pub(crate) targets: Vec<TargetReading>,
}

#[derive(Debug)]
pub(crate) struct GroupReading {
    pub(crate) key: String,
    pub(crate) dimension: String,
    pub(crate) load_balancers: Vec<String>,
    pub(crate) counters: TargetGroupCounters,
    pub(crate) connection_errors: u64,
    pub(crate) response_time: Vec<u64>,
}

#[derive(Debug)]
pub(crate) struct TargetReading {
    pub(crate) group_key: String,
    pub(crate) id: String,
    pub(crate) availability_zone: Option<String>,
    pub(crate) state: TargetHealthState,
    pub(crate) requests: u64,
}

impl Reading {
    pub(crate) fn listener(&self, lb: String, c: &ListenerCounters) -> (String, [u64; 10]) {
        (lb, c.read())
    }
}

/// Turns successive readings into datums of the period between them.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    previous: Option<Reading>,
}

impl Collector {
    pub(crate) fn collect(&mut self, now: Reading) -> Vec<MetricDatum> {
        let prev = self.previous.take().unwrap_or_default();
        let out = datums(&prev, &now);
        self.previous = Some(now);
        out
    }
}

fn count(name: &str, dims: Vec<Dimension>, v: u64) -> MetricDatum {
    MetricDatum::new(
        APPLICATION_ELB,
        name,
        dims,
        Unit::Count,
        DatumValue::Value(v as f64),
    )
}

fn lb_dim(lb: &str) -> Dimension {
    Dimension::new("LoadBalancer", lb)
}

/// The datums of the period from `prev` to `now`. Counters are deltas; host counts are gauges.
pub(crate) fn datums(prev: &Reading, now: &Reading) -> Vec<MetricDatum> {
    let mut out = Vec::new();
    // Per load balancer: sum its listeners.
    let mut per_lb: HashMap<&str, [u64; 10]> = HashMap::new();
    let before: HashMap<&str, [u64; 10]> = {
        let mut m: HashMap<&str, [u64; 10]> = HashMap::new();
        for (lb, v) in &prev.listeners {
            let e = m.entry(lb.as_str()).or_default();
            e.iter_mut().zip(v).for_each(|(a, b)| *a += b);
        }
        m
    };
    for (lb, v) in &now.listeners {
        let e = per_lb.entry(lb.as_str()).or_default();
        e.iter_mut().zip(v).for_each(|(a, b)| *a += b);
    }
    let mut lbs: Vec<_> = per_lb.into_iter().collect();
    lbs.sort_by(|a, b| a.0.cmp(b.0));
    for (lb, v) in lbs {
        let p = before.get(lb).copied().unwrap_or_default();
        let d = |i: usize| v[i].saturating_sub(p[i]);
        let dims = || vec![lb_dim(lb)];
        let elb_5xx = d(2) + d(3) + d(4);
        for (name, value) in [
            ("RequestCount", d(0)),
            ("HTTPCode_ELB_4XX_Count", d(1)),
            ("HTTPCode_ELB_5XX_Count", elb_5xx),
            ("HTTPCode_ELB_502_Count", d(2)),
            ("HTTPCode_ELB_503_Count", d(3)),
            ("HTTPCode_ELB_504_Count", d(4)),
            ("HTTP_Fixed_Response_Count", d(5)),
            ("HTTP_Redirect_Count", d(6)),
            ("NewConnectionCount", d(7)),
            // A gauge: connections open at the end of the period.
            ("ActiveConnectionCount", v[8]),
        ] {
            out.push(count(name, dims(), value));
        }
        out.push(MetricDatum::new(
            APPLICATION_ELB,
            "ProcessedBytes",
            dims(),
            Unit::Bytes,
            DatumValue::Value(d(9) as f64),
        ));
    }

    // Per target group (for each load balancer that routes to it).
    for g in &now.groups {
        let p = prev.groups.iter().find(|o| o.key == g.key);
        let c = match p {
            Some(p) => g.counters.since(&p.counters),
            None => g.counters.clone(),
        };
        let conn_errors = g
            .connection_errors
            .saturating_sub(p.map_or(0, |p| p.connection_errors));
        let buckets: Vec<u64> = g
            .response_time
            .iter()
            .enumerate()
            .map(|(i, n)| n.saturating_sub(p.map_or(0, |p| p.response_time[i])))
            .collect();
        let members: Vec<&TargetReading> = now
            .targets
            .iter()
            .filter(|t| t.group_key == g.key)
            .collect();
        let healthy = |t: &&&TargetReading| {
            matches!(
                t.state,
                TargetHealthState::Healthy | TargetHealthState::Unavailable
            )
        };
        let unhealthy = |t: &&&TargetReading| {
            matches!(
                t.state,
                TargetHealthState::Unhealthy | TargetHealthState::Initial
            )
        };
        let healthy_n = members.iter().filter(healthy).count();
        let unhealthy_n = members.iter().filter(unhealthy).count();
        for lb in &g.load_balancers {
            let dims = || {
                vec![
                    lb_dim(lb),
                    Dimension::new("TargetGroup", g.dimension.as_str()),
                ]
            };
            for (name, value) in [
                ("RequestCount", c.requests),
                ("HTTPCode_Target_2XX_Count", c.target_2xx),
                ("HTTPCode_Target_3XX_Count", c.target_3xx),
                ("HTTPCode_Target_4XX_Count", c.target_4xx),
                ("HTTPCode_Target_5XX_Count", c.target_5xx),
                ("HTTPCode_ELB_5XX_Count", c.elb_5xx()),
                ("TargetConnectionErrorCount", conn_errors),
                ("HealthyHostCount", healthy_n as u64),
                ("UnHealthyHostCount", unhealthy_n as u64),
            ] {
                out.push(count(name, dims(), value));
            }
            // ALB divides by the healthy targets (at least one).
            let per_target = c.requests as f64 / healthy_n.max(1) as f64;
            out.push(MetricDatum::new(
                APPLICATION_ELB,
                "RequestCountPerTarget",
                dims(),
                Unit::Count,
                DatumValue::Value(per_target),
            ));
            let (values, counts): (Vec<f64>, Vec<f64>) = buckets
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (bucket_value(i), *n as f64))
                .unzip();
            if !values.is_empty() {
                out.push(MetricDatum::new(
                    APPLICATION_ELB,
                    "TargetResponseTime",
                    dims(),
                    Unit::Seconds,
                    DatumValue::Values { values, counts },
                ));
            }
            // Per availability zone: host counts and requests.
            let mut zones: Vec<&str> = members
                .iter()
                .filter_map(|t| t.availability_zone.as_deref())
                .collect();
            zones.sort_unstable();
            zones.dedup();
            for az in zones {
                let in_az: Vec<&&TargetReading> = members
                    .iter()
                    .filter(|t| t.availability_zone.as_deref() == Some(az))
                    .collect();
                let zdims = || {
                    let mut d = dims();
                    d.push(Dimension::new("AvailabilityZone", az));
                    d
                };
                let requests: u64 = in_az
                    .iter()
                    .map(|t| t.requests - target_before(prev, t))
                    .sum();
                out.push(count(
                    "HealthyHostCount",
                    zdims(),
                    in_az.iter().filter(|t| healthy(t)).count() as u64,
                ));
                out.push(count(
                    "UnHealthyHostCount",
                    zdims(),
                    in_az.iter().filter(|t| unhealthy(t)).count() as u64,
                ));
                out.push(count("RequestCount", zdims(), requests));
            }
            for t in &members {
                let mut d = dims();
                d.push(Dimension::new("Target", t.id.as_str()));
                out.push(count(
                    "RequestCount",
                    d,
                    t.requests - target_before(prev, t),
                ));
            }
        }
    }
    out
}

fn target_before(prev: &Reading, t: &TargetReading) -> u64 {
    prev.targets
        .iter()
        .find(|p| p.group_key == t.group_key && p.id == t.id)
        .map_or(0, |p| p.requests.min(t.requests))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log_spaced_and_quantiles_read_back() {
        assert_eq!(bucket_of(Duration::from_micros(1)), 0);
        let b = bucket_of(Duration::from_millis(10));
        // The bucket's value is within one bucket width (19 %) above the sample.
        let v = bucket_value(b);
        assert!((0.010..0.0119).contains(&v), "{v}");
        assert_eq!(bucket_of(Duration::from_secs(10_000)), BUCKETS - 1);
        let h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let counts = h.read();
        let p50 = quantile(&counts, 0.5).unwrap();
        let p99 = quantile(&counts, 0.99).unwrap();
        assert!((0.050..0.060).contains(&p50), "{p50}");
        assert!((0.099..0.119).contains(&p99), "{p99}");
        assert_eq!(quantile(&[0; 4], 0.5), None);
    }

    fn reading(requests: u64, healthy: bool) -> Reading {
        Reading {
            listeners: vec![(
                "app/front/1".into(),
                [requests, 0, 1, 0, 0, 0, 0, 2, 1, 100],
            )],
            groups: vec![GroupReading {
                key: "web".into(),
                dimension: "targetgroup/web/1".into(),
                load_balancers: vec!["app/front/1".into()],
                counters: TargetGroupCounters {
                    target_group: "web".into(),
                    requests,
                    target_2xx: requests,
                    ..TargetGroupCounters::default()
                },
                connection_errors: 0,
                response_time: {
                    let mut v = vec![0; BUCKETS];
                    v[10] = requests;
                    v
                },
            }],
            targets: vec![TargetReading {
                group_key: "web".into(),
                id: "i-1".into(),
                availability_zone: Some("us-east-1a".into()),
                state: if healthy {
                    TargetHealthState::Healthy
                } else {
                    TargetHealthState::Unhealthy
                },
                requests,
            }],
        }
    }

    fn find<'a>(d: &'a [MetricDatum], name: &str, dims: usize) -> &'a MetricDatum {
        d.iter()
            .find(|m| m.name == name && m.dimensions.len() == dims)
            .unwrap_or_else(|| panic!("no {name} with {dims} dimensions"))
    }

    fn value(m: &MetricDatum) -> f64 {
        match &m.value {
            DatumValue::Value(v) => *v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn datums_are_deltas_with_alb_names_and_dimensions() {
        let mut c = Collector::default();
        let first = c.collect(reading(10, true));
        assert_eq!(value(find(&first, "RequestCount", 1)), 10.0);
        let second = c.collect(reading(25, false));
        assert_eq!(value(find(&second, "RequestCount", 1)), 15.0);
        assert_eq!(value(find(&second, "RequestCount", 2)), 15.0);
        assert_eq!(value(find(&second, "HTTPCode_ELB_5XX_Count", 1)), 0.0);
        assert_eq!(value(find(&second, "ActiveConnectionCount", 1)), 1.0);
        assert_eq!(value(find(&second, "UnHealthyHostCount", 2)), 1.0);
        assert_eq!(value(find(&second, "HealthyHostCount", 3)), 0.0);
        // No healthy target: divide by one.
        assert_eq!(value(find(&second, "RequestCountPerTarget", 2)), 15.0);
        let rt = find(&second, "TargetResponseTime", 2);
        assert_eq!(rt.unit, Unit::Seconds);
        assert!(matches!(&rt.value, DatumValue::Values { counts, .. } if counts == &vec![15.0]));
        let az = second
            .iter()
            .find(|m| {
                m.name == "RequestCount"
                    && m.dimensions.iter().any(|d| d.name == "AvailabilityZone")
            })
            .unwrap();
        assert_eq!(value(az), 15.0);
        assert!(second.iter().all(|m| m.namespace == "AWS/ApplicationELB"));
    }
}
