//! Socket I/O of the HTTP/1.1 fast path.
//!
//! - A read that returns fewer bytes than it asked for has drained the socket, so it tells the
//!   runtime the socket is no longer readable: the next read then waits for the next readiness
//!   event instead of costing a system call that fails with `EAGAIN` (nginx does the same).
//! - Head and body go out in one vectored write.
//! - Every wait is bounded by the connection's [`IdleTimer`] (ALB's idle timeout).
//! - Buffers come from a small per-thread cache and go back to it between requests, so an idle
//!   connection holds none.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// What a buffer starts with; a request head and a small response fit.
pub(super) const BUFFER: usize = 4096;
/// The most one read of a streamed body takes.
pub(super) const STREAM_READ: usize = 64 * 1024;

/// No byte moved on the connection for its idle timeout.
pub(super) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "idle timeout")
}

/// Fires when no byte has moved for the timeout. One timer per connection, re-armed only when
/// it fires early, so the request path never touches the timer wheel.
#[derive(Debug)]
pub(super) struct IdleTimer {
    timeout: Duration,
    last: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimer {
    pub(super) fn new(timeout: Duration) -> Self {
        let now = Instant::now();
        IdleTimer {
            timeout,
            last: now,
            sleep: Box::pin(tokio::time::sleep_until(now + timeout)),
        }
    }

    /// A wait for the peer ended: bytes move now. (Only waits touch the timer: what happens
    /// between two waits takes microseconds, and a clock read per system call would not.)
    pub(super) fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// When the last wait ended.
    pub(super) fn last(&self) -> Instant {
        self.last
    }

    /// Ready once no byte has moved for `quiet`. The sleep moves only when it fires, or when
    /// `quiet` is shorter than what it waits for; the clock is read only when it fires.
    pub(super) fn poll_quiet(&mut self, cx: &mut Context<'_>, quiet: Duration) -> Poll<()> {
        loop {
            let due = self.last + quiet;
            if self.sleep.deadline() > due {
                self.sleep.as_mut().reset(due);
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= self.last + quiet {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(self.last + quiet);
        }
    }
}

/// Waits until `stream` is readable (`write`: writable), or fails when no byte has moved for
/// the timer's timeout. Polls the socket's own readiness slot: no waiter node, no `select!`.
async fn ready(stream: &TcpStream, write: bool, timer: &mut IdleTimer) -> io::Result<()> {
    let timeout = timer.timeout;
    std::future::poll_fn(|cx| {
        let polled = if write {
            stream.poll_write_ready(cx)
        } else {
            stream.poll_read_ready(cx)
        };
        if let Poll::Ready(r) = polled {
            return Poll::Ready(r);
        }
        timer.poll_quiet(cx, timeout).map(|()| Err(timed_out()))
    })
    .await?;
    timer.touch();
    Ok(())
}

/// Reads at most `max` bytes (and at least one, or 0 at end of stream) into `buf`'s spare
/// capacity, growing it by [`BUFFER`] when nearly full.
pub(super) async fn read_some(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    max: usize,
    timer: &mut IdleTimer,
) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 512 {
        buf.reserve(BUFFER);
    }
    let asked = (buf.capacity() - buf.len()).min(max);
    loop {
        match read_once(stream, buf, asked) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready(stream, false, timer).await?,
            read => return read,
        }
    }
}

/// One read system call of at most `asked` bytes. A short read marks the socket not readable
/// (see the module doc) without a second system call. The read runs inside `try_io`, so the
/// readiness it clears is the one seen *before* the read: readiness that a new epoll event set
/// while the read ran (another worker thread drives epoll) has a newer tick and survives.
/// Clearing after the read instead loses that event, and the connection stalls until the peer
/// sends more — which a peer blocked on a full socket never does.
fn read_once(stream: &TcpStream, buf: &mut Vec<u8>, asked: usize) -> io::Result<usize> {
    let mut short = None;
    let read = stream.try_io(Interest::READABLE, || {
        let n = stream.try_read_buf(&mut (&mut *buf).limit(asked))?;
        if n > 0 && n < asked {
            short = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match short {
        Some(n) => Ok(n),
        None => read,
    }
}

/// Writes `head` then `body`, in one system call when the socket takes them.
pub(super) async fn write_all(
    stream: &TcpStream,
    mut head: &[u8],
    mut body: &[u8],
    timer: &mut IdleTimer,
) -> io::Result<()> {
    loop {
        let written = match (head.is_empty(), body.is_empty()) {
            (true, true) => return Ok(()),
            (false, true) => stream.try_write(head),
            (true, false) => stream.try_write(body),
            (false, false) => stream.try_write_vectored(&[IoSlice::new(head), IoSlice::new(body)]),
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                let from_head = n.min(head.len());
                head = &head[from_head..];
                body = &body[n - from_head..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready(stream, true, timer).await?,
            Err(e) => return Err(e),
        }
    }
}

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Buffers kept per thread for the next requests.
const SPARE_BUFFERS: usize = 256;

/// An empty buffer of at least [`BUFFER`] bytes.
pub(super) fn buffer() -> Vec<u8> {
    SPARE
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BUFFER))
}

/// Gives a buffer back for later requests (large ones are freed).
pub(super) fn recycle(mut buf: Vec<u8>) {
    if buf.capacity() < BUFFER || buf.capacity() > 4 * BUFFER {
        return;
    }
    buf.clear();
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARE_BUFFERS {
            s.push(buf);
        }
    });
}

/// The client socket with bytes already read from it put back in front: how a connection the
/// fast path has started reading is handed to hyper.
#[derive(Debug)]
pub(crate) struct Rewind {
    prefix: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl Rewind {
    pub(crate) fn new(inner: TcpStream, prefix: Vec<u8>) -> Self {
        Rewind {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn reads_what_arrives_and_waits_after_draining() {
        let (mut a, b) = pair().await;
        let mut timer = IdleTimer::new(Duration::from_secs(10));
        a.write_all(b"hello").await.unwrap();
        let mut buf = buffer();
        assert_eq!(
            read_some(&b, &mut buf, usize::MAX, &mut timer)
                .await
                .unwrap(),
            5
        );
        // Drained: the next read waits for the next bytes rather than failing.
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            a.write_all(b" world").await.unwrap();
            a
        });
        assert_eq!(read_some(&b, &mut buf, 3, &mut timer).await.unwrap(), 3);
        assert_eq!(
            read_some(&b, &mut buf, usize::MAX, &mut timer)
                .await
                .unwrap(),
            3
        );
        assert_eq!(buf, b"hello world");
        drop(later.await.unwrap());
        assert_eq!(
            read_some(&b, &mut buf, usize::MAX, &mut timer)
                .await
                .unwrap(),
            0
        );
    }

    /// A peer that writes while the reader drains: a readiness event that arrives during a
    /// read must not be lost (the connection would stall once the peer blocks on a full socket).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readiness_that_arrives_during_a_read_is_kept() {
        let (a, b) = pair().await;
        let a = a.into_std().unwrap();
        a.set_nonblocking(false).unwrap();
        const TOTAL: usize = 32 << 20;
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut a = a;
            let piece = vec![1u8; 7_000];
            let mut sent = 0;
            let mut size = 1;
            while sent < TOTAL {
                size = (size * 7 + 13) % piece.len() + 1;
                let n = size.min(TOTAL - sent);
                a.write_all(&piece[..n]).unwrap();
                sent += n;
            }
            a
        });
        let mut timer = IdleTimer::new(Duration::from_secs(2));
        let mut got = 0;
        let mut buf = buffer();
        while got < TOTAL {
            buf.clear();
            let n = read_some(&b, &mut buf, STREAM_READ, &mut timer)
                .await
                .unwrap_or_else(|e| panic!("stalled after {got} of {TOTAL} bytes: {e}"));
            assert!(n > 0, "early end of stream");
            got += n;
        }
        drop(writer.join().unwrap());
    }

    #[tokio::test]
    async fn a_silent_peer_times_out() {
        let (_a, b) = pair().await;
        let mut timer = IdleTimer::new(Duration::from_millis(30));
        let mut buf = buffer();
        let e = read_some(&b, &mut buf, usize::MAX, &mut timer)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn writes_head_and_body_and_rewinds() {
        let (a, mut b) = pair().await;
        let mut timer = IdleTimer::new(Duration::from_secs(10));
        let big = vec![7u8; 3 << 20];
        let writer = tokio::spawn(async move {
            write_all(&a, b"head:", &big, &mut timer).await.unwrap();
            a
        });
        let mut got = vec![0u8; 5 + (3 << 20)];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..5], b"head:");
        assert!(got[5..].iter().all(|&x| x == 7));
        let mut a = writer.await.unwrap();
        a.write_all(b" rest").await.unwrap();
        let mut r = Rewind::new(b, b"first".to_vec());
        let mut out = [0u8; 10];
        r.read_exact(&mut out).await.unwrap();
        assert_eq!(&out, b"first rest");
    }
}
