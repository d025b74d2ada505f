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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_logs_are_written_in_albs_format_when_enabled() {
    bounded(async {
        let a = Backend::start("a").await;
        let dir = std::env::temp_dir().join(format!("updraft-access-{}", std::process::id()));
        let path = dir.join("AWSLogs/000000000000/elasticloadbalancing/us-east-1/web.log");
        let mut s = single(&[&a], health_check(100));
        s.listeners[0].access_log = Some(path.clone());
        let (plane, lb) = start(s).await;
        eventually("healthy", || all_healthy(&plane)).await;
        let c = client();
        get(&c, lb, "/hello?x=1").await;
        let mut text = String::new();
        for _ in 0..100 {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if !text.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let line = text.lines().next().expect("a log line");
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[0], "http", "{line}");
        assert!(
            fields[1].ends_with('Z') && fields[1].contains('T'),
            "{line}"
        );
        assert_eq!(fields[2], "app/web/0");
        assert_eq!(fields[4], a.addr.to_string());
        assert_eq!((fields[8], fields[9]), ("200", "200"), "{line}");
        assert!(
            line.contains(&format!("\"GET http://{lb}/hello?x=1 HTTP/1.1\"")),
            "{line}"
        );
        assert!(line.contains("\"Root=1-"), "{line}");
        assert!(
            line.contains(" 0 ") && line.contains("\"forward\""),
            "{line}"
        );
        plane.shutdown(Duration::from_secs(1)).await;
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}
