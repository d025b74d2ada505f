//! A client's request head: parsed with httparse, checked for what the fast path serves, routed
//! (rules → action → target) on one routing snapshot, and rewritten for the target.
//!
//! The fast path serves plain HTTP/1.1 requests: origin-form target, one `Host`, at most one
//! `Content-Length`, no `Transfer-Encoding`, no `Upgrade` or `Expect`, on a listener whose
//! actions forward to HTTP/1.1 target groups only. Anything else is handed, with the rest of
//! the connection, to hyper ([`Parsed::HandOver`]), which applies the request-smuggling
//! defences of [`crate::l7::desync`] and [`crate::framing`] to it.

use std::mem::MaybeUninit;
use std::ops::Range;

use http::Response;
use tokio::time::Instant;

use super::response::parse_length;
use crate::HeaderView;
use crate::header_view::visible_ascii;
use crate::l7::ProxyBody;
use crate::l7::forward::{ConnInfo, Decision, Generated, LogPending, LogRequest, Plan, decide};
use crate::l7::headers::is_hop_by_hop;
use crate::plane::Shared;
use crate::rules::RequestFacts;
use crate::{clock, error};

/// Headers a request head may have; more get a 431 (hyper's default limit is 100).
const MAX_HEADERS: usize = 128;
/// The largest request head accepted (ALB: 64 KiB).
pub(super) const MAX_HEAD: usize = 64 * 1024;
/// Connection-listed header names the fast path removes itself; more are handed to hyper.
const MAX_LISTED: usize = 8;

/// What the bytes read so far make.
pub(super) enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// Not for the fast path: hyper serves the connection from this request on.
    HandOver,
    /// Refused before routing (400 malformed, 431 too large); the connection closes.
    Refused(Response<ProxyBody>),
    Request(Box<Prepared>),
}

/// A routed request, owning everything it needs once the client's bytes are released.
pub(super) struct Prepared {
    /// Bytes of the client's head.
    pub(super) head_len: usize,
    pub(super) body_len: u64,
    /// The client asked to close the connection after this response.
    pub(super) close: bool,
    pub(super) is_head: bool,
    pub(super) log: Option<Box<LogPending>>,
    pub(super) now: u64,
    pub(super) action: Action,
}

pub(super) enum Action {
    /// The load balancer answers (fixed response, redirect, or an error).
    Respond(Response<ProxyBody>, Generated),
    Forward {
        plan: Plan,
        /// The head as the target receives it.
        upstream_head: Vec<u8>,
        /// Where the request id is in it (for the access log).
        trace_at: Range<usize>,
        /// Idempotent and without a body: safe to send again on a failed connection.
        replayable: bool,
    },
}

/// What the head says about framing and the connection.
#[derive(Default)]
struct Scan<'a> {
    host: Option<&'a str>,
    hosts: usize,
    content_length: Option<u64>,
    lengths: usize,
    close: bool,
    hand_over: bool,
    listed: [&'a str; MAX_LISTED],
    n_listed: usize,
}

impl<'a> Scan<'a> {
    fn of(headers: &'a [httparse::Header<'a>]) -> Result<Self, ()> {
        let mut s = Scan::default();
        for h in headers {
            let name = h.name;
            if name.eq_ignore_ascii_case("host") {
                s.hosts += 1;
                s.host = visible_ascii(h.value);
            } else if name.eq_ignore_ascii_case("content-length") {
                s.lengths += 1;
                s.content_length = Some(parse_length(h.value).ok_or(())?);
            } else if name.eq_ignore_ascii_case("connection") {
                let Some(value) = visible_ascii(h.value) else {
                    s.hand_over = true;
                    continue;
                };
                for token in super::tokens(value) {
                    // Every listed name is dropped, `close` too (as on hyper's path).
                    if token.eq_ignore_ascii_case("close") {
                        s.close = true;
                    }
                    if token.eq_ignore_ascii_case("upgrade") {
                        s.hand_over = true;
                    } else if s.n_listed < MAX_LISTED {
                        s.listed[s.n_listed] = token;
                        s.n_listed += 1;
                    } else {
                        s.hand_over = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("upgrade")
                || name.eq_ignore_ascii_case("expect")
            {
                s.hand_over = true;
            }
        }
        if s.hosts != 1 || s.host.is_none() || s.lengths > 1 {
            s.hand_over = true;
        }
        Ok(s)
    }

    /// Whether the fast path drops this header on the way to the target: hop-by-hop, listed
    /// in `Connection`, or set by the load balancer itself.
    fn drops(&self, name: &str) -> bool {
        is_hop_by_hop(name)
            || self.listed[..self.n_listed]
                .iter()
                .any(|l| l.eq_ignore_ascii_case(name))
            || [
                "x-forwarded-for",
                "x-forwarded-proto",
                "x-forwarded-port",
                "x-amzn-trace-id",
            ]
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
    }
}

/// Parses, checks and routes the head at the start of `buf`.
/// `at`: when the request's bytes arrived.
pub(super) fn parse(buf: &[u8], shared: &Shared, conn: &ConnInfo, at: Instant) -> Parsed {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Parsed::Partial,
        Ok(_) | Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(error::header_fields_too_large());
        }
        // Not HTTP/1.x (the HTTP/2 preface, say): hyper decides.
        Err(httparse::Error::Version) => return Parsed::HandOver,
        Err(_) => return Parsed::Refused(error::bad_request_and_close()),
    };
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Parsed::Refused(error::bad_request_and_close());
    };
    let headers: &[httparse::Header<'_>] = req.headers;
    let Ok(scan) = Scan::of(headers) else {
        return Parsed::Refused(error::bad_request_and_close());
    };
    if req.version != Some(1) || scan.hand_over || !target.starts_with('/') {
        return Parsed::HandOver;
    }
    let routing = shared.routing.load();
    let listener = routing.listeners.get(&*conn.listener);
    if listener.is_some_and(|l| !l.http1_only) {
        return Parsed::HandOver;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let view = HeaderView::Raw(headers);
    let facts = RequestFacts {
        method,
        host: scan.host,
        path,
        query,
        headers: view,
        source: conn.client.ip(),
    };
    let now = clock::ms_at(at);
    let (decision, log) = decide(shared, conn, listener, &facts, now);
    let body_len = scan.content_length.unwrap_or(0);
    let unix_secs = shared.options.epoch_unix_secs + now / 1000;
    let action = match decision {
        Decision::Respond(response, kind) => Action::Respond(response, kind),
        Decision::Forward(plan) => {
            let head = UpstreamHead::write(method, target, headers, &scan, conn, &plan, unix_secs);
            let idempotent = matches!(method, "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE");
            Action::Forward {
                plan,
                upstream_head: head.bytes,
                trace_at: head.trace_at,
                replayable: idempotent && body_len == 0,
            }
        }
    };
    let log = log.map(|ctx| {
        // The id the target receives; a request the balancer answers itself gets a fresh one.
        let generated;
        let trace_id = match &action {
            Action::Forward {
                upstream_head,
                trace_at,
                ..
            } => std::str::from_utf8(&upstream_head[trace_at.clone()]).unwrap_or("-"),
            Action::Respond(..) => {
                let existing = view.get("x-amzn-trace-id");
                generated = crate::l7::trace::for_request(existing, unix_secs, rand::random());
                generated.to_str().unwrap_or("-")
            }
        };
        let request = LogRequest {
            method,
            host: scan.host,
            path_and_query: target,
            version: "HTTP/1.1",
            user_agent: view.get("user-agent"),
            received: body_len,
        };
        Box::new(LogPending::new(ctx, &request, conn, shared, trace_id))
    });
    Parsed::Request(Box::new(Prepared {
        head_len,
        body_len,
        close: scan.close,
        is_head: method == "HEAD",
        log,
        now,
        action,
    }))
}

/// The request head as the target receives it: hop-by-hop headers and the load balancer's own
/// headers dropped, then ALB's `X-Forwarded-For` (appended to the chain earlier proxies wrote),
/// `-Proto`, `-Port` and `X-Amzn-Trace-Id`.
struct UpstreamHead {
    bytes: Vec<u8>,
    trace_at: Range<usize>,
}

impl UpstreamHead {
    fn write(
        method: &str,
        target: &str,
        headers: &[httparse::Header<'_>],
        scan: &Scan<'_>,
        conn: &ConnInfo,
        plan: &Plan,
        unix_secs: u64,
    ) -> Self {
        let view = HeaderView::Raw(headers);
        let mut out = super::io::buffer();
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for h in headers.iter().filter(|h| !scan.drops(h.name)) {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"x-forwarded-for: ");
        for earlier in view
            .get_all("x-forwarded-for")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            out.extend_from_slice(earlier.as_bytes());
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(conn.forwarded.client());
        out.extend_from_slice(b"\r\nx-forwarded-proto: ");
        out.extend_from_slice(plan.scheme.as_bytes());
        out.extend_from_slice(b"\r\nx-forwarded-port: ");
        out.extend_from_slice(conn.forwarded.port());
        out.extend_from_slice(b"\r\nx-amzn-trace-id: ");
        let start = out.len();
        let existing = view.get("x-amzn-trace-id");
        crate::l7::trace::append(existing, unix_secs, rand::random(), &mut out);
        let trace_at = start..out.len();
        out.extend_from_slice(b"\r\n\r\n");
        UpstreamHead {
            bytes: out,
            trace_at,
        }
    }
}

/// The header scan for the fuzz targets (`proxy::fuzzing`).
pub(super) mod fuzzing;
