//! Fixtures for unit tests.

use std::net::Ipv4Addr;
use std::time::Duration;

use model::{
    AutoScalingGroup, AvailabilityZone, HealthCheckType, InstanceId, LaunchTemplateRef,
    LaunchTemplateVersion, LifecycleState, TerminationPolicy, Timestamp,
};

use crate::fleet::InstanceRecord;

pub fn group(key: &str) -> AutoScalingGroup {
    AutoScalingGroup {
        key: key.into(),
        name: key.into(),
        min_size: 1,
        max_size: 4,
        desired_capacity: Some(2),
        subnets: vec!["a".into(), "b".into()],
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

pub fn instance(bits: u128, group: &str, lifecycle: LifecycleState) -> InstanceRecord {
    InstanceRecord {
        id: InstanceId::from_bits(bits),
        group: group.into(),
        availability_zone: AvailabilityZone::new("us-east-1a"),
        subnet: "a".into(),
        host: Ipv4Addr::new(127, 0, 1, (bits % 200) as u8 + 2),
        port: 8080,
        lifecycle,
        launched_at: Timestamp::from_secs(1_000 + bits as i64),
        in_service_at: None,
        terminating_at: None,
        terminated_at: None,
        launch_template_version: 1,
        protected_from_scale_in: false,
        process: None,
        ever_healthy: false,
        exit_detail: None,
        log_tail: vec![],
        lifecycle_actions: vec![],
        booted: false,
        to_warm_pool: false,
    }
}
