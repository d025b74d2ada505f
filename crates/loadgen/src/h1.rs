//! A minimal HTTP/1.1 client codec for the load generator's hot path (sans-io): the request is
//! serialised once, and responses are framed by a small state machine over `httparse` (the
//! parser hyper itself uses). It does what wrk does and no more: status, framing (RFC 9112
//! §6.3: no body for HEAD, 1xx, 204 and 304; chunked; Content-Length; else until close),
//! keep-alive, and the byte count of the body, which is skipped, never copied.
//!
//! Why not hyper's client here: measured on loopback, hyper's HTTP/1.1 client cost about
//! 3.4 µs of user CPU per request against wrk's 0.7 µs (system time is the same for both:
//! the loopback TCP stack); see bench/loadgen.sh and ARCHITECTURE.md. HTTP/2 still goes
//! through hyper.

use bytes::{BufMut, Bytes, BytesMut};

/// Largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;

/// Serialises a request once: request line, headers, `content-length` when there is a body
/// (or the method expects one), blank line, body.
pub fn serialize(
    method: &http::Method,
    path: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Bytes {
    let mut out = BytesMut::with_capacity(256 + body.len());
    out.put_slice(method.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(path.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == http::header::CONTENT_LENGTH {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    let expects_body = matches!(
        *method,
        http::Method::POST | http::Method::PUT | http::Method::PATCH
    );
    if !body.is_empty() || expects_body {
        out.put_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.put_slice(b"\r\n");
    out.put_slice(body);
    out.freeze()
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not HTTP/1.x, or malformed framing.
    Invalid(String),
    /// The connection closed before the response was complete.
    Closed,
}

/// A complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body_bytes: u64,
    /// Whether the connection may carry the next request.
    pub keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    UntilClose,
}

/// Frames one response at a time from the bytes of a connection.
#[derive(Debug, Clone)]
pub struct ResponseParser {
    head_request: bool,
    state: State,
    status: u16,
    keep_alive: bool,
    body_bytes: u64,
}

impl ResponseParser {
    /// A parser for the responses to requests of `method`.
    pub fn new(method: &http::Method) -> ResponseParser {
        ResponseParser {
            head_request: *method == http::Method::HEAD,
            state: State::Head,
            status: 0,
            keep_alive: true,
            body_bytes: 0,
        }
    }

    /// Whether any byte of the current response has been seen (a reused connection that
    /// closes before that may be retried).
    pub fn started(&self) -> bool {
        self.state != State::Head || self.status != 0
    }

    /// Consumes what it can of `buf`. Returns how many bytes it used, and the response once
    /// it is complete (then the parser is ready for the next one).
    pub fn parse(&mut self, buf: &[u8]) -> Result<(usize, Option<Response>), ParseError> {
        let mut used = 0;
        loop {
            let rest = &buf[used..];
            match self.state {
                State::Head => {
                    let Some(n) = self.head(rest)? else {
                        return Ok((used, None));
                    };
                    used += n;
                    if self.state == State::Head {
                        continue; // an interim 1xx response: the real one follows
                    }
                    if let Some(done) = self.finish_if_empty() {
                        return Ok((used, Some(done)));
                    }
                }
                State::Length(remaining) => {
                    let take = remaining.min(rest.len() as u64);
                    used += take as usize;
                    self.body_bytes += take;
                    if take == remaining {
                        return Ok((used, Some(self.done())));
                    }
                    self.state = State::Length(remaining - take);
                    return Ok((used, None));
                }
                State::UntilClose => {
                    self.body_bytes += rest.len() as u64;
                    return Ok((buf.len(), None));
                }
                State::ChunkSize => {
                    let Some((line, n)) = line(rest)? else {
                        return Ok((used, None));
                    };
                    used += n;
                    let digits = line.split(|b| *b == b';').next().unwrap_or(&[]);
                    let digits = trim(digits);
                    if digits.is_empty() || digits.len() > 15 {
                        return Err(invalid("bad chunk size"));
                    }
                    let size = digits.iter().try_fold(0u64, |acc, b| {
                        (*b as char).to_digit(16).map(|d| acc * 16 + u64::from(d))
                    });
                    self.state = match size {
                        Some(0) => State::Trailers,
                        Some(n) => State::ChunkData(n),
                        None => return Err(invalid("bad chunk size")),
                    };
                }
                State::ChunkData(remaining) => {
                    let take = remaining.min(rest.len() as u64);
                    used += take as usize;
                    self.body_bytes += take;
                    if take < remaining {
                        self.state = State::ChunkData(remaining - take);
                        return Ok((used, None));
                    }
                    self.state = State::ChunkDataEnd;
                }
                State::ChunkDataEnd => {
                    let Some((line, n)) = line(rest)? else {
                        return Ok((used, None));
                    };
                    if !line.is_empty() {
                        return Err(invalid("chunk data longer than its size"));
                    }
                    used += n;
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    let Some((line, n)) = line(rest)? else {
                        return Ok((used, None));
                    };
                    used += n;
                    if line.is_empty() {
                        return Ok((used, Some(self.done())));
                    }
                }
            }
        }
    }

    /// The connection closed: completes a body framed by the close, else the response is
    /// incomplete.
    pub fn eof(&mut self) -> Result<Response, ParseError> {
        if self.state == State::UntilClose {
            let mut done = self.done();
            done.keep_alive = false;
            Ok(done)
        } else {
            Err(ParseError::Closed)
        }
    }

    /// Parses a head at the start of `buf`; `None` when it is not all there yet.
    fn head(&mut self, buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let n = match response.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(invalid("response head over 64 KiB"));
            }
            Ok(httparse::Status::Partial) => {
                if !buf.is_empty() {
                    self.status = 1; // bytes of this response have arrived
                }
                return Ok(None);
            }
            Err(e) => return Err(invalid(&format!("bad response head: {e}"))),
        };
        let status = response.code.unwrap_or(0);
        self.status = status;
        if (100..200).contains(&status) && status != 101 {
            self.status = 0;
            return Ok(Some(n));
        }
        let mut keep_alive = response.version == Some(1);
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut other_coding = false;
        for h in response.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or_else(|| invalid("bad content-length"))?;
                if length.is_some_and(|l| l != v) {
                    return Err(invalid("conflicting content-length headers"));
                }
                length = Some(v);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                let last = h.value.rsplit(|b| *b == b',').next().unwrap_or(&[]);
                chunked = trim(last).eq_ignore_ascii_case(b"chunked");
                other_coding = !chunked;
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|b| *b == b',') {
                    let token = trim(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    }
                }
            }
        }
        self.keep_alive = keep_alive && status != 101;
        self.body_bytes = 0;
        self.state = if self.head_request || status == 204 || status == 304 || status == 101 {
            State::Length(0)
        } else if chunked {
            State::ChunkSize
        } else if other_coding {
            State::UntilClose
        } else if let Some(l) = length {
            State::Length(l)
        } else {
            State::UntilClose
        };
        Ok(Some(n))
    }

    fn finish_if_empty(&mut self) -> Option<Response> {
        (self.state == State::Length(0)).then(|| self.done())
    }

    fn done(&mut self) -> Response {
        let done = Response {
            status: self.status,
            body_bytes: self.body_bytes,
            keep_alive: self.keep_alive && self.state != State::UntilClose,
        };
        self.state = State::Head;
        self.status = 0;
        self.body_bytes = 0;
        self.keep_alive = true;
        done
    }
}

fn invalid(why: &str) -> ParseError {
    ParseError::Invalid(why.to_owned())
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// A CRLF- (or LF-) terminated line at the start of `buf`: (line without terminator, bytes
/// used), or `None` when it is not all there yet.
fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ParseError> {
    match buf.iter().position(|b| *b == b'\n') {
        Some(i) => {
            let line = &buf[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok(Some((line, i + 1)))
        }
        None if buf.len() > MAX_LINE => Err(invalid("line over 8 KiB in a chunked body")),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get() -> ResponseParser {
        ResponseParser::new(&http::Method::GET)
    }

    /// Feeds `input` in pieces of `step` bytes (as reads would deliver it).
    fn feed(p: &mut ResponseParser, input: &[u8], step: usize) -> Vec<Response> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                let (used, done) = p.parse(&buf).unwrap();
                buf.drain(..used);
                match done {
                    Some(r) => out.push(r),
                    None => break,
                }
            }
        }
        out
    }

    #[test]
    fn requests_are_serialized_once_with_length() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "127.0.0.1:8080".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        let r = serialize(&http::Method::POST, "/api/quiz/grade", &headers, b"{}");
        assert_eq!(
            &r[..],
            b"POST /api/quiz/grade HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        let g = serialize(&http::Method::GET, "/", &http::HeaderMap::new(), b"");
        assert_eq!(&g[..], b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn content_length_responses_in_any_split() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
        for step in [1, 2, 7, 64, 1000] {
            let got = feed(&mut get(), two, step);
            assert_eq!(
                got,
                vec![
                    Response {
                        status: 200,
                        body_bytes: 5,
                        keep_alive: true
                    },
                    Response {
                        status: 503,
                        body_bytes: 0,
                        keep_alive: true
                    },
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-trailer: y\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        for step in [1, 3, 500] {
            let got = feed(&mut get(), input, step);
            assert_eq!(got.len(), 2, "step {step}");
            assert_eq!(got[0].body_bytes, 15);
            assert_eq!(got[1].status, 204);
        }
    }

    #[test]
    fn interim_responses_are_skipped_and_head_has_no_body() {
        let input = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        let got = feed(&mut get(), input, 4);
        assert_eq!(
            got,
            vec![Response {
                status: 200,
                body_bytes: 3,
                keep_alive: true
            }]
        );
        let mut head = ResponseParser::new(&http::Method::HEAD);
        let got = feed(
            &mut head,
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
            100,
        );
        assert_eq!(got[0].body_bytes, 0);
    }

    #[test]
    fn connection_close_http10_and_close_delimited_bodies() {
        let got = feed(
            &mut get(),
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
            100,
        );
        assert!(!got[0].keep_alive);
        let got = feed(
            &mut get(),
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
            100,
        );
        assert!(!got[0].keep_alive);
        let got = feed(
            &mut get(),
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
            100,
        );
        assert!(got[0].keep_alive);
        let mut p = get();
        assert!(feed(&mut p, b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 5).is_empty());
        assert_eq!(
            p.eof(),
            Ok(Response {
                status: 200,
                body_bytes: 13,
                keep_alive: false
            })
        );
    }

    #[test]
    fn truncated_and_malformed_responses_are_errors() {
        let mut p = get();
        assert!(!p.started());
        assert_eq!(p.eof(), Err(ParseError::Closed));
        assert_eq!(
            p.parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
                .unwrap()
                .1,
            None
        );
        assert!(p.started());
        assert_eq!(p.eof(), Err(ParseError::Closed));
        let bad = |input: &[u8]| get().parse(input).unwrap_err();
        assert!(matches!(
            bad(b"SSH-2.0-OpenSSH\r\n\r\n"),
            ParseError::Invalid(_)
        ));
        assert!(matches!(
            bad(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            ParseError::Invalid(m) if m.contains("conflicting")
        ));
        assert!(matches!(
            bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            ParseError::Invalid(m) if m.contains("chunk size")
        ));
        let huge = [b'a'; MAX_HEAD + 10];
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.extend_from_slice(&huge);
        assert!(matches!(bad(&big), ParseError::Invalid(_)));
    }
}
