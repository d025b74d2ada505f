//! A target's response head as the client receives it, and how its body is framed.
//!
//! The head is parsed with httparse and rewritten once: hop-by-hop headers go (RFC 9110
//! §7.6.1), stickiness cookies are added, and `Connection: close` when the client connection
//! ends after it. The body is relayed byte for byte; [`Framing`] finds where it ends.

use std::mem::MaybeUninit;

use crate::HeaderView;
use crate::l7::headers::is_hop_by_hop;
use crate::routing::Stick;
use crate::sticky;

use super::tokens;

/// Headers a response head may have (hyper's default limit is 100).
const MAX_HEADERS: usize = 128;
/// The largest response head accepted from a target.
pub(super) const MAX_HEAD: usize = 64 * 1024;

/// How a response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body (HEAD, 204, 304).
    Empty,
    Length(u64),
    /// `Transfer-Encoding: chunked`, relayed as it is.
    Chunked,
    /// Until the target closes the connection (HTTP/1.0 style).
    UntilClose,
}

/// A parsed and rewritten response head.
#[derive(Debug)]
pub(super) struct Head {
    /// Bytes of the target's head.
    pub(super) len: usize,
    pub(super) status: u16,
    pub(super) framing: Framing,
    /// The target keeps the connection open after this response.
    pub(super) reusable: bool,
    /// The target's `Location`, for the access log.
    pub(super) location: Option<String>,
}

/// What parsing a target's bytes gave.
#[derive(Debug)]
pub(super) enum Parsed {
    Partial,
    /// An informational (1xx) response of `len` bytes, dropped as hyper's client drops it.
    Informational(usize),
    Head(Head),
    Invalid(String),
}

/// What the client-facing head must add.
pub(super) struct Rewrite<'a> {
    pub(super) request_was_head: bool,
    pub(super) stick: Option<&'a Stick>,
    pub(super) group_cookie: Option<&'a http::HeaderValue>,
    /// The client connection closes after this response.
    pub(super) close: bool,
}

/// Parses the head at the start of `buf` and writes the client's head into `out`.
pub(super) fn parse(buf: &[u8], rw: &Rewrite<'_>, out: &mut Vec<u8>) -> Parsed {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Parsed::Partial,
        Ok(httparse::Status::Partial) => return Parsed::Invalid("response head too large".into()),
        Err(e) => return Parsed::Invalid(format!("malformed response head: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    // httparse takes any three digits; HTTP status codes are 100–599 (RFC 9110 §15).
    if !(100..600).contains(&status) {
        return Parsed::Invalid(format!("status code {status} is not HTTP's"));
    }
    if (100..200).contains(&status) {
        if status == 101 {
            return Parsed::Invalid("101 Switching Protocols without an upgrade request".into());
        }
        return Parsed::Informational(len);
    }
    let headers = &*resp.headers;
    let http11 = resp.version == Some(1);
    let mut listed: Vec<&str> = Vec::new();
    let mut keep_alive = http11;
    let mut chunked = None;
    // Transfer codings other than `chunked`, which the client must still undo.
    let mut codings: Vec<&str> = Vec::new();
    let mut length: Option<u64> = None;
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("connection") {
            // `close` and `keep-alive` decide reuse; every name listed is removed with the
            // header (a header named `close` too, as on hyper's path: RFC 9110 §7.6.1).
            match std::str::from_utf8(h.value) {
                Ok(value) => {
                    for token in tokens(value) {
                        keep_alive = reuse_after(token, keep_alive);
                        listed.push(token);
                    }
                }
                Err(_) => {
                    for token in tokens(&String::from_utf8_lossy(h.value)) {
                        keep_alive = reuse_after(token, keep_alive);
                    }
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding decides (RFC 9112 §6.3); the others (gzip, …) stay on the body.
            let value = std::str::from_utf8(h.value).unwrap_or("");
            let last = value.rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
            codings.extend(tokens(value).filter(|c| !c.eq_ignore_ascii_case("chunked")));
        } else if name.eq_ignore_ascii_case("content-length") {
            let Some(n) = parse_length(h.value) else {
                return Parsed::Invalid("invalid Content-Length".into());
            };
            if length.is_some_and(|l| l != n) {
                return Parsed::Invalid("conflicting Content-Length values".into());
            }
            length = Some(n);
        }
    }
    let framing = if rw.request_was_head || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    let until_close = framing == Framing::UntilClose;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa3(status).as_slice());
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let view = HeaderView::Raw(headers);
    let chunked_out = framing == Framing::Chunked || until_close;
    for h in headers {
        if is_hop_by_hop(h.name)
            || listed.iter().any(|l| l.eq_ignore_ascii_case(h.name))
            // A body sent chunked never goes with a `Content-Length` (RFC 9112 §6.3).
            || (chunked_out && h.name.eq_ignore_ascii_case("content-length"))
        {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    // A body that ends when the target closes is re-framed as chunks, so the client's
    // connection outlives it (as hyper and ALB do).
    if chunked_out {
        out.extend_from_slice(b"transfer-encoding: ");
        for coding in &codings {
            out.extend_from_slice(coding.as_bytes());
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"chunked\r\n");
    }
    if let Some(stick) = rw.stick
        && stick
            .when_app_sets
            .as_deref()
            .is_none_or(|app| sticky::sets_cookie(view, app))
    {
        set_cookie(out, stick.cookie.as_bytes());
    }
    if let Some(cookie) = rw.group_cookie {
        set_cookie(out, cookie.as_bytes());
    }
    if rw.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Parsed::Head(Head {
        len,
        status,
        framing,
        reusable: keep_alive && !until_close,
        location: view.get("location").map(str::to_owned),
    })
}

fn set_cookie(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(b"set-cookie: ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A `Content-Length` value: digits only (any number of leading zeros, as hyper reads it).
pub(super) fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A status code as three digits.
fn itoa3(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

/// Whether the target's connection is reusable after a `Connection` token.
fn reuse_after(token: &str, keep_alive: bool) -> bool {
    if token.eq_ignore_ascii_case("close") {
        false
    } else if token.eq_ignore_ascii_case("keep-alive") {
        true
    } else {
        keep_alive
    }
}

/// Where a chunked body ends, found by reading the chunk framing as it streams past.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunks {
    /// In a chunk-size line: the size so far, and whether a digit was seen.
    #[default]
    SizeStart,
    Size(u64),
    /// After `;` (extensions) up to the line end.
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    Trailer,
    TrailerLf,
    FinalLf,
    Done,
}

impl Chunks {
    /// Reads `bytes`; returns how many belong to the body (all of them unless it ended
    /// within), or an error for bad framing.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Result<usize, &'static str> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            *self = match *self {
                Chunks::Done => return Ok(i),
                Chunks::SizeStart | Chunks::Size(_) => {
                    let so_far = match *self {
                        Chunks::Size(n) => Some(n),
                        _ => None,
                    };
                    match (b as char).to_digit(16) {
                        Some(d) => Chunks::Size(
                            so_far
                                .unwrap_or(0)
                                .checked_mul(16)
                                .and_then(|n| n.checked_add(u64::from(d)))
                                .ok_or("chunk size too large")?,
                        ),
                        None => {
                            let n = so_far.ok_or("chunk size missing")?;
                            match b {
                                b';' | b' ' | b'\t' => Chunks::Extension(n),
                                b'\r' => Chunks::SizeLf(n),
                                _ => return Err("bad chunk size"),
                            }
                        }
                    }
                }
                Chunks::Extension(n) => match b {
                    b'\r' => Chunks::SizeLf(n),
                    b'\n' => return Err("bare LF in chunk extension"),
                    _ => Chunks::Extension(n),
                },
                Chunks::SizeLf(n) => match (b, n) {
                    (b'\n', 0) => Chunks::TrailerStart,
                    (b'\n', n) => Chunks::Data(n),
                    _ => return Err("chunk size line without LF"),
                },
                Chunks::Data(n) => {
                    let take = usize::try_from(n)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - i);
                    i += take;
                    let left = n - take as u64;
                    *self = if left == 0 {
                        Chunks::DataCr
                    } else {
                        Chunks::Data(left)
                    };
                    continue;
                }
                Chunks::DataCr if b == b'\r' => Chunks::DataLf,
                Chunks::DataLf if b == b'\n' => Chunks::SizeStart,
                Chunks::DataCr | Chunks::DataLf => return Err("chunk data without CRLF"),
                Chunks::TrailerStart => match b {
                    b'\r' => Chunks::FinalLf,
                    _ => Chunks::Trailer,
                },
                Chunks::Trailer => match b {
                    b'\r' => Chunks::TrailerLf,
                    _ => Chunks::Trailer,
                },
                Chunks::TrailerLf if b == b'\n' => Chunks::TrailerStart,
                Chunks::FinalLf if b == b'\n' => Chunks::Done,
                Chunks::TrailerLf | Chunks::FinalLf => return Err("trailer without CRLF"),
            };
            i += 1;
        }
        Ok(i)
    }

    pub(super) fn is_done(self) -> bool {
        self == Chunks::Done
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn rw() -> Rewrite<'static> {
        Rewrite {
            request_was_head: false,
            stick: None,
            group_cookie: None,
            close: false,
        }
    }

    fn head(raw: &[u8], rw: &Rewrite<'_>) -> (Head, String) {
        let mut out = Vec::new();
        match parse(raw, rw, &mut out) {
            Parsed::Head(h) => (h, String::from_utf8(out).unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hop_by_hop_headers_go_and_framing_is_found() {
        let raw = b"HTTP/1.1 201 Created\r\nConnection: x-remove\r\nX-Remove: 1\r\nKeep-Alive: 5\r\nX-Kept: a\r\nContent-Length: 3\r\n\r\nabc";
        let (h, out) = head(raw, &rw());
        assert_eq!(h.status, 201);
        assert_eq!(h.framing, Framing::Length(3));
        assert_eq!(h.len, raw.len() - 3);
        assert!(h.reusable);
        assert_eq!(
            out,
            "HTTP/1.1 201 Created\r\nX-Kept: a\r\nContent-Length: 3\r\n\r\n"
        );
        let (h, out) = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            &rw(),
        );
        assert_eq!(h.framing, Framing::Chunked);
        assert_eq!(out, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
        let (h, out) = head(b"HTTP/1.0 200 OK\r\n\r\n", &rw());
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(!h.reusable);
        assert!(out.ends_with("transfer-encoding: chunked\r\n\r\n"));
        let (h, _) = head(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            &rw(),
        );
        assert_eq!(h.framing, Framing::Empty);
        let (h, _) = head(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            &rw(),
        );
        assert!(!h.reusable);
    }

    #[test]
    fn every_name_connection_lists_goes_even_close() {
        // Found by the `h1_response_head` fuzz target: a header named `close` reached the
        // client beside `Connection: close` (hyper's path removes it).
        let (h, out) = head(
            b"HTTP/1.1 200 OK\r\nclose: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            &rw(),
        );
        assert!(!h.reusable);
        assert_eq!(out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn other_transfer_codings_stay_on_the_body() {
        // gzip then chunked: relayed with both codings named.
        let (h, out) = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            &rw(),
        );
        assert_eq!(h.framing, Framing::Chunked);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n"
        );
        // gzip alone ends at close: re-framed as chunks, and the client still learns of gzip.
        let (h, out) = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &rw());
        assert_eq!(h.framing, Framing::UntilClose);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n"
        );
    }

    #[test]
    fn content_length_never_goes_with_chunked() {
        // Found by the `h1_response_head` fuzz target (seed `te-and-length`): the target's
        // `Content-Length` went to the client beside `transfer-encoding: chunked`.
        for (raw, te) in [
            (
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 12\r\n\r\n"[..],
                "chunked",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nTransfer-Encoding: gzip\r\n\r\n",
                "gzip, chunked",
            ),
        ] {
            let (h, out) = head(raw, &rw());
            assert!(matches!(h.framing, Framing::Chunked | Framing::UntilClose));
            assert_eq!(
                out,
                format!("HTTP/1.1 200 OK\r\ntransfer-encoding: {te}\r\n\r\n")
            );
        }
    }

    #[test]
    fn stickiness_cookies_are_added() {
        let stick = Stick {
            when_app_sets: Some("session".into()),
            cookie: HeaderValue::from_static("AWSALBAPP=t"),
        };
        let group = HeaderValue::from_static("AWSALBTG=g");
        let rw = Rewrite {
            stick: Some(&stick),
            group_cookie: Some(&group),
            close: true,
            ..rw()
        };
        let (_, out) = head(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &rw);
        assert!(!out.contains("AWSALBAPP"), "the app set no cookie: {out}");
        assert!(out.contains("set-cookie: AWSALBTG=g\r\nconnection: close\r\n\r\n"));
        let (_, out) = head(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: session=1\r\nContent-Length: 0\r\n\r\n",
            &rw,
        );
        assert!(out.contains("set-cookie: AWSALBAPP=t\r\n"), "{out}");
    }

    #[test]
    fn bad_heads_and_informational_responses() {
        let mut out = Vec::new();
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Len", &rw(), &mut out),
            Parsed::Partial
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 100 Continue\r\n\r\n", &rw(), &mut out),
            Parsed::Informational(25)
        ));
        assert!(matches!(
            parse(b"garbage\r\n\r\n", &rw(), &mut out),
            Parsed::Invalid(_)
        ));
        for status in [&b"042"[..], b"600", b"000"] {
            let raw = [&b"HTTP/1.1 "[..], status, b" X\r\n\r\n"].concat();
            assert!(matches!(parse(&raw, &rw(), &mut out), Parsed::Invalid(_)));
        }
        assert!(matches!(
            parse(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                &rw(),
                &mut out
            ),
            Parsed::Invalid(_)
        ));
        assert_eq!(parse_length(b" 42 "), Some(42));
        assert_eq!(parse_length(b"-1"), None);
        assert_eq!(parse_length(b"99999999999999999999"), None);
        // Found by the `h1_response_head` fuzz target: 20 digits with leading zeros were
        // refused (hyper's path accepts them).
        assert_eq!(parse_length(b"00000000000079513280"), Some(79_513_280));
        assert_eq!(parse_length(b"018446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_length(b"18446744073709551616"), None);
    }

    #[test]
    fn chunk_framing_finds_the_end_across_pieces() {
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let end = body.len() - 4;
        for split in 0..body.len() {
            let mut c = Chunks::default();
            let a = c.feed(&body[..split]).unwrap();
            assert_eq!(a, split.min(end));
            let b = if c.is_done() {
                0
            } else {
                c.feed(&body[split..]).unwrap()
            };
            assert!(c.is_done(), "split at {split}");
            assert_eq!(a + b, end);
        }
        for bad in [&b"x\r\n"[..], b"4\r\nWikiXX", b"\r\n", b"4\nWiki"] {
            assert!(Chunks::default().feed(bad).is_err(), "{bad:?}");
        }
    }
}
