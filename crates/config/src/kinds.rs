//! The resource types updraft knows, and what it does with each: simulate it, record it (accepted
//! for compatibility with AWS Terraform, not simulated), or reject it as not supported yet.
//!
//! Anything else is an unknown type: an error that suggests the closest known type or says what
//! to write instead (`aws_instance` → an auto scaling group of one).

use crate::suggest;

/// What updraft does with a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// Mapped onto a `model` type and run.
    Simulated,
    /// Accepted and listed in `Stack::recorded` with this note; only AWS needs it.
    Recorded {
        note: &'static str,
        id_prefix: &'static str,
    },
    /// Planned; rejected with a "not supported yet" error so the user knows it is not ignored.
    Later,
}

/// The types that become model resources, in decoding order.
pub(crate) const SIMULATED: &[&str] = &[
    "aws_subnet",
    "aws_lb",
    "aws_lb_target_group",
    "aws_lb_listener",
    "aws_lb_listener_rule",
    "aws_lb_target_group_attachment",
    "aws_launch_template",
    "aws_autoscaling_group",
    "aws_db_subnet_group",
    "aws_db_instance",
    "aws_autoscaling_lifecycle_hook",
    "aws_autoscaling_policy",
    "aws_autoscaling_schedule",
    "aws_cloudwatch_metric_alarm",
];

const NETWORK: &str = "AWS networking: locally every subnet lives on loopback";
const FILTERING: &str = "security groups filter AWS traffic: locally everything binds loopback";
const ROUTING: &str = "routing is AWS-only: loopback needs no gateways or routes";
const IAM: &str = "IAM is not enforced locally";

const RECORDED: &[(&str, &str, &str)] = &[
    ("aws_vpc", NETWORK, "vpc"),
    ("aws_security_group", FILTERING, "sg"),
    ("aws_security_group_rule", FILTERING, "sgrule"),
    ("aws_vpc_security_group_ingress_rule", FILTERING, "sgr"),
    ("aws_vpc_security_group_egress_rule", FILTERING, "sgr"),
    ("aws_internet_gateway", ROUTING, "igw"),
    ("aws_nat_gateway", ROUTING, "nat"),
    (
        "aws_eip",
        "Elastic IPs are AWS public addresses: load balancers listen on loopback",
        "eipalloc",
    ),
    ("aws_route_table", ROUTING, "rtb"),
    ("aws_route_table_association", ROUTING, "rtbassoc"),
    ("aws_route", ROUTING, "r"),
    (
        "aws_key_pair",
        "there is no SSH into local instances: their output is in updraft's logs",
        "key",
    ),
    ("aws_iam_role", IAM, ""),
    ("aws_iam_instance_profile", IAM, ""),
    ("aws_iam_role_policy_attachment", IAM, ""),
    ("aws_iam_policy", IAM, ""),
    (
        "aws_cloudwatch_log_group",
        "instance output goes to updraft's own logs",
        "",
    ),
    ("aws_s3_bucket", "S3 is not simulated", ""),
    (
        "aws_acm_certificate",
        "ACM certificates are recorded only: updraft does not issue or validate them",
        "",
    ),
];

const LATER: &[&str] = &[
    "aws_elasticache_replication_group",
    "aws_cloudfront_distribution",
    "aws_wafv2_web_acl",
];

/// The Terraform AWS provider's `aws_alb*` aliases of the `aws_lb*` types.
const ALIASES: &[(&str, &str)] = &[
    ("aws_alb", "aws_lb"),
    ("aws_alb_listener", "aws_lb_listener"),
    ("aws_alb_listener_rule", "aws_lb_listener_rule"),
    ("aws_alb_target_group", "aws_lb_target_group"),
    (
        "aws_alb_target_group_attachment",
        "aws_lb_target_group_attachment",
    ),
];

/// Resolves provider aliases: `aws_alb` is `aws_lb`.
pub(crate) fn canonical(kind: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == kind)
        .map_or(kind, |(_, real)| real)
}

/// How updraft treats `kind`; `None` for unknown types.
pub(crate) fn support(kind: &str) -> Option<Support> {
    let kind = canonical(kind);
    if SIMULATED.contains(&kind) {
        return Some(Support::Simulated);
    }
    if LATER.contains(&kind) {
        return Some(Support::Later);
    }
    RECORDED
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, note, id_prefix)| Support::Recorded { note, id_prefix })
}

fn known() -> impl Iterator<Item = &'static str> {
    SIMULATED
        .iter()
        .copied()
        .chain(LATER.iter().copied())
        .chain(RECORDED.iter().map(|(k, _, _)| *k))
        .chain(ALIASES.iter().map(|(a, _)| *a))
}

/// What to tell someone who wrote an unknown resource type.
pub(crate) fn unknown_type_hint(kind: &str) -> String {
    match kind {
        "aws_instance" => {
            "run instances through an aws_autoscaling_group with min_size = max_size = 1".into()
        }
        "aws_launch_configuration" => {
            "use an aws_launch_template (AWS has deprecated launch configurations)".into()
        }
        "aws_elb" => "classic load balancers are not supported: use an aws_lb".into(),
        "aws_rds_cluster" | "aws_rds_cluster_instance" => {
            "Aurora clusters are not supported: an aws_db_instance with multi_az = true and read \
             replicas (replicate_source_db) gives a writer and a reader endpoint"
                .into()
        }
        "aws_db_parameter_group" | "aws_db_option_group" => {
            "parameter and option groups are not supported: updraft configures PostgreSQL itself; \
             remove it (and parameter_group_name)"
                .into()
        }
        "aws_autoscaling_attachment" => {
            "list the target group in the group's target_group_arns instead".into()
        }
        _ => suggest::did_you_mean(kind, known()).unwrap_or_else(|| {
            format!(
                "updraft runs the web tier; it simulates {} and records networking, IAM and \
                 logging resources",
                SIMULATED.join(", ")
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_type_has_a_support_level() {
        assert_eq!(support("aws_lb"), Some(Support::Simulated));
        assert_eq!(support("aws_alb"), Some(Support::Simulated));
        assert_eq!(support("aws_db_instance"), Some(Support::Simulated));
        assert_eq!(support("aws_cloudfront_distribution"), Some(Support::Later));
        assert!(matches!(
            support("aws_vpc"),
            Some(Support::Recorded {
                id_prefix: "vpc",
                ..
            })
        ));
        assert_eq!(support("aws_instance"), None);
    }

    #[test]
    fn unknown_types_get_a_way_forward() {
        assert!(unknown_type_hint("aws_instance").contains("min_size = max_size = 1"));
        assert_eq!(
            unknown_type_hint("aws_subnett"),
            "did you mean `aws_subnet`?"
        );
        assert!(unknown_type_hint("aws_ecs_service").contains("aws_autoscaling_group"));
    }
}
