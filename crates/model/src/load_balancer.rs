//! Elastic Load Balancing: `aws_lb`, `aws_lb_listener`, `aws_lb_target_group`,
//! `aws_lb_target_group_attachment`, with the Terraform AWS provider's defaults and AWS's ranges.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::listener_rule::Action;
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
    /// `access_logs { bucket, prefix, enabled }`; `None` when absent or disabled (the default).
    #[serde(default)]
    pub access_logs: Option<AccessLogs>,
}

/// Where ALB writes access logs. Locally the S3 bucket is a directory: `bucket` is taken as a
/// path (absolute, or relative to the directory `updraft up` runs in), and the log file goes
/// to `<bucket>/<prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/<name>.log`, one line
/// per request in ALB's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogs {
    pub bucket: String,
    pub prefix: String,
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
    /// `protocol_version`: how the load balancer talks to targets (default HTTP1).
    #[serde(default)]
    pub protocol_version: ProtocolVersion,
    /// `load_balancing_algorithm_type` (default round_robin).
    #[serde(default)]
    pub algorithm: Algorithm,
    /// `slow_start`: linear ramp of a newly healthy target's share (0 = off, or 30–900 s).
    #[serde(default)]
    pub slow_start: Duration,
    /// `stickiness { type, cookie_duration, cookie_name, enabled }` when enabled.
    #[serde(default)]
    pub stickiness: Option<Stickiness>,
}

/// `protocol_version` of a target group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProtocolVersion {
    /// HTTP/1.1 to targets (requests from HTTP/2 clients are translated).
    #[default]
    Http1,
    /// HTTP/2 to targets (h2c here: no TLS to targets yet).
    Http2,
    /// gRPC: HTTP/2 to targets, trailers passed through; the health check matcher is a gRPC
    /// status code (default 12).
    Grpc,
}

impl ProtocolVersion {
    pub fn parse(s: &str) -> Option<ProtocolVersion> {
        match s {
            "HTTP1" => Some(ProtocolVersion::Http1),
            "HTTP2" => Some(ProtocolVersion::Http2),
            "GRPC" => Some(ProtocolVersion::Grpc),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::Http1 => "HTTP1",
            ProtocolVersion::Http2 => "HTTP2",
            ProtocolVersion::Grpc => "GRPC",
        }
    }
}

/// `load_balancing_algorithm_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    #[default]
    RoundRobin,
    /// The target with the fewest requests in flight (ties broken in turn).
    LeastOutstandingRequests,
    /// A random target, weighted (all weights equal here: ALB's anomaly mitigation is off).
    WeightedRandom,
}

impl Algorithm {
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "round_robin" => Some(Algorithm::RoundRobin),
            "least_outstanding_requests" => Some(Algorithm::LeastOutstandingRequests),
            "weighted_random" => Some(Algorithm::WeightedRandom),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::LeastOutstandingRequests => "least_outstanding_requests",
            Algorithm::WeightedRandom => "weighted_random",
        }
    }
}

/// Target stickiness of a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Stickiness {
    /// The load balancer's own cookie `AWSALB` names the target (opaque and signed).
    LbCookie { duration: Duration },
    /// Follows the application's cookie `cookie_name`: while the client sends it, the load
    /// balancer's `AWSALBAPP-0` cookie keeps it on the target that set it.
    AppCookie {
        cookie_name: String,
        duration: Duration,
    },
}

impl Stickiness {
    pub fn duration(&self) -> Duration {
        match self {
            Stickiness::LbCookie { duration } | Stickiness::AppCookie { duration, .. } => *duration,
        }
    }
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
    /// The defaults for a target group of this protocol version: gRPC target groups check
    /// `/AWS.ALB/healthcheck` and expect gRPC status 12 (UNIMPLEMENTED), as ALB does.
    pub fn for_version(version: ProtocolVersion) -> HealthCheck {
        match version {
            ProtocolVersion::Grpc => HealthCheck {
                path: "/AWS.ALB/healthcheck".into(),
                matcher: Matcher {
                    ranges: vec![(12, 12)],
                },
                ..HealthCheck::default()
            },
            _ => HealthCheck::default(),
        }
    }

    /// AWS's ranges for an ALB target group's health check.
    pub fn validate(&self) -> Vec<Violation> {
        self.validate_for(ProtocolVersion::Http1)
    }

    /// [`HealthCheck::validate`] for a target group of `version` (gRPC codes are 0–99).
    pub fn validate_for(&self, version: ProtocolVersion) -> Vec<Violation> {
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
        let (min, max, what, hint) = match version {
            ProtocolVersion::Grpc => (
                0,
                99,
                "gRPC codes",
                "use gRPC codes such as \"12\" or \"0-99\"",
            ),
            _ => (
                200,
                499,
                "HTTP codes",
                "use codes such as \"200\", \"200,202\" or \"200-299\"",
            ),
        };
        for (lo, hi) in &self.matcher.ranges {
            if *lo < min || *hi > max {
                v.push(
                    Violation::new(
                        format!("{p}.matcher"),
                        format!("{what} must be within {min}-{max}, got {lo}-{hi}"),
                    )
                    .hint(hint),
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
