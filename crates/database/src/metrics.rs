//! The database's CloudWatch metrics (`AWS/RDS`), from a cluster's status: what RDS publishes
//! per DB instance, with its `DBInstanceIdentifier` dimension. The Multi-AZ primary reports as
//! the DB instance itself (its standby is invisible, as in RDS); each read replica reports as
//! its own instance, with `ReplicaLag`.
//!
//! - `DatabaseConnections` (Count): client connections (`pg_stat_activity`'s client backends,
//!   updraft's own monitoring connection included, as RDS counts every connection).
//! - `ReplicaLag` (Seconds): the primary's `pg_stat_replication.replay_lag` for that replica
//!   (0 while it streams caught up). Absent when the replica is not streaming: RDS reports no
//!   datapoint either.
//! - `ReplicationLagBytes` is not an RDS name; the byte lag stays in `updraft status`.

use model::metric::{DatumValue, Dimension, MetricDatum, Unit, namespace};

use crate::controller::ClusterStatus;

/// One datum per metric per DB instance of `status`.
pub fn datums(status: &ClusterStatus) -> Vec<MetricDatum> {
    let mut out = Vec::new();
    let dims = |id: &str| vec![Dimension::new("DBInstanceIdentifier", id)];
    for n in &status.nodes {
        let id = if status.primary.as_deref() == Some(n.name.as_str()) {
            status.identifier.as_str()
        } else if n.role.starts_with("replica") {
            n.name.as_str()
        } else {
            continue;
        };
        if let Some(c) = n.connections {
            out.push(MetricDatum::new(
                namespace::RDS,
                "DatabaseConnections",
                dims(id),
                Unit::Count,
                DatumValue::Value(f64::from(c)),
            ));
        }
        if id != status.identifier
            && let Some(ms) = n.replica_lag_ms.filter(|_| n.streaming)
        {
            out.push(MetricDatum::new(
                namespace::RDS,
                "ReplicaLag",
                dims(id),
                Unit::Seconds,
                DatumValue::Value(ms as f64 / 1000.0),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::NodeView;

    fn node(name: &str, role: &str, connections: u32, lag: Option<u64>) -> NodeView {
        NodeView {
            name: name.into(),
            role: role.into(),
            availability_zone: "us-east-1a".into(),
            address: "127.0.0.1:5432".into(),
            status: "running".into(),
            reason: None,
            pid: Some(1),
            adopted: false,
            lsn: None,
            lag_bytes: None,
            replica_lag_ms: lag,
            connections: Some(connections),
            streaming: role != "primary",
            fault: None,
            probe_error: None,
            log: String::new(),
        }
    }

    #[test]
    fn the_primary_reports_as_the_instance_replicas_as_themselves_the_standby_not_at_all() {
        let status = ClusterStatus {
            identifier: "main".into(),
            engine: "postgres".into(),
            multi_az: true,
            writer_endpoint: String::new(),
            reader_endpoint: String::new(),
            primary: Some("main-2".into()),
            writes_refused: None,
            synchronous_standby: Some("main-1".into()),
            max_replica_lag: 0,
            nodes: vec![
                node("main-1", "standby (synchronous)", 2, Some(0)),
                node("main-2", "primary", 7, None),
                node("main-replica", "replica", 1, Some(1500)),
            ],
            readers: vec![],
            promotions: 1,
            error: None,
            last_failover: None,
        };
        let got: Vec<(String, String, f64)> = datums(&status)
            .into_iter()
            .map(|d| {
                let DatumValue::Value(v) = d.value else {
                    panic!("a single value")
                };
                (d.name, d.dimensions[0].value.clone(), v)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("DatabaseConnections".into(), "main".into(), 7.0),
                ("DatabaseConnections".into(), "main-replica".into(), 1.0),
                ("ReplicaLag".into(), "main-replica".into(), 1.5),
            ]
        );
        assert!(
            datums(&status)
                .iter()
                .all(|d| d.namespace == "AWS/RDS" && d.dimensions[0].name == "DBInstanceIdentifier")
        );
    }
}
