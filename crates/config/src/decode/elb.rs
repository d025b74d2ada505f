//! Elastic Load Balancing: `aws_lb`, `aws_lb_target_group`, `aws_lb_listener`,
//! `aws_lb_target_group_attachment`.

use std::net::IpAddr;
use std::time::Duration;

use model::{
    AccessLogs, Algorithm, HealthCheck, HealthCheckPort, Listener, LoadBalancer, LoadBalancerType,
    Matcher, Protocol, ProtocolVersion, Stickiness, TargetGroup, TargetGroupAttachment, TargetType,
};

use super::{Decode, Reader};

pub(super) const NOT_YET: &str = "not supported yet by this version of updraft";

/// AWS's rule for load balancer and target group names.
fn check_aws_name(r: &Reader<'_>) {
    let Some(name) = r.attr("name").and_then(|a| a.value.as_str()) else {
        return;
    };
    let ok = (1..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        r.error(
            "name",
            format!("`{name}` is not a valid name: AWS allows 1 to 32 letters, digits and hyphens, not at either end"),
            Some("shorten it or replace other characters with hyphens".into()),
        );
    }
}

fn protocol(r: &Reader<'_>, attr: &str, default: Protocol) -> Option<Protocol> {
    match r.string(attr) {
        None if r.has(attr) => None,
        None => Some(default),
        Some(p) => match Protocol::parse(&p) {
            Some(p) => Some(p),
            None => {
                r.error(
                    attr,
                    format!("unknown protocol `{p}`"),
                    Some("use HTTP or HTTPS".into()),
                );
                None
            }
        },
    }
}

impl Decode<'_> {
    pub(super) fn load_balancer(&self) -> Option<LoadBalancer> {
        let r = self.r;
        check_aws_name(r);
        let lb_type = match r.string("load_balancer_type").as_deref() {
            None | Some("application") => LoadBalancerType::Application,
            Some(t @ ("network" | "gateway")) => {
                r.error(
                    "load_balancer_type",
                    format!("`{t}` load balancers are {NOT_YET}"),
                    Some("use load_balancer_type = \"application\"".into()),
                );
                return None;
            }
            Some(other) => {
                r.error(
                    "load_balancer_type",
                    format!("unknown load balancer type `{other}`"),
                    Some("use \"application\"".into()),
                );
                return None;
            }
        };
        let internal = r.bool("internal").unwrap_or(false);
        let idle_timeout = if r.has("idle_timeout") {
            r.number("idle_timeout", 1, 4000)?
        } else {
            60
        };

        let (attr, ids) = if r.has("subnets") {
            ("subnets", r.strings("subnets")?)
        } else {
            let mappings = r.blocks("subnet_mapping");
            let ids = mappings
                .iter()
                .filter_map(|m| m.string("subnet_id"))
                .collect();
            ("subnet_mapping", ids)
        };
        let subnets: Vec<String> = ids
            .iter()
            .filter_map(|id| self.index.resolve(r, attr, id, "aws_subnet", "id"))
            .collect();
        if subnets.len() != ids.len() {
            return None;
        }
        let mut zones: Vec<_> = subnets
            .iter()
            .filter_map(|s| self.stack.subnets.get(s).map(|s| &s.availability_zone))
            .collect();
        zones.sort();
        zones.dedup();
        if zones.len() < 2 && subnets.iter().all(|s| self.stack.subnets.contains_key(s)) {
            r.error(
                attr,
                format!("an application load balancer needs subnets in at least two availability zones, got {}", zones.len()),
                Some("list subnets of two or more zones, e.g. subnets = [aws_subnet.a.id, aws_subnet.b.id]".into()),
            );
            return None;
        }
        let access_logs = match r.block("access_logs") {
            Some(al) if al.has("enabled") && al.bool("enabled")? => Some(AccessLogs {
                bucket: al.required_string("bucket", "\"access-logs\"")?,
                prefix: al.string("prefix").unwrap_or_default(),
            }),
            _ => None,
        };
        Some(LoadBalancer {
            key: self.inst.key.clone(),
            name: self.exported("name"),
            arn: self.exported("arn"),
            load_balancer_type: lb_type,
            internal,
            subnets,
            idle_timeout: Duration::from_secs(idle_timeout),
            access_logs,
        })
    }

    pub(super) fn target_group(&self) -> Option<TargetGroup> {
        let r = self.r;
        check_aws_name(r);
        let target_type = match r.string("target_type").as_deref() {
            None | Some("instance") => TargetType::Instance,
            Some("ip") => TargetType::Ip,
            Some(t @ ("lambda" | "alb")) => {
                r.error(
                    "target_type",
                    format!("`{t}` targets are {NOT_YET}"),
                    Some("use \"instance\" or \"ip\"".into()),
                );
                return None;
            }
            Some(other) => {
                r.error(
                    "target_type",
                    format!("unknown target type `{other}`"),
                    Some("use \"instance\" or \"ip\"".into()),
                );
                return None;
            }
        };
        let port = if r.has("port") {
            r.port("port")?
        } else {
            return r.missing("port", "80");
        };
        let protocol = protocol(r, "protocol", Protocol::Http)?;
        if !matches!(protocol, Protocol::Http | Protocol::Https) {
            r.error(
                "protocol",
                format!(
                    "{} target groups belong to network load balancers, which are {NOT_YET}",
                    protocol.as_str()
                ),
                Some("use protocol = \"HTTP\"".into()),
            );
            return None;
        }
        let deregistration_delay = if r.has("deregistration_delay") {
            r.number("deregistration_delay", 0, 3600)?
        } else {
            300
        };
        let protocol_version = match r.string("protocol_version") {
            None => ProtocolVersion::Http1,
            Some(v) => match ProtocolVersion::parse(&v.to_ascii_uppercase()) {
                Some(v) => v,
                None => {
                    r.error(
                        "protocol_version",
                        format!("unknown protocol version `{v}`"),
                        Some("use \"HTTP1\" (the default), \"HTTP2\" or \"GRPC\"".into()),
                    );
                    return None;
                }
            },
        };
        let algorithm = match r.string("load_balancing_algorithm_type") {
            None => Algorithm::RoundRobin,
            Some(a) => match Algorithm::parse(&a) {
                Some(a) => a,
                None => {
                    let hint = crate::suggest::did_you_mean(
                        &a,
                        [
                            "round_robin",
                            "least_outstanding_requests",
                            "weighted_random",
                        ],
                    );
                    r.error(
                        "load_balancing_algorithm_type",
                        format!("unknown algorithm `{a}`"),
                        hint.or(Some("use \"round_robin\", \"least_outstanding_requests\" or \"weighted_random\"".into())),
                    );
                    return None;
                }
            },
        };
        let slow_start = if r.has("slow_start") {
            r.number("slow_start", 0, 900)?
        } else {
            0
        };
        if (1..30).contains(&slow_start) {
            r.error(
                "slow_start",
                format!("{slow_start} s is out of range: AWS accepts 0 (off) or 30 to 900 s"),
                Some("set slow_start = 0 or between 30 and 900".into()),
            );
            return None;
        }
        if slow_start > 0 && algorithm != Algorithm::RoundRobin {
            r.error(
                "slow_start",
                format!(
                    "slow start cannot be combined with the {} algorithm",
                    algorithm.as_str()
                ),
                Some(
                    "use load_balancing_algorithm_type = \"round_robin\", or set slow_start = 0"
                        .into(),
                ),
            );
            return None;
        }
        let stickiness = match r.block("stickiness") {
            Some(st) => self.stickiness(&st)?,
            None => None,
        };
        let health_check = match r.block("health_check") {
            Some(hc) => self.health_check(&hc, protocol, protocol_version)?,
            None => HealthCheck {
                protocol,
                ..HealthCheck::for_version(protocol_version)
            },
        };
        let mut ok = true;
        for v in health_check.validate_for(protocol_version) {
            let name = v
                .attribute
                .strip_prefix("health_check.")
                .unwrap_or(&v.attribute);
            let hc = r.block("health_check");
            match &hc {
                Some(hc) => hc.error(name, v.message, v.hint),
                None => r.error(&v.attribute, v.message, v.hint),
            }
            ok = false;
        }
        ok.then(|| TargetGroup {
            key: self.inst.key.clone(),
            name: self.exported("name"),
            arn: self.exported("arn"),
            port,
            protocol,
            target_type,
            health_check,
            deregistration_delay: Duration::from_secs(deregistration_delay),
            protocol_version,
            algorithm,
            slow_start: Duration::from_secs(slow_start),
            stickiness,
        })
    }

    /// `stickiness { type, cookie_duration, cookie_name, enabled }`; `Some(None)` when disabled.
    fn stickiness(&self, st: &Reader<'_>) -> Option<Option<Stickiness>> {
        let enabled = if st.has("enabled") {
            st.bool("enabled")?
        } else {
            true
        };
        let ty = st.required_string("type", "\"lb_cookie\"")?;
        let duration = Duration::from_secs(if st.has("cookie_duration") {
            st.number("cookie_duration", 1, 604_800)?
        } else {
            86_400
        });
        let stickiness = match ty.as_str() {
            "lb_cookie" => Stickiness::LbCookie { duration },
            "app_cookie" => {
                let name = st.required_string("cookie_name", "\"session\"")?;
                let reserved = ["AWSALB", "AWSALBAPP", "AWSALBTG"]
                    .iter()
                    .any(|p| name.starts_with(p));
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
                if reserved || !valid {
                    st.error(
                        "cookie_name",
                        format!("`{name}` cannot be an application cookie name"),
                        Some("names starting with AWSALB, AWSALBAPP or AWSALBTG are reserved; use the name your application sets, e.g. \"session\"".into()),
                    );
                    return None;
                }
                Stickiness::AppCookie {
                    cookie_name: name,
                    duration,
                }
            }
            t @ ("source_ip" | "source_ip_dest_ip" | "source_ip_dest_ip_proto") => {
                st.error(
                    "type",
                    format!("`{t}` stickiness belongs to network and gateway load balancers"),
                    Some("use \"lb_cookie\" or \"app_cookie\"".into()),
                );
                return None;
            }
            other => {
                st.error(
                    "type",
                    format!("unknown stickiness type `{other}`"),
                    Some("use \"lb_cookie\" or \"app_cookie\"".into()),
                );
                return None;
            }
        };
        Some(enabled.then_some(stickiness))
    }

    fn health_check(
        &self,
        hc: &Reader<'_>,
        traffic_protocol: Protocol,
        version: ProtocolVersion,
    ) -> Option<HealthCheck> {
        let d = HealthCheck::for_version(version);
        let secs = |name: &str, default: Duration| -> Option<Duration> {
            if hc.has(name) {
                hc.number(name, 0, 86_400).map(Duration::from_secs)
            } else {
                Some(default)
            }
        };
        let count = |name: &str, default: u32| -> Option<u32> {
            if hc.has(name) {
                hc.number(name, 0, 1000).map(|n| n as u32)
            } else {
                Some(default)
            }
        };
        let port = match hc.attr("port").map(|a| &a.value) {
            None => Some(HealthCheckPort::TrafficPort),
            Some(hcl::Value::String(s)) if s == "traffic-port" => {
                Some(HealthCheckPort::TrafficPort)
            }
            Some(_) => hc.port("port").map(HealthCheckPort::Port),
        };
        let matcher = match hc.string("matcher") {
            None => Some(d.matcher.clone()),
            Some(m) => match Matcher::parse(&m) {
                Ok(m) => Some(m),
                Err(e) => {
                    hc.error(
                        "matcher",
                        e,
                        Some("use codes such as \"200\", \"200,202\" or \"200-299\"".into()),
                    );
                    None
                }
            },
        };
        let protocol = protocol(hc, "protocol", traffic_protocol);
        Some(HealthCheck {
            enabled: if hc.has("enabled") {
                hc.bool("enabled")?
            } else {
                true
            },
            path: hc.string("path").unwrap_or(d.path),
            port: port?,
            protocol: protocol?,
            interval: secs("interval", d.interval)?,
            timeout: secs("timeout", d.timeout)?,
            healthy_threshold: count("healthy_threshold", d.healthy_threshold)?,
            unhealthy_threshold: count("unhealthy_threshold", d.unhealthy_threshold)?,
            matcher: matcher?,
        })
    }

    pub(super) fn listener(&self) -> Option<Listener> {
        let r = self.r;
        let lb_arn = r.required_string("load_balancer_arn", "aws_lb.front.arn");
        let load_balancer = lb_arn.and_then(|a| {
            self.index
                .resolve(r, "load_balancer_arn", &a, "aws_lb", "arn")
        });
        let port = if r.has("port") {
            r.port("port")
        } else {
            r.missing("port", "80")
        };
        let protocol = protocol(r, "protocol", Protocol::Http);
        let action = self.actions(r, "default_action");
        Some(Listener {
            key: self.inst.key.clone(),
            arn: self.exported("arn"),
            load_balancer: load_balancer?,
            port: port?,
            protocol: protocol?,
            default_action: action?,
        })
    }

    pub(super) fn attachment(&self) -> Option<TargetGroupAttachment> {
        let r = self.r;
        let arn = r.required_string("target_group_arn", "aws_lb_target_group.web.arn");
        let target_id = r.required_string("target_id", "\"127.0.9.10\"");
        let key = self
            .index
            .resolve(r, "target_group_arn", &arn?, "aws_lb_target_group", "arn")?;
        let target_id = target_id?;
        // A target group that failed to decode has been reported already.
        let tg = self.stack.target_groups.get(&key)?;
        if tg.target_type == TargetType::Instance {
            r.error(
                "target_id",
                format!("target group `{key}` has target_type = \"instance\"; updraft starts instances only through auto scaling groups"),
                Some("for a server you run yourself use target_type = \"ip\" and its address; for instances, list the target group in an aws_autoscaling_group's target_group_arns".into()),
            );
            return None;
        }
        let Ok(ip) = target_id.parse::<IpAddr>() else {
            r.error(
                "target_id",
                format!("`{target_id}` is not an IP address, which an ip target group needs"),
                Some("write target_id = \"127.0.9.10\"".into()),
            );
            return None;
        };
        let port = if r.has("port") {
            r.port("port")?
        } else {
            tg.port
        };
        Some(TargetGroupAttachment {
            key: self.inst.key.clone(),
            target_group: key,
            ip,
            port,
            availability_zone: r.string("availability_zone"),
        })
    }
}
