//! Thin entry points into the fast path's parsers for the `cargo fuzz` targets (`fuzz/`),
//! re-exported as `proxy::fuzzing`. They call the real functions and only translate their
//! crate-private results into public types; no parsing happens here.

use super::response::{self, Chunks, Framing, Rewrite};
use crate::routing::Stick;

pub use super::request::fuzzing::{H1RequestScan, h1_request_scan};

/// What `response::parse` made of a target's bytes.
#[derive(Debug)]
pub enum H1Response {
    Partial,
    /// A 1xx response of this many bytes, dropped.
    Informational(usize),
    Head(H1ResponseHead),
    Invalid(String),
}

/// A parsed response head and the head written for the client.
#[derive(Debug)]
pub struct H1ResponseHead {
    /// Bytes of the target's head.
    pub len: usize,
    pub status: u16,
    /// `None`: no body; `Some(Some(n))`: `Content-Length: n`; `Some(None)`: chunked, or until
    /// the target closes (both relayed to the client chunked).
    pub body: Option<Option<u64>>,
    /// Chunked by the target itself (relayed as it is).
    pub chunked: bool,
    pub reusable: bool,
    pub location: Option<String>,
    /// The head as the client receives it.
    pub client_head: Vec<u8>,
}

/// How the client-facing head is rewritten (see `response::Rewrite`).
#[derive(Debug, Default, Clone, Copy)]
pub struct H1Rewrite<'a> {
    pub request_was_head: bool,
    pub close: bool,
    /// A stickiness cookie set when the response sets this application cookie (`Some("")`:
    /// always).
    pub app_cookie: Option<&'a str>,
    pub group_cookie: bool,
}

/// The stickiness cookie the fuzz targets see added.
pub const H1_STICK_COOKIE: &str = "AWSALBAPP=fuzz";
/// The target group cookie the fuzz targets see added.
pub const H1_GROUP_COOKIE: &str = "AWSALBTG=fuzz";

/// Parses a target's response head with `response::parse`.
pub fn h1_response_head(bytes: &[u8], rw: H1Rewrite<'_>) -> H1Response {
    let stick = rw.app_cookie.map(|app| Stick {
        when_app_sets: (!app.is_empty()).then(|| app.to_owned()),
        cookie: http::HeaderValue::from_static(H1_STICK_COOKIE),
    });
    let group = http::HeaderValue::from_static(H1_GROUP_COOKIE);
    let rewrite = Rewrite {
        request_was_head: rw.request_was_head,
        stick: stick.as_ref(),
        group_cookie: rw.group_cookie.then_some(&group),
        close: rw.close,
    };
    let mut out = Vec::new();
    match response::parse(bytes, &rewrite, &mut out) {
        response::Parsed::Partial => H1Response::Partial,
        response::Parsed::Informational(n) => H1Response::Informational(n),
        response::Parsed::Invalid(e) => H1Response::Invalid(e),
        response::Parsed::Head(h) => H1Response::Head(H1ResponseHead {
            len: h.len,
            status: h.status,
            body: match h.framing {
                Framing::Empty => None,
                Framing::Length(n) => Some(Some(n)),
                Framing::Chunked | Framing::UntilClose => Some(None),
            },
            chunked: h.framing == Framing::Chunked,
            reusable: h.reusable,
            location: h.location,
            client_head: out,
        }),
    }
}

/// Whether a header name (any case) is hop-by-hop: the list both directions drop.
pub fn h1_is_hop_by_hop(name: &str) -> bool {
    crate::l7::headers::is_hop_by_hop(name)
}

/// A `Content-Length` value as `response::parse_length` reads it.
pub fn h1_parse_length(value: &[u8]) -> Option<u64> {
    response::parse_length(value)
}

/// What feeding a chunked body to one `Chunks` scanner gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H1Chunks {
    /// Bytes that belong to the body, over all pieces.
    pub consumed: usize,
    /// The body's end was found.
    pub done: bool,
    /// Bad framing (the pieces after it are not fed).
    pub error: Option<&'static str>,
    /// What each piece's `feed` returned.
    pub per_piece: Vec<usize>,
}

/// Feeds `pieces` in order to one `Chunks` scanner, as the relay feeds successive reads.
pub fn h1_chunks(pieces: &[&[u8]]) -> H1Chunks {
    let mut chunks = Chunks::default();
    let mut r = H1Chunks {
        consumed: 0,
        done: false,
        error: None,
        per_piece: Vec::new(),
    };
    for piece in pieces {
        match chunks.feed(piece) {
            Ok(n) => {
                r.consumed += n;
                r.per_piece.push(n);
            }
            Err(e) => {
                r.error = Some(e);
                break;
            }
        }
    }
    r.done = chunks.is_done();
    r
}
