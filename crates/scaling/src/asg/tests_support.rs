//! Shared test fixtures: a group spec over three zones.

use std::time::Duration;

use model::{
    AutoScalingGroup, HealthCheckType, LaunchTemplateRef, LaunchTemplateVersion, TerminationPolicy,
};

use crate::fleet::Fleet;

/// Group `web` over subnets a, b, c with a target group, ELB health checks, 30 s grace.
pub fn spec(min: u32, max: u32, desired: u32) -> AutoScalingGroup {
    AutoScalingGroup {
        key: "web".into(),
        name: "web".into(),
        min_size: min,
        max_size: max,
        desired_capacity: Some(desired),
        subnets: vec!["a".into(), "b".into(), "c".into()],
        target_groups: vec!["web".into()],
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

/// A fleet of `spec` over zones a, b, c.
pub fn fleet(spec: AutoScalingGroup) -> Fleet {
    Fleet::new(spec, Fleet::zones("abc"))
}
