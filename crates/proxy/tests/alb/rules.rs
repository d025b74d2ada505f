//! Listener rules on a real data plane: each condition type routes to its own backend, the
//! lowest priority wins, and redirect / fixed-response actions answer without a target.

use std::time::Duration;

use http::StatusCode;
use model::{
    Action, FixedResponse, ListenerRule, QueryStringPair, Redirect, RedirectStatus, RuleCondition,
};

use crate::support::*;

fn rule(priority: u32, condition: RuleCondition, action: Action) -> ListenerRule {
    ListenerRule {
        key: format!("r{priority}"),
        arn: String::new(),
        listener: "http".into(),
        priority,
        conditions: vec![condition],
        action,
    }
}

fn values(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_condition_routes_and_actions_answer() {
    bounded(async {
        let names = [
            "default", "host", "path", "header", "method", "query", "source",
        ];
        let mut backends = Vec::new();
        for n in names {
            backends.push(Backend::start(n).await);
        }
        let mut snapshot = single(&[&backends[0]], health_check(100));
        for b in &backends[1..] {
            snapshot
                .target_groups
                .push(group(&b.name, vec![b.target()], health_check(100)));
        }
        snapshot.listeners[0].rules = vec![
            rule(
                10,
                RuleCondition::HostHeader {
                    values: values(&["*.example.com"]),
                },
                Action::forward("host"),
            ),
            rule(
                20,
                RuleCondition::PathPattern {
                    values: values(&["/api/*"]),
                },
                Action::forward("path"),
            ),
            // Lower number, so it beats the path rule for /api/old.
            rule(
                5,
                RuleCondition::PathPattern {
                    values: values(&["/api/old*"]),
                },
                Action::Redirect(Redirect {
                    path: "/api/v2/#{path}".into(),
                    status_code: RedirectStatus::Http301,
                    ..Redirect::default()
                }),
            ),
            rule(
                30,
                RuleCondition::HttpHeader {
                    name: "X-Canary".into(),
                    values: values(&["y*"]),
                },
                Action::forward("header"),
            ),
            rule(
                40,
                RuleCondition::HttpRequestMethod {
                    values: values(&["DELETE"]),
                },
                Action::forward("method"),
            ),
            rule(
                50,
                RuleCondition::QueryString {
                    values: vec![QueryStringPair {
                        key: Some("beta".into()),
                        value: "1".into(),
                    }],
                },
                Action::forward("query"),
            ),
            rule(
                60,
                RuleCondition::SourceIp {
                    values: vec!["127.0.0.2/32".parse().unwrap()],
                },
                Action::forward("source"),
            ),
            rule(
                70,
                RuleCondition::PathPattern {
                    values: values(&["/maintenance"]),
                },
                Action::FixedResponse(FixedResponse {
                    content_type: "application/json".into(),
                    message_body: "{\"down\":true}".into(),
                    status_code: 503,
                }),
            ),
        ];
        let (plane, lb) = start(snapshot).await;
        eventually("all targets healthy", || all_healthy(&plane)).await;

        let c = client();
        let with_headers = |method: &str, path: &str, headers: &[(&str, &str)]| {
            let mut req = http::Request::builder()
                .method(method)
                .uri(format!("http://{lb}{path}"));
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap()
        };
        let body_of = |req| {
            let c = c.clone();
            async move {
                let resp = c.request(req).await.unwrap();
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .unwrap()
                    .to_bytes();
                (status, headers, String::from_utf8_lossy(&body).into_owned())
            }
        };

        let (_, _, b) = body_of(with_headers("GET", "/", &[])).await;
        assert_eq!(b, "default");
        let (_, _, b) = body_of(with_headers("GET", "/", &[("host", "shop.EXAMPLE.com:80")])).await;
        assert_eq!(b, "host");
        let (_, _, b) = body_of(with_headers("GET", "/api/x?y=1", &[])).await;
        assert_eq!(b, "path");
        let (_, _, b) = body_of(with_headers("GET", "/", &[("x-canary", "YES")])).await;
        assert_eq!(b, "header");
        let (_, _, b) = body_of(with_headers("DELETE", "/thing", &[])).await;
        assert_eq!(b, "method");
        let (_, _, b) = body_of(with_headers("GET", "/?a=b&BETA=1", &[])).await;
        assert_eq!(b, "query");
        // Priority: host (10) beats path (20) when both match.
        let (_, _, b) = body_of(with_headers("GET", "/api/x", &[("host", "a.example.com")])).await;
        assert_eq!(b, "host");

        // Redirect: 301 with the templated location; no backend is involved.
        let (status, headers, _) = body_of(with_headers(
            "GET",
            "/api/old/list?page=2",
            &[("host", "shop.test")],
        ))
        .await;
        assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            headers["location"],
            format!("http://shop.test:{}/api/v2/api/old/list?page=2", lb.port())
        );

        // Fixed response.
        let (status, headers, b) = body_of(with_headers("GET", "/maintenance", &[])).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(b, "{\"down\":true}");

        // Source IP: a client bound to 127.0.0.2.
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_local_address(Some("127.0.0.2".parse().unwrap()));
        let from_2 =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build::<_, http_body_util::Full<bytes::Bytes>>(connector);
        let a = get(&from_2, lb, "/").await;
        assert_eq!(a.body, "source");

        // Rules change at runtime: drop them all, everything goes to the default.
        let mut plain = single(&[&backends[0]], health_check(100));
        plain.target_groups = plane_groups(&backends);
        plane.apply(plain).await.unwrap();
        let (_, _, b) = body_of(with_headers("GET", "/api/x", &[])).await;
        assert_eq!(b, "default");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

fn plane_groups(backends: &[Backend]) -> Vec<proxy::TargetGroupConfig> {
    let mut groups = vec![group("app", vec![backends[0].target()], health_check(100))];
    for b in &backends[1..] {
        groups.push(group(&b.name, vec![b.target()], health_check(100)));
    }
    groups
}
