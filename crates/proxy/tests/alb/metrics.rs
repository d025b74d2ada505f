//! The data plane's CloudWatch datums after real traffic.

use std::time::Duration;

use model::{Action, DatumValue, FixedResponse, ListenerRule, MetricDatum, RuleCondition};

use crate::support::*;

fn sum(d: &[MetricDatum], name: &str, dims: &[&str]) -> f64 {
    d.iter()
        .filter(|m| {
            m.name == name
                && m.dimensions.len() == dims.len()
                && dims
                    .iter()
                    .all(|n| m.dimensions.iter().any(|x| x.name == *n))
        })
        .map(|m| match &m.value {
            DatumValue::Value(v) => *v,
            DatumValue::Values { counts, .. } => counts.iter().sum(),
            DatumValue::StatisticSet { sample_count, .. } => *sample_count,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datums_count_requests_errors_and_latency_with_alb_names() {
    bounded(async {
        let (a, b) = (Backend::start("a").await, Backend::start("b").await);
        let mut s = single(&[&a, &b], health_check(100));
        s.listeners[0].rules = vec![ListenerRule {
            key: "gone".into(),
            arn: String::new(),
            listener: "http".into(),
            priority: 1,
            conditions: vec![RuleCondition::PathPattern {
                values: vec!["/gone".into()],
            }],
            action: Action::FixedResponse(FixedResponse {
                content_type: "text/plain".into(),
                message_body: "gone".into(),
                status_code: 410,
            }),
        }];
        let (plane, lb) = start(s).await;
        eventually("healthy", || all_healthy(&plane)).await;
        let _ = plane.metrics(); // start of the period

        spread(lb, 10).await;
        let c = client();
        for _ in 0..3 {
            assert_eq!(get(&c, lb, "/gone").await.status, 410);
        }
        let d = plane.metrics();
        assert_eq!(sum(&d, "RequestCount", &["LoadBalancer"]), 13.0);
        assert_eq!(sum(&d, "HTTP_Fixed_Response_Count", &["LoadBalancer"]), 3.0);
        assert_eq!(
            sum(&d, "RequestCount", &["LoadBalancer", "TargetGroup"]),
            10.0
        );
        assert_eq!(
            sum(
                &d,
                "HTTPCode_Target_2XX_Count",
                &["LoadBalancer", "TargetGroup"]
            ),
            10.0
        );
        assert_eq!(
            sum(&d, "HealthyHostCount", &["LoadBalancer", "TargetGroup"]),
            2.0
        );
        assert_eq!(
            sum(
                &d,
                "RequestCountPerTarget",
                &["LoadBalancer", "TargetGroup"]
            ),
            5.0
        );
        assert_eq!(
            sum(&d, "TargetResponseTime", &["LoadBalancer", "TargetGroup"]),
            10.0,
            "ten latency samples"
        );
        assert_eq!(
            sum(
                &d,
                "RequestCount",
                &["LoadBalancer", "TargetGroup", "AvailabilityZone"]
            ),
            10.0
        );
        assert!(sum(&d, "ProcessedBytes", &["LoadBalancer"]) > 0.0);
        assert!(sum(&d, "NewConnectionCount", &["LoadBalancer"]) >= 2.0);

        // A dead target: connection errors and, for a POST, an ELB 502.
        b.kill();
        let c = client();
        for _ in 0..4 {
            send(&c, "POST", format!("http://{lb}/"), "x").await;
        }
        let d = plane.metrics();
        assert!(
            sum(
                &d,
                "TargetConnectionErrorCount",
                &["LoadBalancer", "TargetGroup"]
            ) >= 1.0
        );
        assert!(sum(&d, "HTTPCode_ELB_502_Count", &["LoadBalancer"]) >= 1.0);
        assert_eq!(
            sum(&d, "HTTPCode_ELB_5XX_Count", &["LoadBalancer"]),
            sum(&d, "HTTPCode_ELB_502_Count", &["LoadBalancer"])
        );
        let t = plane.traffic();
        assert_eq!(t.listeners[0].requests, 17);
        assert_eq!(t.target_groups[0].requests, 14);
        assert!(t.target_groups[0].p99_ms.is_some());
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}
