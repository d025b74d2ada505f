//! The request head as the target receives it, and how an exchange with a target failed.
//!
//! The head is rewritten once per request: hop-by-hop headers go (RFC 9110 §7.6.1) except what
//! an upgrade (WebSocket) or gRPC needs (`Connection: upgrade` + `Upgrade`, `TE: trailers`),
//! `X-Forwarded-*` and the request id are set, and the URI takes the form the target's protocol
//! wants (origin-form for HTTP/1.1, absolute for HTTP/2).

use std::io;
use std::net::SocketAddr;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Uri, Version, header};
use hyper::upgrade::OnUpgrade;

use super::forward::ConnInfo;
use super::headers::{remove_hop_by_hop, set_forwarded};
use crate::upstream::{SendError, UpstreamBody};

/// The request head as the target receives it.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamHead {
    pub(crate) method: Method,
    pub(crate) path_and_query: PathAndQuery,
    pub(crate) headers: HeaderMap,
    /// The client sent `TE: trailers` (gRPC does); passed on to HTTP/2 targets only.
    te_trailers: bool,
}

impl UpstreamHead {
    /// Rewrites the client's head. Returns the client's pending upgrade too, if it asked for one.
    pub(crate) fn new(
        mut parts: http::request::Parts,
        conn: &ConnInfo,
        scheme: &str,
        trace_id: HeaderValue,
    ) -> (Self, Option<OnUpgrade>) {
        let mut headers = parts.headers;
        let upgrade_to = (parts.version == Version::HTTP_11 && connection_has(&headers, "upgrade"))
            .then(|| headers.get(header::UPGRADE).cloned())
            .flatten();
        let te_trailers = headers
            .get(header::TE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
        remove_hop_by_hop(&mut headers);
        if let Some(protocol) = &upgrade_to {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, protocol.clone());
        }
        // HTTP/2 clients send `:authority` instead of Host; HTTP/1.1 targets need Host.
        if !headers.contains_key(header::HOST)
            && let Some(authority) = parts.uri.authority()
            && let Ok(v) = HeaderValue::from_str(authority.as_str())
        {
            headers.insert(header::HOST, v);
        }
        set_forwarded(&mut headers, &conn.forwarded, scheme);
        super::trace::set(&mut headers, trace_id);
        let on_upgrade = upgrade_to
            .is_some()
            .then(|| parts.extensions.remove::<OnUpgrade>())
            .flatten();
        let head = UpstreamHead {
            method: parts.method,
            path_and_query: parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            headers,
            te_trailers,
        };
        (head, on_upgrade)
    }

    pub(crate) fn is_idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        )
    }

    /// An HTTP/1.1 request: origin-form URI; the Host header is the client's (or the target's
    /// address when the client sent none, as HTTP/1.0 clients may).
    pub(crate) fn into_h1(
        mut self,
        target: SocketAddr,
        body: UpstreamBody,
    ) -> Request<UpstreamBody> {
        if !self.headers.contains_key(header::HOST)
            && let Ok(v) = HeaderValue::from_str(&target.to_string())
        {
            self.headers.insert(header::HOST, v);
        }
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = Uri::from(self.path_and_query);
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = self.headers;
        request
    }

    /// An HTTP/2 request: absolute URI whose authority is the client's Host (the target's
    /// address without one); Host itself is not sent (`:authority` carries it).
    pub(crate) fn into_h2(
        mut self,
        target: SocketAddr,
        body: UpstreamBody,
    ) -> Result<Request<UpstreamBody>, UpstreamError> {
        let authority = self
            .headers
            .remove(header::HOST)
            .and_then(|h| Authority::try_from(h.as_bytes()).ok())
            .map_or_else(|| Authority::try_from(target.to_string()), Ok)
            .map_err(|e| UpstreamError::Other(e.to_string()))?;
        // Connection-specific headers are forbidden in HTTP/2.
        self.headers.remove(header::CONNECTION);
        self.headers.remove(header::UPGRADE);
        if self.te_trailers {
            self.headers
                .insert(header::TE, HeaderValue::from_static("trailers"));
        }
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(authority)
            .path_and_query(self.path_and_query)
            .build()
            .map_err(|e| UpstreamError::Other(e.to_string()))?;
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_2;
        *request.headers_mut() = self.headers;
        Ok(request)
    }
}

/// Whether the `Connection` header lists `token`.
pub(crate) fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// How an upstream exchange failed, in the terms that decide 502 vs 504 and retry.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// Nothing accepted the connection (the target process is gone): 502, retry-safe.
    #[error("could not connect: {0}")]
    Refused(String),
    /// The connection closed or reset before any response: 502, retry-safe for idempotent
    /// requests without a body. `reused`: it was a pooled keep-alive connection.
    #[error("connection closed before a response: {detail}")]
    Closed { detail: String, reused: bool },
    /// The TCP connection was not established within the connect timeout: 504.
    #[error("connect timed out")]
    ConnectTimeout,
    /// No response within the idle timeout: 504.
    #[error("no response within the idle timeout")]
    ResponseTimeout,
    /// Anything else (malformed response, client body error): 502.
    #[error("{0}")]
    Other(String),
    /// The client's request body broke (bad chunking after the head went on, or the client
    /// went away mid-body): 400, and the client connection closes.
    #[error("the client's request body failed: {0}")]
    ClientBody(String),
    /// A drill made the target "answer" with this status.
    #[error("injected fault: status {0}")]
    Injected(u16),
}

impl UpstreamError {
    pub(crate) fn target_unreachable(&self) -> bool {
        matches!(
            self,
            UpstreamError::Refused(_) | UpstreamError::Closed { .. }
        )
    }

    pub(crate) fn classify(e: SendError) -> UpstreamError {
        match e {
            SendError::ConnectTimeout => UpstreamError::ConnectTimeout,
            SendError::Connect(e) => UpstreamError::Refused(e.to_string()),
            SendError::Http { error, reused } => {
                // hyper reports a failing request body as a user error caused by that body's
                // own (server side) hyper error.
                let from_client_body = error.is_user()
                    && std::error::Error::source(&error)
                        .is_some_and(|s| s.downcast_ref::<hyper::Error>().is_some());
                if from_client_body {
                    return UpstreamError::ClientBody(error.to_string());
                }
                let io_kind = std::iter::successors(
                    Some(&error as &(dyn std::error::Error + 'static)),
                    |e| e.source(),
                )
                .find_map(|e| e.downcast_ref::<io::Error>().map(io::Error::kind));
                let closed = error.is_incomplete_message()
                    || error.is_canceled()
                    || error.is_closed()
                    || matches!(
                        io_kind,
                        Some(io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
                    );
                if closed {
                    UpstreamError::Closed {
                        detail: error.to_string(),
                        reused,
                    }
                } else {
                    UpstreamError::Other(error.to_string())
                }
            }
        }
    }
}
