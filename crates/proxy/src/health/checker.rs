//! The health check shell: one tokio task per checked target that probes it every `interval`
//! (the first probe immediately) and feeds the result to the target's state machine.
//!
//! A probe is what ALB sends: a new connection each time, `GET <path>` over HTTP/1.1 with
//! `Host: <target ip>:<port>` and `Connection: close`, bounded as a whole by `timeout`; success
//! is a status the matcher accepts. A `TCP` health check only opens the connection.
//! This module decides nothing: verdicts belong to [`super::state`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use model::{HealthCheck, HealthCheckPort, Matcher, Protocol};
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
    pub(crate) path: String,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) matcher: Matcher,
    pub(crate) thresholds: Thresholds,
}

impl Probe {
    pub(crate) fn new(hc: &HealthCheck, target: SocketAddr) -> Probe {
        let port = match hc.port {
            HealthCheckPort::TrafficPort => target.port(),
            HealthCheckPort::Port(p) => p,
        };
        Probe {
            addr: SocketAddr::new(target.ip(), port),
            protocol: hc.protocol,
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

/// Connects and, for HTTP, asks. `Ok(None)` is a TCP check that connected.
async fn attempt(probe: &Probe) -> Result<Option<u16>, String> {
    let stream = TcpStream::connect(probe.addr)
        .await
        .map_err(|e| format!("connect to {}: {e}", probe.addr))?;
    if probe.protocol == Protocol::Tcp {
        return Ok(None);
    }
    let _ = stream.set_nodelay(true);
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
    Ok(Some(response.status().as_u16()))
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
        Probe::new(&hc, addr)
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
