//! Listeners: bind, accept, and serve each connection with hyper (HTTP/1.1 keep-alive and h2c
//! prior knowledge on the same port), closing connections that stay idle.
//!
//! Invariants:
//! - binding is separate from serving, so `apply` can bind every new listener before it starts
//!   any (all-or-nothing);
//! - stopping a listener closes its socket at once; its connections finish the requests in
//!   flight (graceful shutdown), then close.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::ApplyError;
use crate::framing::Framing;
use crate::l7::forward::{self, ConnInfo};
use crate::l7::h1::{self, Rewind};
use crate::metrics::ListenerCounters;
use crate::plane::Shared;

/// The largest request head accepted (ALB: 64 KiB).
const MAX_HEAD: usize = 64 * 1024;

/// Pending connections the kernel queues before `accept`.
const BACKLOG: i32 = 1024;

/// A bound socket, not yet served.
#[derive(Debug)]
pub(crate) struct Bound {
    bind: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    listener: TcpListener,
}

/// Binds `addr` for listener `key`, ready to be served.
pub(crate) fn bind(key: &str, addr: SocketAddr) -> Result<Bound, ApplyError> {
    let err = |source: io::Error| ApplyError::Bind {
        listener: key.to_owned(),
        addr,
        source,
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(err)?;
    // Lets a restarted updraft rebind while old connections sit in TIME_WAIT. On Linux it does
    // not let two sockets listen on one port, so a port in use still fails here.
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(BACKLOG).map_err(err)?;
    let listener = TcpListener::from_std(socket.into()).map_err(err)?;
    let local_addr = listener.local_addr().map_err(err)?;
    Ok(Bound {
        bind: addr,
        local_addr,
        listener,
    })
}

/// A listener being served.
#[derive(Debug)]
pub(crate) struct RunningListener {
    /// The configured bind address (port 0 stays 0 here).
    pub(crate) bind: SocketAddr,
    pub(crate) local_addr: SocketAddr,
    /// Kept across applies while the listener runs.
    pub(crate) counters: Arc<ListenerCounters>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningListener {
    /// Stops accepting and lets connections finish; the returned task ends when they have.
    pub(crate) fn stop(self) -> JoinHandle<()> {
        let _ = self.stop.send(true);
        self.task
    }
}

/// Starts serving a bound listener.
pub(crate) fn spawn(key: &str, bound: Bound, shared: Arc<Shared>) -> RunningListener {
    let (stop, stopped) = watch::channel(false);
    let counters = Arc::new(ListenerCounters::default());
    let task = tokio::spawn(accept_loop(
        Arc::clone(&counters),
        key.to_owned(),
        bound.listener,
        bound.local_addr,
        shared,
        stopped,
    ));
    RunningListener {
        bind: bound.bind,
        local_addr: bound.local_addr,
        counters,
        stop,
        task,
    }
}

async fn accept_loop(
    counters: Arc<ListenerCounters>,
    key: String,
    listener: TcpListener,
    local: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    // Every connection task, a resumed one too, lives in this set: aborting the listener's task
    // drops them all (`DataPlane::shutdown` after its grace).
    let mut connections = JoinSet::new();
    let key: Arc<str> = Arc::from(key);
    let (resume, mut resumed) = mpsc::unbounded_channel();
    let (parking, keeper) = h1::parking::start(stopped.clone(), resume);
    connections.spawn(keeper);
    let ctx = Arc::new(ListenerCtx {
        shared,
        stopped: stopped.clone(),
        parking,
    });
    loop {
        tokio::select! {
            () = until_stopped(&mut stopped) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, client)) => {
                    let _ = stream.set_nodelay(true);
                    ListenerCounters::add(&counters.new_connections, 1);
                    ListenerCounters::add(&counters.active_connections, 1);
                    let held = Held { _open: OpenConnection(Arc::clone(&counters)) };
                    let info = Arc::new(ConnInfo::new(Arc::clone(&key), client, local, Arc::clone(&counters)));
                    connections.spawn(serve_connection(Conn { stream, info, held }, Arc::clone(&ctx)));
                }
                Err(e) => {
                    // Usually EMFILE: back off briefly instead of spinning.
                    tracing::warn!(listener = %key, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // A parked connection whose client sent something again.
            Some(conn) = resumed.recv() => {
                connections.spawn(serve_connection(conn, Arc::clone(&ctx)));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    drop(resumed);
    drop(ctx);
    tracing::debug!(listener = %key, open = connections.len(), "listener stopped; draining connections");
    while connections.join_next().await.is_some() {}
}

/// What every connection of a listener shares.
struct ListenerCtx {
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
    parking: h1::parking::Parking,
}

/// A client connection, with what it holds for its listener.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) info: Arc<ConnInfo>,
    pub(crate) held: Held,
}

/// What a connection holds for its listener until it closes (parked or not): its place in
/// `ActiveConnectionCount`.
pub(crate) struct Held {
    _open: OpenConnection,
}

/// Resolves when the listener is told to stop (or its owner is gone).
pub(crate) async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    // The borrowed value is dropped here, before any other await (it is not Send).
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// The HTTP server settings every listener connection uses.
pub(crate) fn server_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Timers make hyper's header read timeout (slowloris protection) effective.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    // ALB's limits: request line and each header 16 KiB, the whole head 64 KiB. hyper answers
    // 431 to a head that does not fit its buffer.
    builder.http1().max_buf_size(MAX_HEAD);
    builder.http2().max_header_list_size(MAX_HEAD as u32);
    // Up to 128 concurrent streams per HTTP/2 connection, as ALB.
    builder.http2().max_concurrent_streams(128);
    builder
}

async fn serve_connection(conn: Conn, ctx: Arc<ListenerCtx>) {
    let Conn { stream, info, held } = conn;
    let shared = &ctx.shared;
    let mut stopped = ctx.stopped.clone();
    let idle_timeout = shared
        .routing
        .load()
        .listeners
        .get(&*info.listener)
        .map_or(shared.options.idle_timeout, |l| l.idle_timeout);
    let (stream, _held) = if shared.options.http1_fast_path {
        let parking = &ctx.parking;
        match h1::serve(
            stream,
            &info,
            shared,
            &mut stopped,
            idle_timeout,
            held,
            parking,
        )
        .await
        {
            h1::End::Closed => return,
            h1::End::HandOver(rest, held) => (rest, held),
        }
    } else {
        (Rewind::new(stream, Vec::new()), held)
    };
    hyper_connection(stream, info, Arc::clone(shared), stopped, idle_timeout).await;
}

/// hyper's (larger) state, allocated only for a connection hyper serves; built in a plain
/// function so that the connection's own future does not reserve room for it too.
fn hyper_connection(
    stream: Rewind,
    info: Arc<ConnInfo>,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
    idle_timeout: Duration,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(serve_with_hyper(
        stream,
        info,
        shared,
        stopped,
        idle_timeout,
    ))
}

/// Serves a connection with hyper: HTTP/2, upgrades, and the HTTP/1.x requests the fast path
/// hands over.
async fn serve_with_hyper(
    stream: Rewind,
    info: Arc<ConnInfo>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    idle_timeout: Duration,
) {
    let io = TokioIo::new(ClientIo {
        inner: stream,
        conn: Arc::clone(&info),
        framing: Framing::default(),
    });
    let svc_shared = Arc::clone(&shared);
    let svc_info = Arc::clone(&info);
    let service =
        service_fn(move |req| forward::serve(Arc::clone(&svc_shared), Arc::clone(&svc_info), req));
    info.activity.touch();
    let conn = shared.server.serve_connection_with_upgrades(io, service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = until_stopped(&mut stopped) => {}
        _ = info.activity.idle_for(idle_timeout) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The client socket as hyper sees it: records activity (idle timeout) and bytes
/// (`ProcessedBytes`) on every read and write that moves bytes, and shows what it reads to the
/// request framing tracker (request smuggling defences, see [`crate::framing`]).
struct ClientIo {
    inner: Rewind,
    conn: Arc<ConnInfo>,
    framing: Framing,
}

/// Counts a client connection as active until dropped.
pub(crate) struct OpenConnection(Arc<ListenerCounters>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0
            .active_connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            this.conn.activity.touch();
            ListenerCounters::add(&this.conn.counters.processed_bytes, read.len() as u64);
            if this.framing.is_tracking()
                && let Some(verdict) = this.framing.feed(read)
            {
                this.conn.refuse(verdict);
            }
        }
        polled
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            this.conn.activity.touch();
            ListenerCounters::add(&this.conn.counters.processed_bytes, n as u64);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            this.conn.activity.touch();
            ListenerCounters::add(&this.conn.counters.processed_bytes, n as u64);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_port_in_use_fails_to_bind_with_names() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind("web", addr).unwrap_err();
        assert!(
            matches!(err, ApplyError::Bind { ref listener, addr: a, .. } if listener == "web" && a == addr)
        );
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[tokio::test]
    async fn idle_resolves_only_after_quiet_time() {
        use crate::l7::forward::Activity;
        use tokio::time::Instant;
        let a = Activity::new();
        let quick = tokio::time::timeout(
            Duration::from_millis(20),
            a.idle_for(Duration::from_millis(200)),
        )
        .await;
        assert!(quick.is_err(), "not idle yet");
        let started = Instant::now();
        a.touch();
        a.idle_for(Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
