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
    /// Re-aligns a mixed instances group with its allocation strategy; groups here have one
    /// instance type and no Spot, so it keeps every candidate (as on AWS for such groups).
    AllocationStrategy,
    OldestInstance,
    NewestInstance,
    OldestLaunchTemplate,
    /// Instances launched from a launch configuration first; there are none here (launch
    /// configurations are not supported), so it keeps every candidate.
    OldestLaunchConfiguration,
    ClosestToNextInstanceHour,
}

impl TerminationPolicy {
    pub const NAMES: [&'static str; 7] = [
        "Default",
        "AllocationStrategy",
        "OldestInstance",
        "NewestInstance",
        "OldestLaunchTemplate",
        "OldestLaunchConfiguration",
        "ClosestToNextInstanceHour",
    ];

    pub fn parse(s: &str) -> Option<TerminationPolicy> {
        Some(match s {
            "Default" => TerminationPolicy::Default,
            "AllocationStrategy" => TerminationPolicy::AllocationStrategy,
            "OldestInstance" => TerminationPolicy::OldestInstance,
            "NewestInstance" => TerminationPolicy::NewestInstance,
            "OldestLaunchTemplate" => TerminationPolicy::OldestLaunchTemplate,
            "OldestLaunchConfiguration" => TerminationPolicy::OldestLaunchConfiguration,
            "ClosestToNextInstanceHour" => TerminationPolicy::ClosestToNextInstanceHour,
            _ => return None,
        })
    }
}

/// The processes of a group that `suspended_processes` can suspend (AWS's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScalingProcess {
    /// No instance is launched (scale-out, replacement, warm pool fill).
    Launch,
    /// No instance is terminated for scale-in, rebalancing, lifetime or refresh.
    Terminate,
    /// Instances are not marked unhealthy by ELB health checks.
    HealthCheck,
    /// Unhealthy instances are marked but not replaced.
    ReplaceUnhealthy,
    /// Zones are not rebalanced.
    AZRebalance,
    /// Alarms do not run scaling policies (honoured by the policy engine).
    AlarmNotification,
    /// Scheduled actions do not run (honoured by the policy engine).
    ScheduledActions,
    /// Accepted; updraft registers InService instances regardless.
    AddToLoadBalancer,
    /// Instance refreshes pause.
    InstanceRefresh,
}

impl ScalingProcess {
    pub const NAMES: [&'static str; 9] = [
        "Launch",
        "Terminate",
        "HealthCheck",
        "ReplaceUnhealthy",
        "AZRebalance",
        "AlarmNotification",
        "ScheduledActions",
        "AddToLoadBalancer",
        "InstanceRefresh",
    ];

    pub fn parse(s: &str) -> Option<ScalingProcess> {
        Some(match s {
            "Launch" => ScalingProcess::Launch,
            "Terminate" => ScalingProcess::Terminate,
            "HealthCheck" => ScalingProcess::HealthCheck,
            "ReplaceUnhealthy" => ScalingProcess::ReplaceUnhealthy,
            "AZRebalance" => ScalingProcess::AZRebalance,
            "AlarmNotification" => ScalingProcess::AlarmNotification,
            "ScheduledActions" => ScalingProcess::ScheduledActions,
            "AddToLoadBalancer" => ScalingProcess::AddToLoadBalancer,
            "InstanceRefresh" => ScalingProcess::InstanceRefresh,
            _ => return None,
        })
    }
}

/// AWS's bounds for `max_instance_lifetime` when it is not 0: one day to one year.
pub const MAX_INSTANCE_LIFETIME_RANGE: (u64, u64) = (86_400, 31_536_000);
/// AWS's upper bound for `default_instance_warmup`.
pub const MAX_DEFAULT_INSTANCE_WARMUP: Duration = Duration::from_secs(3600);

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
    /// `protect_from_scale_in`: new instances are protected from scale-in.
    pub protect_from_scale_in: bool,
    /// `max_instance_lifetime` (0 or unset = no limit); instances older than this are
    /// replaced.
    #[serde(default)]
    pub max_instance_lifetime: Option<Duration>,
    /// `suspended_processes`.
    #[serde(default)]
    pub suspended_processes: Vec<ScalingProcess>,
    /// `initial_lifecycle_hook` blocks (hooks from `aws_autoscaling_lifecycle_hook` resources
    /// are in [`crate::Stack::lifecycle_hooks`]; [`crate::Stack::lifecycle_hooks_of`] merges).
    #[serde(default)]
    pub initial_lifecycle_hooks: Vec<crate::LifecycleHook>,
    /// `warm_pool`.
    #[serde(default)]
    pub warm_pool: Option<crate::WarmPool>,
    /// `instance_refresh`.
    #[serde(default)]
    pub instance_refresh: Option<crate::InstanceRefreshSpec>,
}

impl AutoScalingGroup {
    /// Capacity the group holds when nothing else has set it.
    pub fn initial_desired(&self) -> u32 {
        self.desired_capacity.unwrap_or(self.min_size)
    }

    /// Whether `process` is listed in `suspended_processes`.
    pub fn suspended(&self, process: ScalingProcess) -> bool {
        self.suspended_processes.contains(&process)
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
        if let Some(w) = self.default_instance_warmup
            && w > MAX_DEFAULT_INSTANCE_WARMUP
        {
            v.push(
                Violation::new(
                    "default_instance_warmup",
                    format!("{} s is out of range: AWS accepts 0 to 3600 s", w.as_secs()),
                )
                .hint("set default_instance_warmup between 0 and 3600 (-1 turns it off)"),
            );
        }
        if let Some(life) = self.max_instance_lifetime {
            let (lo, hi) = MAX_INSTANCE_LIFETIME_RANGE;
            let secs = life.as_secs();
            if !(lo..=hi).contains(&secs) {
                v.push(
                    Violation::new(
                        "max_instance_lifetime",
                        format!(
                            "{secs} s is out of range: AWS accepts 0 (no limit) or 86400 (one \
                             day) to 31536000 (one year)"
                        ),
                    )
                    .hint("set max_instance_lifetime = 86400 or more, or 0 to turn it off"),
                );
            }
        }
        // Lifecycle hooks and refresh preferences are checked where they are written
        // (`LifecycleHook::validate`, `RefreshPreferences::validate`), so that each error
        // points at its own block.
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
    /// Launched (or taken from the warm pool); its process is booting.
    Pending,
    /// Held by a launch lifecycle hook until the action is completed or times out.
    #[serde(rename = "Pending:Wait")]
    PendingWait,
    /// Running and registered with the group's target groups.
    InService,
    /// Deregistered (draining) and about to be stopped (or returned to the warm pool).
    Terminating,
    /// Drained, held by a termination lifecycle hook.
    #[serde(rename = "Terminating:Wait")]
    TerminatingWait,
    /// Gone. Kept in history.
    Terminated,
    /// Launched into the warm pool (or returned to it); booting.
    #[serde(rename = "Warmed:Pending")]
    WarmedPending,
    /// In the warm pool, held by a launch lifecycle hook.
    #[serde(rename = "Warmed:Pending:Wait")]
    WarmedPendingWait,
    /// In the warm pool: booted, then frozen.
    #[serde(rename = "Warmed:Stopped")]
    WarmedStopped,
    /// In the warm pool: booted and running, not registered.
    #[serde(rename = "Warmed:Running")]
    WarmedRunning,
}

impl LifecycleState {
    pub const ALL: [LifecycleState; 10] = [
        LifecycleState::Pending,
        LifecycleState::PendingWait,
        LifecycleState::InService,
        LifecycleState::Terminating,
        LifecycleState::TerminatingWait,
        LifecycleState::Terminated,
        LifecycleState::WarmedPending,
        LifecycleState::WarmedPendingWait,
        LifecycleState::WarmedStopped,
        LifecycleState::WarmedRunning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Pending => "Pending",
            LifecycleState::PendingWait => "Pending:Wait",
            LifecycleState::InService => "InService",
            LifecycleState::Terminating => "Terminating",
            LifecycleState::TerminatingWait => "Terminating:Wait",
            LifecycleState::Terminated => "Terminated",
            LifecycleState::WarmedPending => "Warmed:Pending",
            LifecycleState::WarmedPendingWait => "Warmed:Pending:Wait",
            LifecycleState::WarmedStopped => "Warmed:Stopped",
            LifecycleState::WarmedRunning => "Warmed:Running",
        }
    }

    pub fn parse(s: &str) -> Option<LifecycleState> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Counts toward the group's capacity (Pending, Pending:Wait and InService do).
    pub fn counts_toward_capacity(self) -> bool {
        matches!(
            self,
            LifecycleState::Pending | LifecycleState::PendingWait | LifecycleState::InService
        )
    }

    /// In the warm pool (any `Warmed:*` state).
    pub fn is_warmed(self) -> bool {
        matches!(
            self,
            LifecycleState::WarmedPending
                | LifecycleState::WarmedPendingWait
                | LifecycleState::WarmedStopped
                | LifecycleState::WarmedRunning
        )
    }

    /// Held by a lifecycle hook.
    pub fn is_wait(self) -> bool {
        matches!(
            self,
            LifecycleState::PendingWait
                | LifecycleState::TerminatingWait
                | LifecycleState::WarmedPendingWait
        )
    }

    /// On its way out of the group (draining or held by a termination hook).
    pub fn is_terminating(self) -> bool {
        matches!(
            self,
            LifecycleState::Terminating | LifecycleState::TerminatingWait
        )
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
            max_instance_lifetime: None,
            suspended_processes: vec![],
            initial_lifecycle_hooks: vec![],
            warm_pool: None,
            instance_refresh: None,
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
    fn lifetime_and_warmup_follow_aws_ranges() {
        let mut g = group();
        g.max_instance_lifetime = Some(Duration::from_secs(3600));
        g.default_instance_warmup = Some(Duration::from_secs(3601));
        let v = g.validate();
        let attrs: Vec<_> = v.iter().map(|v| v.attribute.as_str()).collect();
        assert_eq!(
            attrs,
            vec!["default_instance_warmup", "max_instance_lifetime"]
        );
        assert!(v[1].message.contains("86400"), "{}", v[1].message);
        g.max_instance_lifetime = Some(Duration::from_secs(86_400));
        g.default_instance_warmup = Some(Duration::from_secs(0));
        assert!(g.validate().is_empty());
    }

    #[test]
    fn lifecycle_states_use_aws_names_everywhere() {
        for l in LifecycleState::ALL {
            assert_eq!(LifecycleState::parse(l.as_str()), Some(l));
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("\"{}\"", l.as_str()));
        }
        assert!(LifecycleState::PendingWait.counts_toward_capacity());
        assert!(!LifecycleState::WarmedStopped.counts_toward_capacity());
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
