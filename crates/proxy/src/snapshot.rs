//! What the control plane wants served: plain data, cheap to clone, no runtime handles inside.
//!
//! The control plane builds a [`Snapshot`] from its desired state and hands it to
//! `DataPlane::apply`; [`Snapshot::validate`] is the one place that decides whether the data
//! plane can serve it, so that `apply` either takes a snapshot whole or not at all.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use model::{Action, AvailabilityZone, ListenerRule, Protocol};

use crate::ApplyError;
use crate::fault::FaultConfig;

/// Everything the data plane serves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub listeners: Vec<ListenerConfig>,
    pub target_groups: Vec<TargetGroupConfig>,
    /// Faults a failure drill injects on the path to target groups (see `crate::fault`).
    pub faults: Vec<FaultConfig>,
}

/// One listener (`aws_lb_listener`) with the address it binds.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerConfig {
    /// The model `Listener` key; unique in a snapshot.
    pub key: String,
    /// Resource name of the load balancer the listener belongs to.
    pub load_balancer: String,
    /// The load balancer's `arn_suffix` (`app/<name>/<id>`): the `LoadBalancer` dimension of
    /// its CloudWatch metrics.
    pub load_balancer_arn_suffix: String,
    /// Where to listen. Port 0 picks a free port (see `DataPlane::listener_addrs`).
    pub bind: SocketAddr,
    pub protocol: Protocol,
    pub default_action: Action,
    /// The listener's rules (`aws_lb_listener_rule`), in any order: priorities decide.
    pub rules: Vec<ListenerRule>,
    /// The load balancer's `idle_timeout`: a client connection idle this long is closed, and a
    /// target silent this long gets the request answered with 504.
    pub idle_timeout: Duration,
    /// Where to append access log lines (ALB format), if the load balancer logs.
    pub access_log: Option<std::path::PathBuf>,
}

impl ListenerConfig {
    /// Every action of the listener: the rules' and the default.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.rules
            .iter()
            .map(|r| &r.action)
            .chain([&self.default_action])
    }
}

/// A target group with its registered targets.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetGroupConfig {
    pub spec: model::TargetGroup,
    pub targets: Vec<TargetConfig>,
}

/// One registered target.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetConfig {
    /// Instance id, or "ip:port" for `ip` target groups; unique within its target group.
    pub id: String,
    /// Where requests and health checks go.
    pub addr: SocketAddr,
    pub availability_zone: Option<AvailabilityZone>,
    /// Deregistering: no new requests, not health-checked, in-flight requests finish.
    pub draining: bool,
}

impl Snapshot {
    /// Checks that the data plane can serve this snapshot: unique keys, forward actions that name
    /// target groups present here, and only protocols the data plane speaks (HTTP for now).
    pub fn validate(&self) -> Result<(), ApplyError> {
        let mut groups = HashSet::new();
        for tg in &self.target_groups {
            let key = &tg.spec.key;
            if !groups.insert(key.as_str()) {
                return Err(duplicate("target group", key));
            }
            if tg.spec.protocol != Protocol::Http {
                return Err(ApplyError::UnsupportedProtocol {
                    resource: format!("target group `{key}`"),
                    protocol: tg.spec.protocol,
                });
            }
            let hc = &tg.spec.health_check;
            if hc.enabled && !matches!(hc.protocol, Protocol::Http | Protocol::Tcp) {
                return Err(ApplyError::UnsupportedProtocol {
                    resource: format!("health check of target group `{key}`"),
                    protocol: hc.protocol,
                });
            }
            let mut ids = HashSet::new();
            for t in &tg.targets {
                if !ids.insert(t.id.as_str()) {
                    return Err(duplicate("target", &format!("{key}/{}", t.id)));
                }
            }
        }
        for f in &self.faults {
            if !groups.contains(f.target_group.as_str()) {
                return Err(ApplyError::UnknownFaultTarget {
                    fault: f.id.clone(),
                    target_group: f.target_group.clone(),
                });
            }
        }
        let mut keys = HashSet::new();
        let mut binds = HashSet::new();
        for l in &self.listeners {
            if !keys.insert(l.key.as_str()) {
                return Err(duplicate("listener", &l.key));
            }
            // Port 0 asks the kernel for a fresh port each time, so it never collides.
            if l.bind.port() != 0 && !binds.insert(l.bind) {
                return Err(duplicate("listener address", &l.bind.to_string()));
            }
            if l.protocol != Protocol::Http {
                return Err(ApplyError::UnsupportedProtocol {
                    resource: format!("listener `{}`", l.key),
                    protocol: l.protocol,
                });
            }
            for action in l.actions() {
                let Action::Forward { target_groups, .. } = action else {
                    continue;
                };
                if target_groups.is_empty() {
                    return Err(ApplyError::EmptyForward {
                        listener: l.key.clone(),
                    });
                }
                for w in target_groups {
                    if !groups.contains(w.target_group.as_str()) {
                        return Err(ApplyError::UnknownTargetGroup {
                            listener: l.key.clone(),
                            target_group: w.target_group.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Target groups that some listener forwards to; the others' targets are `unused`.
    pub(crate) fn used_target_groups(&self) -> HashSet<&str> {
        self.listeners
            .iter()
            .flat_map(ListenerConfig::actions)
            .flat_map(|a| a.target_groups().iter().map(|w| w.target_group.as_str()))
            .collect()
    }
}

fn duplicate(kind: &'static str, key: &str) -> ApplyError {
    ApplyError::Duplicate {
        kind,
        key: key.to_owned(),
    }
}

/// Builders for tests in this crate.
#[cfg(test)]
pub(crate) mod fixtures {
    use model::{HealthCheck, TargetType, WeightedTargetGroup};

    use super::*;

    pub(crate) fn group(key: &str, targets: &[(&str, &str)]) -> TargetGroupConfig {
        TargetGroupConfig {
            spec: model::TargetGroup {
                key: key.into(),
                name: key.into(),
                arn: format!("arn:updraft:elasticloadbalancing:local:targetgroup/{key}"),
                port: 80,
                protocol: Protocol::Http,
                target_type: TargetType::Ip,
                health_check: HealthCheck {
                    interval: Duration::from_millis(100),
                    timeout: Duration::from_millis(50),
                    ..HealthCheck::default()
                },
                deregistration_delay: Duration::from_secs(0),
                protocol_version: model::ProtocolVersion::Http1,
                algorithm: model::Algorithm::RoundRobin,
                slow_start: Duration::ZERO,
                stickiness: None,
            },
            targets: targets
                .iter()
                .map(|(id, addr)| TargetConfig {
                    id: (*id).into(),
                    addr: addr.parse().unwrap(),
                    availability_zone: None,
                    draining: false,
                })
                .collect(),
        }
    }

    pub(crate) fn listener(key: &str, bind: &str, groups: &[(&str, u16)]) -> ListenerConfig {
        ListenerConfig {
            key: key.into(),
            load_balancer: "lb".into(),
            load_balancer_arn_suffix: "app/lb/0".into(),
            bind: bind.parse().unwrap(),
            protocol: Protocol::Http,
            default_action: Action::Forward {
                target_groups: groups
                    .iter()
                    .map(|(tg, weight)| WeightedTargetGroup {
                        target_group: (*tg).into(),
                        weight: *weight,
                    })
                    .collect(),
                stickiness: None,
            },
            rules: Vec::new(),
            idle_timeout: Duration::from_secs(60),
            access_log: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            listeners: vec![listener("web", "127.0.0.1:0", &[("app", 1)])],
            target_groups: vec![
                group("app", &[("i-1", "127.0.0.1:9001")]),
                group("spare", &[]),
            ],
            faults: vec![],
        }
    }

    #[test]
    fn a_well_formed_snapshot_validates() {
        let s = snapshot();
        s.validate().unwrap();
        assert_eq!(s.used_target_groups(), HashSet::from(["app"]));
    }

    #[test]
    fn unknown_target_group_names_listener_and_group() {
        let mut s = snapshot();
        s.listeners[0] = listener("web", "127.0.0.1:0", &[("nope", 1)]);
        let err = s.validate().unwrap_err();
        assert!(matches!(
            err,
            ApplyError::UnknownTargetGroup { ref listener, ref target_group }
                if listener == "web" && target_group == "nope"
        ));
        s.listeners[0] = listener("web", "127.0.0.1:0", &[]);
        assert!(matches!(s.validate(), Err(ApplyError::EmptyForward { .. })));
    }

    #[test]
    fn duplicates_are_refused() {
        let mut s = snapshot();
        s.target_groups.push(group("app", &[]));
        assert!(matches!(
            s.validate(),
            Err(ApplyError::Duplicate {
                kind: "target group",
                ..
            })
        ));
        let mut s = snapshot();
        s.target_groups[0] = group("app", &[("i-1", "127.0.0.1:1"), ("i-1", "127.0.0.1:2")]);
        assert!(matches!(
            s.validate(),
            Err(ApplyError::Duplicate { kind: "target", .. })
        ));
        let mut s = snapshot();
        s.listeners
            .push(listener("web", "127.0.0.1:0", &[("app", 1)]));
        assert!(matches!(
            s.validate(),
            Err(ApplyError::Duplicate {
                kind: "listener",
                ..
            })
        ));
        let mut s = snapshot();
        s.listeners = vec![
            listener("a", "127.0.0.1:8080", &[("app", 1)]),
            listener("b", "127.0.0.1:8080", &[("app", 1)]),
        ];
        assert!(matches!(
            s.validate(),
            Err(ApplyError::Duplicate {
                kind: "listener address",
                ..
            })
        ));
    }

    #[test]
    fn protocols_other_than_http_are_refused_for_now() {
        let mut s = snapshot();
        s.listeners[0].protocol = Protocol::Https;
        assert!(matches!(
            s.validate(),
            Err(ApplyError::UnsupportedProtocol { .. })
        ));
        let mut s = snapshot();
        s.target_groups[0].spec.health_check.protocol = Protocol::Https;
        assert!(matches!(
            s.validate(),
            Err(ApplyError::UnsupportedProtocol { .. })
        ));
        s.target_groups[0].spec.health_check.enabled = false;
        s.validate().unwrap();
    }
}
