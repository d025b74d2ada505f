//! A [`Stack`]: every resource of one configuration, validated and with references resolved to
//! resource names. This is the desired state the control plane reconciles towards.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::alarm::MetricAlarm;
use crate::autoscaling::{AutoScalingGroup, LaunchTemplate};
use crate::database::{DbInstance, DbSubnetGroup};
use crate::ids::ResourceAddress;
use crate::lifecycle_hook::{LifecycleHook, LifecycleHookResource};
use crate::listener_rule::ListenerRule;
use crate::load_balancer::{Listener, LoadBalancer, TargetGroup, TargetGroupAttachment};
use crate::network::{AvailabilityZone, Subnet};
use crate::policy::{ScalingPolicy, ScheduledAction};

/// The desired state of one configuration. Maps are keyed by Terraform resource name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stack {
    /// `provider "aws" { region = … }`, default `us-east-1`.
    pub region: String,
    pub subnets: BTreeMap<String, Subnet>,
    pub load_balancers: BTreeMap<String, LoadBalancer>,
    pub target_groups: BTreeMap<String, TargetGroup>,
    pub target_group_attachments: BTreeMap<String, TargetGroupAttachment>,
    pub listeners: BTreeMap<String, Listener>,
    /// `aws_lb_listener_rule`s, keyed by resource name.
    #[serde(default)]
    pub listener_rules: BTreeMap<String, ListenerRule>,
    pub launch_templates: BTreeMap<String, LaunchTemplate>,
    pub auto_scaling_groups: BTreeMap<String, AutoScalingGroup>,
    /// `aws_db_subnet_group`s.
    #[serde(default)]
    pub db_subnet_groups: BTreeMap<String, DbSubnetGroup>,
    /// `aws_db_instance`s: primaries and read replicas.
    #[serde(default)]
    pub db_instances: BTreeMap<String, DbInstance>,
    /// `aws_autoscaling_lifecycle_hook` resources.
    #[serde(default)]
    pub lifecycle_hooks: BTreeMap<String, LifecycleHookResource>,
    /// `aws_autoscaling_policy`, by resource key.
    #[serde(default)]
    pub scaling_policies: BTreeMap<String, ScalingPolicy>,
    /// `aws_autoscaling_schedule`, by resource key.
    #[serde(default)]
    pub scheduled_actions: BTreeMap<String, ScheduledAction>,
    /// `aws_cloudwatch_metric_alarm`, by resource key.
    #[serde(default)]
    pub metric_alarms: BTreeMap<String, MetricAlarm>,
    /// Resources that matter only on AWS (VPCs, security groups, …): accepted, not simulated.
    pub recorded: Vec<RecordedResource>,
}

/// A resource accepted for compatibility but not simulated locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResource {
    pub address: ResourceAddress,
    /// Why updraft does not simulate it, for the one log line it gets.
    pub note: String,
}

impl Stack {
    /// Finds a group by AWS name first, then by resource name.
    pub fn auto_scaling_group(&self, name: &str) -> Option<&AutoScalingGroup> {
        self.auto_scaling_groups
            .values()
            .find(|g| g.name == name)
            .or_else(|| self.auto_scaling_groups.get(name))
    }

    /// The availability zones of a group, in the order of its subnets, without repeats.
    pub fn group_zones(&self, group: &AutoScalingGroup) -> Vec<AvailabilityZone> {
        let mut zones: Vec<AvailabilityZone> = Vec::new();
        for s in group.subnets.iter().filter_map(|k| self.subnets.get(k)) {
            if !zones.contains(&s.availability_zone) {
                zones.push(s.availability_zone.clone());
            }
        }
        zones
    }

    /// Every availability zone named by a subnet, sorted.
    pub fn zones(&self) -> Vec<AvailabilityZone> {
        let mut zones: Vec<_> = self
            .subnets
            .values()
            .map(|s| s.availability_zone.clone())
            .collect();
        zones.sort();
        zones.dedup();
        zones
    }

    /// Primary database instances (each leads a cluster), by resource name.
    pub fn db_primaries(&self) -> impl Iterator<Item = &DbInstance> {
        self.db_instances.values().filter(|d| d.is_primary())
    }

    /// The read replicas of the primary with resource name `primary`.
    pub fn db_replicas_of<'a>(&'a self, primary: &'a str) -> impl Iterator<Item = &'a DbInstance> {
        self.db_instances.values().filter(move |d| {
            matches!(&d.kind, crate::database::DbInstanceKind::Replica { source } if source == primary)
        })
    }

    /// Finds a database by identifier first, then by resource name.
    pub fn db_instance(&self, name: &str) -> Option<&DbInstance> {
        self.db_instances
            .values()
            .find(|d| d.identifier == name)
            .or_else(|| self.db_instances.get(name))
    }

    /// The availability zones a database may use, in order: its subnet group's subnets' zones
    /// (a read replica without one uses its source's), else every zone of the stack.
    pub fn db_zones(&self, db: &DbInstance) -> Vec<AvailabilityZone> {
        let group_key = db.db_subnet_group.as_ref().or_else(|| match &db.kind {
            crate::database::DbInstanceKind::Replica { source } => self
                .db_instances
                .get(source)
                .and_then(|s| s.db_subnet_group.as_ref()),
            _ => None,
        });
        let Some(group) = group_key.and_then(|g| self.db_subnet_groups.get(g)) else {
            return self.zones();
        };
        let mut zones: Vec<AvailabilityZone> = Vec::new();
        for s in group.subnets.iter().filter_map(|k| self.subnets.get(k)) {
            if !zones.contains(&s.availability_zone) {
                zones.push(s.availability_zone.clone());
            }
        }
        zones
    }

    /// Every lifecycle hook of a group: its `initial_lifecycle_hook` blocks, then the
    /// `aws_autoscaling_lifecycle_hook` resources attached to it (in resource-name order).
    pub fn lifecycle_hooks_of(&self, group: &AutoScalingGroup) -> Vec<LifecycleHook> {
        group
            .initial_lifecycle_hooks
            .iter()
            .cloned()
            .chain(
                self.lifecycle_hooks
                    .values()
                    .filter(|h| h.group == group.key)
                    .map(|h| h.hook.clone()),
            )
            .collect()
    }

    /// The launch template a group launches from.
    pub fn launch_template_of(&self, group: &AutoScalingGroup) -> Option<&LaunchTemplate> {
        self.launch_templates.get(&group.launch_template.template)
    }
}

/// Where something was written: `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    /// 1-based.
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Where each resource and attribute of a [`Stack`] was written, so that errors found after
/// parsing (a listener port already in use, say) can still point at the line to fix.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SourceMap {
    /// Keyed by `aws_lb_listener.front` (the block) or `aws_lb_listener.front.port` (an
    /// attribute; nested attributes use dots: `…health_check.interval`).
    pub locations: BTreeMap<String, Location>,
}

impl SourceMap {
    pub fn insert(&mut self, address: &ResourceAddress, attribute: Option<&str>, at: Location) {
        self.locations.insert(Self::key(address, attribute), at);
    }

    /// The attribute's location if recorded, else the resource block's.
    pub fn get(&self, address: &ResourceAddress, attribute: Option<&str>) -> Option<&Location> {
        self.locations
            .get(&Self::key(address, attribute))
            .or_else(|| self.locations.get(&Self::key(address, None)))
    }

    fn key(address: &ResourceAddress, attribute: Option<&str>) -> String {
        match attribute {
            Some(a) => format!("{address}.{a}"),
            None => address.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_map_falls_back_to_the_block() {
        let mut map = SourceMap::default();
        let addr = ResourceAddress::new("aws_lb_listener", "front");
        let at = |line| Location {
            file: "main.tf".into(),
            line,
        };
        map.insert(&addr, None, at(10));
        map.insert(&addr, Some("port"), at(12));
        assert_eq!(map.get(&addr, Some("port")).unwrap().line, 12);
        assert_eq!(map.get(&addr, Some("protocol")).unwrap().line, 10);
        assert_eq!(
            map.get(&addr, Some("port")).unwrap().to_string(),
            "main.tf:12"
        );
    }
}
