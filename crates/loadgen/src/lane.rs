//! Lanes: the loops that send requests. A lane is one HTTP/1.1 connection, or one stream slot
//! of an HTTP/2 connection; it takes the next request due (open model) or the next turn
//! (closed model), sends it, reads the whole response and records the outcome.
//!
//! Costs per request are kept to what the work needs: one task per lane that polls its own
//! connection (no task hop per request), two clock reads (three when the lane waited for a due
//! time), one timer (the timeout), a request assembled from pre-built parts, and the response
//! body counted, never copied.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::engine::{Load, Options};
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

/// How a request went.
enum Exchange {
    Response {
        status: u16,
        bytes: u64,
    },
    /// The connection turned out closed before the request was written: retry on a new one.
    NotSent,
    Failed(Failure),
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

/// Reads a response body to its end, counting bytes.
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

type H1Conn = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

struct H1 {
    sender: http1::SendRequest<Full<Bytes>>,
    conn: std::pin::Pin<Box<H1Conn>>,
    closed: bool,
}

impl H1 {
    async fn open(w: &Worker) -> Result<H1, Failure> {
        let stream = w.connect().await?;
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| classify(&e))?;
        Ok(H1 {
            sender,
            conn: Box::pin(conn),
            closed: false,
        })
    }

    /// Sends `req` and reads the response, polling the connection in the same task.
    async fn exchange(&mut self, req: http::Request<Full<Bytes>>) -> Exchange {
        let H1 {
            sender,
            conn,
            closed,
        } = self;
        let work = async {
            if sender.ready().await.is_err() {
                return Exchange::NotSent;
            }
            let response = match sender.send_request(req).await {
                Ok(r) => r,
                Err(e) if e.is_canceled() => return Exchange::NotSent,
                Err(e) => return Exchange::Failed(classify(&e)),
            };
            let status = response.status().as_u16();
            match drain(response.into_body()).await {
                Ok(bytes) => Exchange::Response { status, bytes },
                Err(f) => Exchange::Failed(f),
            }
        };
        tokio::pin!(work);
        if *closed {
            return work.await;
        }
        tokio::select! {
            biased;
            r = &mut work => r,
            _ = conn.as_mut() => {
                *closed = true;
                work.await
            }
        }
    }
}

/// An HTTP/1.1 lane: one keep-alive connection, reopened when the server closes it.
pub(crate) async fn http1_lane(w: Rc<Worker>) {
    let mut conn: Option<H1> = None;
    while let Some(job) = w.next_job().await {
        w.rec.borrow_mut().sent += 1;
        let deadline = job.taken + w.opts.timeout;
        let mut retried = false;
        let outcome = loop {
            if conn
                .as_ref()
                .is_none_or(|c| c.closed || c.sender.is_closed())
            {
                match tokio::time::timeout_at(deadline, H1::open(&w)).await {
                    Ok(Ok(c)) => conn = Some(c),
                    Ok(Err(f)) => break Err(f),
                    Err(_) => break Err(Failure::Timeout),
                }
            }
            let Some(c) = conn.as_mut() else {
                break Err(Failure::Connect);
            };
            let req = w.opts.target.request(false);
            match tokio::time::timeout_at(deadline, c.exchange(req)).await {
                Ok(Exchange::Response { status, bytes }) => break Ok((status, bytes)),
                Ok(Exchange::NotSent) if !retried => {
                    // An idle keep-alive connection the server had closed: not the request's fault.
                    retried = true;
                    conn = None;
                }
                Ok(Exchange::NotSent) => {
                    conn = None;
                    break Err(Failure::Closed);
                }
                Ok(Exchange::Failed(f)) => {
                    conn = None;
                    break Err(f);
                }
                Err(_) => {
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
                .send_request(w.opts.target.request(true))
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
