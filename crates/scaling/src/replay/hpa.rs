//! The Kubernetes HorizontalPodAutoscaler baseline, with its defaults: a 15-second sync
//! period; `desired = ⌈ready × metric / target⌉` on the average CPU of ready pods over the last
//! sync period; no change within the 0.1 tolerance; scale-up at most max(100%, 4 pods) per
//! period; scale-down to the highest recommendation of the last 5 minutes (stabilisation).

use std::collections::VecDeque;
use std::time::Duration;

use metrics::{MetricKey, MetricStore};
use model::metric::namespace;
use model::{Dimension, Statistic, Timestamp};

use crate::policy::GroupView;

#[derive(Debug, Clone)]
pub struct Hpa {
    pub target_cpu: f64,
    pub sync_period: Duration,
    pub tolerance: f64,
    pub scale_down_stabilization: Duration,
    last_sync: Option<Timestamp>,
    /// (time, recommendation)
    recommendations: VecDeque<(Timestamp, u32)>,
}

impl Hpa {
    pub fn new(target_cpu: f64) -> Hpa {
        Hpa {
            target_cpu,
            sync_period: Duration::from_secs(15),
            tolerance: 0.1,
            scale_down_stabilization: Duration::from_secs(300),
            last_sync: None,
            recommendations: VecDeque::new(),
        }
    }

    /// The new replica count, when a sync is due and it changes anything.
    pub fn step(
        &mut self,
        store: &MetricStore,
        group: &GroupView,
        dims: &[Dimension],
        now: Timestamp,
    ) -> Option<(u32, String)> {
        if self
            .last_sync
            .is_some_and(|t| now.since(t) < self.sync_period)
        {
            return None;
        }
        self.last_sync = Some(now);
        let key = MetricKey::new(namespace::EC2, "CPUUtilization", dims.to_vec());
        let points = store
            .statistics(&key, now - self.sync_period, now, self.sync_period)
            .ok()?;
        let metric = points.last()?.statistic(Statistic::Average)?;
        let current = group.desired;
        let ratio = metric / self.target_cpu;
        let mut recommendation = if (ratio - 1.0).abs() <= self.tolerance {
            current
        } else {
            // Not-ready pods count as 0% on scale-up: the ratio applies to ready pods only.
            (f64::from(group.ready.max(1)) * ratio - 1e-9)
                .ceil()
                .max(1.0) as u32
        };
        if recommendation > current {
            recommendation = recommendation.min((current * 2).max(current + 4));
        }
        self.recommendations.push_back((now, recommendation));
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| now.since(*t) > self.scale_down_stabilization)
        {
            self.recommendations.pop_front();
        }
        let stabilized = if recommendation < current {
            self.recommendations
                .iter()
                .map(|(_, r)| *r)
                .max()
                .unwrap_or(current)
                .min(current)
        } else {
            recommendation
        };
        let desired = stabilized.clamp(group.min, group.max.max(group.min));
        (desired != current).then(|| {
            (
                desired,
                format!(
                    "At {now} the HPA-like loop saw average CPU {metric:.1}% against a {:.0}% target, changing the desired capacity from {current} to {desired}.",
                    self.target_cpu
                ),
            )
        })
    }
}
