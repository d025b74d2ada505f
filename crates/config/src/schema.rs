//! The attributes and nested blocks of each simulated resource type, named exactly as in the
//! Terraform AWS provider. Anything else in such a resource is an error with a suggestion.
//!
//! Listing an attribute here means updraft accepts it; whether it also acts on it is up to the
//! resource's decoder (`tags`, `vpc_id`, `security_groups`… are accepted and recorded only).
//! Nested blocks updraft does not look into are [`OPEN`]: anything goes inside them.

/// What a block may contain.
#[derive(Debug)]
pub(crate) struct Schema {
    pub attrs: &'static [&'static str],
    pub blocks: &'static [(&'static str, &'static Schema)],
    /// Accept any attribute or block (contents not inspected).
    pub open: bool,
}

const fn schema(
    attrs: &'static [&'static str],
    blocks: &'static [(&'static str, &'static Schema)],
) -> Schema {
    Schema {
        attrs,
        blocks,
        open: false,
    }
}

/// A nested block whose contents updraft accepts without looking.
pub(crate) static OPEN: Schema = Schema {
    attrs: &[],
    blocks: &[],
    open: true,
};

static TIMEOUTS: Schema = schema(&["create", "update", "delete", "read"], &[]);

static SUBNET: Schema = schema(
    &[
        "availability_zone",
        "availability_zone_id",
        "cidr_block",
        "vpc_id",
        "tags",
        "map_public_ip_on_launch",
        "assign_ipv6_address_on_creation",
        "ipv6_cidr_block",
        "ipv6_native",
        "enable_dns64",
        "enable_resource_name_dns_a_record_on_launch",
        "enable_resource_name_dns_aaaa_record_on_launch",
        "private_dns_hostname_type_on_launch",
        "customer_owned_ipv4_pool",
        "map_customer_owned_ip_on_launch",
        "outpost_arn",
        "enable_lni_at_device_index",
        "ipv4_ipam_pool_id",
        "ipv4_netmask_length",
        "ipv6_ipam_pool_id",
        "ipv6_netmask_length",
    ],
    &[("timeouts", &TIMEOUTS)],
);

static SUBNET_MAPPING: Schema = schema(
    &[
        "subnet_id",
        "allocation_id",
        "private_ipv4_address",
        "ipv6_address",
    ],
    &[],
);

static ACCESS_LOGS: Schema = schema(&["bucket", "prefix", "enabled"], &[]);

static LB: Schema = schema(
    &[
        "name",
        "name_prefix",
        "load_balancer_type",
        "internal",
        "subnets",
        "security_groups",
        "idle_timeout",
        "enable_deletion_protection",
        "enable_cross_zone_load_balancing",
        "enable_http2",
        "ip_address_type",
        "drop_invalid_header_fields",
        "preserve_host_header",
        "desync_mitigation_mode",
        "enable_waf_fail_open",
        "enable_xff_client_port",
        "xff_header_processing_mode",
        "enable_tls_version_and_cipher_suite_headers",
        "client_keep_alive",
        "customer_owned_ipv4_pool",
        "dns_record_client_routing_policy",
        "enable_zonal_shift",
        "enforce_security_group_inbound_rules_on_private_link_traffic",
        "tags",
    ],
    &[
        ("access_logs", &ACCESS_LOGS),
        ("connection_logs", &OPEN),
        ("subnet_mapping", &SUBNET_MAPPING),
        ("timeouts", &TIMEOUTS),
    ],
);

pub(crate) static HEALTH_CHECK: Schema = schema(
    &[
        "enabled",
        "path",
        "port",
        "protocol",
        "interval",
        "timeout",
        "healthy_threshold",
        "unhealthy_threshold",
        "matcher",
    ],
    &[],
);

static TG_STICKINESS: Schema = schema(&["type", "cookie_duration", "cookie_name", "enabled"], &[]);

static TARGET_GROUP: Schema = schema(
    &[
        "name",
        "name_prefix",
        "port",
        "protocol",
        "protocol_version",
        "vpc_id",
        "target_type",
        "deregistration_delay",
        "slow_start",
        "load_balancing_algorithm_type",
        "load_balancing_anomaly_mitigation",
        "load_balancing_cross_zone_enabled",
        "lambda_multi_value_headers_enabled",
        "preserve_client_ip",
        "proxy_protocol_v2",
        "connection_termination",
        "ip_address_type",
        "tags",
    ],
    &[
        ("health_check", &HEALTH_CHECK),
        ("stickiness", &TG_STICKINESS),
        ("target_failover", &OPEN),
        ("target_health_state", &OPEN),
        ("target_group_health", &OPEN),
    ],
);

static FORWARD_TARGET_GROUP: Schema = schema(&["arn", "weight"], &[]);

static FORWARD_STICKINESS: Schema = schema(&["enabled", "duration"], &[]);

static FORWARD: Schema = schema(
    &[],
    &[
        ("target_group", &FORWARD_TARGET_GROUP),
        ("stickiness", &FORWARD_STICKINESS),
    ],
);

static REDIRECT: Schema = schema(
    &["protocol", "host", "port", "path", "query", "status_code"],
    &[],
);

static FIXED_RESPONSE: Schema = schema(&["content_type", "message_body", "status_code"], &[]);

/// `default_action` of a listener and `action` of a listener rule.
static ACTION: Schema = schema(
    &["type", "target_group_arn", "order"],
    &[
        ("forward", &FORWARD),
        ("redirect", &REDIRECT),
        ("fixed_response", &FIXED_RESPONSE),
        ("authenticate_cognito", &OPEN),
        ("authenticate_oidc", &OPEN),
        ("jwt_validation", &OPEN),
    ],
);

static VALUES: Schema = schema(&["values"], &[]);
static HTTP_HEADER: Schema = schema(&["http_header_name", "values"], &[]);
static QUERY_STRING: Schema = schema(&["key", "value"], &[]);

static CONDITION: Schema = schema(
    &[],
    &[
        ("host_header", &VALUES),
        ("path_pattern", &VALUES),
        ("http_header", &HTTP_HEADER),
        ("http_request_method", &VALUES),
        ("query_string", &QUERY_STRING),
        ("source_ip", &VALUES),
    ],
);

static LISTENER_RULE: Schema = schema(
    &["listener_arn", "priority", "tags"],
    &[
        ("action", &ACTION),
        ("condition", &CONDITION),
        ("transform", &OPEN),
    ],
);

static LISTENER: Schema = schema(
    &[
        "load_balancer_arn",
        "port",
        "protocol",
        "ssl_policy",
        "certificate_arn",
        "alpn_policy",
        "tcp_idle_timeout_seconds",
        "routing_http_request_x_amzn_tls_version_header_name",
        "routing_http_response_server_enabled",
        "routing_http_response_strict_transport_security_header_value",
        "tags",
    ],
    &[
        ("default_action", &ACTION),
        ("mutual_authentication", &OPEN),
        ("timeouts", &TIMEOUTS),
    ],
);

static ATTACHMENT: Schema = schema(
    &["target_group_arn", "target_id", "port", "availability_zone"],
    &[],
);

static LAUNCH_TEMPLATE: Schema = schema(
    &[
        "name",
        "name_prefix",
        "description",
        "image_id",
        "instance_type",
        "user_data",
        "key_name",
        "vpc_security_group_ids",
        "security_group_names",
        "tags",
        "update_default_version",
        "default_version",
        "disable_api_stop",
        "disable_api_termination",
        "ebs_optimized",
        "instance_initiated_shutdown_behavior",
        "kernel_id",
        "ram_disk_id",
    ],
    &[
        ("block_device_mappings", &OPEN),
        ("capacity_reservation_specification", &OPEN),
        ("cpu_options", &OPEN),
        ("credit_specification", &OPEN),
        ("elastic_gpu_specifications", &OPEN),
        ("elastic_inference_accelerator", &OPEN),
        ("enclave_options", &OPEN),
        ("hibernation_options", &OPEN),
        ("iam_instance_profile", &OPEN),
        ("instance_market_options", &OPEN),
        ("instance_requirements", &OPEN),
        ("license_specification", &OPEN),
        ("maintenance_options", &OPEN),
        ("metadata_options", &OPEN),
        ("monitoring", &OPEN),
        ("network_interfaces", &OPEN),
        ("placement", &OPEN),
        ("private_dns_name_options", &OPEN),
        ("tag_specifications", &OPEN),
    ],
);

static ASG_LAUNCH_TEMPLATE: Schema = schema(&["id", "name", "version"], &[]);

static ASG_TAG: Schema = schema(&["key", "value", "propagate_at_launch"], &[]);

const HOOK_ATTRS: &[&str] = &[
    "name",
    "lifecycle_transition",
    "default_result",
    "heartbeat_timeout",
    "notification_metadata",
    "notification_target_arn",
    "role_arn",
];

static ASG_INITIAL_LIFECYCLE_HOOK: Schema = schema(HOOK_ATTRS, &[]);

static LIFECYCLE_HOOK: Schema = schema(
    &[
        "name",
        "autoscaling_group_name",
        "lifecycle_transition",
        "default_result",
        "heartbeat_timeout",
        "notification_metadata",
        "notification_target_arn",
        "role_arn",
    ],
    &[],
);

static WARM_POOL_REUSE: Schema = schema(&["reuse_on_scale_in"], &[]);

static ASG_WARM_POOL: Schema = schema(
    &["pool_state", "min_size", "max_group_prepared_capacity"],
    &[("instance_reuse_policy", &WARM_POOL_REUSE)],
);

static REFRESH_ALARMS: Schema = schema(&["alarms"], &[]);

static REFRESH_PREFERENCES: Schema = schema(
    &[
        "checkpoint_delay",
        "checkpoint_percentages",
        "instance_warmup",
        "min_healthy_percentage",
        "max_healthy_percentage",
        "skip_matching",
        "auto_rollback",
        "scale_in_protected_instances",
        "standby_instances",
    ],
    &[("alarm_specification", &REFRESH_ALARMS)],
);

static ASG_INSTANCE_REFRESH: Schema = schema(
    &["strategy", "triggers"],
    &[("preferences", &REFRESH_PREFERENCES)],
);

static AUTOSCALING_GROUP: Schema = schema(
    &[
        "name",
        "name_prefix",
        "min_size",
        "max_size",
        "desired_capacity",
        "desired_capacity_type",
        "vpc_zone_identifier",
        "availability_zones",
        "target_group_arns",
        "load_balancers",
        "health_check_type",
        "health_check_grace_period",
        "default_cooldown",
        "default_instance_warmup",
        "termination_policies",
        "protect_from_scale_in",
        "capacity_rebalance",
        "context",
        "enabled_metrics",
        "force_delete",
        "force_delete_warm_pool",
        "ignore_failed_scaling_activities",
        "max_instance_lifetime",
        "metrics_granularity",
        "min_elb_capacity",
        "placement_group",
        "service_linked_role_arn",
        "suspended_processes",
        "wait_for_capacity_timeout",
        "wait_for_elb_capacity",
        "launch_configuration",
    ],
    &[
        ("launch_template", &ASG_LAUNCH_TEMPLATE),
        ("tag", &ASG_TAG),
        ("timeouts", &TIMEOUTS),
        ("mixed_instances_policy", &OPEN),
        ("initial_lifecycle_hook", &ASG_INITIAL_LIFECYCLE_HOOK),
        ("instance_refresh", &ASG_INSTANCE_REFRESH),
        ("warm_pool", &ASG_WARM_POOL),
        ("instance_maintenance_policy", &OPEN),
        ("traffic_source", &OPEN),
    ],
);

static DB_INSTANCE: Schema = schema(
    &[
        "allocated_storage",
        "allow_major_version_upgrade",
        "apply_immediately",
        "auto_minor_version_upgrade",
        "availability_zone",
        "backup_retention_period",
        "backup_target",
        "backup_window",
        "ca_cert_identifier",
        "character_set_name",
        "copy_tags_to_snapshot",
        "custom_iam_instance_profile",
        "customer_owned_ip_enabled",
        "database_insights_mode",
        "db_name",
        "db_subnet_group_name",
        "dedicated_log_volume",
        "delete_automated_backups",
        "deletion_protection",
        "domain",
        "domain_auth_secret_arn",
        "domain_dns_ips",
        "domain_fqdn",
        "domain_iam_role_name",
        "domain_ou",
        "enabled_cloudwatch_logs_exports",
        "engine",
        "engine_lifecycle_support",
        "engine_version",
        "final_snapshot_identifier",
        "iam_database_authentication_enabled",
        "identifier",
        "identifier_prefix",
        "instance_class",
        "iops",
        "kms_key_id",
        "license_model",
        "maintenance_window",
        "manage_master_user_password",
        "master_user_secret_kms_key_id",
        "max_allocated_storage",
        "monitoring_interval",
        "monitoring_role_arn",
        "multi_az",
        "nchar_character_set_name",
        "network_type",
        "option_group_name",
        "parameter_group_name",
        "password",
        "password_wo",
        "password_wo_version",
        "performance_insights_enabled",
        "performance_insights_kms_key_id",
        "performance_insights_retention_period",
        "port",
        "publicly_accessible",
        "replica_mode",
        "replicate_source_db",
        "skip_final_snapshot",
        "snapshot_identifier",
        "storage_encrypted",
        "storage_throughput",
        "storage_type",
        "tags",
        "timezone",
        "upgrade_storage_config",
        "username",
        "vpc_security_group_ids",
    ],
    &[
        ("blue_green_update", &OPEN),
        ("restore_to_point_in_time", &OPEN),
        ("s3_import", &OPEN),
        ("timeouts", &TIMEOUTS),
    ],
);

static DB_SUBNET_GROUP: Schema = schema(
    &["name", "name_prefix", "description", "subnet_ids", "tags"],
    &[],
);

static STEP_ADJUSTMENT: Schema = schema(
    &[
        "scaling_adjustment",
        "metric_interval_lower_bound",
        "metric_interval_upper_bound",
    ],
    &[],
);

static METRIC_DIMENSION: Schema = schema(&["name", "value"], &[]);

static PREDEFINED_METRIC: Schema = schema(&["predefined_metric_type", "resource_label"], &[]);

static CUSTOMIZED_METRIC: Schema = schema(
    &["metric_name", "namespace", "statistic", "unit", "period"],
    &[("metric_dimension", &METRIC_DIMENSION), ("metrics", &OPEN)],
);

static TARGET_TRACKING: Schema = schema(
    &["target_value", "disable_scale_in"],
    &[
        ("predefined_metric_specification", &PREDEFINED_METRIC),
        ("customized_metric_specification", &CUSTOMIZED_METRIC),
    ],
);

static AUTOSCALING_POLICY: Schema = schema(
    &[
        "name",
        "autoscaling_group_name",
        "policy_type",
        "adjustment_type",
        "scaling_adjustment",
        "cooldown",
        "min_adjustment_magnitude",
        "estimated_instance_warmup",
        "metric_aggregation_type",
        "enabled",
    ],
    &[
        ("step_adjustment", &STEP_ADJUSTMENT),
        ("target_tracking_configuration", &TARGET_TRACKING),
        ("predictive_scaling_configuration", &OPEN),
    ],
);

static AUTOSCALING_SCHEDULE: Schema = schema(
    &[
        "scheduled_action_name",
        "autoscaling_group_name",
        "min_size",
        "max_size",
        "desired_capacity",
        "recurrence",
        "start_time",
        "end_time",
        "time_zone",
    ],
    &[],
);

static ALARM_METRIC: Schema = schema(
    &[
        "metric_name",
        "namespace",
        "period",
        "stat",
        "unit",
        "dimensions",
    ],
    &[],
);

static METRIC_QUERY: Schema = schema(
    &[
        "id",
        "expression",
        "label",
        "return_data",
        "account_id",
        "period",
    ],
    &[("metric", &ALARM_METRIC)],
);

static METRIC_ALARM: Schema = schema(
    &[
        "alarm_name",
        "alarm_description",
        "comparison_operator",
        "evaluation_periods",
        "datapoints_to_alarm",
        "metric_name",
        "namespace",
        "period",
        "statistic",
        "extended_statistic",
        "threshold",
        "threshold_metric_id",
        "unit",
        "dimensions",
        "actions_enabled",
        "alarm_actions",
        "ok_actions",
        "insufficient_data_actions",
        "treat_missing_data",
        "evaluate_low_sample_count_percentiles",
        "tags",
    ],
    &[("metric_query", &METRIC_QUERY)],
);

/// The schema of a simulated resource type (canonical name).
pub(crate) fn resource(kind: &str) -> Option<&'static Schema> {
    Some(match kind {
        "aws_subnet" => &SUBNET,
        "aws_lb" => &LB,
        "aws_lb_target_group" => &TARGET_GROUP,
        "aws_lb_listener" => &LISTENER,
        "aws_lb_listener_rule" => &LISTENER_RULE,
        "aws_lb_target_group_attachment" => &ATTACHMENT,
        "aws_launch_template" => &LAUNCH_TEMPLATE,
        "aws_autoscaling_group" => &AUTOSCALING_GROUP,
        "aws_db_subnet_group" => &DB_SUBNET_GROUP,
        "aws_db_instance" => &DB_INSTANCE,
        "aws_autoscaling_lifecycle_hook" => &LIFECYCLE_HOOK,
        "aws_autoscaling_policy" => &AUTOSCALING_POLICY,
        "aws_autoscaling_schedule" => &AUTOSCALING_SCHEDULE,
        "aws_cloudwatch_metric_alarm" => &METRIC_ALARM,
        _ => return None,
    })
}

impl Schema {
    pub fn block(&self, name: &str) -> Option<&'static Schema> {
        self.blocks
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
    }

    pub fn has_attr(&self, name: &str) -> bool {
        self.open || self.attrs.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_simulated_type_has_a_schema() {
        for kind in crate::kinds::SIMULATED {
            assert!(resource(kind).is_some(), "{kind}");
        }
        let tg = resource("aws_lb_target_group").unwrap();
        assert!(tg.has_attr("deregistration_delay"));
        assert!(tg.block("health_check").unwrap().has_attr("matcher"));
        assert!(OPEN.has_attr("anything"));
    }
}
