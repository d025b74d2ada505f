//! Elastic Load Balancing: `aws_lb`, `aws_lb_listener`, `aws_lb_target_group`,
//! `aws_lb_target_group_attachment`, with the Terraform AWS provider's defaults and AWS's ranges.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::validate::{Violation, check_range};

/// `load_balancer_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancerType {
    /// L7 HTTP/1.1, HTTP/2, WebSocket, gRPC.
    Application,
    /// L4 TCP/UDP/TLS.
    Network,
    /// L3 GENEVE to appliances.
    Gateway,
}

impl LoadBalancerType {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalancerType::Application => "application",
            LoadBalancerType::Network => "network",
            LoadBalancerType::Gateway => "gateway",
        }
    }
}

/// `aws_lb`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// Terraform resource name.
    pub key: String,
    /// AWS name (`name`, defaulting to the resource name).
    pub name: String,
    pub arn: String,
    pub load_balancer_type: LoadBalancerType,
    /// `internal`: AWS default false (internet-facing). Locally both bind loopback unless the
    /// operator chooses another bind address.
    pub internal: bool,
    /// Subnet resource names the load balancer has nodes in (its AZs).
    pub subnets: Vec<String>,
    /// `idle_timeout` (1–4000 s, default 60).
    pub idle_timeout: Duration,
}

/// Listener and target group protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Http,
    Https,
    Tcp,
    Tls,
    Udp,
    TcpUdp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Https => "HTTPS",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
            Protocol::Udp => "UDP",
            Protocol::TcpUdp => "TCP_UDP",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s.to_ascii_uppercase().as_str() {
            "HTTP" => Protocol::Http,
            "HTTPS" => Protocol::Https,
            "TCP" => Protocol::Tcp,
            "TLS" => Protocol::Tls,
            "UDP" => Protocol::Udp,
            "TCP_UDP" => Protocol::TcpUdp,
            _ => return None,
        })
    }
}

/// `aws_lb_listener`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub key: String,
    pub arn: String,
    /// Resource name of the load balancer.
    pub load_balancer: String,
    pub port: u16,
    pub protocol: Protocol,
    pub default_action: Action,
}

/// What a listener (or, later, a rule) does with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Action {
    /// Forward to one or several weighted target groups.
    Forward {
        target_groups: Vec<WeightedTargetGroup>,
    },
}

/// A target group in a forward action, with its weight (0–999; 1 when only one group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedTargetGroup {
    /// Resource name of the target group.
    pub target_group: String,
    pub weight: u16,
}

/// `target_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    /// Targets are instances of auto scaling groups (or attached by instance id).
    Instance,
    /// Targets are IP addresses of servers updraft did not start.
    Ip,
}

/// `aws_lb_target_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub key: String,
    pub name: String,
    pub arn: String,
    /// Traffic port.
    pub port: u16,
    pub protocol: Protocol,
    pub target_type: TargetType,
    pub health_check: HealthCheck,
    /// `deregistration_delay` (0–3600 s, default 300).
    pub deregistration_delay: Duration,
}

/// `aws_lb_target_group_attachment`: a static target (servers updraft did not start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupAttachment {
    pub key: String,
    pub target_group: String,
    /// `target_id`: an IP address for `ip` target groups.
    pub ip: IpAddr,
    /// `port`, defaulting to the target group's port.
    pub port: u16,
    /// `availability_zone`, if given.
    pub availability_zone: Option<String>,
}

/// The port health checks go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthCheckPort {
    /// `traffic-port` (the default): the port the target receives traffic on.
    TrafficPort,
    Port(u16),
}

/// The `health_check` block of a target group, with the Terraform AWS provider's defaults for
/// HTTP target groups (interval 30 s, timeout 5 s, healthy 3, unhealthy 3, matcher `200`,
/// path `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub enabled: bool,
    pub path: String,
    pub port: HealthCheckPort,
    pub protocol: Protocol,
    /// 5–300 s.
    pub interval: Duration,
    /// 2–120 s, and less than the interval.
    pub timeout: Duration,
    /// 2–10 consecutive successes.
    pub healthy_threshold: u32,
    /// 2–10 consecutive failures.
    pub unhealthy_threshold: u32,
    pub matcher: Matcher,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            enabled: true,
            path: "/".into(),
            port: HealthCheckPort::TrafficPort,
            protocol: Protocol::Http,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 3,
            unhealthy_threshold: 3,
            matcher: Matcher::default(),
        }
    }
}

impl HealthCheck {
    /// AWS's ranges for an ALB target group's health check.
    pub fn validate(&self) -> Vec<Violation> {
        let mut v = Vec::new();
        let p = "health_check";
        check_range(
            &mut v,
            &format!("{p}.interval"),
            self.interval.as_secs(),
            5,
            300,
            " s",
        );
        check_range(
            &mut v,
            &format!("{p}.timeout"),
            self.timeout.as_secs(),
            2,
            120,
            " s",
        );
        check_range(
            &mut v,
            &format!("{p}.healthy_threshold"),
            self.healthy_threshold.into(),
            2,
            10,
            "",
        );
        check_range(
            &mut v,
            &format!("{p}.unhealthy_threshold"),
            self.unhealthy_threshold.into(),
            2,
            10,
            "",
        );
        if self.timeout >= self.interval {
            v.push(
                Violation::new(
                    format!("{p}.timeout"),
                    format!(
                        "timeout ({} s) must be smaller than interval ({} s)",
                        self.timeout.as_secs(),
                        self.interval.as_secs()
                    ),
                )
                .hint("lower health_check.timeout or raise health_check.interval"),
            );
        }
        if !self.path.starts_with('/') {
            v.push(
                Violation::new(format!("{p}.path"), "the path must start with `/`")
                    .hint(format!("write \"/{}\"", self.path)),
            );
        }
        for (lo, hi) in &self.matcher.ranges {
            if *lo < 200 || *hi > 499 {
                v.push(
                    Violation::new(
                        format!("{p}.matcher"),
                        format!("HTTP codes must be within 200-499, got {lo}-{hi}"),
                    )
                    .hint("use codes such as \"200\", \"200,202\" or \"200-299\""),
                );
            }
        }
        v
    }

    /// How long it takes at worst to notice a dead target: AWS's
    /// `interval × (unhealthy_threshold − 1) + timeout`, plus one interval of phase.
    pub fn worst_case_detection(&self) -> Duration {
        self.interval * self.unhealthy_threshold + self.timeout
    }
}

/// Success codes of a health check (`matcher`): "200", "200,202", "200-299".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    /// Inclusive ranges.
    pub ranges: Vec<(u16, u16)>,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            ranges: vec![(200, 200)],
        }
    }
}

impl Matcher {
    /// Parses AWS's matcher syntax. The error says what is wrong with which part.
    pub fn parse(s: &str) -> Result<Matcher, String> {
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim) {
            let code = |t: &str| {
                t.trim()
                    .parse::<u16>()
                    .map_err(|_| format!("`{t}` is not an HTTP status code"))
            };
            let range = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(format!("range `{part}` is backwards"));
            }
            ranges.push(range);
        }
        Ok(Matcher { ranges })
    }

    pub fn matches(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_syntax() {
        let m = Matcher::parse("200,202, 300-302").unwrap();
        assert!(m.matches(200) && m.matches(202) && m.matches(301));
        assert!(!m.matches(201) && !m.matches(404));
        assert_eq!(m.to_string(), "200,202,300-302");
        assert!(Matcher::parse("2xx").is_err());
        assert!(Matcher::parse("299-200").is_err());
    }

    #[test]
    fn defaults_are_valid_and_ranges_enforced() {
        assert!(HealthCheck::default().validate().is_empty());
        let hc = HealthCheck {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            healthy_threshold: 11,
            ..HealthCheck::default()
        };
        let attrs: Vec<_> = hc.validate().into_iter().map(|v| v.attribute).collect();
        assert!(attrs.contains(&"health_check.interval".to_string()));
        assert!(attrs.contains(&"health_check.healthy_threshold".to_string()));
        assert!(attrs.contains(&"health_check.timeout".to_string()));
    }
}
