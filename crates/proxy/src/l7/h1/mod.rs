//! The HTTP/1.1 fast path: plain HTTP/1.1 requests served without hyper.
//!
//! One task per client connection reads a request head, parses it with httparse, routes it,
//! sends it to the target on a pooled socket *in the same task*, and relays the response back,
//! then waits for the next request holding no buffer. hyper serves everything else on the same
//! listeners — HTTP/2, WebSocket and other upgrades, chunked request bodies, `Expect`, HTTP/1.0
//! — and takes a connection over (with the bytes already read, [`Rewind`]) the moment a request
//! the fast path does not serve arrives on it.
//!
//! Why hand-written rather than hyper (which it sits beside): with hyper, a proxied HTTP/1.1
//! request crossed two tasks and a channel (server connection → service → client connection
//! task), and every idle client connection kept hyper's 8 KiB read and write buffers (no
//! setting lowers them). That made updraft 0.6× nginx's throughput and ~20 KB per idle
//! connection (README, "Where the balancer's remaining cost is"). Here a request costs four
//! system calls on a busy connection (read, write, read, write: reads that drain a socket tell
//! the runtime so, see [`io`]), and a connection idle for 100 ms ([`PARK_AFTER`]) leaves its
//! task and parks ([`parking`]): its socket and a slot in its listener's keeper.

mod exchange;
pub(crate) mod fuzzing;
mod io;
pub(crate) mod parking;
mod request;
mod response;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{Response, header};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use io::IdleTimer;
pub(crate) use io::Rewind;
use parking::{PARK_AFTER, Parked, Parking};
use request::{Action, Parsed, Prepared};

use crate::l7::ProxyBody;
use crate::l7::forward::{ConnInfo, Sent};
use crate::listener::Held;
use crate::metrics::ListenerCounters;
use crate::plane::Shared;

/// A client connection served by the fast path.
struct Client {
    stream: TcpStream,
    timer: IdleTimer,
    /// Bytes read past the last request (pipelining); empty between requests.
    pending: Vec<u8>,
}

/// What ended an idle connection's wait.
enum Woke {
    Request,
    /// The listener stops (or the socket failed).
    Stop,
    /// Quiet long enough to park.
    Quiet,
}

/// What the connection does after a request.
enum Next {
    KeepAlive,
    Close,
    /// hyper serves the connection from here, starting with these bytes.
    HandOver(Vec<u8>),
}

/// How the fast path let go of a connection.
pub(crate) enum End {
    /// Closed, or parked (see [`parking`]).
    Closed,
    /// For hyper to serve from the first request the fast path does not, starting with the
    /// bytes already read.
    HandOver(Rewind, Held),
}

/// Serves a client connection until it closes, parks, or goes to hyper.
pub(crate) async fn serve(
    stream: TcpStream,
    info: &Arc<ConnInfo>,
    shared: &Arc<Shared>,
    stopped: &mut watch::Receiver<bool>,
    idle_timeout: Duration,
    held: Held,
    parking: &Parking,
) -> End {
    let mut client = Client {
        stream,
        timer: IdleTimer::new(idle_timeout),
        pending: Vec::new(),
    };
    // One wait for the listener's stop, registered once for the connection's life.
    let mut stop = std::pin::pin!(crate::listener::until_stopped(stopped));
    loop {
        if client.pending.is_empty() {
            match wait_for_request(&mut client, stop.as_mut(), PARK_AFTER).await {
                Woke::Request => {}
                Woke::Stop => return End::Closed,
                Woke::Quiet => {
                    parking.park(Parked {
                        stream: client.stream,
                        info: Arc::clone(info),
                        held,
                        idle_deadline: client.timer.last() + idle_timeout,
                    });
                    return End::Closed;
                }
            }
        }
        match busy_period(&mut client, info, shared, stop.as_mut()).await {
            // Quiet for `BUSY_QUIET`: wait in the small state, then park.
            Next::KeepAlive => {}
            Next::Close => {
                let _ = client.stream.shutdown().await;
                return End::Closed;
            }
            Next::HandOver(prefix) => {
                // hyper's socket wrapper counts these bytes again as it reads them.
                info.counters
                    .processed_bytes
                    .fetch_sub(prefix.len() as u64, std::sync::atomic::Ordering::Relaxed);
                return End::HandOver(Rewind::new(client.stream, prefix), held);
            }
        }
    }
}

/// How long a busy connection waits for its next request with its request state allocated.
const BUSY_QUIET: Duration = Duration::from_millis(50);

/// Waits for the next request's first bytes, for the listener's stop, or until no byte has
/// moved for `quiet`.
async fn wait_for_request(
    client: &mut Client,
    mut stop: Pin<&mut impl Future<Output = ()>>,
    quiet: Duration,
) -> Woke {
    let woke = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = client.stream.poll_read_ready(cx) {
            return Poll::Ready(if r.is_ok() { Woke::Request } else { Woke::Stop });
        }
        if stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Woke::Stop);
        }
        client.timer.poll_quiet(cx, quiet).map(|()| Woke::Quiet)
    })
    .await;
    if matches!(woke, Woke::Request) {
        client.timer.touch();
    }
    woke
}

/// Requests back to back, until the connection closes, goes to hyper, or is quiet for
/// [`BUSY_QUIET`] (`Next::KeepAlive`). The state of a request in progress (about 1.9 KB) lives
/// here, allocated once per busy period: a connection between busy periods, and one waiting
/// to park, holds only the small state of [`serve`], and a busy connection does not pay an
/// allocation per request.
fn busy_period<'a>(
    client: &'a mut Client,
    info: &'a ConnInfo,
    shared: &'a Shared,
    mut stop: Pin<&'a mut (impl Future<Output = ()> + Send)>,
) -> Pin<Box<dyn Future<Output = Next> + Send + 'a>> {
    Box::pin(async move {
        loop {
            match serve_request(client, info, shared).await {
                Next::KeepAlive if !stopping(stop.as_mut()) => {}
                Next::KeepAlive => return Next::Close,
                other => return other,
            }
            if client.pending.is_empty() {
                match wait_for_request(client, stop.as_mut(), BUSY_QUIET).await {
                    Woke::Request => {}
                    Woke::Stop => return Next::Close,
                    Woke::Quiet => return Next::KeepAlive,
                }
            }
        }
    })
}

/// Whether the listener is stopping (the connection then closes after its request). The real
/// waker is registered again by the next idle wait.
fn stopping(stop: Pin<&mut impl Future<Output = ()>>) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    stop.poll(&mut cx).is_ready()
}

async fn serve_request(client: &mut Client, info: &ConnInfo, shared: &Shared) -> Next {
    let mut buf = std::mem::take(&mut client.pending);
    if buf.capacity() == 0 {
        buf = io::buffer();
    }
    let prepared = loop {
        if !buf.is_empty() {
            match request::parse(&buf, shared, info, client.timer.last()) {
                Parsed::Partial => {}
                Parsed::HandOver => return Next::HandOver(buf),
                Parsed::Refused(response) => {
                    info.counters.elb(response.status().as_u16());
                    tracing::debug!(client = %info.client, status = %response.status(), "refused a request head");
                    let _ = answer(client, info, &response, true).await;
                    return Next::Close;
                }
                Parsed::Request(p) => break p,
            }
        }
        match io::read_some(&client.stream, &mut buf, usize::MAX, &mut client.timer).await {
            Ok(n) if n > 0 => ListenerCounters::add(&info.counters.processed_bytes, n as u64),
            _ => {
                io::recycle(buf);
                return Next::Close;
            }
        }
    };
    ListenerCounters::add(&info.counters.requests, 1);
    let Prepared {
        head_len,
        body_len,
        close,
        is_head,
        log,
        now,
        action,
    } = *prepared;
    let in_buf = usize::try_from(body_len)
        .unwrap_or(usize::MAX)
        .min(buf.len() - head_len);
    let body_end = head_len + in_buf;
    let body_rest = body_len - in_buf as u64;
    let next = match action {
        Action::Respond(response, kind) => {
            let name = kind.count(&info.counters, response.status().as_u16());
            if let Some(log) = log {
                log.write(shared, Sent::of(&response), name, None, None);
            }
            // A body that has not arrived yet is not wanted: closing skips it.
            let close = close || body_rest > 0 || asks_close(&response);
            match answer(client, info, &response, close).await {
                Ok(()) if !close => Next::KeepAlive,
                _ => Next::Close,
            }
        }
        Action::Forward {
            plan,
            upstream_head,
            replayable,
            ..
        } => {
            let x = exchange::Exchange {
                plan,
                upstream_head,
                replayable,
                is_head,
                close,
                body_rest,
                now,
                log,
            };
            exchange::proxy(client, info, shared, x, &buf[head_len..body_end]).await
        }
    };
    // Pipelined bytes wait for the next round; an empty buffer goes back to the cache.
    if matches!(next, Next::KeepAlive) && buf.len() > body_end {
        buf.drain(..body_end);
        client.pending = buf;
    } else {
        io::recycle(buf);
    }
    next
}

/// The comma-separated, trimmed, non-empty tokens of a header value (`Connection`,
/// `Transfer-Encoding`).
fn tokens(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

fn asks_close(response: &Response<ProxyBody>) -> bool {
    response
        .headers()
        .get(header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
}

/// Sends a response the load balancer generated.
async fn answer(
    client: &mut Client,
    info: &ConnInfo,
    response: &Response<ProxyBody>,
    close: bool,
) -> std::io::Result<()> {
    let mut out = io::buffer();
    let status = response.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        if name == header::CONNECTION || name == header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let body = response.body().generated();
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let written = io::write_all(&client.stream, &out, body, &mut client.timer).await;
    if written.is_ok() {
        ListenerCounters::add(
            &info.counters.processed_bytes,
            (out.len() + body.len()) as u64,
        );
    }
    io::recycle(out);
    written
}
