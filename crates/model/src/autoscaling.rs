//! EC2 Auto Scaling: `aws_launch_template` and `aws_autoscaling_group`, with AWS's lifecycle
//! states and the Terraform AWS provider's defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::validate::Violation;

/// `aws_launch_template`: the recipe for an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplate {
    pub key: String,
    pub name: String,
    /// `lt-…`, what `aws_launch_template.x.id` evaluates to.
    pub id: String,
    /// `image_id` is recorded (there are no AMIs locally; the user data is the image).
    pub image_id: Option<String>,
    /// An entry of [`crate::instance_type::CATALOGUE`].
    pub instance_type: String,
    /// The boot script, already base64-decoded. Runs under `/bin/sh`.
    pub user_data: String,
    /// Launch template version. Every apply that changes the template bumps it.
    pub version: u32,
}

/// `launch_template { version = … }` of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchTemplateVersion {
    /// `$Latest`.
    Latest,
    /// `$Default`.
    Default,
    Number(u32),
}

/// The `launch_template` block of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplateRef {
    /// Resource name of the template.
    pub template: String,
    pub version: LaunchTemplateVersion,
}

/// `health_check_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthCheckType {
    /// Instance status only: a dead process is unhealthy.
    Ec2,
    /// Also the load balancer's target health, after the grace period.
    Elb,
}

/// `termination_policies` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TerminationPolicy {
    Default,
    OldestInstance,
    NewestInstance,
    OldestLaunchTemplate,
    ClosestToNextInstanceHour,
}

impl TerminationPolicy {
    pub fn parse(s: &str) -> Option<TerminationPolicy> {
        Some(match s {
            "Default" => TerminationPolicy::Default,
            "OldestInstance" => TerminationPolicy::OldestInstance,
            "NewestInstance" => TerminationPolicy::NewestInstance,
            "OldestLaunchTemplate" => TerminationPolicy::OldestLaunchTemplate,
            "ClosestToNextInstanceHour" => TerminationPolicy::ClosestToNextInstanceHour,
            _ => return None,
        })
    }
}

/// `aws_autoscaling_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoScalingGroup {
    pub key: String,
    /// AWS name (`name`, defaulting to the resource name); what `updraft scale NAME` takes.
    pub name: String,
    pub min_size: u32,
    pub max_size: u32,
    /// `desired_capacity`; AWS uses `min_size` when it is omitted.
    pub desired_capacity: Option<u32>,
    /// Subnet resource names from `vpc_zone_identifier`, in the order written.
    pub subnets: Vec<String>,
    /// Target group resource names from `target_group_arns`.
    pub target_groups: Vec<String>,
    pub launch_template: LaunchTemplateRef,
    pub health_check_type: HealthCheckType,
    /// `health_check_grace_period` (Terraform default 300 s).
    pub health_check_grace_period: Duration,
    /// `default_cooldown` (default 300 s; simple scaling only).
    pub default_cooldown: Duration,
    /// `default_instance_warmup`, off unless set.
    pub default_instance_warmup: Option<Duration>,
    pub termination_policies: Vec<TerminationPolicy>,
    /// `protect_from_scale_in`.
    pub protect_from_scale_in: bool,
}

impl AutoScalingGroup {
    /// Capacity the group holds when nothing else has set it.
    pub fn initial_desired(&self) -> u32 {
        self.desired_capacity.unwrap_or(self.min_size)
    }

    /// Checks that need only the group itself.
    pub fn validate(&self) -> Vec<Violation> {
        let mut v = Vec::new();
        if self.min_size > self.max_size {
            v.push(
                Violation::new(
                    "min_size",
                    format!(
                        "min_size ({}) is greater than max_size ({})",
                        self.min_size, self.max_size
                    ),
                )
                .hint("make min_size ≤ desired_capacity ≤ max_size"),
            );
        }
        if let Some(d) = self.desired_capacity
            && (d < self.min_size || d > self.max_size)
        {
            v.push(
                Violation::new(
                    "desired_capacity",
                    format!(
                        "desired_capacity ({d}) is outside [min_size, max_size] = [{}, {}]",
                        self.min_size, self.max_size
                    ),
                )
                .hint("make min_size ≤ desired_capacity ≤ max_size"),
            );
        }
        if self.subnets.is_empty() {
            v.push(
                Violation::new(
                    "vpc_zone_identifier",
                    "the group has no subnets, so it has no availability zone to launch into",
                )
                .hint(
                    "list subnets, e.g. vpc_zone_identifier = [aws_subnet.a.id, aws_subnet.b.id]",
                ),
            );
        }
        if self.health_check_grace_period > Duration::from_secs(7200) {
            v.push(Violation::new(
                "health_check_grace_period",
                "at most 7200 seconds",
            ));
        }
        if let Some(pos) = self
            .termination_policies
            .iter()
            .position(|p| *p == TerminationPolicy::Default)
            && pos + 1 != self.termination_policies.len()
        {
            v.push(
                Violation::new(
                    "termination_policies",
                    "\"Default\" must be the last policy",
                )
                .hint("move \"Default\" to the end of the list"),
            );
        }
        v
    }
}

/// Where an instance is in its Auto Scaling lifecycle (AWS's `LifecycleState` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LifecycleState {
    /// Launched; its process is booting.
    Pending,
    /// Running and registered with the group's target groups.
    InService,
    /// Deregistered (draining) and about to be stopped.
    Terminating,
    /// Gone. Kept in history.
    Terminated,
}

impl LifecycleState {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Pending => "Pending",
            LifecycleState::InService => "InService",
            LifecycleState::Terminating => "Terminating",
            LifecycleState::Terminated => "Terminated",
        }
    }

    pub fn parse(s: &str) -> Option<LifecycleState> {
        Some(match s {
            "Pending" => LifecycleState::Pending,
            "InService" => LifecycleState::InService,
            "Terminating" => LifecycleState::Terminating,
            "Terminated" => LifecycleState::Terminated,
            _ => return None,
        })
    }

    /// Counts toward the group's capacity (Pending and InService do).
    pub fn counts_toward_capacity(self) -> bool {
        matches!(self, LifecycleState::Pending | LifecycleState::InService)
    }
}

impl std::fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> AutoScalingGroup {
        AutoScalingGroup {
            key: "web".into(),
            name: "web".into(),
            min_size: 3,
            max_size: 12,
            desired_capacity: None,
            subnets: vec!["a".into()],
            target_groups: vec![],
            launch_template: LaunchTemplateRef {
                template: "web".into(),
                version: LaunchTemplateVersion::Latest,
            },
            health_check_type: HealthCheckType::Elb,
            health_check_grace_period: Duration::from_secs(30),
            default_cooldown: Duration::from_secs(300),
            default_instance_warmup: None,
            termination_policies: vec![TerminationPolicy::Default],
            protect_from_scale_in: false,
        }
    }

    #[test]
    fn desired_defaults_to_min() {
        assert_eq!(group().initial_desired(), 3);
    }

    #[test]
    fn capacity_bounds_are_checked() {
        let mut g = group();
        g.min_size = 13;
        g.desired_capacity = Some(20);
        let attrs: Vec<_> = g.validate().into_iter().map(|v| v.attribute).collect();
        assert_eq!(attrs, vec!["min_size", "desired_capacity"]);
    }

    #[test]
    fn default_termination_policy_must_be_last() {
        let mut g = group();
        g.termination_policies = vec![
            TerminationPolicy::Default,
            TerminationPolicy::OldestInstance,
        ];
        assert_eq!(g.validate()[0].attribute, "termination_policies");
    }
}
