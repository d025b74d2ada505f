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
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{Either, Empty};
use hyper::body::{Body, Incoming};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use model::ProtocolVersion;

use super::head::{UpstreamError, UpstreamHead};
use super::headers::{Forwarded, remove_hop_by_hop};
use super::{ProxyBody, actions, desync, trace};
use crate::HeaderView;
use crate::access_log::{self, AccessLog};
use crate::counters::{GroupCounters, Outcome};
use crate::fault::Effect;
use crate::framing::{Refusal, Verdict};
use crate::metrics::ListenerCounters;
use crate::plane::Shared;
use crate::routing::{GroupRoute, ListenerRoute, RouteAction, Stick};
use crate::rules::RequestFacts;
use crate::target::{InFlightGuard, TargetRuntime};
use crate::upstream::{Lease, UpstreamBody};
use crate::{clock, error, passive, sticky};

/// Facts about the client connection a request arrived on, and what its socket saw.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    pub(crate) listener: Arc<str>,
    pub(crate) client: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) counters: Arc<ListenerCounters>,
    /// When bytes last moved (idle timeout).
    pub(crate) activity: Activity,
    /// Its `X-Forwarded-For` / `-Port` values.
    pub(crate) forwarded: Forwarded,
    /// Requests the service has seen on this connection.
    served: AtomicU64,
    /// The first request the socket's framing tracker refused: `index << 1 | kind`
    /// (`NOT_REFUSED` when none), see [`crate::framing`].
    refused: AtomicU64,
}

const NOT_REFUSED: u64 = u64::MAX;

impl ConnInfo {
    pub(crate) fn new(
        listener: Arc<str>,
        client: SocketAddr,
        local: SocketAddr,
        counters: Arc<ListenerCounters>,
    ) -> Self {
        ConnInfo {
            listener,
            client,
            local,
            counters,
            activity: Activity::new(),
            forwarded: Forwarded::new(client.ip(), local.port()),
            served: AtomicU64::new(0),
            refused: AtomicU64::new(NOT_REFUSED),
        }
    }

    /// Records the framing tracker's verdict (it has at most one per connection).
    pub(crate) fn refuse(&self, v: Verdict) {
        let kind = match v.refusal {
            Refusal::BothLengths => 0,
            Refusal::BadChunk => 1,
        };
        self.refused
            .store(v.request.saturating_mul(2) | kind, Ordering::Relaxed);
    }

    /// Counts the next request the service sees; its refusal, if the tracker refused it.
    fn next_request(&self) -> Option<Refusal> {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        let refused = self.refused.load(Ordering::Relaxed);
        let refusal = if refused & 1 == 0 {
            Refusal::BothLengths
        } else {
            Refusal::BadChunk
        };
        (refused != NOT_REFUSED && refused >> 1 == n).then_some(refusal)
    }
}

/// When bytes last moved on a connection, in ms since the connection started.
#[derive(Debug)]
pub(crate) struct Activity {
    start: tokio::time::Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            start: tokio::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn touch(&self) {
        let ms = tokio::time::Instant::now()
            .saturating_duration_since(self.start)
            .as_millis();
        self.last_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `timeout` (ALB's idle timeout).
    pub(crate) async fn idle_for(&self, timeout: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + timeout;
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// The hyper service function of every listener connection.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    ListenerCounters::add(&conn.counters.requests, 1);
    if let Some(refusal) = conn.next_request() {
        conn.counters.elb(400);
        tracing::warn!(client = %conn.client, why = refusal.as_str(), "refused a request before forwarding it (desync mitigation)");
        return Ok(error::bad_request_and_close());
    }
    if let Some(why) = desync::refuse(req.version(), req.headers()) {
        conn.counters.elb(400);
        tracing::warn!(client = %conn.client, why, "refused an ambiguous request (desync mitigation)");
        return Ok(error::bad_request_and_close());
    }
    let now = clock::now_ms();
    // Phases 1 and 2: route (listener → rules → action) and pick a target, on one snapshot.
    let facts = RequestFacts {
        method: req.method().as_str(),
        host: host_of(&req),
        path: req.uri().path(),
        query: req.uri().query(),
        headers: req.headers().into(),
        source: conn.client.ip(),
    };
    let (decision, log) = {
        let routing = shared.routing.load();
        decide(
            &shared,
            &conn,
            routing.listeners.get(&*conn.listener),
            &facts,
            now,
        )
    };
    let trace_id = trace::for_request(
        req.headers()
            .get(trace::X_AMZN_TRACE_ID)
            .and_then(|v| v.to_str().ok()),
        shared.options.epoch_unix_secs + now / 1000,
        rand::random(),
    );
    let pending = log.map(|ctx| {
        let request = LogRequest {
            method: req.method().as_str(),
            host: host_of(&req),
            path_and_query: req.uri().path_and_query().map_or("/", |p| p.as_str()),
            version: match req.version() {
                http::Version::HTTP_2 => "HTTP/2.0",
                http::Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            received: req.body().size_hint().exact().unwrap_or(0),
        };
        LogPending::new(
            ctx,
            &request,
            &conn,
            &shared,
            trace_id.to_str().unwrap_or("-"),
        )
    });
    let plan = match decision {
        Decision::Respond(response, kind) => {
            let action = kind.count(&conn.counters, response.status().as_u16());
            if let Some(p) = pending {
                p.write(&shared, Sent::of(&response), action, None, None);
            }
            return Ok(response);
        }
        Decision::Forward(plan) => plan,
    };
    // Phase 3: forward.
    let (parts, body) = req.into_parts();
    let (head, client_upgrade) = UpstreamHead::new(parts, &conn, plan.scheme, trace_id);
    let sent_at = pending.as_ref().map(|_| tokio::time::Instant::now());
    let outcome = forward(&shared, &plan, head, body, now).await;
    let target_time = sent_at.map(|t| t.elapsed());
    // Phase 4: respond.
    let (response, counted) = respond(outcome, plan.stick, plan.group_cookie, client_upgrade);
    if let Outcome::Elb(code) = counted {
        conn.counters.elb(code);
    }
    plan.counters.count(counted);
    if let Some(p) = pending {
        let target_status =
            matches!(counted, Outcome::Target(_)).then(|| response.status().as_u16());
        p.write(
            &shared,
            Sent::of(&response),
            "forward",
            Some((&plan.group, plan.target.addr, target_status)),
            target_time,
        );
    }
    Ok(response)
}

/// What an access log entry needs from the request, borrowed from either request path.
pub(super) struct LogRequest<'a> {
    pub(super) method: &'a str,
    pub(super) host: Option<&'a str>,
    pub(super) path_and_query: &'a str,
    pub(super) version: &'static str,
    pub(super) user_agent: Option<&'a str>,
    /// Request body bytes.
    pub(super) received: u64,
}

/// What an access log entry needs from the request, taken before the request moves on.
pub(super) struct LogPending {
    ctx: LogCtx,
    method: String,
    url: String,
    version: &'static str,
    user_agent: String,
    domain: String,
    received: u64,
    client: SocketAddr,
    trace_id: String,
    created_micros: u64,
}

/// What the client was sent, for its access log entry.
pub(super) struct Sent<'a> {
    pub(super) status: u16,
    pub(super) redirect: Option<&'a str>,
    /// Response body bytes.
    pub(super) bytes: u64,
}

impl<'a> Sent<'a> {
    pub(super) fn of(response: &'a Response<ProxyBody>) -> Self {
        Sent {
            status: response.status().as_u16(),
            redirect: response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok()),
            bytes: response.body().size_hint().exact().unwrap_or(0),
        }
    }
}

impl LogPending {
    pub(super) fn new(
        ctx: LogCtx,
        req: &LogRequest<'_>,
        conn: &ConnInfo,
        shared: &Shared,
        trace_id: &str,
    ) -> Self {
        let host = req.host.unwrap_or("-");
        LogPending {
            method: req.method.to_owned(),
            url: format!("{}://{host}{}", ctx.scheme, req.path_and_query),
            version: req.version,
            user_agent: req.user_agent.unwrap_or("-").to_owned(),
            domain: host.to_owned(),
            received: req.received,
            client: conn.client,
            trace_id: trace_id.to_owned(),
            created_micros: unix_micros(shared),
            ctx,
        }
    }

    pub(super) fn write(
        self,
        shared: &Shared,
        sent: Sent<'_>,
        actions: &str,
        target: Option<(&Arc<GroupRoute>, SocketAddr, Option<u16>)>,
        target_time: Option<Duration>,
    ) {
        let entry = access_log::Entry {
            load_balancer: &self.ctx.load_balancer,
            client: Some(self.client),
            target: target.map(|t| t.1),
            target_processing: target_time
                .filter(|_| target.is_some_and(|t| t.2.is_some()))
                .map(|d| d.as_secs_f64()),
            elb_status: sent.status,
            target_status: target.and_then(|t| t.2),
            received_bytes: self.received,
            sent_bytes: sent.bytes,
            method: &self.method,
            url: self.url.clone(),
            version: self.version,
            user_agent: &self.user_agent,
            target_group_arn: target.map(|t| &*t.0.arn),
            trace_id: &self.trace_id,
            domain: &self.domain,
            rule_priority: self.ctx.priority,
            request_creation_micros: self.created_micros,
            actions,
            redirect_url: sent.redirect,
            error_reason: None,
        };
        self.ctx.log.write(&entry, unix_micros(shared));
    }
}

/// Wall-clock microseconds: the data plane's start (given by the control plane) plus the
/// monotonic time since.
fn unix_micros(shared: &Shared) -> u64 {
    shared.options.epoch_unix_secs * 1_000_000 + clock::now_ms() * 1000
}

/// Where and how a listener logs requests.
pub(super) struct LogCtx {
    log: Arc<AccessLog>,
    load_balancer: String,
    priority: u32,
    scheme: &'static str,
}

/// What routing decided for a request.
pub(super) enum Decision {
    /// The load balancer answers itself (fixed response, redirect, or an error).
    Respond(Response<ProxyBody>, Generated),
    Forward(Plan),
}

/// What kind of answer the load balancer generated, for its metrics.
pub(super) enum Generated {
    FixedResponse,
    Redirect,
    Error,
}

impl Generated {
    /// Counts an answer of this kind; returns the action name access logs give it.
    pub(super) fn count(&self, c: &ListenerCounters, status: u16) -> &'static str {
        match self {
            Generated::FixedResponse => {
                ListenerCounters::add(&c.fixed_responses, 1);
                "fixed-response"
            }
            Generated::Redirect => {
                ListenerCounters::add(&c.redirects, 1);
                "redirect"
            }
            Generated::Error => {
                c.elb(status);
                "forward"
            }
        }
    }
}

/// A request on its way to a target.
pub(super) struct Plan {
    pub(super) group: Arc<GroupRoute>,
    /// The group's request counters, looked up once per request.
    pub(super) counters: Arc<GroupCounters>,
    pub(super) target: Arc<TargetRuntime>,
    pub(super) stick: Option<Stick>,
    pub(super) group_cookie: Option<HeaderValue>,
    pub(super) scheme: &'static str,
    pub(super) idle_timeout: Duration,
}

/// Phases 1 and 2 on the listener's routing (from one snapshot): the action for the request,
/// and the target when it forwards.
pub(super) fn decide(
    shared: &Shared,
    conn: &ConnInfo,
    listener: Option<&ListenerRoute>,
    facts: &RequestFacts<'_>,
    now: u64,
) -> (Decision, Option<LogCtx>) {
    // A listener being removed still finishes its connections; their new requests get a 503.
    let Some(listener) = listener else {
        return (
            Decision::Respond(error::service_unavailable(), Generated::Error),
            None,
        );
    };
    let (action, priority) = listener.action(facts);
    let log = listener.access_log.as_ref().map(|log| LogCtx {
        log: Arc::clone(log),
        load_balancer: listener.load_balancer.clone(),
        priority,
        scheme: listener.scheme,
    });
    let decision = match action {
        RouteAction::FixedResponse(f) => {
            Decision::Respond(actions::fixed_response(f), Generated::FixedResponse)
        }
        RouteAction::Redirect(r) => Decision::Respond(
            actions::redirect(r, facts, listener.scheme, conn.local.port()),
            Generated::Redirect,
        ),
        RouteAction::Forward(fwd) => {
            let Some(choice) = fwd.pick_group(facts.headers) else {
                return (
                    Decision::Respond(error::service_unavailable(), Generated::Error),
                    log,
                );
            };
            let Some(target) = choice.group.pick(facts.headers, None, now) else {
                shared.counters(&choice.group.key).count(Outcome::Elb(503));
                return (
                    Decision::Respond(error::service_unavailable(), Generated::Error),
                    log,
                );
            };
            Decision::Forward(Plan {
                counters: shared.counters(&choice.group.key),
                group: Arc::clone(choice.group),
                target: target.target,
                stick: target.stick,
                group_cookie: choice.set_cookie,
                scheme: listener.scheme,
                idle_timeout: listener.idle_timeout,
            })
        }
    };
    (decision, log)
}

/// The `Host` header, or the HTTP/2 `:authority`.
pub(super) fn host_of<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
}

/// A target's answer: the response, the in-flight guard it holds, and the pooled connection
/// to give back once the body is done (HTTP/1.1 only).
struct Answer {
    response: Response<Incoming>,
    guard: InFlightGuard,
    lease: Option<Lease>,
}

async fn forward(
    shared: &Shared,
    plan: &Plan,
    head: UpstreamHead,
    body: Incoming,
    now: u64,
) -> Result<Answer, UpstreamError> {
    let target = &plan.target;
    shared.retry_budget.deposit();
    let replayable = head.is_idempotent() && body.is_end_stream();
    if !replayable {
        return attempt(shared, plan, target, head, Either::Left(body)).await;
    }
    let first = attempt(
        shared,
        plan,
        target,
        head.clone(),
        Either::Right(Empty::new()),
    )
    .await;
    match first {
        Err(e) if e.target_unreachable() => {
            let Some(other) = retry_target(shared, plan, target, &e, now) else {
                return Err(e);
            };
            attempt(shared, plan, &other, head, Either::Right(Empty::new())).await
        }
        outcome => outcome,
    }
}

/// Where to send a replayable request again after `failed` was unreachable (`e`): another
/// target if there is one, the same one only when a pooled keep-alive connection broke (a new
/// connection will likely do); none when the retry budget is spent. Both request paths ask it.
pub(super) fn retry_target(
    shared: &Shared,
    plan: &Plan,
    failed: &Arc<TargetRuntime>,
    e: &UpstreamError,
    now: u64,
) -> Option<Arc<TargetRuntime>> {
    // Stickiness is not consulted for a retry (`exclude` is set), so no headers are needed.
    let other = plan
        .group
        .pick(HeaderView::Raw(&[]), Some(failed), now)
        .map(|c| c.target)
        .or_else(|| {
            matches!(e, UpstreamError::Closed { reused: true, .. }).then(|| Arc::clone(failed))
        })?;
    if !shared.retry_budget.withdraw() {
        tracing::debug!(failed = %failed.id, "retry budget exhausted; not retrying");
        return None;
    }
    tracing::debug!(failed = %failed.id, retry = %other.id, "retrying");
    Some(other)
}

/// A drill's fault on the path to a target (see `crate::fault`): a delay to wait before
/// sending, or the failure to report instead of sending. Both request paths apply it.
pub(super) fn fault(effect: Effect) -> Result<Duration, UpstreamError> {
    match effect {
        Effect::Delay(d) => Ok(d),
        Effect::Reset => Err(UpstreamError::Closed {
            detail: "injected fault: connection reset".into(),
            reused: false,
        }),
        Effect::Status(code) => Err(UpstreamError::Injected(code)),
    }
}

async fn attempt(
    shared: &Shared,
    plan: &Plan,
    target: &Arc<TargetRuntime>,
    head: UpstreamHead,
    body: UpstreamBody,
) -> Result<Answer, UpstreamError> {
    let guard = target.begin_request();
    // Drills inject faults here, on the path to the target (see `crate::fault`).
    if let Some(effect) = shared.fault_effect(target) {
        tokio::time::sleep(fault(effect)?).await;
    }
    let connect_timeout = shared.options.connect_timeout;
    let pool = &target.pool;
    let exchange = async {
        match plan.group.protocol_version {
            ProtocolVersion::Http1 => {
                let req = head.into_h1(target.addr, body);
                let (response, lease) = pool
                    .send_h1(target.addr, connect_timeout, req)
                    .await
                    .map_err(UpstreamError::classify)?;
                Ok((response, Some(lease)))
            }
            ProtocolVersion::Http2 | ProtocolVersion::Grpc => {
                let req = head.into_h2(target.addr, body)?;
                let response = pool
                    .send_h2(target.addr, connect_timeout, req)
                    .await
                    .map_err(UpstreamError::classify)?;
                Ok((response, None))
            }
        }
    };
    // A retry stays in the plan's target group.
    let group_counters = &plan.counters;
    let sent_at = tokio::time::Instant::now();
    // ALB answers 504 when the target stays silent for the load balancer's idle timeout.
    let error = match tokio::time::timeout(plan.idle_timeout, exchange).await {
        Ok(Ok((response, lease))) => {
            count_success(
                group_counters,
                target,
                response.status().as_u16(),
                sent_at.elapsed(),
            );
            return Ok(Answer {
                response,
                guard,
                lease,
            });
        }
        Ok(Err(e)) => e,
        Err(_) => UpstreamError::ResponseTimeout,
    };
    count_failure(group_counters, target, &error);
    Err(error)
}

/// Counts an answered attempt on `target` (both request paths): `TargetResponseTime`, and a
/// 5xx or a success for passive ejection.
pub(super) fn count_success(
    counters: &GroupCounters,
    target: &TargetRuntime,
    status: u16,
    response_time: Duration,
) {
    counters.response_time.record(response_time);
    let outcome = if status >= 500 {
        passive::Outcome::ServerError
    } else {
        passive::Outcome::Success
    };
    eject_if_tripped(target, outcome);
}

/// Counts a failed attempt on `target` (both request paths): `TargetConnectionErrorCount`,
/// passive ejection, and a warning.
pub(super) fn count_failure(
    counters: &GroupCounters,
    target: &TargetRuntime,
    error: &UpstreamError,
) {
    if matches!(
        error,
        UpstreamError::Refused(_) | UpstreamError::ConnectTimeout
    ) {
        ListenerCounters::add(&counters.connection_errors, 1);
    }
    if error.target_unreachable() || matches!(error, UpstreamError::ConnectTimeout) {
        eject_if_tripped(target, passive::Outcome::ConnectFailure);
    }
    tracing::warn!(target_group = %target.target_group, target = %target.id, addr = %target.addr, %error, "upstream request failed");
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

/// The load balancer's answer when the exchange with the target failed.
pub(super) fn failure(e: &UpstreamError) -> (Response<ProxyBody>, Outcome) {
    match e {
        UpstreamError::ConnectTimeout | UpstreamError::ResponseTimeout => {
            (error::gateway_timeout(), Outcome::Elb(504))
        }
        UpstreamError::Injected(code) => (error::injected(*code), Outcome::Target(*code)),
        UpstreamError::ClientBody(_) => (error::bad_request_and_close(), Outcome::Elb(400)),
        _ => (error::bad_gateway(), Outcome::Elb(502)),
    }
}

fn respond(
    outcome: Result<Answer, UpstreamError>,
    stick: Option<Stick>,
    group_cookie: Option<HeaderValue>,
    client_upgrade: Option<OnUpgrade>,
) -> (Response<ProxyBody>, Outcome) {
    let Answer {
        response,
        guard,
        lease,
    } = match outcome {
        Ok(answer) => answer,
        Err(e) => return failure(&e),
    };
    let (mut parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    if parts.status == StatusCode::SWITCHING_PROTOCOLS {
        // WebSocket: splice the two upgraded connections once both sides have switched.
        let (Some(client), Some(upstream)) =
            (client_upgrade, parts.extensions.remove::<OnUpgrade>())
        else {
            return (error::bad_gateway(), Outcome::Elb(502));
        };
        tokio::spawn(tunnel(client, upstream, guard));
        let mut headers = std::mem::take(&mut parts.headers);
        let upgrade = headers.remove(header::UPGRADE);
        remove_hop_by_hop(&mut headers);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(u) = upgrade {
            headers.insert(header::UPGRADE, u);
        }
        parts.headers = headers;
        drop(body);
        return (
            Response::from_parts(parts, ProxyBody::empty()),
            Outcome::Target(status),
        );
    }
    remove_hop_by_hop(&mut parts.headers);
    if let Some(stick) = stick
        && stick
            .when_app_sets
            .as_deref()
            .is_none_or(|app| sticky::sets_cookie((&parts.headers).into(), app))
    {
        parts.headers.append(header::SET_COOKIE, stick.cookie);
    }
    if let Some(cookie) = group_cookie {
        parts.headers.append(header::SET_COOKIE, cookie);
    }
    (
        Response::from_parts(parts, ProxyBody::upstream(body, guard, lease)),
        Outcome::Target(status),
    )
}

/// Copies bytes both ways between an upgraded client connection and its target until either
/// side closes, or the target's deregistration ends (`Pool::cut`). The request stays in flight
/// (for draining) while the tunnel is open.
async fn tunnel(client: OnUpgrade, upstream: OnUpgrade, guard: InFlightGuard) {
    let mut cut = guard.target().pool.on_cut();
    let splice = async {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "upgraded connection ended");
        }
    };
    tokio::select! {
        () = splice => {}
        _ = cut.changed() => {
            let t = guard.target();
            tracing::info!(target_group = %t.target_group, target = %t.id, "upgraded connection closed: the target's deregistration is over");
        }
    }
    drop(guard);
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
    pub(super) fn deposit(&self) {
        if self.balance.load(Ordering::Relaxed) < Self::CAP {
            self.balance.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes one retry if the budget has it.
    pub(super) fn withdraw(&self) -> bool {
        let before = self.balance.fetch_sub(Self::COST, Ordering::Relaxed);
        if before >= Self::COST {
            return true;
        }
        self.balance.fetch_add(Self::COST, Ordering::Relaxed);
        false
    }
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
