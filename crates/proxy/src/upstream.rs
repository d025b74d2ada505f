//! Connections to targets: a keep-alive pool per target (HTTP/1.1), or one multiplexed HTTP/2
//! connection per target (`protocol_version` HTTP2 and GRPC).
//!
//! The pool lives in the target's `TargetRuntime`, so it goes when the target goes: once a
//! deregistered target is dropped from the snapshot and its last request has finished, its idle
//! connections close (ALB: "in-flight requests finish, then its connections close"). A
//! connection is given back only after its response was read to the end; one taken from the
//! pool is checked (`ready`) first, and a pooled connection that breaks before any response
//! byte is reported as `reused` so the caller may replay an idempotent request.
//!
//! [`Pool::cut`] ends the target's deregistration: every connection to it closes at once —
//! idle ones, ones carrying a response still streaming (HTTP/1.1 or HTTP/2 streams), and
//! WebSocket tunnels (which watch [`Pool::on_cut`]) — as ALB does when the deregistration delay
//! is over.
//!
//! Why not hyper-util's pooled client: it keys connections by authority (not by target), ages
//! them out only by timer, costs an absolute URI and a pool lookup per request, and cannot tie
//! connection lifetime to registration. This is ~200 lines over hyper's `client::conn`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::clock;

/// Request bodies sent upstream: the client's, streamed, or empty for replayable requests.
pub(crate) type UpstreamBody = Either<Incoming, Empty<Bytes>>;

/// Idle pooled connections older than this are closed instead of reused. Shorter than common
/// server keep-alive timeouts, so the pool rarely picks a connection the target is closing.
const POOL_IDLE: Duration = Duration::from_secs(20);
/// Idle connections kept per target; more are closed when given back.
const MAX_IDLE: usize = 1024;

/// How a request failed to get a response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// TCP connect failed (refused, unreachable).
    Connect(std::io::Error),
    /// TCP connect did not finish within the connect timeout.
    ConnectTimeout,
    /// The HTTP exchange failed. `reused`: the connection came from the pool.
    Http { error: hyper::Error, reused: bool },
}

/// One target's connections.
#[derive(Debug)]
pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
    /// Idle connections of the HTTP/1.1 fast path ([`crate::l7::h1`]): plain sockets, used by
    /// one request at a time in the client connection's own task.
    raw_idle: Mutex<Vec<RawIdle>>,
    /// How many times the pool was cut; a raw connection opened before the last cut is closed
    /// instead of reused.
    generation: AtomicU64,
    h2: Mutex<Option<http2::SendRequest<UpstreamBody>>>,
    /// Bumped by [`Pool::cut`]; every connection task (and tunnel) watches it. Dropped with
    /// the pool, which ends them too.
    cut: watch::Sender<u64>,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            idle: Mutex::default(),
            raw_idle: Mutex::default(),
            generation: AtomicU64::new(0),
            h2: Mutex::default(),
            cut: watch::Sender::new(0),
        }
    }
}

#[derive(Debug)]
struct Idle {
    sender: http1::SendRequest<UpstreamBody>,
    since_ms: u64,
}

#[derive(Debug)]
struct RawIdle {
    conn: RawConn,
    since_ms: u64,
}

/// A plain TCP connection to a target, lent to one request of the HTTP/1.1 fast path.
#[derive(Debug)]
pub(crate) struct RawConn {
    pub(crate) stream: TcpStream,
    /// The pool's generation when it was opened.
    generation: u64,
    /// It came from the pool (a request that fails on it before any response byte may be
    /// replayed on a new connection).
    pub(crate) reused: bool,
}

/// An HTTP/1.1 connection lent to one request; give it back with [`Pool::give_back`] once the
/// response has been read to the end.
#[derive(Debug)]
pub(crate) struct Lease {
    sender: http1::SendRequest<UpstreamBody>,
}

impl Pool {
    /// Sends `req` over HTTP/1.1 (origin-form URI, Host header as given) on a pooled or new
    /// connection. On success the lease must be given back when the response body is done.
    pub(crate) async fn send_h1(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        req: Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        let (mut sender, reused) = match self.take_idle().await {
            Some(sender) => (sender, true),
            None => (
                connect_h1(addr, connect_timeout, self.on_cut()).await?,
                false,
            ),
        };
        match sender.send_request(req).await {
            Ok(resp) => Ok((resp, Lease { sender })),
            Err(error) => Err(SendError::Http { error, reused }),
        }
    }

    /// Sends `req` (absolute URI) over the target's shared HTTP/2 connection, opening it first
    /// if there is none (or it closed).
    pub(crate) async fn send_h2(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        req: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, SendError> {
        let existing = lock(&self.h2).clone().filter(|s| !s.is_closed());
        let (mut sender, reused) = match existing {
            Some(s) => (s, true),
            None => {
                let s = connect_h2(addr, connect_timeout, self.on_cut()).await?;
                *lock(&self.h2) = Some(s.clone());
                (s, false)
            }
        };
        if let Err(error) = sender.ready().await {
            return Err(SendError::Http { error, reused });
        }
        sender
            .send_request(req)
            .await
            .map_err(|error| SendError::Http { error, reused })
    }

    /// An idle fast-path connection that is still good: not cut, not too old, and not closed
    /// (or sent bytes nobody asked for) while it waited.
    pub(crate) fn take_raw(&self) -> Option<RawConn> {
        let now = clock::now_ms();
        let max_age = u64::try_from(POOL_IDLE.as_millis()).unwrap_or(u64::MAX);
        let generation = self.generation.load(Ordering::Relaxed);
        loop {
            let RawIdle { mut conn, since_ms } = lock(&self.raw_idle).pop()?;
            if conn.generation != generation || now.saturating_sub(since_ms) > max_age {
                continue;
            }
            if is_quiet(&conn.stream) {
                conn.reused = true;
                return Some(conn);
            }
        }
    }

    /// Opens a fast-path connection to the target.
    pub(crate) async fn connect_raw(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<RawConn, SendError> {
        let generation = self.generation.load(Ordering::Relaxed);
        let stream = connect(addr, timeout).await?;
        Ok(RawConn {
            stream,
            generation,
            reused: false,
        })
    }

    /// Puts a fast-path connection whose response was read to the end back into the pool.
    pub(crate) fn give_back_raw(&self, conn: RawConn) {
        if self.is_cut(&conn) {
            return;
        }
        let mut idle = lock(&self.raw_idle);
        if idle.len() < MAX_IDLE {
            idle.push(RawIdle {
                conn,
                since_ms: clock::now_ms(),
            });
        }
    }

    /// Whether the pool was cut since `conn` was opened.
    pub(crate) fn is_cut(&self, conn: &RawConn) -> bool {
        conn.generation != self.generation.load(Ordering::Relaxed)
    }

    /// Closes every connection to the target, now and for whatever was open: the end of its
    /// deregistration. Connections opened later are not affected.
    pub(crate) fn cut(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.cut.send_modify(|generation| *generation += 1);
        lock(&self.raw_idle).clear();
        lock(&self.idle).clear();
        lock(&self.h2).take();
    }

    /// Resolves (`changed`) when the pool is cut or dropped.
    pub(crate) fn on_cut(&self) -> watch::Receiver<u64> {
        self.cut.subscribe()
    }

    /// Puts a connection whose response was read to the end back into the pool.
    pub(crate) fn give_back(&self, lease: Lease) {
        if lease.sender.is_closed() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                sender: lease.sender,
                since_ms: clock::now_ms(),
            });
        }
    }

    /// The most recently used idle connection that is still good.
    async fn take_idle(&self) -> Option<http1::SendRequest<UpstreamBody>> {
        let now = clock::now_ms();
        let max_age = u64::try_from(POOL_IDLE.as_millis()).unwrap_or(u64::MAX);
        loop {
            let Idle {
                mut sender,
                since_ms,
            } = lock(&self.idle).pop()?;
            if sender.is_closed() || now.saturating_sub(since_ms) > max_age {
                continue;
            }
            if sender.is_ready() {
                return Some(sender);
            }
            // Given back right after its response ended: its connection task is about to
            // mark it ready (or closed). This resolves at once either way.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }
}

/// Whether an idle connection has nothing to read: the runtime has seen no event on it since
/// its last response was read to the end (then no system call is made), or a read finds
/// nothing. A target that closed the connection (or wrote to it unasked) makes it unusable.
fn is_quiet(stream: &TcpStream) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if stream.poll_read_ready(&mut cx).is_pending() {
        return true;
    }
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks (push/pop/clone), so poison carries good data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, SendError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(SendError::ConnectTimeout),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(SendError::ConnectTimeout);
        }
        Ok(Err(e)) => return Err(SendError::Connect(e)),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn connect_h1(
    addr: SocketAddr,
    timeout: Duration,
    mut cut: watch::Receiver<u64>,
) -> Result<http1::SendRequest<UpstreamBody>, SendError> {
    let stream = connect(addr, timeout).await?;
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|error| SendError::Http {
            error,
            reused: false,
        })?;
    // The task owns the connection; it ends when the sender is dropped (idle connection
    // closed), the target closes it, or the pool is cut. Upgrades (WebSocket) keep the socket
    // alive after it.
    tokio::spawn(async move {
        tokio::select! {
            r = conn.with_upgrades() => if let Err(e) = r {
                tracing::debug!(%addr, error = %e, "upstream connection ended");
            },
            _ = cut.changed() => tracing::debug!(%addr, "upstream connection cut"),
        }
    });
    Ok(sender)
}

async fn connect_h2(
    addr: SocketAddr,
    timeout: Duration,
    mut cut: watch::Receiver<u64>,
) -> Result<http2::SendRequest<UpstreamBody>, SendError> {
    let stream = connect(addr, timeout).await?;
    let (sender, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|error| SendError::Http {
            error,
            reused: false,
        })?;
    tokio::spawn(async move {
        tokio::select! {
            r = conn => if let Err(e) = r {
                tracing::debug!(%addr, error = %e, "upstream h2 connection ended");
            },
            _ = cut.changed() => tracing::debug!(%addr, "upstream h2 connection cut"),
        }
    });
    Ok(sender)
}
