//! The request phases: `route` (rules → action) → `pick_target` → `forward` → `respond`.
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
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, Version, header};
use http_body_util::{Either, Empty};
use hyper::body::{Body, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::headers::{remove_hop_by_hop, set_forwarded};
use super::{ProxyBody, actions};
use crate::counters::Outcome;
use crate::fault::Effect;
use crate::plane::Shared;
use crate::routing::{GroupRoute, RouteAction, Stick};
use crate::rules::RequestFacts;
use crate::target::{InFlightGuard, TargetRuntime};
use crate::{clock, error, passive, sticky};

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
    let now = clock::now_ms();
    // Phases 1 and 2: route (listener → rules → action) and pick a target, on one snapshot.
    let plan = match decide(&shared, &conn, &req, now) {
        Decision::Respond(response) => return Ok(response),
        Decision::Forward(plan) => plan,
    };
    // Phase 3: forward.
    let (parts, body) = req.into_parts();
    let head = UpstreamHead::new(parts, &conn, plan.scheme);
    let outcome = forward(&shared, &plan, head, body, now).await;
    // Phase 4: respond.
    let (response, counted) = respond(outcome, plan.stick, plan.group_cookie);
    shared.counters(&plan.group.key).count(counted);
    Ok(response)
}

/// What routing decided for a request.
enum Decision {
    /// The load balancer answers itself (fixed response, redirect, or an error).
    Respond(Response<ProxyBody>),
    Forward(Plan),
}

/// A request on its way to a target.
struct Plan {
    group: Arc<GroupRoute>,
    target: Arc<TargetRuntime>,
    stick: Option<Stick>,
    group_cookie: Option<HeaderValue>,
    scheme: &'static str,
    idle_timeout: Duration,
}

fn decide(shared: &Shared, conn: &ConnInfo, req: &Request<Incoming>, now: u64) -> Decision {
    let routing = shared.routing.load();
    // A listener being removed still finishes its connections; their new requests get a 503.
    let Some(listener) = routing.listeners.get(&conn.listener) else {
        return Decision::Respond(error::service_unavailable());
    };
    let facts = RequestFacts {
        method: req.method().as_str(),
        host: host_of(req),
        path: req.uri().path(),
        query: req.uri().query(),
        headers: req.headers(),
        source: conn.client.ip(),
    };
    match listener.action(&facts) {
        RouteAction::FixedResponse(f) => Decision::Respond(actions::fixed_response(f)),
        RouteAction::Redirect(r) => Decision::Respond(actions::redirect(
            r,
            &facts,
            listener.scheme,
            conn.local.port(),
        )),
        RouteAction::Forward(fwd) => {
            let Some(choice) = fwd.pick_group(req.headers()) else {
                return Decision::Respond(error::service_unavailable());
            };
            let Some(target) = choice.group.pick(req.headers(), None, now) else {
                shared.counters(&choice.group.key).count(Outcome::Elb(503));
                return Decision::Respond(error::service_unavailable());
            };
            Decision::Forward(Plan {
                group: Arc::clone(choice.group),
                target: target.target,
                stick: target.stick,
                group_cookie: choice.set_cookie,
                scheme: listener.scheme,
                idle_timeout: listener.idle_timeout,
            })
        }
    }
}

/// The `Host` header, or the HTTP/2 `:authority`.
fn host_of<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
}

async fn forward(
    shared: &Shared,
    plan: &Plan,
    head: UpstreamHead,
    body: Incoming,
    now: u64,
) -> Result<(Response<Incoming>, InFlightGuard), UpstreamError> {
    let target = &plan.target;
    shared.retry_budget.deposit();
    let replayable = head.is_idempotent() && body.is_end_stream();
    if !replayable {
        return attempt(shared, target, head, Either::Left(body), plan.idle_timeout).await;
    }
    let first = attempt(
        shared,
        target,
        head.clone(),
        Either::Right(Empty::new()),
        plan.idle_timeout,
    )
    .await;
    match first {
        Err(e) if e.target_unreachable() => {
            let Some(other) = plan.group.pick(&head.headers, Some(target), now) else {
                return Err(e);
            };
            if !shared.retry_budget.withdraw() {
                tracing::debug!(failed = %target.id, "retry budget exhausted; not retrying");
                return Err(e);
            }
            tracing::debug!(failed = %target.id, retry = %other.target.id, "retrying on another target");
            attempt(
                shared,
                &other.target,
                head,
                Either::Right(Empty::new()),
                plan.idle_timeout,
            )
            .await
        }
        outcome => outcome,
    }
}

async fn attempt(
    shared: &Shared,
    target: &Arc<TargetRuntime>,
    head: UpstreamHead,
    body: UpstreamBody,
    idle_timeout: Duration,
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
    let sent = tokio::time::timeout(idle_timeout, shared.client.request(request));
    let error = match sent.await {
        Ok(Ok(response)) => {
            let outcome = if response.status().is_server_error() {
                passive::Outcome::ServerError
            } else {
                passive::Outcome::Success
            };
            eject_if_tripped(target, outcome);
            return Ok((response, guard));
        }
        Ok(Err(e)) => UpstreamError::classify(&e),
        Err(_) => UpstreamError::ResponseTimeout,
    };
    if error.target_unreachable() || matches!(error, UpstreamError::ConnectTimeout) {
        eject_if_tripped(target, passive::Outcome::ConnectFailure);
    }
    tracing::warn!(target_group = %target.target_group, target = %target.id, addr = %target.addr, %error, "upstream request failed");
    Err(error)
}

fn eject_if_tripped(target: &TargetRuntime, outcome: passive::Outcome) {
    if let Some(time) = target.record_outcome(outcome, clock::now_ms()) {
        tracing::warn!(
            target_group = %target.target_group,
            target = %target.id,
            addr = %target.addr,
            ?outcome,
            ejected_for = ?time,
            "passive ejection: target taken out of rotation"
        );
    }
}

fn respond(
    outcome: Result<(Response<Incoming>, InFlightGuard), UpstreamError>,
    stick: Option<Stick>,
    group_cookie: Option<HeaderValue>,
) -> (Response<ProxyBody>, Outcome) {
    match outcome {
        Ok((response, guard)) => {
            let (mut parts, body) = response.into_parts();
            remove_hop_by_hop(&mut parts.headers);
            if let Some(stick) = stick
                && stick
                    .when_app_sets
                    .as_deref()
                    .is_none_or(|app| sticky::sets_cookie(&parts.headers, app))
            {
                parts.headers.append(header::SET_COOKIE, stick.cookie);
            }
            if let Some(cookie) = group_cookie {
                parts.headers.append(header::SET_COOKIE, cookie);
            }
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

/// Retries may add at most a fifth to the requests sent upstream (plus a small reserve), so a
/// failing fleet is not hit twice as hard (Envoy/Finagle-style retry budget).
#[derive(Debug)]
pub(crate) struct RetryBudget {
    /// In fifths of a retry.
    balance: AtomicI64,
}

impl RetryBudget {
    const COST: i64 = 5;
    const CAP: i64 = 20 * Self::COST;

    pub(crate) fn new() -> Self {
        RetryBudget {
            balance: AtomicI64::new(Self::CAP),
        }
    }

    /// Every request earns a fifth of a retry.
    fn deposit(&self) {
        if self.balance.load(Ordering::Relaxed) < Self::CAP {
            self.balance.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes one retry if the budget has it.
    fn withdraw(&self) -> bool {
        let before = self.balance.fetch_sub(Self::COST, Ordering::Relaxed);
        if before >= Self::COST {
            return true;
        }
        self.balance.fetch_add(Self::COST, Ordering::Relaxed);
        false
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_budget_allows_a_fifth_of_requests_as_retries() {
        let b = RetryBudget::new();
        // The reserve: 20 retries.
        assert_eq!((0..30).filter(|_| b.withdraw()).count(), 20);
        // Then one retry per five requests.
        for _ in 0..50 {
            b.deposit();
        }
        assert_eq!((0..30).filter(|_| b.withdraw()).count(), 10);
    }
}
