//! Builds the data plane's [`proxy::Snapshot`] from the desired stack and the instances the
//! control plane runs: InService instances are registered targets, Terminating ones are
//! draining, static `aws_lb_target_group_attachment`s are registered as they are.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use model::{AutoScalingGroup, LifecycleState, Stack};
use proxy::{ListenerConfig, Snapshot, TargetConfig, TargetGroupConfig};

use crate::fleet::InstanceRecord;

/// The snapshot for `stack` with listeners bound on `bind_host`.
pub fn snapshot(stack: &Stack, instances: &[InstanceRecord], bind_host: IpAddr) -> Snapshot {
    snapshot_with(stack, &[], instances, bind_host)
}

/// [`snapshot`], plus groups being deleted: their instances stay registered (and drain) in the
/// target groups the stack still has.
pub fn snapshot_with(
    stack: &Stack,
    deleting: &[AutoScalingGroup],
    instances: &[InstanceRecord],
    bind_host: IpAddr,
) -> Snapshot {
    let listeners = stack
        .listeners
        .values()
        .map(|l| ListenerConfig {
            key: l.key.clone(),
            load_balancer: l.load_balancer.clone(),
            load_balancer_arn_suffix: stack
                .load_balancers
                .get(&l.load_balancer)
                .and_then(|lb| lb.arn.split_once(":loadbalancer/"))
                .map_or_else(|| format!("app/{}", l.load_balancer), |(_, s)| s.to_owned()),
            bind: SocketAddr::new(bind_host, l.port),
            protocol: l.protocol,
            default_action: l.default_action.clone(),
            rules: stack
                .listener_rules
                .values()
                .filter(|r| r.listener == l.key)
                .cloned()
                .collect(),
            idle_timeout: stack
                .load_balancers
                .get(&l.load_balancer)
                .map_or(Duration::from_secs(60), |lb| lb.idle_timeout),
            access_log: stack
                .load_balancers
                .get(&l.load_balancer)
                .and_then(|lb| access_log_path(lb, &stack.region)),
        })
        .collect();
    let target_groups = stack
        .target_groups
        .values()
        .map(|tg| {
            let members = stack
                .auto_scaling_groups
                .values()
                .chain(deleting)
                .filter(|g| g.target_groups.contains(&tg.key))
                .flat_map(|g| instances.iter().filter(move |i| i.group == g.key))
                .filter_map(|i| {
                    let draining = match i.lifecycle {
                        LifecycleState::InService => false,
                        LifecycleState::Terminating => true,
                        _ => return None,
                    };
                    Some(TargetConfig {
                        id: i.id.to_string(),
                        addr: SocketAddr::from((i.host, tg.port)),
                        availability_zone: Some(i.availability_zone.clone()),
                        draining,
                    })
                });
            let attached = stack
                .target_group_attachments
                .values()
                .filter(|a| a.target_group == tg.key)
                .map(|a| TargetConfig {
                    id: format!("{}:{}", a.ip, a.port),
                    addr: SocketAddr::new(a.ip, a.port),
                    availability_zone: a
                        .availability_zone
                        .as_ref()
                        .map(|z| model::AvailabilityZone::new(z.clone())),
                    draining: false,
                });
            TargetGroupConfig {
                spec: tg.clone(),
                targets: members.chain(attached).collect(),
            }
        })
        .collect();
    Snapshot {
        listeners,
        target_groups,
        faults: vec![],
    }
}

/// Where a load balancer's access log goes when `access_logs { enabled = true }`: the S3
/// bucket is a local directory (absolute, or relative to the directory `updraft up` runs in),
/// laid out like ALB's S3 keys: `<bucket>/<prefix>/AWSLogs/<account>/elasticloadbalancing/
/// <region>/<load balancer name>.log`.
pub fn access_log_path(lb: &model::LoadBalancer, region: &str) -> Option<std::path::PathBuf> {
    let logs = lb.access_logs.as_ref()?;
    let account = lb
        .arn
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .unwrap_or("000000000000");
    let mut path = std::path::PathBuf::from(&logs.bucket);
    if !logs.prefix.is_empty() {
        path.push(&logs.prefix);
    }
    path.push("AWSLogs");
    path.push(account);
    path.push("elasticloadbalancing");
    path.push(region);
    path.push(format!("{}.log", lb.name));
    Some(path)
}
