//! The attributes AWS computes (ids, ARNs, default names, `latest_version`), made up locally and
//! deterministically from the resource's type and key, so that the same configuration always
//! yields the same ids and other resources can refer to them (`aws_lb_target_group.web.arn`).
//!
//! The account id in every ARN is `000000000000`: there is no account locally. The suffix hashes
//! are FNV-1a over `type.key`, stable across runs, platforms and versions.

use hcl::Value;

use crate::kinds::{self, Support};

const ACCOUNT: &str = "000000000000";

/// FNV-1a, 64 bits: tiny, stable and good enough to tell resources apart.
pub(crate) fn fnv1a(data: &str, seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in data.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hex16(kind: &str, key: &str) -> String {
    format!("{:016x}", fnv1a(&format!("{kind}.{key}"), 0))
}

/// 17 hex digits, like EC2 ids (`lt-0123456789abcdef0`).
fn hex17(kind: &str, key: &str) -> String {
    let hi = fnv1a(&format!("{kind}.{key}"), 1) & 0xf;
    format!("{hi:x}{}", hex16(kind, key))
}

/// The key as it may appear inside an id: `public[0]` → `public-0`, `public["a"]` → `public-a`.
pub(crate) fn slug(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// An AWS-valid default name for load balancers and target groups: letters, digits and hyphens,
/// at most 32 characters.
fn aws_name(key: &str) -> String {
    let s: String = slug(key).replace('_', "-").chars().take(32).collect();
    s.trim_matches('-').to_owned()
}

fn user_string(user: &hcl::Map<String, Value>, attr: &str) -> Option<String> {
    match user.get(attr) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `name`, else `name_prefix` plus a stable suffix, else a name derived from the key.
fn name_or_prefix(user: &hcl::Map<String, Value>, kind: &str, key: &str, aws: bool) -> String {
    if let Some(n) = user_string(user, "name") {
        return n;
    }
    if let Some(p) = user_string(user, "name_prefix") {
        return format!("{p}{}", &hex16(kind, key)[..10]);
    }
    if aws { aws_name(key) } else { slug(key) }
}

/// The attributes of `kind` (canonical) that updraft computes for the instance `key`, given the
/// attributes the user set. They are added to (and take precedence over) the user's attributes
/// in what other resources see.
pub(crate) fn computed(
    kind: &str,
    key: &str,
    user: &hcl::Map<String, Value>,
    region: &str,
) -> Vec<(&'static str, Value)> {
    let elb = format!("arn:aws:elasticloadbalancing:{region}:{ACCOUNT}");
    let hash = hex16(kind, key);
    match kind {
        "aws_subnet" => {
            let id = format!("subnet-{}", slug(key));
            vec![
                (
                    "arn",
                    format!("arn:aws:ec2:{region}:{ACCOUNT}:subnet/{id}").into(),
                ),
                ("id", id.into()),
            ]
        }
        "aws_lb" => {
            let name = name_or_prefix(user, kind, key, true);
            let prefix = match user_string(user, "load_balancer_type").as_deref() {
                Some("network") => "net",
                Some("gateway") => "gwy",
                _ => "app",
            };
            let suffix = format!("{prefix}/{name}/{hash}");
            let arn = format!("{elb}:loadbalancer/{suffix}");
            vec![
                ("arn", arn.clone().into()),
                ("arn_suffix", suffix.into()),
                // `.localhost` names resolve to loopback (RFC 6761), where the listeners are.
                ("dns_name", format!("{name}.elb.localhost").into()),
                ("id", arn.into()),
                ("name", name.into()),
                ("zone_id", "Z0UPDRAFTLOCAL".into()),
            ]
        }
        "aws_lb_target_group" => {
            let name = name_or_prefix(user, kind, key, true);
            let suffix = format!("targetgroup/{name}/{hash}");
            let arn = format!("{elb}:{suffix}");
            vec![
                ("arn", arn.clone().into()),
                ("arn_suffix", suffix.into()),
                ("id", arn.into()),
                ("name", name.into()),
            ]
        }
        "aws_lb_listener" => {
            // listener/app/<lb name>/<lb hash>/<listener hash>, from the load balancer's ARN.
            let lb = user_string(user, "load_balancer_arn")
                .and_then(|a| a.split_once(":loadbalancer/").map(|(_, s)| s.to_owned()))
                .unwrap_or_else(|| "app/unknown/0000000000000000".into());
            let arn = format!("{elb}:listener/{lb}/{hash}");
            vec![("arn", arn.clone().into()), ("id", arn.into())]
        }
        "aws_lb_target_group_attachment" => vec![("id", format!("tga-{hash}").into())],
        "aws_launch_template" => {
            let id = format!("lt-{}", hex17(kind, key));
            vec![
                (
                    "arn",
                    format!("arn:aws:ec2:{region}:{ACCOUNT}:launch-template/{id}").into(),
                ),
                ("default_version", 1.into()),
                ("id", id.into()),
                ("latest_version", 1.into()),
                ("name", name_or_prefix(user, kind, key, false).into()),
            ]
        }
        "aws_autoscaling_group" => {
            let name = name_or_prefix(user, kind, key, false);
            let h2 = format!("{:016x}", fnv1a(&format!("{kind}.{key}"), 2));
            let uuid = format!(
                "{}-{}-{}-{}-{}",
                &hash[..8],
                &hash[8..12],
                &hash[12..16],
                &h2[..4],
                &h2[4..16]
            );
            vec![
                (
                    "arn",
                    format!(
                        "arn:aws:autoscaling:{region}:{ACCOUNT}:autoScalingGroup:{uuid}:\
                         autoScalingGroupName/{name}"
                    )
                    .into(),
                ),
                ("id", name.clone().into()),
                ("name", name.into()),
            ]
        }
        "aws_db_subnet_group" => {
            let name = name_or_prefix(user, kind, key, false)
                .to_ascii_lowercase()
                .replace('_', "-");
            vec![
                (
                    "arn",
                    format!("arn:aws:rds:{region}:{ACCOUNT}:subgrp:{name}").into(),
                ),
                ("id", name.clone().into()),
                ("name", name.into()),
            ]
        }
        "aws_db_instance" => {
            // RDS identifiers are lowercase letters, digits and hyphens.
            let identifier = match user_string(user, "identifier") {
                Some(i) => i,
                None => match user_string(user, "identifier_prefix") {
                    Some(p) => format!("{p}{}", &hash[..10]),
                    None => slug(key).to_ascii_lowercase().replace('_', "-"),
                },
            };
            let replica = user_string(user, "replicate_source_db").is_some();
            let host = if replica {
                model::database::READER_HOST
            } else {
                model::database::WRITER_HOST
            };
            let port = match user.get("port") {
                Some(Value::Number(n)) => n
                    .as_u64()
                    .filter(|p| (1..=65535).contains(p))
                    .unwrap_or(u64::from(model::database::DEFAULT_PORT)),
                Some(Value::String(s)) => s
                    .parse::<u64>()
                    .ok()
                    .filter(|p| (1..=65535).contains(p))
                    .unwrap_or(u64::from(model::database::DEFAULT_PORT)),
                _ => u64::from(model::database::DEFAULT_PORT),
            };
            let address = host.to_string();
            vec![
                ("address", address.clone().into()),
                (
                    "arn",
                    format!("arn:aws:rds:{region}:{ACCOUNT}:db:{identifier}").into(),
                ),
                ("endpoint", format!("{address}:{port}").into()),
                ("hosted_zone_id", "Z0UPDRAFTLOCAL".into()),
                ("id", identifier.clone().into()),
                ("identifier", identifier.into()),
                ("port", port.into()),
                (
                    "resource_id",
                    format!("db-{}", hash[..16].to_ascii_uppercase()).into(),
                ),
                ("status", "available".into()),
            ]
        }
        // Terraform's id is the hook name, unique only within its group.
        "aws_autoscaling_lifecycle_hook" => {
            let name = user_string(user, "name").unwrap_or_else(|| slug(key));
            vec![("id", name.clone().into()), ("name", name.into())]
        }
        other => {
            let name = user_string(user, "name").unwrap_or_else(|| slug(key));
            let id = match kinds::support(other) {
                Some(Support::Recorded { id_prefix, .. }) if !id_prefix.is_empty() => {
                    format!("{id_prefix}-{}", slug(key))
                }
                _ => name.clone(),
            };
            let arn = format!(
                "arn:aws:{}:{region}:{ACCOUNT}:{}/{}",
                other
                    .trim_start_matches("aws_")
                    .split('_')
                    .next()
                    .unwrap_or("updraft"),
                other.trim_start_matches("aws_"),
                slug(key)
            );
            vec![
                ("arn", arn.into()),
                ("id", id.into()),
                ("name", name.into()),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(kind: &str, key: &str, user: &[(&str, &str)]) -> hcl::Map<String, Value> {
        let user: hcl::Map<String, Value> = user
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        computed(kind, key, &user, "eu-west-3")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    fn s<'a>(m: &'a hcl::Map<String, Value>, k: &str) -> &'a str {
        m[k].as_str().unwrap()
    }

    #[test]
    fn ids_are_deterministic_and_readable() {
        assert_eq!(slug("public[0]"), "public-0");
        assert_eq!(slug("public[\"eu-west-3a\"]"), "public-eu-west-3a");
        let a = attrs("aws_subnet", "public[0]", &[]);
        assert_eq!(s(&a, "id"), "subnet-public-0");
        let tg = attrs("aws_lb_target_group", "web_tg", &[]);
        assert_eq!(s(&tg, "name"), "web-tg");
        let arn = s(&tg, "arn");
        assert!(arn.starts_with(
            "arn:aws:elasticloadbalancing:eu-west-3:000000000000:targetgroup/web-tg/"
        ));
        assert_eq!(arn.rsplit('/').next().unwrap().len(), 16);
        assert_eq!(attrs("aws_lb_target_group", "web_tg", &[]), tg);
        assert_ne!(s(&attrs("aws_lb_target_group", "api", &[]), "arn"), arn);
    }

    #[test]
    fn listener_arns_extend_their_load_balancer() {
        let lb = attrs("aws_lb", "front", &[("name", "front-alb")]);
        assert!(s(&lb, "arn").contains(":loadbalancer/app/front-alb/"));
        let l = attrs(
            "aws_lb_listener",
            "http",
            &[("load_balancer_arn", s(&lb, "arn"))],
        );
        let lb_suffix = s(&lb, "arn").split_once(":loadbalancer/").unwrap().1;
        assert!(s(&l, "arn").contains(&format!(":listener/{lb_suffix}/")));
    }

    #[test]
    fn databases_point_at_their_endpoints() {
        let db = attrs("aws_db_instance", "main_db", &[]);
        assert_eq!(s(&db, "identifier"), "main-db");
        assert_eq!(s(&db, "endpoint"), "127.0.0.2:5432");
        assert_eq!(s(&db, "address"), "127.0.0.2");
        assert_eq!(db["port"], Value::from(5432));
        let replica = attrs(
            "aws_db_instance",
            "replica",
            &[("replicate_source_db", "main-db"), ("port", "6543")],
        );
        assert_eq!(s(&replica, "endpoint"), "127.0.0.3:6543");
        let group = attrs("aws_db_subnet_group", "Main_Group", &[]);
        assert_eq!(s(&group, "name"), "main-group");
    }

    #[test]
    fn launch_templates_and_groups() {
        let lt = attrs("aws_launch_template", "web", &[("name_prefix", "web-")]);
        let id = s(&lt, "id");
        assert!(id.starts_with("lt-") && id.len() == 20, "{id}");
        assert!(s(&lt, "name").starts_with("web-") && s(&lt, "name").len() == 14);
        assert_eq!(lt["latest_version"], Value::from(1));
        let asg = attrs("aws_autoscaling_group", "web", &[]);
        assert_eq!(s(&asg, "id"), "web");
        assert!(s(&asg, "arn").ends_with(":autoScalingGroupName/web"));
        let vpc = attrs("aws_vpc", "main", &[]);
        assert_eq!(s(&vpc, "id"), "vpc-main");
        let role = attrs("aws_iam_role", "app", &[("name", "app-role")]);
        assert_eq!(s(&role, "id"), "app-role");
    }
}
