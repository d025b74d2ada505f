//! Lanes: the loops that send requests. A lane is one HTTP/1.1 connection, or one stream slot
//! of an HTTP/2 connection; it takes the next request due (open model) or the next turn
//! (closed model), sends it, reads the whole response and records the outcome.
//!
//! Costs per request are kept to what the work needs (HTTP/1.1, the hot path): one task per
//! lane owning its socket, the request written from bytes serialised once, the response framed
//! in place in a reused buffer (`h1`) and its body counted, never copied, two clock reads
//! (three when the lane waited for a due time), and no per-request timer (the timeout timer is
//! re-armed lazily, see [`within`]). HTTP/2 goes through hyper's client.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::engine::{Load, Options};
use crate::h1::{Response, ResponseParser};
use crate::schedule::Cursor;
use crate::stats::{Failure, Recorder};

/// What the lanes of one worker thread share (single-threaded: `Cell`/`RefCell`, no atomics).
pub(crate) struct Worker {
    pub opts: Arc<Options>,
    pub addr: std::net::SocketAddr,
    pub start: Instant,
    pub end: Instant,
    pub index: u64,
    pub count: u64,
    /// Next request number of this worker (the global number is `next · count + index`).
    pub next: Cell<u64>,
    pub cursor: RefCell<Cursor>,
    pub rec: RefCell<Recorder>,
}

/// One request to send.
pub(crate) struct Job {
    /// When it was due (open model) or taken (closed model): latency is measured from here.
    intended: Instant,
    /// When it was taken.
    taken: Instant,
}

impl Worker {
    /// The next request, after waiting for its due time; `None` when the run is over.
    pub(crate) async fn next_job(&self) -> Option<Job> {
        let now = Instant::now();
        if now >= self.end {
            return None;
        }
        match &self.opts.load {
            Load::Closed { .. } => Some(Job {
                intended: now,
                taken: now,
            }),
            Load::Open(schedule) => {
                let k = self.next.get();
                let due = self
                    .cursor
                    .borrow_mut()
                    .due(schedule, k * self.count + self.index)?;
                self.next.set(k + 1);
                let intended = self.start + due;
                if intended <= now {
                    return Some(Job {
                        intended,
                        taken: now,
                    });
                }
                // The lane is idle until the request is due: how late the timer wakes it (up to
                // a millisecond of tokio's timer resolution) is the generator's, not the server's,
                // so latency counts from the wake-up. Only waiting for a busy connection (the
                // branch above) is coordinated omission to correct for.
                tokio::time::sleep_until(intended).await;
                let woke = Instant::now();
                Some(Job {
                    intended: woke,
                    taken: woke,
                })
            }
        }
    }

    fn finish(&self, job: &Job, outcome: Result<(u16, u64), Failure>) {
        let mut rec = self.rec.borrow_mut();
        match outcome {
            Ok((status, bytes)) => {
                let done = Instant::now();
                rec.response(status, bytes, done - job.intended, done - job.taken);
            }
            Err(f) => rec.failure(f),
        }
    }

    async fn connect(&self) -> Result<TcpStream, Failure> {
        self.rec.borrow_mut().connections_opened += 1;
        match tokio::time::timeout(self.opts.timeout, TcpStream::connect(self.addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(stream)
            }
            Ok(Err(_)) => Err(Failure::Connect),
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// After a failed connect: the closed model would spin, so it pauses; the open model goes
    /// on with the schedule (each due request is one attempt).
    async fn after_connect_failure(&self) {
        if matches!(self.opts.load, Load::Closed { .. }) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn classify(e: &hyper::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() || e.is_user() {
        Failure::Protocol
    } else {
        Failure::Closed
    }
}

/// Reads a response body to its end, counting bytes (HTTP/2).
async fn drain(mut body: hyper::body::Incoming) -> Result<u64, Failure> {
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify(&e))?;
        if let Some(data) = frame.data_ref() {
            bytes += data.len() as u64;
        }
    }
    Ok(bytes)
}

/// Runs `fut` until `deadline`. The lane's `timer` is re-armed lazily: it stays armed at an
/// earlier request's deadline and, when it fires before the current one, is moved on — so a
/// lane touches the timer wheel about once per `--timeout`, not once per request.
async fn within<F: Future>(
    fut: F,
    timer: &mut Pin<Box<tokio::time::Sleep>>,
    deadline: Instant,
) -> Option<F::Output> {
    tokio::pin!(fut);
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    loop {
        tokio::select! {
            biased;
            out = &mut fut => return Some(out),
            () = timer.as_mut() => {
                if Instant::now() >= deadline {
                    return None;
                }
                timer.as_mut().reset(deadline);
            }
        }
    }
}

/// One HTTP/1.1 keep-alive connection with its read buffer and response parser.
struct H1 {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    parser: ResponseParser,
    /// Whether a response has been read on it (an idle reused connection may have been closed
    /// by the server: a request that got no byte back on it is retried once).
    reused: bool,
}

enum H1Error {
    /// Nothing came back on a reused connection: retry on a new one.
    Stale,
    Failed(Failure),
}

impl H1 {
    async fn open(w: &Worker) -> Result<H1, Failure> {
        Ok(H1 {
            stream: w.connect().await?,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
            parser: ResponseParser::new(&w.opts.target.method),
            reused: false,
        })
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Response, H1Error> {
        let stale = |reused: bool| {
            if reused {
                H1Error::Stale
            } else {
                H1Error::Failed(Failure::Closed)
            }
        };
        if self.stream.write_all(request).await.is_err() {
            return Err(stale(self.reused));
        }
        loop {
            let (used, done) = self
                .parser
                .parse(&self.buf[self.start..self.end])
                .map_err(|_| H1Error::Failed(Failure::Protocol))?;
            self.start += used;
            if let Some(response) = done {
                self.reused = true;
                return Ok(response);
            }
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
            } else if self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.end == self.buf.len() {
                    // A response head larger than the buffer: grow (the parser caps it).
                    self.buf.resize(self.buf.len() * 2, 0);
                }
            }
            match self.stream.read(&mut self.buf[self.end..]).await {
                Ok(0) => {
                    return match self.parser.eof() {
                        Ok(response) => Ok(response),
                        Err(_) if !self.parser.started() => Err(stale(self.reused)),
                        Err(_) => Err(H1Error::Failed(Failure::Closed)),
                    };
                }
                Ok(n) => self.end += n,
                Err(_) if !self.parser.started() => return Err(stale(self.reused)),
                Err(_) => return Err(H1Error::Failed(Failure::Closed)),
            }
        }
    }
}

/// An HTTP/1.1 lane: one keep-alive connection, reopened when the server closes it.
pub(crate) async fn http1_lane(w: Rc<Worker>) {
    let request = w.opts.target.h1_bytes();
    let mut conn: Option<H1> = None;
    let mut timer = Box::pin(tokio::time::sleep_until(
        w.end + w.opts.timeout + w.opts.timeout,
    ));
    while let Some(job) = w.next_job().await {
        w.rec.borrow_mut().sent += 1;
        let deadline = job.taken + w.opts.timeout;
        let mut retried = false;
        let outcome = loop {
            if conn.is_none() {
                match within(H1::open(&w), &mut timer, deadline).await {
                    Some(Ok(c)) => conn = Some(c),
                    Some(Err(f)) => break Err(f),
                    None => break Err(Failure::Timeout),
                }
            }
            let Some(c) = conn.as_mut() else {
                break Err(Failure::Connect);
            };
            match within(c.exchange(&request), &mut timer, deadline).await {
                Some(Ok(response)) => {
                    if !response.keep_alive {
                        conn = None;
                    }
                    break Ok((response.status, response.body_bytes));
                }
                Some(Err(H1Error::Stale)) if !retried => {
                    retried = true;
                    conn = None;
                }
                Some(Err(H1Error::Stale)) => {
                    conn = None;
                    break Err(Failure::Closed);
                }
                Some(Err(H1Error::Failed(f))) => {
                    conn = None;
                    break Err(f);
                }
                None => {
                    conn = None;
                    break Err(Failure::Timeout);
                }
            }
        };
        let connect_failed = matches!(outcome, Err(Failure::Connect));
        w.finish(&job, outcome);
        if connect_failed {
            w.after_connect_failure().await;
        }
    }
}

/// One HTTP/2 connection shared by several lanes (streams).
#[derive(Default)]
pub(crate) struct H2Shared {
    sender: RefCell<Option<http2::SendRequest<Full<Bytes>>>>,
    connecting: tokio::sync::Mutex<()>,
}

impl H2Shared {
    async fn sender(&self, w: &Worker) -> Result<http2::SendRequest<Full<Bytes>>, Failure> {
        let _guard = self.connecting.lock().await;
        if let Some(s) = self.sender.borrow().as_ref().filter(|s| !s.is_closed()) {
            return Ok(s.clone());
        }
        let stream = w.connect().await?;
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| classify(&e))?;
        tokio::task::spawn_local(conn);
        *self.sender.borrow_mut() = Some(sender.clone());
        Ok(sender)
    }
}

/// An HTTP/2 lane: one stream at a time on a shared connection (h2c, prior knowledge).
pub(crate) async fn http2_lane(w: Rc<Worker>, shared: Rc<H2Shared>) {
    let mut sender: Option<http2::SendRequest<Full<Bytes>>> = None;
    while let Some(job) = w.next_job().await {
        w.rec.borrow_mut().sent += 1;
        let deadline = job.taken + w.opts.timeout;
        let exchange = async {
            if sender.as_ref().is_none_or(|s| s.is_closed()) {
                sender = Some(shared.sender(&w).await?);
            }
            let Some(s) = sender.as_mut() else {
                return Err(Failure::Connect);
            };
            s.ready().await.map_err(|e| classify(&e))?;
            let response = s
                .send_request(w.opts.target.h2_request())
                .await
                .map_err(|e| classify(&e))?;
            let status = response.status().as_u16();
            let bytes = drain(response.into_body()).await?;
            Ok((status, bytes))
        };
        let outcome = match tokio::time::timeout_at(deadline, exchange).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        };
        if outcome.is_err() {
            sender = None;
        }
        let connect_failed = matches!(outcome, Err(Failure::Connect));
        w.finish(&job, outcome);
        if connect_failed {
            w.after_connect_failure().await;
        }
    }
}
