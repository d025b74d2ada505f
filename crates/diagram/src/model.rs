//! What a diagram shows: plain data, built by the CLI from the daemon's status.

use serde::{Deserialize, Serialize};

/// A stack as running now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagram {
    /// What the stack was brought up from (config path), shown in the title.
    pub title: String,
    pub region: String,
    /// Availability zones, one column each, in order.
    pub zones: Vec<String>,
    /// Zones a drill has taken down right now.
    pub impaired_zones: Vec<String>,
    pub load_balancers: Vec<LoadBalancer>,
    pub target_groups: Vec<TargetGroup>,
    pub instances: Vec<Instance>,
    /// Database and cache nodes.
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub name: String,
    /// `application`, `network`, …
    pub kind: String,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    pub protocol: String,
    /// `127.0.0.1:8080`.
    pub address: String,
    /// Target group names.
    pub forwards_to: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub name: String,
    pub protocol: String,
    pub port: u16,
    /// Requests the balancer routed to it so far.
    pub requests: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    /// Auto scaling group name.
    pub group: String,
    pub zone: String,
    pub address: String,
    /// `Pending`, `InService`, `Terminating`.
    pub lifecycle: String,
    /// Target health: `healthy`, `initial`, `unhealthy`, `draining`, … (none when not a target).
    pub health: Option<String>,
    /// Target groups it is registered in.
    pub target_groups: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// `database` or `cache`.
    pub kind: String,
    pub cluster: String,
    pub id: String,
    /// `writer`, `standby`, `reader`, `primary`, `replica`.
    pub role: String,
    pub zone: String,
    pub state: String,
}

impl Diagram {
    /// Auto scaling group names, sorted.
    pub fn groups(&self) -> Vec<&str> {
        let mut g: Vec<&str> = self.instances.iter().map(|i| i.group.as_str()).collect();
        g.sort_unstable();
        g.dedup();
        g
    }

    /// Instances of a zone, by group then id.
    pub fn instances_in(&self, zone: &str) -> Vec<&Instance> {
        let mut v: Vec<&Instance> = self.instances.iter().filter(|i| i.zone == zone).collect();
        v.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
        v
    }

    /// Nodes of a zone, by kind, cluster, id.
    pub fn nodes_in(&self, zone: &str) -> Vec<&Node> {
        let mut v: Vec<&Node> = self.nodes.iter().filter(|n| n.zone == zone).collect();
        v.sort_by(|a, b| (&a.kind, &a.cluster, &a.id).cmp(&(&b.kind, &b.cluster, &b.id)));
        v
    }

    /// Healthy and registered targets of a target group.
    pub fn health_of(&self, target_group: &str) -> (usize, usize) {
        let mine: Vec<&Instance> = self
            .instances
            .iter()
            .filter(|i| i.target_groups.iter().any(|t| t == target_group))
            .collect();
        let healthy = mine
            .iter()
            .filter(|i| i.health.as_deref() == Some("healthy"))
            .count();
        (healthy, mine.len())
    }
}

/// A small stack for tests: three zones, one ALB, one group, a database cluster.
#[cfg(test)]
pub(crate) fn sample() -> Diagram {
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let health = ["healthy", "healthy", "initial", "unhealthy"];
    Diagram {
        title: "examples/mylearning".into(),
        region: "us-east-1".into(),
        zones: zones.iter().map(|z| z.to_string()).collect(),
        impaired_zones: vec![],
        load_balancers: vec![LoadBalancer {
            name: "mylearning".into(),
            kind: "application".into(),
            listeners: vec![Listener {
                protocol: "HTTP".into(),
                address: "127.0.0.1:8080".into(),
                forwards_to: vec!["mylearning-web".into()],
            }],
        }],
        target_groups: vec![TargetGroup {
            name: "mylearning-web".into(),
            protocol: "HTTP".into(),
            port: 8080,
            requests: 1234,
        }],
        instances: (0..4)
            .map(|i| Instance {
                id: format!("i-0{i}aa"),
                group: "mylearning".into(),
                zone: zones[i % 3].into(),
                address: format!("127.0.{}.{}:8080", i % 3 + 1, i + 2),
                lifecycle: "InService".into(),
                health: Some(health[i].into()),
                target_groups: vec!["mylearning-web".into()],
            })
            .collect(),
        nodes: vec![
            Node {
                kind: "database".into(),
                cluster: "mylearning-db".into(),
                id: "db-1".into(),
                role: "writer".into(),
                zone: "us-east-1a".into(),
                state: "available".into(),
            },
            Node {
                kind: "database".into(),
                cluster: "mylearning-db".into(),
                id: "db-2".into(),
                role: "standby".into(),
                zone: "us-east-1b".into(),
                state: "available".into(),
            },
        ],
    }
}
