//! Metrics, alarms and scaling policies in the controller loop.
//!
//! Once per second (the first tick of each second of the injected clock) the controller
//! collects the metrics of the second that just ended — each instance's `CPUUtilization`
//! measured from its cgroup (or `/proc`) CPU time relative to its instance type's allowance,
//! the `AWS/AutoScaling` group metrics, the load balancer's target counts — into the
//! [`MetricStore`], then runs the pure [`Autoscaler`] and applies the capacity changes it
//! returns to the groups' desired capacity, with their AWS-style cause. `scaling::decide` then
//! launches or drains as for any other change of desired capacity.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use metrics::{MetricStore, Retention};
use model::metric::namespace;
use model::{
    DatumValue, Dimension, InstanceId, InstanceType, LifecycleState, MetricDatum,
    TargetHealthState, Timestamp, Unit,
};
use scaling::autoscaler::Autoscaler;
use scaling::policy::{AlarmShape, GroupView};

use super::Controller;
use super::observe::Seen;
use crate::fleet::InstanceRecord;

/// The controller's metrics and autoscaling state.
pub(crate) struct Autoscale {
    pub autoscaler: Autoscaler,
    pub store: MetricStore,
    /// Last CPU reading per instance.
    cpu_prev: HashMap<InstanceId, (Timestamp, Duration)>,
    last_second: i64,
}

impl Autoscale {
    pub fn new(stack: &model::Stack, shape: AlarmShape, now: Timestamp) -> Self {
        Autoscale {
            autoscaler: Autoscaler::new(stack, shape, now),
            store: MetricStore::new(Retention::default()),
            cpu_prev: HashMap::new(),
            last_second: i64::MIN,
        }
    }
}

fn datum(ns: &str, name: &str, dims: &[Dimension], unit: Unit, value: DatumValue) -> MetricDatum {
    MetricDatum::new(ns, name, dims.to_vec(), unit, value)
}

/// `CPUUtilization` as EC2 reports it: CPU time used over wall time, relative to what the
/// instance type may use (vCPUs × the local millicores per vCPU), capped at 100%.
pub(crate) fn cpu_utilization(used: Duration, wall: Duration, allowance_cores: f64) -> Option<f64> {
    if wall.is_zero() || allowance_cores <= 0.0 {
        return None;
    }
    let util = used.as_secs_f64() / wall.as_secs_f64() / allowance_cores * 100.0;
    Some(util.clamp(0.0, 100.0))
}

impl Controller {
    /// Whether an instance counts in its group's metrics: InService, healthy behind its
    /// target groups (if any), past the group's default instance warmup.
    fn is_ready(&self, i: &InstanceRecord, seen: &HashMap<String, Seen>, now: Timestamp) -> bool {
        let Some(group) = self.groups.get(&i.group) else {
            return false;
        };
        let warm = group.spec.default_instance_warmup.unwrap_or(Duration::ZERO);
        let healthy = group.spec.target_groups.is_empty()
            || seen
                .get(i.id.as_str())
                .and_then(|s| s.health)
                .is_some_and(|h| h == TargetHealthState::Healthy);
        i.lifecycle == LifecycleState::InService
            && healthy
            && i.in_service_at.is_some_and(|at| now.since(at) >= warm)
    }

    /// Once per second: collect metrics, evaluate alarms, run policies and schedules.
    pub(crate) fn autoscale(&mut self, seen: &HashMap<String, Seen>, now: Timestamp) {
        let sec = now.as_secs();
        if sec <= self.autoscale.last_second {
            return;
        }
        self.autoscale.last_second = sec;
        let datums = self.collect_metrics(seen, now);
        // The readings cover the second that just ended.
        self.autoscale
            .store
            .put(Timestamp::from_secs(sec - 1), &datums);

        let mut views = BTreeMap::new();
        for (key, g) in &self.groups {
            if g.deleting {
                continue;
            }
            let live: Vec<&InstanceRecord> = self
                .group_instances(key)
                .into_iter()
                .filter(|i| i.lifecycle.counts_toward_capacity())
                .collect();
            let ready = live.iter().filter(|i| self.is_ready(i, seen, now)).count() as u32;
            views.insert(
                key.clone(),
                GroupView {
                    desired: g.state.desired_capacity,
                    min: g.spec.min_size,
                    max: g.spec.max_size,
                    ready,
                    warming: (live.len() as u32).saturating_sub(ready),
                    default_cooldown: g.spec.default_cooldown,
                    default_instance_warmup: g.spec.default_instance_warmup,
                },
            );
        }
        let changes = self
            .autoscale
            .autoscaler
            .step(&self.autoscale.store, &views, now);
        for change in changes {
            let Some(group) = self.groups.get_mut(&change.group) else {
                continue;
            };
            let from = group.state.desired_capacity;
            if from == change.desired {
                continue;
            }
            group.state.desired_capacity = change.desired;
            group.state.desired_cause = Some(change.cause.clone());
            tracing::info!(group = %group.spec.name, from, to = change.desired, "{}", change.cause);
            if let Err(e) = self.store.save_group(&group.spec, &group.state) {
                tracing::error!(error = %e, "could not persist the group's desired capacity");
            }
        }
    }

    fn collect_metrics(
        &mut self,
        seen: &HashMap<String, Seen>,
        now: Timestamp,
    ) -> Vec<MetricDatum> {
        let mut out = Vec::new();
        let per_vcpu = f64::from(self.provider.config().millicores_per_vcpu) / 1000.0;
        let mut group_cpu: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut readings = Vec::new();
        for i in self.instances.values() {
            let Some(p) = i.process.as_ref().filter(|_| i.exit_detail.is_none()) else {
                continue;
            };
            if let Some(used) = self.provider.cpu_time(p) {
                readings.push((i.id.clone(), used));
            }
        }
        let mut next_prev = HashMap::new();
        for (id, used) in readings {
            if let Some((t0, c0)) = self.autoscale.cpu_prev.get(&id)
                && let Some(i) = self.instances.get(&id)
            {
                let vcpus = self
                    .stack
                    .auto_scaling_groups
                    .get(&i.group)
                    .and_then(|g| self.stack.launch_template_of(g))
                    .and_then(|t| InstanceType::lookup(&t.instance_type))
                    .map_or(1, |t| t.vcpus);
                if let Some(cpu) = cpu_utilization(
                    used.saturating_sub(*c0),
                    now.since(*t0),
                    f64::from(vcpus) * per_vcpu,
                ) {
                    out.push(datum(
                        namespace::EC2,
                        "CPUUtilization",
                        &[Dimension::new("InstanceId", id.as_str())],
                        Unit::Percent,
                        DatumValue::Value(cpu),
                    ));
                    if self.is_ready(i, seen, now) {
                        group_cpu.entry(i.group.clone()).or_default().push(cpu);
                    }
                }
            }
            next_prev.insert(id, (now, used));
        }
        self.autoscale.cpu_prev = next_prev;

        for (key, g) in &self.groups {
            let dims = [Dimension::new("AutoScalingGroupName", &g.spec.name)];
            if let Some(values) = group_cpu.remove(key) {
                let counts = vec![1.0; values.len()];
                out.push(datum(
                    namespace::EC2,
                    "CPUUtilization",
                    &dims,
                    Unit::Percent,
                    DatumValue::Values { values, counts },
                ));
            }
            let instances = self.group_instances(key);
            let count =
                |s: LifecycleState| instances.iter().filter(|i| i.lifecycle == s).count() as f64;
            let bounds = self.autoscale.autoscaler.bounds(key);
            let (pending, in_service, terminating) = (
                count(LifecycleState::Pending),
                count(LifecycleState::InService),
                count(LifecycleState::Terminating),
            );
            let min = f64::from(bounds.min.unwrap_or(g.spec.min_size));
            let max = f64::from(bounds.max.unwrap_or(g.spec.max_size));
            for (name, v) in [
                ("GroupMinSize", min),
                ("GroupMaxSize", max),
                ("GroupDesiredCapacity", f64::from(g.state.desired_capacity)),
                ("GroupInServiceInstances", in_service),
                ("GroupPendingInstances", pending),
                ("GroupTerminatingInstances", terminating),
                ("GroupTotalInstances", pending + in_service + terminating),
                ("GroupInServiceCapacity", in_service),
                ("GroupPendingCapacity", pending),
                ("GroupTerminatingCapacity", terminating),
                ("GroupTotalCapacity", pending + in_service + terminating),
            ] {
                out.push(datum(
                    namespace::AUTO_SCALING,
                    name,
                    &dims,
                    Unit::Count,
                    DatumValue::Value(v),
                ));
            }
        }

        // The load balancer's own metrics (AWS/ApplicationELB), for the second that just ended.
        out.extend(self.data_plane.metrics());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_relative_to_the_instance_type_allowance() {
        // t3.micro: 2 vCPU × 80 millicores = 0.16 cores. 80 ms of CPU in 1 s = 50%.
        let u = cpu_utilization(Duration::from_millis(80), Duration::from_secs(1), 0.16).unwrap();
        assert!((u - 50.0).abs() < 1e-9);
        assert_eq!(
            cpu_utilization(Duration::from_secs(5), Duration::from_secs(1), 0.16),
            Some(100.0)
        );
        assert_eq!(cpu_utilization(Duration::ZERO, Duration::ZERO, 0.16), None);
    }
}
