//! Request-smuggling defences, in three layers:
//! 1. hyper's parser answers 400 to malformed heads, obs-fold, a space before the colon,
//!    conflicting `Content-Length`s and a `Transfer-Encoding` that does not end in `chunked`;
//! 2. the framing tracker on the client socket ([`crate::framing`]) sees the raw bytes before
//!    hyper does and refuses (400, connection closed, nothing forwarded) a head framed both
//!    ways — which hyper would accept, dropping `Content-Length` — and a chunked body whose
//!    bad chunk arrived before the request was forwarded; a bad chunk that arrives later ends
//!    the body (`UpstreamError::ClientBody`: 400 and close), so the target never sees a
//!    complete request;
//! 3. bodies are always re-framed by the balancer, so bytes the framings disagree on never
//!    become a request of their own.
//!
//! [`refuse`] is defence in depth on the parsed head, for anything that reaches the service
//! still framed both ways (HTTP/1.0, or a future parser that keeps both headers).

use http::{HeaderMap, Version, header};

/// Why a request is refused before routing, if it is.
pub(crate) fn refuse(version: Version, headers: &HeaderMap) -> Option<&'static str> {
    if version != Version::HTTP_11 && version != Version::HTTP_10 {
        return None;
    }
    let te = headers.contains_key(header::TRANSFER_ENCODING);
    let cl = headers.get_all(header::CONTENT_LENGTH).iter().count();
    if te && cl > 0 {
        return Some("both Content-Length and Transfer-Encoding");
    }
    if cl > 1 {
        let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
        let first = values.next();
        if values.any(|v| Some(v) != first) {
            return Some("conflicting Content-Length values");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn double_framing_is_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(refuse(Version::HTTP_11, &h), None);
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        assert_eq!(refuse(Version::HTTP_11, &h), None);
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        assert!(refuse(Version::HTTP_11, &h).is_some());
        // HTTP/2 frames bodies itself.
        assert_eq!(refuse(Version::HTTP_2, &h), None);
        let mut h = HeaderMap::new();
        h.append(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        h.append(header::CONTENT_LENGTH, HeaderValue::from_static("6"));
        assert!(refuse(Version::HTTP_10, &h).is_some());
    }
}
