//! Metrics, alarms and scaling policies in the controller loop.
//!
//! Once per second (the first tick of each second of the injected clock) the controller
//! collects the metrics of the second that just ended — each instance's `CPUUtilization`
//! measured from its cgroup (or `/proc`) CPU time relative to its instance type's allowance,
//! the `AWS/AutoScaling` group metrics, the load balancer's target counts — into the
//! [`MetricStore`], then runs the pure [`Autoscaler`] and applies the capacity changes it
//! returns to the groups' desired capacity, with their AWS-style cause. `scaling::decide` then
//! launches or drains as for any other change of desired capacity.
//!
//! Warmup is the group's rule, used as it is (`scaling::warmup::view` through
//! `Controller::warmup_view`): only the view's `contributing` instances make the group's
//! `CPUUtilization`, the policies see `ready` = contributing and `warming` = the rest, and a
//! target-tracking or step policy's change goes through `scaling::asg::set_desired_by_policy`,
//! which holds scale-in back while instances warm up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use metrics::{MetricStore, Retention};
use model::metric::namespace;
use model::{
    DatumValue, Dimension, InstanceId, InstanceType, LifecycleState, MetricDatum, Timestamp, Unit,
};
use scaling::autoscaler::{Autoscaler, CapacityChange, Trigger};
use scaling::policy::{AlarmShape, GroupView};

use super::Controller;
use super::observe::Seen;

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
    /// Once per second: collect metrics, evaluate alarms, run policies and schedules.
    pub(crate) fn autoscale(&mut self, seen: &HashMap<String, Seen>, now: Timestamp) {
        let sec = now.as_secs();
        if sec <= self.autoscale.last_second {
            return;
        }
        self.autoscale.last_second = sec;

        // Each group through warmup (the group's seam, `scaling::warmup`): its contributing
        // instances make the group's averages, its warming ones count toward desired capacity.
        let mut views = BTreeMap::new();
        let mut contributing = HashSet::new();
        for (key, g) in &self.groups {
            if g.deleting {
                continue;
            }
            let warmup = scaling::warmup::effective(&g.spec, None);
            let Some(w) = self.warmup_view(key, warmup) else {
                continue;
            };
            views.insert(
                key.clone(),
                GroupView::of(&g.spec, g.state.desired_capacity, &w),
            );
            contributing.extend(w.contributing);
        }

        let datums = self.collect_metrics(&contributing, now);
        // The readings cover the second that just ended.
        self.autoscale
            .store
            .put(Timestamp::from_secs(sec - 1), &datums);

        let changes = self
            .autoscale
            .autoscaler
            .step(&self.autoscale.store, &views, now);
        for change in changes {
            self.apply_capacity_change(change, seen, now);
        }
    }

    /// Carries out one capacity change: a target-tracking or step policy's through the group's
    /// policy seam (`scaling::asg::set_desired_by_policy`: clamped, scale-in held back while
    /// instances warm up), a simple policy's or a scheduled action's as asked (clamped to the
    /// bounds in force).
    fn apply_capacity_change(
        &mut self,
        change: CapacityChange,
        seen: &HashMap<String, Seen>,
        now: Timestamp,
    ) {
        let bounds = self.autoscale.autoscaler.bounds(&change.group);
        let instances: Vec<_> = self
            .group_instances(&change.group)
            .into_iter()
            .map(|i| {
                let s = seen.get(i.id.as_str()).copied().unwrap_or_default();
                i.view(s.health, s.in_flight)
            })
            .collect();
        let Some(group) = self.groups.get_mut(&change.group) else {
            return;
        };
        // A scheduled action's min/max stand in for the configured ones while in force.
        let mut spec = group.spec.clone();
        spec.min_size = bounds.min.unwrap_or(spec.min_size);
        spec.max_size = bounds.max.unwrap_or(spec.max_size).max(spec.min_size);
        let from = group.state.desired_capacity;
        let (next, note) = match change.trigger {
            Trigger::Policy {
                estimated_instance_warmup,
            } => {
                let warmup = scaling::warmup::effective(&spec, estimated_instance_warmup);
                let granted = scaling::asg::set_desired_by_policy(
                    &spec,
                    &group.state,
                    &instances,
                    warmup,
                    change.desired,
                    change.cause.clone(),
                    now,
                );
                (granted.state, granted.note)
            }
            Trigger::SimplePolicy | Trigger::ScheduledAction => {
                let mut next = group.state.clone();
                let to = change.desired.clamp(spec.min_size, spec.max_size);
                if to != from {
                    next.desired_capacity = to;
                    next.desired_cause = Some(change.cause.clone());
                }
                (next, None)
            }
        };
        if let Some(note) = &note {
            tracing::debug!(group = %group.spec.name, wanted = change.desired, "{note}");
        }
        if next == group.state {
            return;
        }
        group.state = next;
        let to = group.state.desired_capacity;
        tracing::info!(group = %group.spec.name, from, to, "{}", change.cause);
        if let Err(e) = self.store.save_group(&group.spec, &group.state) {
            tracing::error!(error = %e, "could not persist the group's desired capacity");
        }
    }

    fn collect_metrics(
        &mut self,
        contributing: &HashSet<InstanceId>,
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
                    if contributing.contains(&id) {
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
            let count = |states: &[LifecycleState]| {
                instances
                    .iter()
                    .filter(|i| states.contains(&i.lifecycle))
                    .count() as f64
            };
            let bounds = self.autoscale.autoscaler.bounds(key);
            let (pending, in_service, terminating) = (
                count(&[LifecycleState::Pending, LifecycleState::PendingWait]),
                count(&[LifecycleState::InService]),
                count(&[LifecycleState::Terminating, LifecycleState::TerminatingWait]),
            );
            let min = bounds.min.unwrap_or(g.spec.min_size);
            let max = bounds.max.unwrap_or(g.spec.max_size);
            let desired = f64::from(g.state.desired_capacity);
            let total = pending + in_service + terminating;
            let mut metrics = vec![
                ("GroupMinSize", f64::from(min)),
                ("GroupMaxSize", f64::from(max)),
                ("GroupDesiredCapacity", desired),
                ("GroupInServiceInstances", in_service),
                ("GroupPendingInstances", pending),
                ("GroupTerminatingInstances", terminating),
                ("GroupTotalInstances", total),
                ("GroupInServiceCapacity", in_service),
                ("GroupPendingCapacity", pending),
                ("GroupTerminatingCapacity", terminating),
                ("GroupTotalCapacity", total),
            ];
            if let Some(pool) = &g.spec.warm_pool {
                let pool_desired =
                    f64::from(pool.target_size(g.state.desired_capacity, max.max(min)));
                let warmed = count(&[LifecycleState::WarmedStopped, LifecycleState::WarmedRunning]);
                let pool_pending = count(&[
                    LifecycleState::WarmedPending,
                    LifecycleState::WarmedPendingWait,
                ]);
                metrics.extend([
                    ("WarmPoolDesiredCapacity", pool_desired),
                    ("WarmPoolWarmedCapacity", warmed),
                    ("WarmPoolPendingCapacity", pool_pending),
                    ("WarmPoolTerminatingCapacity", 0.0),
                    ("WarmPoolTotalCapacity", warmed + pool_pending),
                    ("GroupAndWarmPoolDesiredCapacity", desired + pool_desired),
                    (
                        "GroupAndWarmPoolTotalCapacity",
                        total + warmed + pool_pending,
                    ),
                ]);
            }
            for (name, v) in metrics {
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
        // The databases' (AWS/RDS), from each cluster's latest published status.
        for status in self.databases.statuses() {
            out.extend(database::metrics::datums(&status));
        }
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
