//! Test support for the proxy integration tests: backends that answer with their own name,
//! snapshot builders, clients, and time bounds. [`raw`]: HTTP/1.1 byte for byte on both sides.

pub mod raw;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use model::{
    Action, AvailabilityZone, HealthCheck, Protocol, TargetHealthState, TargetType,
    WeightedTargetGroup,
};
use proxy::{DataPlane, ListenerConfig, Snapshot, TargetConfig, TargetGroupConfig};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub const TEST_LIMIT: Duration = Duration::from_secs(30);

/// Runs a test body with a hard time limit.
pub async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("test exceeded its time limit");
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after 10 s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
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
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    pub health: Arc<AtomicU16>,
    pub hits: Arc<AtomicUsize>,
    pub probes: Arc<AtomicUsize>,
    /// Every non-health request waits this long (ms) before answering.
    pub delay_ms: Arc<AtomicU64>,
    pub server: JoinHandle<()>,
}

impl Backend {
    pub async fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicUsize::new(0));
        let probes = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let state = Counters {
            name: name.to_owned(),
            health: Arc::clone(&health),
            hits: Arc::clone(&hits),
            probes: Arc::clone(&probes),
            delay_ms: Arc::clone(&delay_ms),
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
                    // HTTP/1.1 and h2c (for HTTP2 target groups), like most servers.
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
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
            delay_ms,
            server,
        }
    }

    pub fn set_delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    pub fn set_health(&self, status: u16) {
        self.health.store(status, Ordering::Relaxed);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn probes(&self) -> usize {
        self.probes.load(Ordering::Relaxed)
    }

    /// Stops accepting and closes every connection, like a process that died.
    pub fn kill(&self) {
        self.server.abort();
    }

    pub fn target(&self) -> TargetConfig {
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
pub struct Counters {
    name: String,
    health: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    probes: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicU64>,
}

pub type TestBody = BoxBody<Bytes, Infallible>;

/// A body that sends `head` at once and ends only after `pause`: a response still streaming.
pub struct Trickle {
    head: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for Trickle {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        this.pause.as_mut().poll(cx).map(|()| None)
    }
}

pub fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

pub async fn answer(
    state: Counters,
    req: Request<Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/health" {
        state.probes.fetch_add(1, Ordering::Relaxed);
        let status = StatusCode::from_u16(state.health.load(Ordering::Relaxed)).unwrap();
        return Ok(Response::builder().status(status).body(full("")).unwrap());
    }
    state.hits.fetch_add(1, Ordering::Relaxed);
    let delay = state.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let name = state.name;
    let response = Response::builder().header("x-backend", name.as_str());
    let ms = req
        .uri()
        .query()
        .and_then(|q| q.parse().ok())
        .unwrap_or(1000);
    let response = match path.as_str() {
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response.body(full(name))
        }
        "/stream" => response.body(
            Trickle {
                head: Some(Bytes::from(name)),
                pause: Box::pin(tokio::time::sleep(Duration::from_millis(ms))),
            }
            .boxed(),
        ),
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
                .body(full(listing))
        }
        _ => response.body(full(name)),
    };
    Ok(response.unwrap())
}

// === Snapshots ===

pub fn health_check(interval_ms: u64) -> HealthCheck {
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

pub fn group(key: &str, targets: Vec<TargetConfig>, hc: HealthCheck) -> TargetGroupConfig {
    TargetGroupConfig {
        spec: model::TargetGroup {
            key: key.into(),
            name: key.into(),
            arn: format!("arn:updraft:elasticloadbalancing:local:targetgroup/{key}"),
            port: 80,
            protocol: Protocol::Http,
            target_type: TargetType::Ip,
            health_check: hc,
            // Long enough for requests in flight to finish when a target drains or is removed
            // (deregistration ends as soon as nothing is in flight).
            deregistration_delay: Duration::from_secs(5),
            protocol_version: model::ProtocolVersion::Http1,
            algorithm: model::Algorithm::RoundRobin,
            slow_start: Duration::ZERO,
            stickiness: None,
        },
        targets,
    }
}

pub fn listener(key: &str, bind: SocketAddr, target_group: &str) -> ListenerConfig {
    ListenerConfig {
        key: key.into(),
        load_balancer: "web".into(),
        load_balancer_arn_suffix: "app/web/0".into(),
        bind,
        protocol: Protocol::Http,
        default_action: Action::Forward {
            target_groups: vec![WeightedTargetGroup {
                target_group: target_group.into(),
                weight: 1,
            }],
            stickiness: None,
        },
        rules: Vec::new(),
        idle_timeout: Duration::from_secs(60),
        access_log: None,
    }
}

pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// One listener on a free port forwarding to one target group `app`.
pub fn single(backends: &[&Backend], hc: HealthCheck) -> Snapshot {
    Snapshot {
        listeners: vec![listener("http", any_port(), "app")],
        target_groups: vec![group(
            "app",
            backends.iter().map(|b| b.target()).collect(),
            hc,
        )],
        faults: vec![],
    }
}

pub async fn start(snapshot: Snapshot) -> (DataPlane, SocketAddr) {
    let plane = DataPlane::new();
    plane.apply(snapshot).await.expect("apply");
    let addr = plane.listener_addrs()[0].1;
    (plane, addr)
}

pub fn state_of(plane: &DataPlane, id: &str) -> TargetHealthState {
    plane
        .target_health()
        .into_iter()
        .find(|t| t.target_id == id)
        .map(|t| t.health.state)
        .unwrap_or_else(|| panic!("no target {id}"))
}

pub fn all_healthy(plane: &DataPlane) -> bool {
    plane
        .target_health()
        .iter()
        .all(|t| t.health.state == TargetHealthState::Healthy)
}

// === Clients ===

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub struct Answer {
    pub status: StatusCode,
    pub version: Version,
    pub headers: http::HeaderMap,
    pub body: String,
}

pub async fn send(
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

pub async fn get(
    client: &Client<HttpConnector, Full<Bytes>>,
    lb: SocketAddr,
    path: &str,
) -> Answer {
    send(client, "GET", format!("http://{lb}{path}"), "").await
}

/// Sends `n` GETs and counts answers by body (the backend's name).
pub async fn spread(lb: SocketAddr, n: usize) -> HashMap<String, usize> {
    let c = client();
    let mut seen = HashMap::new();
    for _ in 0..n {
        let a = get(&c, lb, "/").await;
        assert_eq!(a.status, StatusCode::OK, "body: {}", a.body);
        *seen.entry(a.body).or_insert(0) += 1;
    }
    seen
}
