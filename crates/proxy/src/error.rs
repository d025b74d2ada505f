//! Errors of the data plane: [`ApplyError`] for the control plane, and the error pages a client
//! sees when the load balancer itself answers (503, 502, 504), byte for byte in ALB's style so
//! that tooling written against ALB recognises them.
//!
//! Invariant: an error page is only ever produced by the load balancer, never relayed from a
//! target; a target's own 502 passes through untouched.

use std::io;
use std::net::SocketAddr;

use http::{HeaderValue, Response, StatusCode, header};
use model::Protocol;

use crate::l7::ProxyBody;

/// Why [`crate::DataPlane::apply`] refused a snapshot. Nothing changed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A new listener could not bind its address.
    #[error(
        "listener `{listener}` cannot bind {addr}: {source}; free the port (or pick another one) and apply again"
    )]
    Bind {
        listener: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// A forward action names a target group the snapshot does not contain.
    #[error(
        "listener `{listener}` forwards to target group `{target_group}`, which is not in the snapshot; add the target group or fix the action"
    )]
    UnknownTargetGroup {
        listener: String,
        target_group: String,
    },
    /// A drill's fault names a target group the snapshot does not contain.
    #[error("fault `{fault}` targets target group `{target_group}`, which is not in the snapshot")]
    UnknownFaultTarget { fault: String, target_group: String },
    /// A forward action lists no target group at all.
    #[error("listener `{listener}` has a forward action without target groups; list at least one")]
    EmptyForward { listener: String },
    /// The data plane does not speak this protocol yet (TLS and L4 come later).
    #[error(
        "{resource}: protocol {} is not supported by the data plane yet; use HTTP",
        protocol.as_str()
    )]
    UnsupportedProtocol {
        /// e.g. "listener `web`", "target group `app`", "health check of target group `app`".
        resource: String,
        protocol: Protocol,
    },
    /// An access log file cannot be opened.
    #[error(
        "cannot write the access log {}: {source}; fix the access_logs bucket (a directory) or its permissions",
        path.display()
    )]
    AccessLog {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    /// Two items of the same kind share a key (or two listeners the same fixed address).
    #[error("{kind} `{key}` appears twice in the snapshot; keys must be unique")]
    Duplicate { kind: &'static str, key: String },
}

/// 400: a request the load balancer refuses to forward (malformed, or smuggling).
pub(crate) fn bad_request() -> http::Response<ProxyBody> {
    page(StatusCode::BAD_REQUEST, "400 Bad Request")
}

/// 400 for a request whose framing is ambiguous; the connection closes after it, since the
/// client and the balancer may disagree on where the next request starts.
pub(crate) fn bad_request_and_close() -> http::Response<ProxyBody> {
    let mut r = bad_request();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// 503: no target to send the request to (ALB: "no registered targets").
pub(crate) fn header_fields_too_large() -> http::Response<ProxyBody> {
    let mut r = page(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "431 Request Header Fields Too Large",
    );
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

pub(crate) fn service_unavailable() -> http::Response<ProxyBody> {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "503 Service Temporarily Unavailable",
    )
}

/// 502: the target refused or reset the connection, or answered with something that is not HTTP.
pub(crate) fn bad_gateway() -> http::Response<ProxyBody> {
    page(StatusCode::BAD_GATEWAY, "502 Bad Gateway")
}

/// 504: the target did not accept the connection or answer in time.
pub(crate) fn gateway_timeout() -> http::Response<ProxyBody> {
    page(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out")
}

/// The response of a target that a drill makes fail with `status` (see `crate::fault`).
pub(crate) fn injected(status: u16) -> http::Response<ProxyBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::new(ProxyBody::full(
        format!("{status} (injected by an updraft chaos drill)\n").into(),
    ));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// The body ALB (and nginx before it) sends for its own errors.
pub(crate) fn page_body(title: &str) -> String {
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
}

fn page(status: StatusCode, title: &str) -> Response<ProxyBody> {
    let body = page_body(title);
    let mut resp = Response::new(ProxyBody::full(body.into()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::SERVER, HeaderValue::from_static("updraft"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn bad_gateway_matches_alb_byte_for_byte() {
        let resp = bad_gateway();
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(resp.headers()[header::SERVER], "updraft");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &body[..],
            b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
        );
    }

    #[test]
    fn statuses_and_messages() {
        assert_eq!(service_unavailable().status(), 503);
        assert_eq!(gateway_timeout().status(), 504);
        let e = ApplyError::UnknownTargetGroup {
            listener: "web".into(),
            target_group: "app".into(),
        };
        assert!(e.to_string().contains("add the target group"));
        let e = ApplyError::UnsupportedProtocol {
            resource: "listener `web`".into(),
            protocol: Protocol::Https,
        };
        assert_eq!(
            e.to_string(),
            "listener `web`: protocol HTTPS is not supported by the data plane yet; use HTTP"
        );
    }
}
