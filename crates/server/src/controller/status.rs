//! The status view: what `updraft status` prints, built from the controller's state, the
//! data plane's health reports and the activity history.

use std::collections::HashMap;

use super::Controller;
use crate::fleet::worse;
use crate::views::{
    GroupStatus, InstanceStatus, ListenerStatus, LoadBalancerStatus, StackStatus,
    TargetGroupStatus, TargetStatus, WarmPoolStatus,
};

/// Activities shown per group in `updraft status`.
const RECENT_ACTIVITIES: usize = 5;

impl Controller {
    pub(crate) fn status(&self) -> StackStatus {
        let databases = self.databases.statuses();
        let reports = self.data_plane.target_health();
        let counters = self.data_plane.target_group_counters();
        let bound: HashMap<String, std::net::SocketAddr> =
            self.data_plane.listener_addrs().into_iter().collect();
        let mut health_by_instance = HashMap::new();
        for r in &reports {
            health_by_instance
                .entry(r.target_id.clone())
                .and_modify(|h| *h = worse(*h, r.health.state))
                .or_insert(r.health.state);
        }

        let load_balancers = self
            .stack
            .load_balancers
            .values()
            .map(|lb| LoadBalancerStatus {
                key: lb.key.clone(),
                name: lb.name.clone(),
                load_balancer_type: lb.load_balancer_type.as_str().into(),
                availability_zones: lb
                    .subnets
                    .iter()
                    .filter_map(|s| self.stack.subnets.get(s))
                    .map(|s| s.availability_zone.to_string())
                    .collect(),
                listeners: self
                    .stack
                    .listeners
                    .values()
                    .filter(|l| l.load_balancer == lb.key)
                    .map(|l| ListenerStatus {
                        key: l.key.clone(),
                        protocol: l.protocol.as_str().into(),
                        address: bound.get(&l.key).map_or_else(
                            || format!("{}:{}", self.config.bind_host, l.port),
                            |a| a.to_string(),
                        ),
                        forwards_to: l
                            .default_action
                            .target_groups()
                            .iter()
                            .map(|t| {
                                self.stack
                                    .target_groups
                                    .get(&t.target_group)
                                    .map_or(t.target_group.clone(), |tg| tg.name.clone())
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();

        let target_groups = self
            .stack
            .target_groups
            .values()
            .map(|tg| TargetGroupStatus {
                key: tg.key.clone(),
                name: tg.name.clone(),
                protocol: tg.protocol.as_str().into(),
                port: tg.port,
                targets: reports
                    .iter()
                    .filter(|r| r.target_group == tg.key)
                    .map(|r| TargetStatus {
                        id: r.target_id.clone(),
                        address: r.addr.to_string(),
                        availability_zone: r.availability_zone.as_ref().map(|z| z.to_string()),
                        state: r.health.state,
                        reason: r.health.reason.map(|x| x.as_str().into()),
                        description: r.health.description.clone(),
                        in_flight: r.in_flight,
                    })
                    .collect(),
                counters: counters
                    .iter()
                    .find(|c| c.target_group == tg.key)
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect();

        let auto_scaling_groups = self
            .groups
            .values()
            .map(|g| {
                let instance_type = self
                    .stack
                    .launch_template_of(&g.spec)
                    .map(|t| t.instance_type.clone())
                    .unwrap_or_default();
                GroupStatus {
                    key: g.spec.key.clone(),
                    name: g.spec.name.clone(),
                    min_size: g.spec.min_size,
                    max_size: g.spec.max_size,
                    desired_capacity: g.state.desired_capacity,
                    availability_zones: self
                        .stack
                        .group_zones(&g.spec)
                        .into_iter()
                        .map(|z| z.to_string())
                        .collect(),
                    instances: self
                        .group_instances(&g.spec.key)
                        .into_iter()
                        .map(|i| InstanceStatus {
                            id: i.id.clone(),
                            availability_zone: i.availability_zone.to_string(),
                            address: i.addr().to_string(),
                            lifecycle: i.lifecycle,
                            instance_type: instance_type.clone(),
                            target_health: health_by_instance.get(i.id.as_str()).copied(),
                            launched_at: i.launched_at,
                            pid: i.process.as_ref().map(|p| p.pid),
                            log: i.process.as_ref().map(|p| p.log_path.display().to_string()),
                            protected_from_scale_in: i.protected_from_scale_in,
                            launch_template_version: i.launch_template_version,
                            waiting_for: waiting_for(&i.lifecycle_actions),
                        })
                        .collect(),
                    waiting: g.waiting.clone(),
                    last_failure: g.last_failure.clone(),
                    recent_activities: self
                        .store
                        .activities(&g.spec.key, RECENT_ACTIVITIES)
                        .unwrap_or_default(),
                    warm_pool: g.spec.warm_pool.as_ref().map(|p| WarmPoolStatus {
                        pool_state: p.pool_state.as_str().into(),
                        min_size: p.min_size,
                        max_group_prepared_capacity: p.max_group_prepared_capacity,
                        reuse_on_scale_in: p.reuse_on_scale_in,
                        size: p.target_size(g.state.desired_capacity, g.spec.max_size),
                    }),
                    instance_refresh: g.state.instance_refreshes.last().cloned(),
                    lifecycle_hooks: self
                        .stack
                        .lifecycle_hooks_of(&g.spec)
                        .iter()
                        .map(|h| format!("{} ({})", h.name, h.lifecycle_transition.as_str()))
                        .collect(),
                    suspended_processes: g
                        .spec
                        .suspended_processes
                        .iter()
                        .map(|p| format!("{p:?}"))
                        .collect(),
                    warming: self
                        .warmup_view(&g.spec.key, scaling::warmup::effective(&g.spec, None))
                        .map(|v| v.warming)
                        .unwrap_or_default(),
                }
            })
            .collect();

        StackStatus {
            config: self.config.config_label.clone(),
            region: self.stack.region.clone(),
            state_dir: self.config.state_dir.display().to_string(),
            daemon_pid: std::process::id(),
            limits: describe_limits(self.provider.limits()),
            now: self.clock.now(),
            load_balancers,
            target_groups,
            auto_scaling_groups,
            traffic: self.data_plane.traffic(),
            recorded: self
                .stack
                .recorded
                .iter()
                .map(|r| r.address.to_string())
                .collect(),
            impaired_zones: self
                .impaired_zones()
                .iter()
                .map(|z| z.to_string())
                .collect(),
            drills: self
                .drills
                .values()
                .map(|d| crate::views::DrillSummary {
                    id: d.id.clone(),
                    drill: d.spec.name().into(),
                    description: d.spec.describe(),
                })
                .collect(),
            nodes: crate::databases::node_statuses(&databases),
            databases,
        }
    }
}

/// "boot (default ABANDON at 2026-…)" for each action still waiting.
fn waiting_for(actions: &[scaling::LifecycleAction]) -> Option<String> {
    let open: Vec<String> = actions
        .iter()
        .filter(|a| a.result.is_none())
        .map(|a| {
            format!(
                "{} (default {} at {})",
                a.hook,
                a.default_result.as_str(),
                a.timeout_at()
            )
        })
        .collect();
    (!open.is_empty()).then(|| open.join(", "))
}

pub(crate) fn describe_limits(limits: &compute::LimitSupport) -> String {
    match limits {
        compute::LimitSupport::V1 { .. } => "cgroup v1 (cpu quota + memory limit)".into(),
        compute::LimitSupport::V2 { .. } => "cgroup v2 (cpu.max + memory.max)".into(),
        compute::LimitSupport::Unavailable { reason } => format!("none: {reason}"),
    }
}
