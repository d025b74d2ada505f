//! Raw HTTP/1.1 on both sides of the balancer, byte for byte: a target that answers with
//! scripted bytes and records every request it received, and a client that writes bytes and
//! reads whole responses (Content-Length, chunked with trailers, or close-delimited).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::AvailabilityZone;
use proxy::TargetConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How long one client read may wait before the test fails with a clear message.
const READ_LIMIT: Duration = Duration::from_secs(20);

// === Messages ===

/// One HTTP/1.x message: start line, headers (names lowercased), body, chunked trailers.
#[derive(Debug, Clone)]
pub struct Message {
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
}

impl Message {
    fn parse_head(raw: &[u8]) -> io::Result<Message> {
        let text = std::str::from_utf8(raw).map_err(|e| bad(&e.to_string()))?;
        let mut lines = text.split("\r\n");
        let start = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').ok_or_else(|| bad(l))?;
                Ok((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            })
            .collect::<io::Result<_>>()?;
        Ok(Message {
            start,
            headers,
            body: Vec::new(),
            trailers: Vec::new(),
        })
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }

    /// Every value of header `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A request's method.
    pub fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or_default()
    }

    /// A request's target (path and query).
    pub fn path(&self) -> &str {
        self.start.split(' ').nth(1).unwrap_or_default()
    }

    /// A response's status code.
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {:?}", self.start))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// A socket with a read buffer that knows HTTP/1.1 framing.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(64 * 1024);
        self.stream.read_buf(&mut self.buf).await
    }

    async fn fill_or_eof(&mut self) -> io::Result<()> {
        match self.fill().await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }

    /// The next head; `None` when the stream ends cleanly before it.
    async fn head(&mut self) -> io::Result<Option<Message>> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let raw: Vec<u8> = self.buf.drain(..end + 4).collect();
                return Message::parse_head(&raw[..end]).map(Some);
            }
            if self.fill().await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill_or_eof().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let raw: Vec<u8> = self.buf.drain(..end + 2).collect();
                return Ok(String::from_utf8_lossy(&raw[..end]).into_owned());
            }
            self.fill_or_eof().await?;
        }
    }

    /// The body of `m` by its framing: chunked, Content-Length, else empty (a request or a
    /// response without a body) or up to the end of the stream (`to_close`).
    async fn body(&mut self, m: &mut Message, to_close: bool) -> io::Result<()> {
        let chunked = m
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().ends_with("chunked"));
        if chunked {
            loop {
                let size = self.line().await?;
                let size = size.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size, 16).map_err(|_| bad(size))?;
                if size == 0 {
                    break;
                }
                let data = self.exact(size + 2).await?;
                m.body.extend_from_slice(&data[..size]);
            }
            loop {
                let line = self.line().await?;
                if line.is_empty() {
                    return Ok(());
                }
                let (k, v) = line.split_once(':').ok_or_else(|| bad(&line))?;
                m.trailers
                    .push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        if let Some(len) = m.header("content-length") {
            m.body = self.exact(len.parse().map_err(|_| bad(len))?).await?;
        } else if to_close {
            while self.fill().await? > 0 {}
            m.body = std::mem::take(&mut self.buf);
        }
        Ok(())
    }
}

// === Client ===

/// A client connection to the balancer that writes raw bytes and reads whole responses.
pub struct RawClient {
    wire: Wire,
}

impl RawClient {
    pub async fn connect(lb: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(lb)
            .await
            .expect("connect to the balancer");
        RawClient {
            wire: Wire {
                stream,
                buf: Vec::new(),
            },
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.wire.stream.write_all(bytes).await.expect("write");
    }

    /// Reads the next response (a 1xx comes back on its own, before its final response).
    pub async fn response(&mut self) -> Message {
        self.read(false).await
    }

    /// Reads the next response to a HEAD request: no body, whatever its headers say.
    pub async fn response_to_head(&mut self) -> Message {
        self.read(true).await
    }

    /// Sends `bytes` and reads one response.
    pub async fn request(&mut self, bytes: &[u8]) -> Message {
        self.send(bytes).await;
        self.response().await
    }

    async fn read(&mut self, to_head: bool) -> Message {
        let read = async {
            let mut m = self
                .wire
                .head()
                .await?
                .ok_or(io::ErrorKind::UnexpectedEof)?;
            let status = m.status();
            if !(to_head || (100..200).contains(&status) || status == 204 || status == 304) {
                self.wire.body(&mut m, true).await?;
            }
            io::Result::Ok(m)
        };
        match tokio::time::timeout(READ_LIMIT, read).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => panic!(
                "reading a response failed: {e}; unread: {:?}",
                self.unread()
            ),
            Err(_) => panic!(
                "no whole response within {READ_LIMIT:?}; unread: {:?}",
                self.unread()
            ),
        }
    }

    fn unread(&self) -> String {
        String::from_utf8_lossy(&self.wire.buf).into_owned()
    }

    /// Whether the balancer closes the connection (end of stream or reset) within the read
    /// limit, with no byte left unread.
    pub async fn closed(&mut self) -> bool {
        let eof = tokio::time::timeout(READ_LIMIT, async {
            loop {
                match self.wire.fill().await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        })
        .await
        .unwrap_or(false);
        eof && self.wire.buf.is_empty()
    }

    /// Everything the balancer sends until it closes the connection (or the read limit),
    /// keeping what arrived before a reset.
    pub async fn rest(&mut self) -> String {
        let _ = tokio::time::timeout(READ_LIMIT, async {
            while let Ok(n) = self.wire.fill().await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        String::from_utf8_lossy(&std::mem::take(&mut self.wire.buf)).into_owned()
    }
}

// === Target ===

/// What a [`ScriptedBackend`] does with a request.
pub enum Reply {
    /// Writes these bytes and waits for the next request on the connection.
    Send(Vec<u8>),
    /// Writes these bytes and closes the connection.
    SendAndClose(Vec<u8>),
    /// Closes the connection without answering.
    Close,
    /// Never answers (the connection stays open until the backend is dropped).
    Hang,
}

type Script = Arc<dyn Fn(&Message) -> Reply + Send + Sync>;

/// A target speaking raw HTTP/1.1: it answers `/health` with 200 itself, answers every other
/// request as its script says, and records those requests (with their bodies, de-chunked).
/// A request with `Expect: 100-continue` gets `100 Continue` before its body is read.
pub struct ScriptedBackend {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Message>>>,
    connections: Arc<AtomicUsize>,
    server: JoinHandle<()>,
}

impl ScriptedBackend {
    pub async fn start(script: impl Fn(&Message) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let script: Script = Arc::new(script);
        let (s, c) = (Arc::clone(&seen), Arc::clone(&connections));
        let server = tokio::spawn(async move {
            // Aborting the server task drops the set, which closes every connection.
            let mut open = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let wire = Wire {
                    stream,
                    buf: Vec::new(),
                };
                let (s, c, script) = (Arc::clone(&s), Arc::clone(&c), Arc::clone(&script));
                open.spawn(async move {
                    let _ = serve(wire, s, c, script).await;
                });
            }
        });
        ScriptedBackend {
            addr,
            seen,
            connections,
            server,
        }
    }

    /// A backend that echoes every request as [`echo`].
    pub async fn echo() -> Self {
        Self::start(echo).await
    }

    /// The requests received so far (health checks excluded).
    pub fn requests(&self) -> Vec<Message> {
        self.seen.lock().unwrap().clone()
    }

    pub fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Connections that carried at least one request other than a health check.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn target(&self) -> TargetConfig {
        TargetConfig {
            id: "raw".into(),
            addr: self.addr,
            availability_zone: Some(AvailabilityZone::new("us-east-1a")),
            draining: false,
        }
    }
}

impl Drop for ScriptedBackend {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(
    mut wire: Wire,
    seen: Arc<Mutex<Vec<Message>>>,
    connections: Arc<AtomicUsize>,
    script: Script,
) -> io::Result<()> {
    let mut counted = false;
    while let Some(mut m) = wire.head().await? {
        if m.header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            wire.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        wire.body(&mut m, false).await?;
        if m.path() == "/health" {
            wire.stream.write_all(&response("200 OK", &[], b"")).await?;
            continue;
        }
        if !counted {
            counted = true;
            connections.fetch_add(1, Ordering::Relaxed);
        }
        seen.lock().unwrap().push(m.clone());
        match script(&m) {
            Reply::Send(bytes) => wire.stream.write_all(&bytes).await?,
            Reply::SendAndClose(bytes) => {
                wire.stream.write_all(&bytes).await?;
                return Ok(());
            }
            Reply::Close => return Ok(()),
            Reply::Hang => std::future::pending::<()>().await,
        }
    }
    Ok(())
}

/// A response with `Content-Length`: `status` is code and reason, e.g. `"200 OK"`.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// 200 with `"<method> <path> <body length> <body digest>"`.
pub fn echo(req: &Message) -> Reply {
    let summary = format!(
        "{} {} {} {}",
        req.method(),
        req.path(),
        req.body.len(),
        digest(&req.body)
    );
    Reply::Send(response("200 OK", &[], summary.as_bytes()))
}

/// What [`echo`] answers for a request.
pub fn echoed(method: &str, path: &str, body: &[u8]) -> String {
    format!("{method} {path} {} {}", body.len(), digest(body))
}

/// FNV-1a, 64 bits, in hex: enough to tell bodies apart.
pub fn digest(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// `len` pseudo-random bytes (xorshift) from a random seed.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = rand::random::<u64>() | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
