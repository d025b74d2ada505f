//! EC2 Auto Scaling: `aws_launch_template` and `aws_autoscaling_group` (its nested features
//! are in `asg_parts`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use model::{
    AutoScalingGroup, HealthCheckType, InstanceType, LaunchTemplate, LaunchTemplateRef,
    LaunchTemplateVersion, TerminationPolicy,
};

use super::{Decode, Reader};
use crate::suggest;

const NOT_YET: &str = "not supported yet by this version of updraft";

impl Decode<'_> {
    pub(super) fn launch_template(&self) -> Option<LaunchTemplate> {
        let r = self.r;
        let instance_type = r
            .required_string("instance_type", "\"t3.micro\"")
            .and_then(|t| {
                if InstanceType::lookup(&t).is_some() {
                    return Some(t);
                }
                let candidates = InstanceType::suggestions(&t);
                let hint = suggest::did_you_mean(&t, candidates.iter().copied())
                    .unwrap_or_else(|| format!("updraft knows {}", candidates.join(", ")));
                r.error(
                    "instance_type",
                    format!("unknown instance type `{t}`"),
                    Some(hint),
                );
                None
            });
        let user_data = match r.string("user_data") {
            None if r.has("user_data") => None,
            None => Some(String::new()),
            Some(encoded) => {
                let compact: String = encoded.split_whitespace().collect();
                match STANDARD.decode(compact.as_bytes()) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => Some(text),
                        Err(_) => {
                            r.error(
                                "user_data",
                                "the decoded user_data is not UTF-8 text",
                                Some("user data is a shell script run with /bin/sh".into()),
                            );
                            None
                        }
                    },
                    Err(_) => {
                        r.error(
                            "user_data",
                            "user_data must be base64-encoded, as in Terraform",
                            Some("wrap it in base64encode(...)".into()),
                        );
                        None
                    }
                }
            }
        };
        Some(LaunchTemplate {
            key: self.inst.key.clone(),
            name: self.exported("name"),
            id: self.exported("id"),
            image_id: r.string("image_id"),
            instance_type: instance_type?,
            user_data: user_data?,
            version: 1,
        })
    }

    pub(super) fn auto_scaling_group(&self) -> Option<AutoScalingGroup> {
        let r = self.r;
        let mut ok = true;
        for block in [
            "mixed_instances_policy",
            "traffic_source",
            "instance_maintenance_policy",
        ] {
            if let Some(b) = r.blocks(block).first() {
                b.block_error(
                    format!("`{block}` is {NOT_YET}"),
                    Some(format!("remove the {block} block")),
                );
                ok = false;
            }
        }
        if r.has("launch_configuration") {
            r.error(
                "launch_configuration",
                format!("launch configurations are {NOT_YET}"),
                Some("use a launch_template block".into()),
            );
            ok = false;
        }
        if r.strings("load_balancers").is_some_and(|l| !l.is_empty()) {
            r.error(
                "load_balancers",
                "classic load balancers are not supported",
                Some("use target_group_arns with an aws_lb_target_group".into()),
            );
            ok = false;
        }

        let min_size = r.required_number("min_size", 0, 10_000).map(|n| n as u32);
        let max_size = r.required_number("max_size", 0, 10_000).map(|n| n as u32);
        // Outer None: present but invalid (reported); inner None: not set.
        let desired_capacity = if r.has("desired_capacity") {
            r.number("desired_capacity", 0, 10_000)
                .map(|n| Some(n as u32))
        } else {
            Some(None)
        };

        let (zone_attr, subnets) = self.group_subnets();
        let target_groups = match r.strings("target_group_arns") {
            Some(arns) => {
                let keys: Vec<String> = arns
                    .iter()
                    .filter_map(|a| {
                        self.index
                            .resolve(r, "target_group_arns", a, "aws_lb_target_group", "arn")
                    })
                    .collect();
                (keys.len() == arns.len()).then_some(keys)
            }
            None if r.has("target_group_arns") => None,
            None => Some(Vec::new()),
        };
        let launch_template = self.group_launch_template();
        let health_check_type = match r.string("health_check_type").as_deref() {
            None if r.has("health_check_type") => None,
            None | Some("EC2") => Some(HealthCheckType::Ec2),
            Some("ELB") => Some(HealthCheckType::Elb),
            Some(other) => {
                r.error(
                    "health_check_type",
                    format!("`{other}` health checks are not supported"),
                    Some("use \"EC2\" or \"ELB\"".into()),
                );
                None
            }
        };
        let secs = |name: &str, default: u64| -> Option<Duration> {
            if r.has(name) {
                r.number(name, 0, 86_400).map(Duration::from_secs)
            } else {
                Some(Duration::from_secs(default))
            }
        };
        let grace = secs("health_check_grace_period", 300);
        let cooldown = secs("default_cooldown", 300);
        let warmup = self.default_instance_warmup();
        let termination_policies = self.termination_policies();
        let lifetime = self.max_instance_lifetime();
        let suspended = self.suspended_processes();
        let hooks = self.initial_lifecycle_hooks();
        let warm_pool = self.warm_pool();
        let refresh = self.instance_refresh();
        let protect = if r.has("protect_from_scale_in") {
            r.bool("protect_from_scale_in")
        } else {
            Some(false)
        };

        let group = AutoScalingGroup {
            key: self.inst.key.clone(),
            name: self.exported("name"),
            min_size: min_size?,
            max_size: max_size?,
            desired_capacity: desired_capacity?,
            subnets: subnets?,
            target_groups: target_groups?,
            launch_template: launch_template?,
            health_check_type: health_check_type?,
            health_check_grace_period: grace?,
            default_cooldown: cooldown?,
            default_instance_warmup: warmup?,
            termination_policies: termination_policies?,
            protect_from_scale_in: protect?,
            max_instance_lifetime: lifetime?,
            suspended_processes: suspended?,
            initial_lifecycle_hooks: hooks?,
            warm_pool: warm_pool?,
            instance_refresh: refresh?,
        };
        for v in group.validate() {
            let attr = if v.attribute == "vpc_zone_identifier" {
                zone_attr
            } else {
                v.attribute.as_str()
            };
            r.error(attr, v.message, v.hint);
            ok = false;
        }
        ok.then_some(group)
    }

    /// Subnet keys from `vpc_zone_identifier`, or the subnets of the zones in
    /// `availability_zones`. Returns which attribute was used, for error locations.
    fn group_subnets(&self) -> (&'static str, Option<Vec<String>>) {
        let r = self.r;
        match (r.has("vpc_zone_identifier"), r.has("availability_zones")) {
            (true, true) => {
                r.error(
                    "availability_zones",
                    "use either vpc_zone_identifier or availability_zones, not both",
                    Some("keep vpc_zone_identifier".into()),
                );
                ("vpc_zone_identifier", None)
            }
            (false, true) => {
                let Some(zones) = r.strings("availability_zones") else {
                    return ("availability_zones", None);
                };
                let subnets: Vec<String> = self
                    .stack
                    .subnets
                    .values()
                    .filter(|s| zones.iter().any(|z| z == s.availability_zone.as_str()))
                    .map(|s| s.name.clone())
                    .collect();
                if subnets.is_empty() && !zones.is_empty() {
                    r.error(
                        "availability_zones",
                        format!("no aws_subnet is in {}", zones.join(", ")),
                        Some("declare an aws_subnet in those zones, or list subnets in vpc_zone_identifier".into()),
                    );
                    return ("availability_zones", None);
                }
                ("availability_zones", Some(subnets))
            }
            _ => {
                let ids = match r.strings("vpc_zone_identifier") {
                    Some(ids) => ids,
                    None if r.has("vpc_zone_identifier") => return ("vpc_zone_identifier", None),
                    None => Vec::new(),
                };
                let keys: Vec<String> = ids
                    .iter()
                    .filter_map(|id| {
                        self.index
                            .resolve(r, "vpc_zone_identifier", id, "aws_subnet", "id")
                    })
                    .collect();
                (
                    "vpc_zone_identifier",
                    (keys.len() == ids.len()).then_some(keys),
                )
            }
        }
    }

    fn group_launch_template(&self) -> Option<LaunchTemplateRef> {
        let r = self.r;
        let Some(lt) = r.block("launch_template") else {
            r.block_error(
                "an auto scaling group needs a launch_template block",
                Some("add launch_template { id = aws_launch_template.web.id }".into()),
            );
            return None;
        };
        let template = match (lt.string("id"), lt.string("name")) {
            (Some(_), Some(_)) => {
                lt.error("name", "use either id or name, not both", None);
                None
            }
            (Some(id), None) => self
                .index
                .resolve(&lt, "id", &id, "aws_launch_template", "id"),
            (None, Some(name)) => {
                self.index
                    .resolve(&lt, "name", &name, "aws_launch_template", "name")
            }
            (None, None) if lt.has("id") || lt.has("name") => None,
            (None, None) => lt.missing("id", "aws_launch_template.web.id"),
        };
        let version = launch_template_version(&lt);
        Some(LaunchTemplateRef {
            template: template?,
            version: version?,
        })
    }

    fn termination_policies(&self) -> Option<Vec<TerminationPolicy>> {
        let r = self.r;
        if !r.has("termination_policies") {
            return Some(Vec::new());
        }
        let names = r.strings("termination_policies")?;
        let mut out = Vec::new();
        for n in &names {
            match TerminationPolicy::parse(n) {
                Some(p) => out.push(p),
                None if n.starts_with("arn:aws:lambda:") => {
                    r.error(
                        "termination_policies",
                        "custom termination policies (Lambda functions) are not supported",
                        Some(format!(
                            "use the predefined policies: {}",
                            TerminationPolicy::NAMES.join(", ")
                        )),
                    );
                    return None;
                }
                None => {
                    let hint = suggest::did_you_mean(n, TerminationPolicy::NAMES.iter().copied())
                        .unwrap_or_else(|| format!("use {}", TerminationPolicy::NAMES.join(", ")));
                    r.error(
                        "termination_policies",
                        format!("unknown termination policy `{n}`"),
                        Some(hint),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }
}

/// `"$Latest"` (the default), `"$Default"` or a version number.
fn launch_template_version(lt: &Reader<'_>) -> Option<LaunchTemplateVersion> {
    match lt.string("version").as_deref() {
        None if lt.has("version") => None,
        None | Some("$Latest") => Some(LaunchTemplateVersion::Latest),
        Some("$Default") => Some(LaunchTemplateVersion::Default),
        Some(n) => match n.parse::<u32>() {
            Ok(v) if v >= 1 => Some(LaunchTemplateVersion::Number(v)),
            _ => {
                lt.error(
                    "version",
                    format!("`{n}` is not a launch template version"),
                    Some("use \"$Latest\", \"$Default\" or a version number such as 1".into()),
                );
                None
            }
        },
    }
}
