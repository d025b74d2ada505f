//! Phases 3 and 4 of the fast path: send the request to the target on a pooled socket (with
//! the safe retry), then relay the response head and body to the client in the same task.
//!
//! Invariants (as [`crate::l7::forward`]):
//! - a target's in-flight count covers the request from just before it is sent until the
//!   response body has been relayed (or the attempt failed);
//! - a request is sent a second time only when that cannot repeat a side effect: it is
//!   idempotent, has no body, and the first target was not reachable (refused, or the
//!   connection closed before any response byte);
//! - a connection goes back to the pool only after its response was read exactly to the end,
//!   and never after its target's deregistration ended (`Pool::cut`).

use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::io::{self, STREAM_READ};
use super::response::{self, Chunks, Framing, Rewrite};
use super::{Client, Next, answer};
use crate::counters::Outcome;
use crate::l7::forward::{
    ConnInfo, LogPending, Plan, Sent, count_failure, count_success, failure, fault, retry_target,
};
use crate::l7::head::UpstreamError;
use crate::metrics::ListenerCounters;
use crate::plane::Shared;
use crate::target::{InFlightGuard, TargetRuntime};
use crate::upstream::{Pool, RawConn, SendError};

/// Body bytes copied behind the head rather than written from where they are.
const SMALL_BODY: usize = 2048;

/// A routed request on its way to a target.
pub(super) struct Exchange {
    pub(super) plan: Plan,
    pub(super) upstream_head: Vec<u8>,
    pub(super) replayable: bool,
    pub(super) is_head: bool,
    /// The client asked to close the connection after the response.
    pub(super) close: bool,
    /// Body bytes still to read from the client (the rest came with the head).
    pub(super) body_rest: u64,
    pub(super) now: u64,
    /// Boxed: only listeners with access logs have one, and it is large.
    pub(super) log: Option<Box<LogPending>>,
}

/// A target's response head, on the connection still lent to this request.
struct Answer {
    guard: InFlightGuard,
    conn: RawConn,
    /// What was read from the target: the head, and maybe the start of the body.
    buf: Vec<u8>,
    head: response::Head,
    /// The head as the client receives it.
    out: Vec<u8>,
}

/// Forwards the request (`body` is the part of its body that came with the head) and relays
/// the answer.
pub(super) async fn proxy(
    client: &mut Client,
    info: &ConnInfo,
    shared: &Shared,
    mut x: Exchange,
    body: &[u8],
) -> Next {
    shared.retry_budget.deposit();
    let sent_at = x.log.as_ref().map(|_| client.timer.last());
    let target = Arc::clone(&x.plan.target);
    let mut outcome = attempt(client, info, shared, &x, &target, body).await;
    if x.replayable
        && let Err(e) = &outcome
        && e.target_unreachable()
        && let Some(other) = retry_target(shared, &x.plan, &target, e, x.now)
    {
        outcome = attempt(client, info, shared, &x, &other, body).await;
    }
    let target_time = sent_at.map(|t| client.timer.last().saturating_duration_since(t));
    io::recycle(std::mem::take(&mut x.upstream_head));
    match outcome {
        Ok(a) => relay(client, info, shared, &mut x, a, target_time).await,
        Err(e) => {
            let (response, counted) = failure(&e);
            if let Outcome::Elb(code) = counted {
                info.counters.elb(code);
            }
            x.plan.counters.count(counted);
            if let Some(log) = x.log {
                let target_status = match counted {
                    Outcome::Target(code) => Some(code),
                    Outcome::Elb(_) => None,
                };
                log.write(
                    shared,
                    Sent::of(&response),
                    "forward",
                    Some((&x.plan.group, target.addr, target_status)),
                    target_time,
                );
            }
            // A body the client is still sending (or that broke) leaves the connection in an
            // unknown state.
            let close = x.close || x.body_rest > 0 || matches!(e, UpstreamError::ClientBody(_));
            if answer(client, info, &response, close).await.is_err() || close {
                Next::Close
            } else {
                Next::KeepAlive
            }
        }
    }
}

async fn attempt(
    client: &mut Client,
    info: &ConnInfo,
    shared: &Shared,
    x: &Exchange,
    target: &Arc<TargetRuntime>,
    body: &[u8],
) -> Result<Answer, UpstreamError> {
    let guard = target.begin_request();
    // Drills inject faults here, on the path to the target (see `crate::fault`).
    if let Some(effect) = shared.fault_effect(target) {
        boxed_sleep(fault(effect)?).await;
    }
    let counters = &x.plan.counters;
    let conn = match target.pool.take_raw() {
        Some(conn) => Ok(conn),
        None => connect(target, shared.options.connect_timeout)
            .await
            .map_err(UpstreamError::classify),
    };
    // The timer's instants, read when waits end, time the target's response (no clock read).
    let sent_at = client.timer.last();
    let exchanged = match conn {
        Ok(conn) => exchange(client, info, x, conn, body).await,
        Err(e) => Err(e),
    };
    let error = match exchanged {
        Ok((conn, buf, head, out)) => {
            let response_time = client.timer.last().saturating_duration_since(sent_at);
            count_success(counters, target, head.status, response_time);
            return Ok(Answer {
                guard,
                conn,
                buf,
                head,
                out,
            });
        }
        Err(e) => e,
    };
    count_failure(counters, target, &error);
    Err(error)
}

// The two waits below are rare (a new connection, a drill's delay): boxed, they do not make
// every request's state larger (it is allocated and moved once per request).

fn connect(
    target: &TargetRuntime,
    timeout: Duration,
) -> Pin<Box<dyn Future<Output = Result<RawConn, SendError>> + Send + '_>> {
    Box::pin(target.pool.connect_raw(target.addr, timeout))
}

fn boxed_sleep(d: Duration) -> Pin<Box<tokio::time::Sleep>> {
    Box::pin(tokio::time::sleep(d))
}

/// Sends the request on `conn` and reads the response head.
async fn exchange(
    client: &mut Client,
    info: &ConnInfo,
    x: &Exchange,
    conn: RawConn,
    body: &[u8],
) -> Result<(RawConn, Vec<u8>, response::Head, Vec<u8>), UpstreamError> {
    let reused = conn.reused;
    let broke = |e: std::io::Error| match e.kind() {
        ErrorKind::TimedOut => UpstreamError::ResponseTimeout,
        _ => UpstreamError::Closed {
            detail: e.to_string(),
            reused,
        },
    };
    io::write_all(&conn.stream, &x.upstream_head, body, &mut client.timer)
        .await
        .map_err(broke)?;
    if x.body_rest > 0 {
        let mut chunk = io::buffer();
        let mut rest = x.body_rest;
        while rest > 0 {
            chunk.clear();
            let max = usize::try_from(rest).unwrap_or(usize::MAX).min(STREAM_READ);
            let n = io::read_some(&client.stream, &mut chunk, max, &mut client.timer)
                .await
                .map_err(|e| UpstreamError::ClientBody(e.to_string()))?;
            if n == 0 {
                return Err(UpstreamError::ClientBody(
                    "the client closed the connection in the middle of the body".into(),
                ));
            }
            ListenerCounters::add(&info.counters.processed_bytes, n as u64);
            io::write_all(&conn.stream, &chunk, &[], &mut client.timer)
                .await
                .map_err(|e| match e.kind() {
                    ErrorKind::TimedOut => UpstreamError::ResponseTimeout,
                    _ => UpstreamError::Other(format!("sending the body: {e}")),
                })?;
            rest -= n as u64;
        }
        io::recycle(chunk);
    }
    let rewrite = Rewrite {
        request_was_head: x.is_head,
        stick: x.plan.stick.as_ref(),
        group_cookie: x.plan.group_cookie.as_ref(),
        close: x.close,
    };
    let mut buf = io::buffer();
    let mut out = io::buffer();
    loop {
        let n = match io::read_some(&conn.stream, &mut buf, usize::MAX, &mut client.timer).await {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                return Err(UpstreamError::ResponseTimeout);
            }
            Err(e) if buf.is_empty() => {
                return Err(UpstreamError::Closed {
                    detail: e.to_string(),
                    reused,
                });
            }
            Err(e) => return Err(UpstreamError::Other(e.to_string())),
        };
        if n == 0 {
            return Err(if buf.is_empty() {
                UpstreamError::Closed {
                    detail: "the target closed the connection".into(),
                    reused,
                }
            } else {
                UpstreamError::Other("the target closed the connection mid-head".into())
            });
        }
        match response::parse(&buf, &rewrite, &mut out) {
            response::Parsed::Partial => {}
            response::Parsed::Informational(len) => {
                buf.drain(..len);
            }
            response::Parsed::Head(head) => return Ok((conn, buf, head, out)),
            response::Parsed::Invalid(why) => return Err(UpstreamError::Other(why)),
        }
    }
}

/// Phase 4: the response head, then its body as it streams from the target.
async fn relay(
    client: &mut Client,
    info: &ConnInfo,
    shared: &Shared,
    x: &mut Exchange,
    a: Answer,
    target_time: Option<Duration>,
) -> Next {
    let Answer {
        guard,
        conn,
        mut buf,
        head,
        mut out,
    } = a;
    x.plan.counters.count(Outcome::Target(head.status));
    let target = guard.target();
    let relayed = relay_body(client, info, &target.pool, &conn, &mut buf, &head, &mut out).await;
    let next = match relayed {
        Ok(Relayed { body, reusable }) => {
            if reusable && head.reusable && !target.pool.is_cut(&conn) {
                target.pool.give_back_raw(conn);
            }
            if let Some(log) = x.log.take() {
                log.write(
                    shared,
                    Sent {
                        status: head.status,
                        redirect: head.location.as_deref(),
                        bytes: body,
                    },
                    "forward",
                    Some((&x.plan.group, target.addr, Some(head.status))),
                    target_time,
                );
            }
            if x.close {
                Next::Close
            } else {
                Next::KeepAlive
            }
        }
        Err(why) => {
            tracing::debug!(target = %target.id, why, "response relay ended early");
            Next::Close
        }
    };
    io::recycle(buf);
    io::recycle(out);
    drop(guard);
    next
}

struct Relayed {
    /// Body bytes sent to the client.
    body: u64,
    /// The target's connection ended exactly at the end of the response.
    reusable: bool,
}

async fn relay_body(
    client: &mut Client,
    info: &ConnInfo,
    pool: &Pool,
    conn: &RawConn,
    buf: &mut Vec<u8>,
    head: &response::Head,
    out: &mut Vec<u8>,
) -> Result<Relayed, &'static str> {
    let target = &conn.stream;
    let start = head.len;
    let to_client = |n: usize| ListenerCounters::add(&info.counters.processed_bytes, n as u64);
    let (first, mut chunks, mut rest) = match head.framing {
        Framing::Empty => (0, None, 0),
        Framing::Length(n) => {
            let first = (buf.len() - start).min(usize::try_from(n).unwrap_or(usize::MAX));
            (first, None, n - first as u64)
        }
        Framing::Chunked => {
            let mut c = Chunks::default();
            let first = c
                .feed(&buf[start..])
                .map_err(|_| "bad chunk from the target")?;
            // Reads are bounded by the chunk framing, not by a length.
            (first, Some(c), u64::MAX)
        }
        Framing::UntilClose => (buf.len() - start, None, u64::MAX),
    };
    // A body that ends when the target closes goes out as chunks (see `response::parse`): each
    // piece gets its size line, and the CRLF that ends it goes with the next line.
    let rechunk = head.framing == Framing::UntilClose;
    let mut lead = Vec::new();
    let mut open_chunk = false;
    let mut frame = |lead: &mut Vec<u8>, n: usize| {
        if open_chunk {
            lead.extend_from_slice(b"\r\n");
        }
        if n > 0 {
            lead.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        }
        open_chunk = n > 0;
    };
    let mut first_data = &buf[start..start + first];
    let first_lead = if rechunk {
        lead.extend_from_slice(out);
        frame(&mut lead, first_data.len());
        &lead[..]
    } else {
        // A small body goes in the head's buffer: one plain send, cheaper than a writev.
        if first_data.len() <= SMALL_BODY {
            out.extend_from_slice(first_data);
            first_data = &[];
        }
        &out[..]
    };
    io::write_all(&client.stream, first_lead, first_data, &mut client.timer)
        .await
        .map_err(|_| "the client went away")?;
    to_client(first_lead.len() + first_data.len());
    let mut sent = first as u64;
    let mut extra = start + first < buf.len();
    let more = |chunks: &Option<Chunks>, rest: u64| match chunks {
        Some(c) => !c.is_done(),
        None => rest > 0,
    };
    if more(&chunks, rest) && buf.capacity() < STREAM_READ {
        buf.reserve(STREAM_READ - buf.len());
    }
    while more(&chunks, rest) {
        buf.clear();
        let max = usize::try_from(rest).unwrap_or(usize::MAX).min(STREAM_READ);
        let n = io::read_some(target, buf, max, &mut client.timer)
            .await
            .map_err(|_| "the target connection failed")?;
        if n == 0 {
            if rechunk {
                lead.clear();
                frame(&mut lead, 0);
                lead.extend_from_slice(b"0\r\n\r\n");
                io::write_all(&client.stream, &lead, &[], &mut client.timer)
                    .await
                    .map_err(|_| "the client went away")?;
                to_client(lead.len());
                break;
            }
            return Err("the target closed the connection before the end of the body");
        }
        let take = match &mut chunks {
            Some(c) => c.feed(buf).map_err(|_| "bad chunk from the target")?,
            None => {
                rest -= n as u64;
                n
            }
        };
        extra = take < n;
        lead.clear();
        if rechunk {
            frame(&mut lead, take);
        }
        io::write_all(&client.stream, &lead, &buf[..take], &mut client.timer)
            .await
            .map_err(|_| "the client went away")?;
        to_client(lead.len() + take);
        sent += take as u64;
        client.timer.touch();
        // The target's deregistration ended while its response streamed.
        if pool.is_cut(conn) {
            return Err("the target's deregistration ended");
        }
    }
    Ok(Relayed {
        body: sent,
        reusable: !extra && head.framing != Framing::UntilClose,
    })
}
