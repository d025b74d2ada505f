//! Request framing as it crosses the client socket: a sans-io tracker that reads the same bytes
//! hyper's HTTP/1.1 parser is about to read and says, before hyper hands the request to the
//! balancer, whether that request is one ALB refuses with 400 (`desync_mitigation_mode`
//! `strictest` for these two cases):
//!
//! - [`Refusal::BothLengths`]: its head carries both `Content-Length` and `Transfer-Encoding`.
//!   hyper drops `Content-Length` before anyone sees the head (chunked wins), so the parsed
//!   request cannot tell; the raw head can.
//! - [`Refusal::BadChunk`]: its chunked body breaks the chunk grammar in bytes that arrived
//!   with the head (or before the balancer got to the request). Bad chunking that arrives
//!   later, after the head went to a target, ends the body there instead: hyper fails the
//!   stream, the target never sees a complete request and the client connection closes.
//!
//! Why a second look at the bytes: hyper exposes neither the raw head nor its framing decision
//! (its case map and header order extensions are crate-private). The tracker costs one pass
//! over each head (lines are skipped with `memchr` unless they may be `Content-Length` or
//! `Transfer-Encoding`), a subtraction per body read and a small state machine per chunk
//! header; it allocates nothing and keeps a few bytes of state per connection.
//!
//! Invariants:
//! - it never refuses what hyper accepts unless the head is framed both ways: its chunk grammar
//!   is hyper's (`proto::h1::decode`), byte for byte;
//! - requests are counted in the order hyper serves them (one head after another; leading
//!   empty lines skipped as httparse does), so verdict *n* is about the *n*-th request the
//!   service sees on the connection;
//! - once it has a verdict, or sees something it does not follow (the HTTP/2 preface, an
//!   unparseable length: hyper refuses those itself), it stops looking (`Off`).

/// Why a request is refused before it is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Content-Length` and `Transfer-Encoding` in one head.
    BothLengths,
    /// A chunked body that breaks the chunk grammar.
    BadChunk,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BothLengths => "both Content-Length and Transfer-Encoding",
            Refusal::BadChunk => "malformed chunked body",
        }
    }
}

/// The first request on a connection that must be refused, by its index (0-based, in the
/// order the service sees requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub request: u64,
    pub refusal: Refusal,
}

/// Tracks the framing of the requests on one client connection.
#[derive(Debug, Clone)]
pub struct Framing {
    state: State,
    /// Request heads read completely so far.
    heads: u64,
    verdict: Option<Verdict>,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            state: State::Head(Head::default()),
            heads: 0,
            verdict: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Head(Head),
    /// A `Content-Length` body: bytes still to come.
    Body(u64),
    Chunked(Chunk),
    Off,
}

const CONTENT_LENGTH: &[u8] = b"content-length";
const TRANSFER_ENCODING: &[u8] = b"transfer-encoding";
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
const MAYBE_CL: u8 = 1;
const MAYBE_TE: u8 = 2;
const MAYBE_PRI: u8 = 4;

/// Where the tracker is in a request head.
#[derive(Debug, Clone, Copy, Default)]
struct Head {
    /// Bytes of the current line so far (saturating).
    col: u32,
    /// The request line has begun (empty lines before it are skipped).
    started: bool,
    /// Names the current line can still be (`MAYBE_*`).
    maybe: u8,
    /// Reading a `Content-Length` value: `Some(digits so far)`.
    cl_value: Option<ClValue>,
    /// The last byte was CR.
    cr: bool,
    /// `Content-Length` lines seen, and the value they agree on.
    cl_seen: bool,
    cl: Option<u64>,
    /// A `Content-Length` hyper cannot parse, or two that differ: hyper refuses the head.
    cl_bad: bool,
    te: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct ClValue {
    n: u64,
    digits: bool,
    /// Whitespace after the digits: only more whitespace may follow.
    done: bool,
    bad: bool,
}

/// The chunked body decoder's states, as hyper names them.
#[derive(Debug, Clone, Copy)]
enum Chunk {
    Start,
    Size(u64),
    SizeLws(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    EndCr,
    EndLf,
    Trailer,
    TrailerLf,
}

impl Framing {
    /// The first refused request, if any.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict
    }

    /// Whether the tracker still follows the connection.
    pub fn is_tracking(&self) -> bool {
        !matches!(self.state, State::Off)
    }

    /// Feeds bytes read from the client, in order. Returns the verdict when these bytes
    /// produced it.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Option<Verdict> {
        while !bytes.is_empty() {
            let used = match &mut self.state {
                State::Off => return None,
                State::Body(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    if *left == 0 {
                        self.state = State::Head(Head::default());
                    }
                    n as usize
                }
                State::Head(_) => self.head(bytes),
                State::Chunked(_) => self.chunked(bytes),
            };
            bytes = &bytes[used..];
            if self.verdict.is_some() {
                self.state = State::Off;
                return self.verdict;
            }
        }
        None
    }

    /// Consumes head bytes; returns how many.
    fn head(&mut self, bytes: &[u8]) -> usize {
        let State::Head(h) = &mut self.state else {
            return 0;
        };
        let mut i = 0;
        while i < bytes.len() {
            // Fast path: nothing on the rest of this line matters.
            if h.col > 0 && h.maybe == 0 && h.cl_value.is_none() {
                let rest = &bytes[i..];
                let skipped = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                if skipped > 0 {
                    i += skipped;
                    h.cr = bytes[i - 1] == b'\r';
                    h.col = h
                        .col
                        .saturating_add(u32::try_from(skipped).unwrap_or(u32::MAX));
                    continue;
                }
            }
            let b = bytes[i];
            i += 1;
            if b == b'\n' {
                let empty = h.col == 0 || (h.col == 1 && h.cr);
                if let Some(v) = h.cl_value.take() {
                    finish_cl(h, v);
                }
                if empty {
                    if !h.started {
                        // httparse skips empty lines before the request line.
                        h.col = 0;
                        h.cr = false;
                        continue;
                    }
                    let head = *h;
                    self.end_of_head(head);
                    return i;
                }
                h.col = 0;
                h.cr = false;
                continue;
            }
            if h.col == 0 {
                h.maybe = if h.started {
                    MAYBE_CL | MAYBE_TE
                } else {
                    h.started = true;
                    MAYBE_PRI
                };
            }
            let col = h.col as usize;
            h.col = h.col.saturating_add(1);
            h.cr = b == b'\r';
            if let Some(v) = &mut h.cl_value {
                cl_byte(v, b);
                continue;
            }
            if h.maybe & MAYBE_PRI != 0 {
                if H2_PREFACE.get(col) != Some(&b) {
                    h.maybe = 0;
                } else if col + 1 == H2_PREFACE.len() {
                    // HTTP/2 with prior knowledge: hyper's h2 side frames it.
                    self.state = State::Off;
                    return i;
                }
                continue;
            }
            let lower = b.to_ascii_lowercase();
            if h.maybe & MAYBE_CL != 0 {
                if col == CONTENT_LENGTH.len() && b == b':' {
                    h.maybe = 0;
                    h.cl_seen = true;
                    h.cl_value = Some(ClValue::default());
                    continue;
                }
                if CONTENT_LENGTH.get(col) != Some(&lower) {
                    h.maybe &= !MAYBE_CL;
                }
            }
            if h.maybe & MAYBE_TE != 0 {
                if col == TRANSFER_ENCODING.len() && b == b':' {
                    h.maybe = 0;
                    h.te = true;
                    continue;
                }
                if TRANSFER_ENCODING.get(col) != Some(&lower) {
                    h.maybe &= !MAYBE_TE;
                }
            }
        }
        bytes.len()
    }

    fn end_of_head(&mut self, h: Head) {
        let request = self.heads;
        self.heads += 1;
        self.state = if h.te && h.cl_seen {
            self.verdict = Some(Verdict {
                request,
                refusal: Refusal::BothLengths,
            });
            State::Off
        } else if h.te {
            State::Chunked(Chunk::Start)
        } else if h.cl_bad {
            State::Off
        } else {
            match h.cl {
                Some(n) if n > 0 => State::Body(n),
                _ => State::Head(Head::default()),
            }
        };
    }

    /// Consumes chunked body bytes; returns how many.
    fn chunked(&mut self, bytes: &[u8]) -> usize {
        let State::Chunked(c) = &mut self.state else {
            return 0;
        };
        let mut i = 0;
        while i < bytes.len() {
            if let Chunk::Data(left) = c {
                let n = (*left).min((bytes.len() - i) as u64);
                *left -= n;
                i += n as usize;
                if *left == 0 {
                    *c = Chunk::DataCr;
                }
                continue;
            }
            let b = bytes[i];
            i += 1;
            let next = match (*c, b) {
                (Chunk::Start, _) => hex(b).map(|d| Chunk::Size(u64::from(d))),
                (Chunk::Size(n), _) if hex(b).is_some() => n
                    .checked_mul(16)
                    .and_then(|n| n.checked_add(u64::from(hex(b)?)))
                    .map(Chunk::Size),
                (Chunk::Size(n) | Chunk::SizeLws(n), b'\t' | b' ') => Some(Chunk::SizeLws(n)),
                (Chunk::Size(n) | Chunk::SizeLws(n), b';') => Some(Chunk::Extension(n)),
                (Chunk::Size(n) | Chunk::SizeLws(n) | Chunk::Extension(n), b'\r') => {
                    Some(Chunk::SizeLf(n))
                }
                (Chunk::Extension(_), b'\n') => None,
                (Chunk::Extension(n), _) => Some(Chunk::Extension(n)),
                (Chunk::SizeLf(0), b'\n') => Some(Chunk::EndCr),
                (Chunk::SizeLf(n), b'\n') => Some(Chunk::Data(n)),
                (Chunk::DataCr, b'\r') => Some(Chunk::DataLf),
                (Chunk::DataLf, b'\n') => Some(Chunk::Start),
                (Chunk::EndCr, b'\r') => Some(Chunk::EndLf),
                (Chunk::Trailer, b'\r') => Some(Chunk::TrailerLf),
                (Chunk::EndCr | Chunk::Trailer, _) => Some(Chunk::Trailer),
                (Chunk::TrailerLf, b'\n') => Some(Chunk::EndCr),
                (Chunk::EndLf, b'\n') => {
                    self.state = State::Head(Head::default());
                    return i;
                }
                _ => None,
            };
            match next {
                Some(n) => *c = n,
                None => {
                    self.verdict = Some(Verdict {
                        request: self.heads - 1,
                        refusal: Refusal::BadChunk,
                    });
                    return i;
                }
            }
        }
        bytes.len()
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One byte of a `Content-Length` value (after the colon), as hyper parses it: optional
/// whitespace, ASCII digits, optional whitespace (and the CR of the line end).
fn cl_byte(v: &mut ClValue, b: u8) {
    match b {
        b' ' | b'\t' | b'\r' => v.done |= v.digits,
        b'0'..=b'9' if !v.done => {
            match v
                .n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
            {
                Some(n) => v.n = n,
                None => v.bad = true,
            }
            v.digits = true;
        }
        _ => v.bad = true,
    }
}

fn finish_cl(h: &mut Head, v: ClValue) {
    if v.bad || !v.digits || h.cl.is_some_and(|n| n != v.n) {
        h.cl_bad = true;
    }
    h.cl = Some(v.n);
}

#[cfg(test)]
mod tests;
