//! `updraft simulate`: replays a request-rate trace through the same alarm, policy and
//! autoscaler code the daemon runs ([`crate::autoscaler::Autoscaler`], [`metrics`]), under
//! simulated time, with a simple instance model (capacity per instance, boot time, price), and
//! measures what a user and a bill would notice: SLO-violation minutes, instance-hours, cost,
//! scaling actions, and the SPEC RG elasticity metrics.
//!
//! The model, per second: ready instances serve `rate` requests; utilisation ρ = rate / (ready ×
//! capacity) is their CPU (capped at 100%); latency is `base / (1 − ρ)` (an M/M/1 queue),
//! 10 s when ρ ≥ 1 (overloaded: requests time out). Launches become ready after the boot time;
//! scale-in removes pending instances first, then ready ones, at once.

pub mod elasticity;
pub mod hpa;
pub mod svg;
pub mod trace;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use metrics::{MetricStore, Retention};
use model::metric::namespace;
use model::{DatumValue, Dimension, MetricDatum, Timestamp, Unit};
use serde::Serialize;

use crate::autoscaler::Autoscaler;
use crate::policy::GroupView;
pub use elasticity::Elasticity;
pub use hpa::Hpa;
pub use trace::Trace;

/// Latency of an overloaded second.
pub const OVERLOAD_LATENCY_MS: f64 = 10_000.0;

/// The instance model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InstanceModel {
    /// Requests per second one instance serves at 100% CPU.
    pub capacity: f64,
    /// Launch to serving.
    pub boot_secs: u64,
    pub price_per_hour: f64,
    /// Latency of an idle instance.
    pub base_latency_ms: f64,
    /// A second whose latency exceeds this violates the SLO.
    pub slo_ms: f64,
}

/// The group being simulated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSpec {
    /// Key (as in the stack).
    pub key: String,
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    #[serde(skip)]
    pub default_cooldown: Duration,
    #[serde(skip)]
    pub default_instance_warmup: Option<Duration>,
    /// The `resource_label` of an `ALBRequestCountPerTarget` policy, if one is simulated.
    pub resource_label: Option<String>,
}

/// What decides capacity in a run.
pub enum Scaler {
    /// updraft's policies (from the config), through the autoscaler.
    Policies(Box<Autoscaler>),
    /// The Kubernetes HPA-like baseline.
    Hpa(Hpa),
}

/// Per-second series of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Series {
    pub demand_rps: Vec<f64>,
    /// Instances serving (ready).
    pub ready: Vec<u32>,
    /// Instances billed (pending + ready).
    pub billed: Vec<u32>,
    pub latency_ms: Vec<f64>,
}

/// One capacity change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingAction {
    pub at: i64,
    pub from: u32,
    pub to: u32,
    pub cause: String,
}

/// The figures of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub seconds: usize,
    /// Minutes in which more than 1% of the requests were served above the SLO latency.
    pub slo_violation_minutes: u32,
    pub requests: f64,
    /// Requests served slower than the SLO (or not at all).
    pub slow_requests: f64,
    pub instance_hours: f64,
    pub cost: f64,
    pub scaling_actions: usize,
    /// First time capacity changed, seconds from the start.
    pub first_action_secs: Option<i64>,
    pub peak_instances: u32,
    pub elasticity: Elasticity,
}

/// A finished run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub label: String,
    pub summary: Summary,
    pub actions: Vec<ScalingAction>,
    #[serde(skip)]
    pub series: Series,
}

struct Fleet {
    ready: u32,
    /// Ready times of launches not ready yet, oldest first.
    pending: VecDeque<i64>,
    /// Ready times of instances still inside their warmup.
    warming: VecDeque<i64>,
}

impl Fleet {
    fn total(&self) -> u32 {
        self.ready + self.pending.len() as u32
    }

    fn resize(&mut self, to: u32, now: i64, boot: i64) {
        while self.total() < to {
            self.pending.push_back(now + boot);
        }
        while self.total() > to {
            if self.pending.pop_back().is_none() {
                self.ready -= 1;
                self.warming.pop_back();
            }
        }
    }
}

/// Runs `scaler` over `trace`.
pub fn run(
    label: &str,
    trace: &Trace,
    group: &GroupSpec,
    model: &InstanceModel,
    mut scaler: Scaler,
) -> Run {
    let mut store = MetricStore::new(Retention {
        fine: Duration::from_secs(3 * 3600),
        coarse: Duration::from_secs(2 * 86_400),
        max_series: 16,
    });
    let warmup = group
        .default_instance_warmup
        .map_or(0, |d| d.as_secs() as i64);
    let boot = model.boot_secs as i64;
    let mut fleet = Fleet {
        ready: group.desired,
        pending: VecDeque::new(),
        warming: VecDeque::new(),
    };
    let mut desired = group.desired;
    let mut series = Series::default();
    let mut actions = Vec::new();
    let group_dim = vec![Dimension::new("AutoScalingGroupName", &group.name)];
    let tg_dim = group
        .resource_label
        .as_deref()
        .map(crate::policy::request_count_dimensions);
    for (i, &rate) in trace.rate.iter().enumerate() {
        let t = trace.start + i as i64;
        while fleet.pending.front().is_some_and(|r| *r <= t) {
            let r = fleet.pending.pop_front().unwrap_or(t);
            fleet.ready += 1;
            fleet.warming.push_back(r + warmup);
        }
        while fleet.warming.front().is_some_and(|w| *w <= t) {
            fleet.warming.pop_front();
        }
        let cap = f64::from(fleet.ready) * model.capacity;
        let rho = if rate <= 0.0 {
            0.0
        } else if cap <= 0.0 {
            f64::INFINITY
        } else {
            rate / cap
        };
        let latency = if rho < 1.0 {
            (model.base_latency_ms / (1.0 - rho)).min(OVERLOAD_LATENCY_MS)
        } else {
            OVERLOAD_LATENCY_MS
        };
        series.demand_rps.push(rate);
        series.ready.push(fleet.ready);
        series.billed.push(fleet.total());
        series.latency_ms.push(latency);

        // Metrics of the second [t, t+1): only instances past their warmup count.
        let counted = fleet.ready - fleet.warming.len() as u32;
        let mut datums = Vec::with_capacity(2);
        if counted > 0 {
            datums.push(MetricDatum::new(
                namespace::EC2,
                "CPUUtilization",
                group_dim.clone(),
                Unit::Percent,
                DatumValue::Values {
                    values: vec![rho.min(1.0) * 100.0],
                    counts: vec![f64::from(counted)],
                },
            ));
        }
        if let Some(dims) = &tg_dim
            && fleet.ready > 0
        {
            datums.push(MetricDatum::new(
                namespace::APPLICATION_ELB,
                "RequestCountPerTarget",
                dims.clone(),
                Unit::Count,
                DatumValue::Value(rate / f64::from(fleet.ready)),
            ));
        }
        store.put(Timestamp::from_secs(t), &datums);

        let now = Timestamp::from_secs(t + 1);
        let view = GroupView {
            desired,
            min: group.min,
            max: group.max,
            ready: counted,
            warming: fleet.total() - counted,
            default_cooldown: group.default_cooldown,
            default_instance_warmup: group.default_instance_warmup,
        };
        let change = match &mut scaler {
            Scaler::Policies(a) => {
                let groups = BTreeMap::from([(group.key.clone(), view)]);
                a.step(&store, &groups, now)
                    .into_iter()
                    .last()
                    .map(|c| (c.desired, c.cause))
            }
            Scaler::Hpa(h) => h.step(&store, &view, &group_dim, now),
        };
        if let Some((to, cause)) = change
            && to != desired
        {
            actions.push(ScalingAction {
                at: t + 1 - trace.start,
                from: desired,
                to,
                cause,
            });
            desired = to;
            fleet.resize(to, t + 1, boot);
        }
    }
    let summary = summarize(&series, &actions, model);
    Run {
        label: label.to_owned(),
        summary,
        actions,
        series,
    }
}

fn summarize(series: &Series, actions: &[ScalingAction], model: &InstanceModel) -> Summary {
    let mut minutes = 0;
    let (mut requests, mut slow) = (0.0, 0.0);
    for chunk in 0..series.demand_rps.len().div_ceil(60) {
        let range = chunk * 60..((chunk + 1) * 60).min(series.demand_rps.len());
        let (mut r, mut s) = (0.0, 0.0);
        for i in range {
            r += series.demand_rps[i];
            if series.latency_ms[i] > model.slo_ms {
                s += series.demand_rps[i];
            }
        }
        if r > 0.0 && s / r > 0.01 {
            minutes += 1;
        }
        requests += r;
        slow += s;
    }
    let billed_secs: f64 = series.billed.iter().map(|b| f64::from(*b)).sum();
    let demand: Vec<f64> = series
        .demand_rps
        .iter()
        .map(|r| (r / model.capacity).ceil())
        .collect();
    let supply: Vec<f64> = series.ready.iter().map(|r| f64::from(*r)).collect();
    Summary {
        seconds: series.demand_rps.len(),
        slo_violation_minutes: minutes,
        requests,
        slow_requests: slow,
        instance_hours: billed_secs / 3600.0,
        cost: billed_secs / 3600.0 * model.price_per_hour,
        scaling_actions: actions.len(),
        first_action_secs: actions.first().map(|a| a.at),
        peak_instances: series.billed.iter().copied().max().unwrap_or(0),
        elasticity: elasticity::measure(&demand, &supply),
    }
}

#[cfg(test)]
mod tests;
