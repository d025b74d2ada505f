//! The health check shell: one tokio task per checked target that probes it every `interval`
//! (the first probe immediately) and feeds the result to the target's state machine.
//!
//! A probe is what ALB sends: a new connection each time, bounded as a whole by `timeout`, in
//! the target group's protocol version:
//! - HTTP1: `GET <path>` over HTTP/1.1 with `Host: <target ip>:<port>` and
//!   `Connection: close`; success is an HTTP status the matcher accepts;
//! - HTTP2: the same `GET` over HTTP/2 (h2c with prior knowledge, as traffic to such targets);
//! - GRPC: an HTTP/2 `POST <path>` (default `/AWS.ALB/healthcheck`) with
//!   `content-type: application/grpc`, `te: trailers` and one empty message; success is a
//!   `grpc-status` (from the trailers, or the headers of a trailers-only answer) the matcher
//!   accepts (default 12, UNIMPLEMENTED: any gRPC server that is up answers that).
//!
//! A `TCP` health check only opens the connection.
//! This module decides nothing: verdicts belong to [`super::state`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use model::{HealthCheck, HealthCheckPort, Matcher, Protocol, ProtocolVersion};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{CheckOutcome, Thresholds};
use crate::target::TargetRuntime;

/// ALB's health checker identifies itself this way; apps often filter their logs on it.
const USER_AGENT: &str = "ELB-HealthChecker/2.0 (updraft)";

/// Everything one target's probes need, derived from its target group's health check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Probe {
    pub(crate) addr: SocketAddr,
    pub(crate) protocol: Protocol,
    /// The target group's protocol version: how HTTP checks are sent and matched.
    pub(crate) version: ProtocolVersion,
    pub(crate) path: String,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) matcher: Matcher,
    pub(crate) thresholds: Thresholds,
}

impl Probe {
    pub(crate) fn new(hc: &HealthCheck, version: ProtocolVersion, target: SocketAddr) -> Probe {
        let port = match hc.port {
            HealthCheckPort::TrafficPort => target.port(),
            HealthCheckPort::Port(p) => p,
        };
        Probe {
            addr: SocketAddr::new(target.ip(), port),
            protocol: hc.protocol,
            version,
            path: hc.path.clone(),
            // tokio's interval refuses zero; any positive period is accepted (tests use 100 ms).
            interval: hc.interval.max(Duration::from_millis(1)),
            timeout: hc.timeout,
            matcher: hc.matcher.clone(),
            thresholds: Thresholds::from(hc),
        }
    }
}

/// A running health check task; dropping it stops the checks.
#[derive(Debug)]
pub(crate) struct HealthTask {
    pub(crate) probe: Probe,
    handle: JoinHandle<()>,
}

impl Drop for HealthTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Starts checking `target` with `probe`, the first check right away.
pub(crate) fn spawn(target: Arc<TargetRuntime>, probe: Probe) -> HealthTask {
    let handle = tokio::spawn(run(target, probe.clone()));
    HealthTask { probe, handle }
}

async fn run(target: Arc<TargetRuntime>, probe: Probe) {
    let mut ticker = tokio::time::interval(probe.interval);
    // A slow probe pushes the next one back instead of firing a burst to catch up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let outcome = check_once(&probe).await;
        if let Some(t) = target.record(&outcome, probe.thresholds) {
            tracing::info!(
                target_group = %target.target_group,
                target = %target.id,
                addr = %target.addr,
                from = %t.from,
                to = %t.to.state,
                reason = t.to.reason.map(|r| r.as_str()),
                ?outcome,
                "target health changed"
            );
        }
    }
}

/// One probe, bounded by the health check timeout.
pub(crate) async fn check_once(probe: &Probe) -> CheckOutcome {
    match tokio::time::timeout(probe.timeout, attempt(probe)).await {
        Err(_) => CheckOutcome::Timeout,
        Ok(Err(detail)) => CheckOutcome::Failed { detail },
        Ok(Ok(None)) => CheckOutcome::Passed,
        Ok(Ok(Some(status))) if probe.matcher.matches(status) => CheckOutcome::Passed,
        Ok(Ok(Some(status))) => CheckOutcome::ResponseCodeMismatch { status },
    }
}

/// Connects and, for HTTP, asks. `Ok(None)` is a TCP check that connected; otherwise the code
/// the matcher judges (an HTTP status, or a gRPC status for GRPC target groups).
async fn attempt(probe: &Probe) -> Result<Option<u16>, String> {
    let stream = TcpStream::connect(probe.addr)
        .await
        .map_err(|e| format!("connect to {}: {e}", probe.addr))?;
    if probe.protocol == Protocol::Tcp {
        return Ok(None);
    }
    let _ = stream.set_nodelay(true);
    match probe.version {
        ProtocolVersion::Http1 => http1(probe, stream).await.map(Some),
        ProtocolVersion::Http2 | ProtocolVersion::Grpc => http2(probe, stream).await.map(Some),
    }
}

/// `GET <path>` over HTTP/1.1, `Connection: close`.
async fn http1(probe: &Probe, stream: TcpStream) -> Result<u16, String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let request = Request::get(probe.path.as_str())
        .header(header::HOST, probe.addr.to_string())
        .header(header::USER_AGENT, USER_AGENT)
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("health check path `{}`: {e}", probe.path))?;
    // Drive the connection in this task (not a spawned one) so that a timeout drops it all.
    let mut conn = std::pin::pin!(conn);
    let mut send = std::pin::pin!(sender.send_request(request));
    let response = tokio::select! {
        biased;
        r = send.as_mut() => r,
        r = conn.as_mut() => match r {
            // With `Connection: close` the connection may finish in the same poll that
            // delivered the response; the response is then waiting in `send`.
            Ok(()) => send.await,
            Err(e) => return Err(format!("connection: {e}")),
        },
    }
    .map_err(|e| format!("request: {e}"))?;
    Ok(response.status().as_u16())
}

/// gRPC's framing of one empty message: not compressed, length 0.
const EMPTY_GRPC_MESSAGE: [u8; 5] = [0; 5];

/// An HTTP/2 check: `GET <path>` (HTTP2 target groups) or the gRPC `POST <path>` (GRPC).
async fn http2(probe: &Probe, stream: TcpStream) -> Result<u16, String> {
    let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    // Driven here, so the timeout around the probe drops the connection with it.
    let mut conn = std::pin::pin!(conn);
    let uri = format!("http://{}{}", probe.addr, probe.path);
    let grpc = probe.version == ProtocolVersion::Grpc;
    let request = if grpc {
        Request::post(uri.as_str())
            .header(header::CONTENT_TYPE, "application/grpc")
            .header(header::TE, "trailers")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::from_static(&EMPTY_GRPC_MESSAGE)))
    } else {
        Request::get(uri.as_str())
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::new()))
    }
    .map_err(|e| format!("health check path `{}`: {e}", probe.path))?;
    let exchange = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        if grpc {
            grpc_status(response).await
        } else {
            Ok(response.status().as_u16())
        }
    };
    tokio::select! {
        biased;
        r = exchange => r,
        r = conn.as_mut() => Err(match r {
            Ok(()) => "the target closed the HTTP/2 connection".to_owned(),
            Err(e) => format!("connection: {e}"),
        }),
    }
}

/// The `grpc-status` of a gRPC answer: from a trailers-only response's headers, else from the
/// trailers after the body. A response that is not gRPC fails the check.
async fn grpc_status(response: Response<Incoming>) -> Result<u16, String> {
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP status {status} instead of a gRPC answer"));
    }
    if let Some(code) = parse_grpc_status(response.headers())? {
        return Ok(code);
    }
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    collected
        .trailers()
        .map(parse_grpc_status)
        .transpose()?
        .flatten()
        .ok_or_else(|| "the answer carries no grpc-status".to_owned())
}

fn parse_grpc_status(headers: &HeaderMap) -> Result<Option<u16>, String> {
    headers
        .get("grpc-status")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok())
                .ok_or_else(|| format!("grpc-status {v:?} is not a number"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn probe(addr: SocketAddr) -> Probe {
        let hc = HealthCheck {
            path: "/health".into(),
            timeout: Duration::from_millis(300),
            interval: Duration::from_millis(50),
            ..HealthCheck::default()
        };
        Probe::new(&hc, ProtocolVersion::Http1, addr)
    }

    /// A one-shot raw HTTP server: answers every connection with `status` and hands back what
    /// the client sent.
    async fn answering(status: u16) -> (SocketAddr, tokio::sync::mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0; 2048];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let _ = tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .await;
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        (addr, rx)
    }

    #[tokio::test]
    async fn sends_what_alb_sends_and_matches_the_status() {
        let (addr, mut seen) = answering(200).await;
        assert_eq!(check_once(&probe(addr)).await, CheckOutcome::Passed);
        let request = seen.recv().await.unwrap().to_ascii_lowercase();
        assert!(request.starts_with("get /health http/1.1\r\n"), "{request}");
        assert!(request.contains(&format!("host: {addr}\r\n")), "{request}");
        assert!(request.contains("connection: close\r\n"), "{request}");

        let (addr, _seen) = answering(503).await;
        assert_eq!(
            check_once(&probe(addr)).await,
            CheckOutcome::ResponseCodeMismatch { status: 503 }
        );
    }

    /// An h2c server answering every request with `grpc-status: <code>` (in the trailers, or
    /// trailers-only when `trailers_only`), or plain HTTP `http_status` when `code` is None;
    /// hands back (method, path, content-type) of what it got.
    async fn h2_answering(
        code: Option<&'static str>,
        trailers_only: bool,
        http_status: u16,
    ) -> (
        SocketAddr,
        tokio::sync::mpsc::Receiver<(String, String, String)>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let tx = tx.clone();
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let seen = (
                            req.method().to_string(),
                            req.uri().path().to_owned(),
                            req.headers()
                                .get(header::CONTENT_TYPE)
                                .map(|v| v.to_str().unwrap().to_owned())
                                .unwrap_or_default(),
                        );
                        let _ = tx.send(seen).await;
                        let mut resp = Response::builder().status(http_status);
                        let mut frames: Vec<Frame> = Vec::new();
                        if let Some(code) = code {
                            resp = resp.header(header::CONTENT_TYPE, "application/grpc");
                            if trailers_only {
                                resp = resp.header("grpc-status", code);
                            } else {
                                let mut t = HeaderMap::new();
                                t.insert("grpc-status", code.parse().unwrap());
                                frames.push(Ok(hyper::body::Frame::trailers(t)));
                            }
                        }
                        let body = http_body_util::StreamBody::new(Frames(frames.into_iter()));
                        Ok::<_, std::convert::Infallible>(resp.body(body).unwrap())
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(s), svc),
                );
            }
        });
        (addr, rx)
    }

    type Frame = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>;

    /// A response body made of these frames.
    struct Frames(std::vec::IntoIter<Frame>);

    impl futures_core::Stream for Frames {
        type Item = Frame;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Frame>> {
            std::task::Poll::Ready(self.0.next())
        }
    }

    #[tokio::test]
    async fn grpc_target_groups_are_checked_with_a_grpc_call_over_http2() {
        for trailers_only in [false, true] {
            let (addr, mut seen) = h2_answering(Some("12"), trailers_only, 200).await;
            let mut p = probe(addr);
            p.version = ProtocolVersion::Grpc;
            p.path = "/AWS.ALB/healthcheck".into();
            p.matcher = Matcher {
                ranges: vec![(12, 12)],
            };
            assert_eq!(check_once(&p).await, CheckOutcome::Passed);
            let (method, path, content_type) = seen.recv().await.unwrap();
            assert_eq!(
                (method.as_str(), path.as_str(), content_type.as_str()),
                ("POST", "/AWS.ALB/healthcheck", "application/grpc")
            );
            p.matcher = Matcher {
                ranges: vec![(0, 0)],
            };
            assert_eq!(
                check_once(&p).await,
                CheckOutcome::ResponseCodeMismatch { status: 12 }
            );
        }
        // An HTTP answer without grpc-status is a failed check, not a pass.
        let (addr, _seen) = h2_answering(None, false, 200).await;
        let mut p = probe(addr);
        p.version = ProtocolVersion::Grpc;
        let outcome = check_once(&p).await;
        assert!(
            matches!(outcome, CheckOutcome::Failed { .. }),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn http2_target_groups_are_checked_with_a_get_over_http2() {
        let (addr, mut seen) = h2_answering(None, false, 200).await;
        let mut p = probe(addr);
        p.version = ProtocolVersion::Http2;
        assert_eq!(check_once(&p).await, CheckOutcome::Passed);
        assert_eq!(seen.recv().await.unwrap().0, "GET");
        let (addr, _seen) = h2_answering(None, false, 503).await;
        let mut p = probe(addr);
        p.version = ProtocolVersion::Http2;
        assert_eq!(
            check_once(&p).await,
            CheckOutcome::ResponseCodeMismatch { status: 503 }
        );
        // An HTTP/1.1-only target fails an HTTP/2 check.
        let (addr, _seen) = answering(200).await;
        let mut p = probe(addr);
        p.version = ProtocolVersion::Http2;
        assert!(!check_once(&p).await.passed());
    }

    #[tokio::test]
    async fn refused_and_silent_targets_fail_differently() {
        // Bind then drop: nothing listens on this port any more.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let outcome = check_once(&probe(closed)).await;
        assert!(
            matches!(outcome, CheckOutcome::Failed { .. }),
            "{outcome:?}"
        );

        // Accepts (the kernel does, from the backlog) but never answers.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(
            check_once(&probe(silent.local_addr().unwrap())).await,
            CheckOutcome::Timeout
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn tcp_checks_only_connect_and_the_task_checks_at_once() {
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut p = probe(silent.local_addr().unwrap());
        p.protocol = Protocol::Tcp;
        // A long interval: only the immediate first check can make the target healthy in time.
        p.interval = Duration::from_secs(3600);
        let target = TargetRuntime::new("app", "i-1", p.addr);
        let task = spawn(Arc::clone(&target), p);
        tokio::time::timeout(Duration::from_secs(5), async {
            while !target.is_healthy() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("first check runs immediately");
        drop(task);
    }
}
