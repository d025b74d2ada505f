//! The request phases: `route` → `pick_target` → `forward` → `respond`.
//!
//! Invariants:
//! - the routing snapshot is loaded once per request, without waiting on anything, and released
//!   before the first await;
//! - a target's in-flight count covers the request from just before it is sent until the
//!   response body has been streamed to the client (or the attempt failed);
//! - a request is sent a second time only when that cannot repeat a side effect: it is
//!   idempotent (GET, HEAD, OPTIONS, PUT, DELETE), has no body, and the first target was not
//!   reachable (connection refused, or closed before any response).

use std::convert::Infallible;
use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, Version, header};
use http_body_util::{Either, Empty};
use hyper::body::{Body, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::ProxyBody;
use super::headers::{remove_hop_by_hop, set_forwarded};
use crate::counters::Outcome;
use crate::error;
use crate::fault::Effect;
use crate::plane::Shared;
use crate::routing::GroupRoute;
use crate::target::{InFlightGuard, TargetRuntime};

/// Request bodies sent upstream: the client's, streamed, or empty for replayable requests.
pub(crate) type UpstreamBody = Either<Incoming, Empty<Bytes>>;
pub(crate) type UpstreamClient = Client<HttpConnector, UpstreamBody>;

/// Idle pooled upstream connections are closed after this long. Shorter than common server
/// keep-alive timeouts, so the pool rarely picks a connection the target is about to close.
const UPSTREAM_POOL_IDLE: Duration = Duration::from_secs(20);

/// The pooled keep-alive client used for every target.
pub(crate) fn upstream_client(connect_timeout: Duration) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(UPSTREAM_POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// Facts about the client connection a request arrived on.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    pub(crate) listener: String,
    pub(crate) client: SocketAddr,
    pub(crate) local: SocketAddr,
}

/// The hyper service function of every listener connection.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    // Phase 1: route (listener → default action → target group).
    let Some((group, scheme)) = route(&shared, &conn) else {
        return Ok(error::service_unavailable());
    };
    let counters = shared.counters(&group.key);
    // Phase 2: pick a target.
    let Some(target) = group.pick(None) else {
        counters.count(Outcome::Elb(503));
        return Ok(error::service_unavailable());
    };
    // Phase 3: forward.
    let (parts, body) = req.into_parts();
    let head = UpstreamHead::new(parts, &conn, scheme);
    let outcome = forward(&shared, &group, target, head, body).await;
    // Phase 4: respond.
    let (response, counted) = respond(outcome);
    counters.count(counted);
    Ok(response)
}

fn route(shared: &Shared, conn: &ConnInfo) -> Option<(Arc<GroupRoute>, &'static str)> {
    let routing = shared.routing.load();
    // A listener being removed still finishes its connections; their new requests get a 503.
    let listener = routing.listeners.get(&conn.listener)?;
    let group = listener.forward.pick_group()?;
    Some((Arc::clone(group), listener.scheme))
}

async fn forward(
    shared: &Shared,
    group: &GroupRoute,
    target: Arc<TargetRuntime>,
    head: UpstreamHead,
    body: Incoming,
) -> Result<(Response<Incoming>, InFlightGuard), UpstreamError> {
    let replayable = head.is_idempotent() && body.is_end_stream();
    if !replayable {
        return attempt(shared, &target, head, Either::Left(body)).await;
    }
    let first = attempt(shared, &target, head.clone(), Either::Right(Empty::new())).await;
    match first {
        Err(e) if e.target_unreachable() => {
            let Some(other) = group.pick(Some(&target)) else {
                return Err(e);
            };
            tracing::debug!(failed = %target.id, retry = %other.id, "retrying on another target");
            attempt(shared, &other, head, Either::Right(Empty::new())).await
        }
        outcome => outcome,
    }
}

async fn attempt(
    shared: &Shared,
    target: &Arc<TargetRuntime>,
    head: UpstreamHead,
    body: UpstreamBody,
) -> Result<(Response<Incoming>, InFlightGuard), UpstreamError> {
    let guard = target.begin_request();
    // Drills inject faults here, on the path to the target (see `crate::fault`).
    if let Some(effect) = shared.fault_effect(target) {
        match effect {
            Effect::Delay(d) => tokio::time::sleep(d).await,
            Effect::Reset => {
                return Err(UpstreamError::Closed(
                    "injected fault: connection reset".into(),
                ));
            }
            Effect::Status(code) => return Err(UpstreamError::Injected(code)),
        }
    }
    let request = head.into_request(target.addr, body)?;
    // ALB answers 504 when the target stays silent for the load balancer's idle timeout.
    let sent = tokio::time::timeout(shared.options.idle_timeout, shared.client.request(request));
    let error = match sent.await {
        Ok(Ok(response)) => return Ok((response, guard)),
        Ok(Err(e)) => UpstreamError::classify(&e),
        Err(_) => UpstreamError::ResponseTimeout,
    };
    tracing::warn!(target_group = %target.target_group, target = %target.id, addr = %target.addr, %error, "upstream request failed");
    Err(error)
}

fn respond(
    outcome: Result<(Response<Incoming>, InFlightGuard), UpstreamError>,
) -> (Response<ProxyBody>, Outcome) {
    match outcome {
        Ok((response, guard)) => {
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            let status = parts.status.as_u16();
            (
                Response::from_parts(parts, ProxyBody::upstream(body, guard)),
                Outcome::Target(status),
            )
        }
        Err(e) => match e {
            UpstreamError::ConnectTimeout | UpstreamError::ResponseTimeout => {
                (error::gateway_timeout(), Outcome::Elb(504))
            }
            UpstreamError::Injected(code) => (error::injected(code), Outcome::Target(code)),
            _ => (error::bad_gateway(), Outcome::Elb(502)),
        },
    }
}

/// The request head as the target receives it.
#[derive(Debug, Clone)]
struct UpstreamHead {
    method: Method,
    path_and_query: PathAndQuery,
    headers: HeaderMap,
}

impl UpstreamHead {
    fn new(parts: http::request::Parts, conn: &ConnInfo, scheme: &str) -> Self {
        let mut headers = parts.headers;
        remove_hop_by_hop(&mut headers);
        // HTTP/2 clients send `:authority` instead of Host; targets speak HTTP/1.1 and need Host.
        if !headers.contains_key(header::HOST)
            && let Some(authority) = parts.uri.authority()
            && let Ok(v) = HeaderValue::from_str(authority.as_str())
        {
            headers.insert(header::HOST, v);
        }
        set_forwarded(&mut headers, conn.client.ip(), scheme, conn.local.port());
        UpstreamHead {
            method: parts.method,
            path_and_query: parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            headers,
        }
    }

    fn is_idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        )
    }

    fn into_request(
        self,
        target: SocketAddr,
        body: UpstreamBody,
    ) -> Result<Request<UpstreamBody>, UpstreamError> {
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(target.to_string())
            .path_and_query(self.path_and_query)
            .build()
            .map_err(|e| UpstreamError::Other(e.to_string()))?;
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = self.headers;
        Ok(request)
    }
}

/// How an upstream exchange failed, in the terms that decide 502 vs 504 and retry.
#[derive(Debug, thiserror::Error)]
enum UpstreamError {
    /// Nothing accepted the connection (the target process is gone): 502, retry-safe.
    #[error("could not connect: {0}")]
    Refused(String),
    /// The connection closed or reset before any response: 502, retry-safe for idempotent
    /// requests without a body.
    #[error("connection closed before a response: {0}")]
    Closed(String),
    /// The TCP connection was not established within the connect timeout: 504.
    #[error("connect timed out")]
    ConnectTimeout,
    /// No response within the idle timeout: 504.
    #[error("no response within the idle timeout")]
    ResponseTimeout,
    /// Anything else (malformed response, client body error): 502.
    #[error("{0}")]
    Other(String),
    /// A drill made the target "answer" with this status.
    #[error("injected fault: status {0}")]
    Injected(u16),
}

impl UpstreamError {
    fn target_unreachable(&self) -> bool {
        matches!(self, UpstreamError::Refused(_) | UpstreamError::Closed(_))
    }

    fn classify(e: &hyper_util::client::legacy::Error) -> UpstreamError {
        let chain = || causes(e);
        let io_kind = chain().find_map(|e| e.downcast_ref::<io::Error>().map(io::Error::kind));
        if e.is_connect() {
            return match io_kind {
                Some(io::ErrorKind::TimedOut) => UpstreamError::ConnectTimeout,
                _ => UpstreamError::Refused(describe(e)),
            };
        }
        let closed = chain()
            .filter_map(|e| e.downcast_ref::<hyper::Error>())
            .any(|h| h.is_incomplete_message() || h.is_canceled() || h.is_closed())
            || matches!(
                io_kind,
                Some(io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
            );
        if closed {
            UpstreamError::Closed(describe(e))
        } else {
            UpstreamError::Other(describe(e))
        }
    }
}

/// `e` and its causes on one line.
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let all: Vec<String> = causes(e).map(ToString::to_string).collect();
    all.join(": ")
}

/// `e` and its sources, outermost first.
fn causes<'a>(
    e: &'a hyper_util::client::legacy::Error,
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(
        Some(e as &(dyn StdError + 'static)),
        |e: &&'a (dyn StdError + 'static)| (*e).source(),
    )
}
