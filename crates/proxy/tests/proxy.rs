//! The data plane end to end on loopback: real hyper backends on 127.0.0.1:0, a real
//! `DataPlane`, real clients (HTTP/1.1, raw TCP, h2c). Every test is bounded in time and stops
//! what it started.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use model::{
    Action, AvailabilityZone, HealthCheck, Protocol, TargetHealthReason, TargetHealthState,
    TargetType, WeightedTargetGroup,
};
use proxy::{
    ApplyError, DataPlane, DataPlaneOptions, ListenerConfig, Snapshot, TargetConfig,
    TargetGroupConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

const TEST_LIMIT: Duration = Duration::from_secs(30);

/// Runs a test body with a hard time limit.
async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("test exceeded its time limit");
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after 10 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// === Backends ===

/// A small hyper server that answers with its own name.
///
/// `/health` answers the status set with [`Backend::set_health`]; `/slow?<ms>` waits first;
/// `/headers` lists the request headers it received (and adds hop-by-hop headers to its
/// response); anything else answers the name. Non-health requests are counted.
struct Backend {
    name: String,
    addr: SocketAddr,
    health: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    probes: Arc<AtomicUsize>,
    server: JoinHandle<()>,
}

impl Backend {
    async fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicUsize::new(0));
        let probes = Arc::new(AtomicUsize::new(0));
        let state = Counters {
            name: name.to_owned(),
            health: Arc::clone(&health),
            hits: Arc::clone(&hits),
            probes: Arc::clone(&probes),
        };
        let server = tokio::spawn(async move {
            // Connections live in this set: aborting the server task closes them all, which is
            // what a killed process looks like from outside.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                connections.spawn(async move {
                    let svc = service_fn(move |req| answer(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Backend {
            name: name.to_owned(),
            addr,
            health,
            hits,
            probes,
            server,
        }
    }

    fn set_health(&self, status: u16) {
        self.health.store(status, Ordering::Relaxed);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    fn probes(&self) -> usize {
        self.probes.load(Ordering::Relaxed)
    }

    /// Stops accepting and closes every connection, like a process that died.
    fn kill(&self) {
        self.server.abort();
    }

    fn target(&self) -> TargetConfig {
        TargetConfig {
            id: self.name.clone(),
            addr: self.addr,
            availability_zone: Some(AvailabilityZone::new("us-east-1a")),
            draining: false,
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What a backend's handler shares with the test.
#[derive(Clone)]
struct Counters {
    name: String,
    health: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    probes: Arc<AtomicUsize>,
}

async fn answer(
    state: Counters,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/health" {
        state.probes.fetch_add(1, Ordering::Relaxed);
        let status = StatusCode::from_u16(state.health.load(Ordering::Relaxed)).unwrap();
        return Ok(Response::builder()
            .status(status)
            .body(Full::default())
            .unwrap());
    }
    state.hits.fetch_add(1, Ordering::Relaxed);
    let name = state.name;
    let response = Response::builder().header("x-backend", name.as_str());
    let response = match path.as_str() {
        "/slow" => {
            let ms = req
                .uri()
                .query()
                .and_then(|q| q.parse().ok())
                .unwrap_or(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response.body(Full::new(Bytes::from(name)))
        }
        "/headers" => {
            let listing: String = req
                .headers()
                .iter()
                .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or("?")))
                .collect();
            response
                .header("connection", "x-backend-hop")
                .header("x-backend-hop", "1")
                .header("keep-alive", "timeout=5")
                .body(Full::new(Bytes::from(listing)))
        }
        _ => response.body(Full::new(Bytes::from(name))),
    };
    Ok(response.unwrap())
}

// === Snapshots ===

fn health_check(interval_ms: u64) -> HealthCheck {
    HealthCheck {
        path: "/health".into(),
        interval: Duration::from_millis(interval_ms),
        // Generous: the build machine is shared, and a timeout must not flap a healthy target.
        timeout: Duration::from_secs(2),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        ..HealthCheck::default()
    }
}

fn group(key: &str, targets: Vec<TargetConfig>, hc: HealthCheck) -> TargetGroupConfig {
    TargetGroupConfig {
        spec: model::TargetGroup {
            key: key.into(),
            name: key.into(),
            arn: format!("arn:updraft:elasticloadbalancing:local:targetgroup/{key}"),
            port: 80,
            protocol: Protocol::Http,
            target_type: TargetType::Ip,
            health_check: hc,
            deregistration_delay: Duration::ZERO,
        },
        targets,
    }
}

fn listener(key: &str, bind: SocketAddr, target_group: &str) -> ListenerConfig {
    ListenerConfig {
        key: key.into(),
        load_balancer: "web".into(),
        bind,
        protocol: Protocol::Http,
        default_action: Action::Forward {
            target_groups: vec![WeightedTargetGroup {
                target_group: target_group.into(),
                weight: 1,
            }],
        },
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// One listener on a free port forwarding to one target group `app`.
fn single(backends: &[&Backend], hc: HealthCheck) -> Snapshot {
    Snapshot {
        listeners: vec![listener("http", any_port(), "app")],
        target_groups: vec![group(
            "app",
            backends.iter().map(|b| b.target()).collect(),
            hc,
        )],
    }
}

async fn start(snapshot: Snapshot) -> (DataPlane, SocketAddr) {
    let plane = DataPlane::new();
    plane.apply(snapshot).await.expect("apply");
    let addr = plane.listener_addrs()[0].1;
    (plane, addr)
}

fn state_of(plane: &DataPlane, id: &str) -> TargetHealthState {
    plane
        .target_health()
        .into_iter()
        .find(|t| t.target_id == id)
        .map(|t| t.health.state)
        .unwrap_or_else(|| panic!("no target {id}"))
}

fn all_healthy(plane: &DataPlane) -> bool {
    plane
        .target_health()
        .iter()
        .all(|t| t.health.state == TargetHealthState::Healthy)
}

// === Clients ===

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

struct Answer {
    status: StatusCode,
    version: Version,
    headers: http::HeaderMap,
    body: String,
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: &str,
    url: String,
    body: &'static str,
) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let resp = client
        .request(req)
        .await
        .expect("the load balancer answers");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get(client: &Client<HttpConnector, Full<Bytes>>, lb: SocketAddr, path: &str) -> Answer {
    send(client, "GET", format!("http://{lb}{path}"), "").await
}

/// Sends `n` GETs and counts answers by body (the backend's name).
async fn spread(lb: SocketAddr, n: usize) -> HashMap<String, usize> {
    let c = client();
    let mut seen = HashMap::new();
    for _ in 0..n {
        let a = get(&c, lb, "/").await;
        assert_eq!(a.status, StatusCode::OK, "body: {}", a.body);
        *seen.entry(a.body).or_insert(0) += 1;
    }
    seen
}

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
        let seen = spread(lb, 30).await;
        assert_eq!(seen.get("b"), None);
        assert_eq!(seen.values().sum::<usize>(), 30, "every GET answered 200");

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

        let slow = tokio::spawn(async move { get(&client(), lb, "/slow?1500").await });
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
        assert_eq!(report.in_flight, 1, "the slow request is still in flight");

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
        let options = DataPlaneOptions {
            idle_timeout: Duration::from_millis(500),
            ..DataPlaneOptions::default()
        };
        let plane = DataPlane::with_options(options);
        plane.apply(single(&[], health_check(100))).await.unwrap();
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
        plane.apply(single(&[&a], health_check(100))).await.unwrap();
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
