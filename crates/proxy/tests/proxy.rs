//! The data plane end to end on loopback: real hyper backends on 127.0.0.1:0, a real
//! `DataPlane`, real clients (HTTP/1.1, raw TCP, h2c). Every test is bounded in time and stops
//! what it started.

mod alb;
mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{StatusCode, Version};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use model::{AvailabilityZone, TargetHealthReason, TargetHealthState};
use proxy::{ApplyError, DataPlane, Snapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::*;

// === Tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_evenly_and_health_survives_apply() {
    bounded(async {
        let (a, b, c) = (
            Backend::start("a").await,
            Backend::start("b").await,
            Backend::start("c").await,
        );
        let (plane, lb) = start(single(&[&a, &b, &c], health_check(100))).await;
        eventually("all targets healthy", || all_healthy(&plane)).await;

        let seen = spread(lb, 30).await;
        assert_eq!(
            seen,
            HashMap::from([("a".into(), 10), ("b".into(), 10), ("c".into(), 10)])
        );

        let report = plane.target_health();
        assert_eq!(report.len(), 3);
        assert_eq!(report[0].target_group, "app");
        assert_eq!(report[0].addr, a.addr);
        assert_eq!(
            report[0].availability_zone,
            Some(AvailabilityZone::new("us-east-1a"))
        );
        assert!(report.iter().all(|t| t.in_flight == 0));

        // Registering a fourth target keeps the others' health: no reset to `initial`.
        let d = Backend::start("d").await;
        let next = single(&[&a, &b, &c, &d], health_check(100));
        plane.apply(next).await.unwrap();
        assert_eq!(state_of(&plane, "a"), TargetHealthState::Healthy);
        assert_eq!(
            plane.listener_addrs()[0].1,
            lb,
            "an unchanged listener keeps its socket"
        );
        eventually("d healthy", || {
            state_of(&plane, "d") == TargetHealthState::Healthy
        })
        .await;
        let seen = spread(lb, 8).await;
        assert!(seen.values().all(|&n| n == 2), "{seen:?}");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_health_check_takes_the_target_out_until_it_recovers() {
    bounded(async {
        let (a, b, c) = (
            Backend::start("a").await,
            Backend::start("b").await,
            Backend::start("c").await,
        );
        let (plane, lb) = start(single(&[&a, &b, &c], health_check(100))).await;
        eventually("all targets healthy", || all_healthy(&plane)).await;

        b.set_health(503);
        eventually("b unhealthy", || {
            state_of(&plane, "b") == TargetHealthState::Unhealthy
        })
        .await;
        let report = plane
            .target_health()
            .into_iter()
            .find(|t| t.target_id == "b")
            .unwrap();
        assert_eq!(
            report.health.reason,
            Some(TargetHealthReason::ResponseCodeMismatch)
        );
        assert_eq!(
            report.health.description.as_deref(),
            Some("Health checks failed with these codes: [503]")
        );

        let before = b.hits();
        let seen = spread(lb, 20).await;
        assert_eq!(b.hits(), before, "an unhealthy target gets no traffic");
        assert_eq!(seen.get("a"), Some(&10));

        b.set_health(200);
        eventually("b healthy again", || {
            state_of(&plane, "b") == TargetHealthState::Healthy
        })
        .await;
        let seen = spread(lb, 9).await;
        assert_eq!(seen.get("b"), Some(&3), "{seen:?}");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_open_when_every_target_is_unhealthy() {
    bounded(async {
        let (a, b) = (Backend::start("a").await, Backend::start("b").await);
        a.set_health(500);
        b.set_health(500);
        let (plane, lb) = start(single(&[&a, &b], health_check(100))).await;
        eventually("both unhealthy", || {
            plane
                .target_health()
                .iter()
                .all(|t| t.health.state == TargetHealthState::Unhealthy)
        })
        .await;
        let seen = spread(lb, 10).await;
        assert_eq!(seen, HashMap::from([("a".into(), 5), ("b".into(), 5)]));
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_target_causes_no_error_for_gets_thanks_to_the_retry() {
    bounded(async {
        let (a, b, c) = (Backend::start("a").await, Backend::start("b").await, Backend::start("c").await);
        // Checks every minute: after the first (immediate) check, health will not notice the
        // kill during this test, so only the retry protects clients.
        let (plane, lb) = start(single(&[&a, &b, &c], health_check(60_000))).await;
        eventually("all targets healthy", || all_healthy(&plane)).await;
        // Warm the proxy's connection pool to b, so the kill also breaks pooled connections.
        spread(lb, 6).await;

        b.kill();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(state_of(&plane, "b"), TargetHealthState::Healthy, "health has not noticed");

        // A POST with a body is not replayed: the one that lands on b gets ALB's 502.
        let cl = client();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let answer = send(&cl, "POST", format!("http://{lb}/"), "payload").await;
            if answer.status == StatusCode::BAD_GATEWAY {
                assert_eq!(answer.headers["server"], "updraft");
                assert_eq!(
                    answer.body,
                    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
                );
            }
            statuses.push(answer.status.as_u16());
        }
        statuses.sort_unstable();
        assert_eq!(statuses, vec![200, 200, 502]);

        // GETs are retried on another target; the second failed connection ejects b
        // passively, so later requests never try it.
        let seen = spread(lb, 30).await;
        assert_eq!(seen.get("b"), None);
        assert_eq!(seen.values().sum::<usize>(), 30, "every GET answered 200");
        let statuses: Vec<u16> = {
            let mut v = Vec::new();
            for _ in 0..6 {
                v.push(send(&cl, "POST", format!("http://{lb}/"), "payload").await.status.as_u16());
            }
            v
        };
        assert_eq!(statuses, vec![200; 6], "b is ejected: no POST lands on it");
        eventually("nothing left in flight", || {
            plane.target_health().iter().all(|t| t.in_flight == 0)
        })
        .await;
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_target_finishes_its_request_and_gets_no_new_ones() {
    bounded(async {
        let (a, b) = (Backend::start("a").await, Backend::start("b").await);
        let snapshot = single(&[&a, &b], health_check(100));
        let (plane, lb) = start(snapshot.clone()).await;
        eventually("all targets healthy", || all_healthy(&plane)).await;

        // Headers arrive at once; the body stays open for 1.5 s.
        let slow = tokio::spawn(async move { get(&client(), lb, "/stream?1500").await });
        let mut busy = String::new();
        eventually("a request in flight", || {
            match plane.target_health().into_iter().find(|t| t.in_flight == 1) {
                Some(t) => {
                    busy = t.target_id;
                    true
                }
                None => false,
            }
        })
        .await;

        // Past the response headers: the count is now held by the streaming body.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut draining = snapshot.clone();
        for t in &mut draining.target_groups[0].targets {
            t.draining = t.id == busy;
        }
        plane.apply(draining).await.unwrap();

        let report = plane
            .target_health()
            .into_iter()
            .find(|t| t.target_id == busy)
            .unwrap();
        assert_eq!(report.health.state, TargetHealthState::Draining);
        assert_eq!(
            report.health.reason,
            Some(TargetHealthReason::DeregistrationInProgress)
        );
        assert_eq!(
            report.in_flight, 1,
            "the streaming response is still in flight"
        );

        let seen = spread(lb, 6).await;
        assert_eq!(
            seen.get(busy.as_str()),
            None,
            "no new request to the draining target"
        );

        let answer = slow.await.unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.body, busy,
            "the in-flight request finished on its target"
        );
        eventually("in-flight count released", || {
            plane.target_health().iter().all(|t| t.in_flight == 0)
        })
        .await;
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_fails_apply_and_the_old_snapshot_keeps_serving() {
    bounded(async {
        let (a, b) = (Backend::start("a").await, Backend::start("b").await);
        let (plane, lb) = start(single(&[&a], health_check(100))).await;
        eventually("a healthy", || all_healthy(&plane)).await;

        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = taken.local_addr().unwrap();
        let mut next = single(&[&b], health_check(100));
        next.listeners.push(listener("second", busy, "app"));
        let err = plane.apply(next).await.unwrap_err();
        match &err {
            ApplyError::Bind { listener, addr, .. } => {
                assert_eq!(listener, "second");
                assert_eq!(*addr, busy);
            }
            other => panic!("expected a bind error, got {other}"),
        }
        assert!(err.to_string().contains(&busy.to_string()), "{err}");

        assert_eq!(plane.listener_addrs(), vec![("http".to_owned(), lb)]);
        let seen = spread(lb, 4).await;
        assert_eq!(
            seen,
            HashMap::from([("a".into(), 4)]),
            "old routing still in place"
        );
        assert_eq!(plane.target_health().len(), 1);
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_are_stripped_and_x_forwarded_set() {
    bounded(async {
        let a = Backend::start("a").await;
        let (plane, lb) = start(single(&[&a], health_check(100))).await;
        eventually("a healthy", || all_healthy(&plane)).await;

        let mut stream = TcpStream::connect(lb).await.unwrap();
        stream
            .write_all(
                b"GET /headers HTTP/1.1\r\nHost: shop.example\r\nConnection: close, X-Drop-Me\r\n\
                  X-Drop-Me: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n\
                  TE: trailers\r\nX-Forwarded-For: 203.0.113.9\r\nX-Kept: yes\r\n\r\n",
            )
            .await
            .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let raw = String::from_utf8_lossy(&raw).to_ascii_lowercase();
        let (head, received) = raw.split_once("\r\n\r\n").unwrap();

        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(
            !head.contains("x-backend-hop"),
            "response hop-by-hop kept: {head}"
        );
        assert!(
            !head.contains("keep-alive"),
            "response keep-alive kept: {head}"
        );
        assert!(head.contains("x-backend: a"), "{head}");

        for gone in [
            "x-drop-me",
            "keep-alive",
            "proxy-connection",
            "te:",
            "connection",
        ] {
            assert!(
                !received.contains(gone),
                "{gone} reached the target:\n{received}"
            );
        }
        assert!(received.contains("host: shop.example\n"), "{received}");
        assert!(received.contains("x-kept: yes\n"), "{received}");
        assert!(
            received.contains("x-forwarded-for: 203.0.113.9, 127.0.0.1\n"),
            "{received}"
        );
        assert!(received.contains("x-forwarded-proto: http\n"), "{received}");
        // ALB's request id: Root=1-<8 hex>-<24 hex>.
        let trace = received
            .lines()
            .find_map(|l| l.strip_prefix("x-amzn-trace-id: root=1-"))
            .unwrap_or_else(|| panic!("no trace id:\n{received}"));
        assert_eq!(trace.len(), 8 + 1 + 24, "{trace}");
        assert!(
            received.contains(&format!("x-forwarded-port: {}\n", lb.port())),
            "{received}"
        );
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_is_served() {
    bounded(async {
        let a = Backend::start("a").await;
        let (plane, lb) = start(single(&[&a], health_check(100))).await;
        eventually("a healthy", || all_healthy(&plane)).await;

        let h2: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http();
        let answer = get(&h2, lb, "/").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.version, Version::HTTP_2);
        assert_eq!(answer.body, "a");
        // The target speaks HTTP/1.1 and still gets a Host header (from `:authority`).
        let answer = get(&h2, lb, "/headers").await;
        assert!(
            answer.body.contains(&format!("host: {lb}\n")),
            "{}",
            answer.body
        );
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_targets_is_503_and_a_silent_target_is_504() {
    bounded(async {
        let plane = DataPlane::new();
        let quick = |backends: &[&Backend]| {
            let mut s = single(backends, health_check(100));
            s.listeners[0].idle_timeout = Duration::from_millis(500);
            s
        };
        plane.apply(quick(&[])).await.unwrap();
        let lb = plane.listener_addrs()[0].1;
        let c = client();
        let answer = get(&c, lb, "/").await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.headers["server"], "updraft");
        assert!(
            answer
                .body
                .contains("<title>503 Service Temporarily Unavailable</title>")
        );

        let a = Backend::start("a").await;
        plane.apply(quick(&[&a])).await.unwrap();
        let started = tokio::time::Instant::now();
        let answer = get(&c, lb, "/slow?5000").await;
        assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
        assert!(answer.body.contains("<title>504 Gateway Time-out</title>"));
        assert!(started.elapsed() < Duration::from_secs(4));
        assert_eq!(
            plane.target_health()[0].in_flight,
            0,
            "a timed-out request is released"
        );
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_everything_closes_the_listener_and_stops_reporting() {
    bounded(async {
        let a = Backend::start("a").await;
        let (plane, lb) = start(single(&[&a], health_check(100))).await;
        eventually("a healthy", || all_healthy(&plane)).await;
        plane.apply(Snapshot::default()).await.unwrap();
        assert!(plane.target_health().is_empty());
        assert!(plane.listener_addrs().is_empty());
        let mut refused = false;
        for _ in 0..50 {
            if TcpStream::connect(lb).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            refused,
            "the removed listener's port still accepts connections"
        );
        // Health checks stopped with the target: a's health endpoint sees no more probes.
        let probes = a.probes();
        assert!(probes > 0);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(a.probes(), probes);
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_hit_their_share_are_counted_and_expire_on_their_own() {
    bounded(async {
        let (a, b) = (Backend::start("a").await, Backend::start("b").await);
        let base = single(&[&a, &b], health_check(100));
        let (plane, lb) = start(base.clone()).await;
        eventually("all targets healthy", || all_healthy(&plane)).await;
        let c = client();

        // 50 % of requests "answered" 500 by the target for 2 s: exactly half of 20 fail.
        let mut faulty = base.clone();
        faulty.faults = vec![proxy::FaultConfig {
            id: "drill-errors".into(),
            target_group: "app".into(),
            availability_zone: None,
            kind: proxy::FaultKind::Status(500),
            percent: 50.0,
            duration: Duration::from_secs(2),
        }];
        let before = plane.target_group_counters();
        plane.apply(faulty.clone()).await.unwrap();
        let mut failed = 0;
        for _ in 0..20 {
            if get(&c, lb, "/").await.status == StatusCode::INTERNAL_SERVER_ERROR {
                failed += 1;
            }
        }
        assert_eq!(failed, 10);
        let d = plane.target_group_counters()[0].since(&before[0]);
        assert_eq!((d.requests, d.target_5xx, d.faults_injected), (20, 10, 10));
        assert_eq!(plane.fault_hits(), vec![("drill-errors".to_string(), 10)]);

        // A reset on every request to every target: the safe retry cannot help, ALB answers 502.
        let mut reset = base.clone();
        reset.faults = vec![proxy::FaultConfig {
            id: "drill-reset".into(),
            kind: proxy::FaultKind::Reset,
            percent: 100.0,
            ..faulty.faults[0].clone()
        }];
        plane.apply(reset).await.unwrap();
        assert_eq!(get(&c, lb, "/").await.status, StatusCode::BAD_GATEWAY);
        assert!(plane.target_group_counters()[0].elb_502 >= 1);

        // Latency: the request takes at least the delay.
        let mut slow = base.clone();
        slow.faults = vec![proxy::FaultConfig {
            id: "drill-latency".into(),
            kind: proxy::FaultKind::Latency {
                delay: Duration::from_millis(300),
                jitter: Duration::ZERO,
            },
            percent: 100.0,
            ..faulty.faults[0].clone()
        }];
        plane.apply(slow).await.unwrap();
        let t0 = tokio::time::Instant::now();
        assert_eq!(get(&c, lb, "/").await.status, StatusCode::OK);
        assert!(t0.elapsed() >= Duration::from_millis(300));

        // Bounded by its own duration: once 2 s have passed, no snapshot needed to undo it.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let hits = plane.fault_hits();
        assert_eq!(get(&c, lb, "/").await.status, StatusCode::OK);
        assert_eq!(plane.fault_hits(), hits, "an expired fault affects nothing");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}
