//! `instance_refresh`: how a group replaces its instances after its launch template changes
//! (and when `updraft refresh start` asks), a few at a time, keeping a minimum of healthy
//! capacity. The preferences are the Terraform AWS provider's (`preferences { … }`), with its
//! defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::validate::{Violation, check_range};

/// Longest checkpoint delay AWS accepts (2 days).
pub const MAX_CHECKPOINT_DELAY: Duration = Duration::from_secs(172_800);
/// AWS's delay after a checkpoint when percentages are given without a delay.
pub const DEFAULT_CHECKPOINT_DELAY: Duration = Duration::from_secs(3600);

/// `preferences.scale_in_protected_instances`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProtectedInstances {
    /// Replace protected instances too.
    Refresh,
    /// Leave them alone and replace the others (the Terraform default).
    Ignore,
    /// Wait (up to an hour) for their protection to be removed, then fail.
    Wait,
}

impl ProtectedInstances {
    pub const NAMES: [&'static str; 3] = ["Refresh", "Ignore", "Wait"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Refresh" => Some(ProtectedInstances::Refresh),
            "Ignore" => Some(ProtectedInstances::Ignore),
            "Wait" => Some(ProtectedInstances::Wait),
            _ => None,
        }
    }
}

/// `preferences { … }` of an instance refresh (also what `updraft refresh start` overrides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshPreferences {
    /// Percentage of desired capacity that must stay InService and healthy (default 90).
    pub min_healthy_percentage: u32,
    /// Percentage of desired capacity the group may grow to while replacing (default 100;
    /// above 100 means launch before terminate).
    pub max_healthy_percentage: u32,
    /// Seconds a new instance needs before it counts as healthy capacity; by default the
    /// group's `default_instance_warmup`, else its `health_check_grace_period`.
    pub instance_warmup: Option<Duration>,
    /// Leave instances that already run the current launch template version (default false).
    pub skip_matching: bool,
    /// Pause after these percentages of instances are replaced (ascending).
    pub checkpoint_percentages: Vec<u32>,
    /// How long each pause lasts (default 3600 s when percentages are set).
    pub checkpoint_delay: Option<Duration>,
    pub scale_in_protected_instances: ProtectedInstances,
}

impl Default for RefreshPreferences {
    fn default() -> Self {
        RefreshPreferences {
            min_healthy_percentage: 90,
            max_healthy_percentage: 100,
            instance_warmup: None,
            skip_matching: false,
            checkpoint_percentages: Vec::new(),
            checkpoint_delay: None,
            scale_in_protected_instances: ProtectedInstances::Ignore,
        }
    }
}

impl RefreshPreferences {
    /// AWS's rules for refresh preferences; attribute names as written under `prefix`
    /// (`instance_refresh.preferences.`).
    pub fn validate(&self, prefix: &str) -> Vec<Violation> {
        let mut v = Vec::new();
        let attr = |name: &str| format!("{prefix}{name}");
        check_range(
            &mut v,
            &attr("min_healthy_percentage"),
            self.min_healthy_percentage.into(),
            0,
            100,
            "",
        );
        check_range(
            &mut v,
            &attr("max_healthy_percentage"),
            self.max_healthy_percentage.into(),
            100,
            200,
            "",
        );
        if self.max_healthy_percentage >= self.min_healthy_percentage
            && self.max_healthy_percentage - self.min_healthy_percentage > 100
        {
            v.push(
                Violation::new(
                    attr("max_healthy_percentage"),
                    format!(
                        "max_healthy_percentage ({}) minus min_healthy_percentage ({}) is more \
                         than 100",
                        self.max_healthy_percentage, self.min_healthy_percentage
                    ),
                )
                .hint("AWS allows a spread of at most 100 points, e.g. 90 and 190"),
            );
        }
        if let Some(w) = self.instance_warmup {
            check_range(&mut v, &attr("instance_warmup"), w.as_secs(), 0, 3600, " s");
        }
        if let Some(d) = self.checkpoint_delay {
            check_range(
                &mut v,
                &attr("checkpoint_delay"),
                d.as_secs(),
                0,
                MAX_CHECKPOINT_DELAY.as_secs(),
                " s",
            );
        }
        let cp = &self.checkpoint_percentages;
        if cp.iter().any(|p| !(1..=100).contains(p)) {
            v.push(
                Violation::new(
                    attr("checkpoint_percentages"),
                    "checkpoint percentages are from 1 to 100",
                )
                .hint("e.g. checkpoint_percentages = [20, 50, 100]"),
            );
        } else if cp.windows(2).any(|w| w[0] >= w[1]) {
            v.push(
                Violation::new(
                    attr("checkpoint_percentages"),
                    "checkpoint percentages must be unique and in ascending order",
                )
                .hint("e.g. checkpoint_percentages = [20, 50, 100]"),
            );
        }
        if self.checkpoint_delay.is_some() && cp.is_empty() {
            v.push(
                Violation::new(
                    attr("checkpoint_delay"),
                    "checkpoint_delay needs checkpoint_percentages",
                )
                .hint("add checkpoint_percentages, or remove checkpoint_delay"),
            );
        }
        v
    }

    /// The warmup a refresh waits for: its own, else the group's default instance warmup,
    /// else the group's health check grace period.
    pub fn effective_warmup(&self, group: &crate::AutoScalingGroup) -> Duration {
        self.instance_warmup
            .or(group.default_instance_warmup)
            .unwrap_or(group.health_check_grace_period)
    }
}

/// Group attributes `instance_refresh.triggers` may name, and the [`crate::AutoScalingGroup`]
/// field each one compares (empty: accepted as in Terraform, but tags are recorded only, so a
/// tag change triggers nothing).
pub const TRIGGERS: &[(&str, &str)] = &[
    ("availability_zones", "subnets"),
    ("vpc_zone_identifier", "subnets"),
    ("desired_capacity", "desired_capacity"),
    ("min_size", "min_size"),
    ("max_size", "max_size"),
    ("target_group_arns", "target_groups"),
    ("health_check_type", "health_check_type"),
    ("health_check_grace_period", "health_check_grace_period"),
    ("default_cooldown", "default_cooldown"),
    ("default_instance_warmup", "default_instance_warmup"),
    ("termination_policies", "termination_policies"),
    ("protect_from_scale_in", "protect_from_scale_in"),
    ("max_instance_lifetime", "max_instance_lifetime"),
    ("suspended_processes", "suspended_processes"),
    ("initial_lifecycle_hook", "initial_lifecycle_hooks"),
    ("warm_pool", "warm_pool"),
    ("tag", ""),
    ("tags", ""),
];

/// The group field a trigger compares, if the trigger is known.
pub fn trigger_field(name: &str) -> Option<&'static str> {
    TRIGGERS.iter().find(|(t, _)| *t == name).map(|(_, f)| *f)
}

/// The `instance_refresh` block of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRefreshSpec {
    /// `strategy`: only `Rolling` exists.
    pub strategy: String,
    pub preferences: RefreshPreferences,
    /// `triggers`: group attributes whose change also starts a refresh (a launch template
    /// change always does).
    pub triggers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_terraform_providers() {
        let p = RefreshPreferences::default();
        assert_eq!(p.min_healthy_percentage, 90);
        assert_eq!(p.max_healthy_percentage, 100);
        assert!(!p.skip_matching);
        assert_eq!(p.scale_in_protected_instances, ProtectedInstances::Ignore);
        assert!(p.validate("").is_empty());
    }

    #[test]
    fn ranges_and_checkpoints_follow_aws() {
        let p = RefreshPreferences {
            min_healthy_percentage: 101,
            ..RefreshPreferences::default()
        };
        assert_eq!(
            p.validate("preferences.")[0].attribute,
            "preferences.min_healthy_percentage"
        );
        let p = RefreshPreferences {
            min_healthy_percentage: 50,
            max_healthy_percentage: 200,
            ..RefreshPreferences::default()
        };
        assert!(p.validate("")[0].message.contains("more than 100"));
        let p = RefreshPreferences {
            checkpoint_percentages: vec![50, 20],
            ..RefreshPreferences::default()
        };
        assert!(p.validate("")[0].message.contains("ascending"));
        let p = RefreshPreferences {
            checkpoint_delay: Some(Duration::from_secs(60)),
            ..RefreshPreferences::default()
        };
        assert_eq!(p.validate("")[0].attribute, "checkpoint_delay");
    }
}
