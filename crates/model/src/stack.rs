//! A [`Stack`]: every resource of one configuration, validated and with references resolved to
//! resource names. This is the desired state the control plane reconciles towards.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::autoscaling::{AutoScalingGroup, LaunchTemplate};
use crate::ids::ResourceAddress;
use crate::listener_rule::ListenerRule;
use crate::load_balancer::{Listener, LoadBalancer, TargetGroup, TargetGroupAttachment};
use crate::network::{AvailabilityZone, Subnet};

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
