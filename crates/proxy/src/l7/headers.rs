//! Header rewriting a proxy owes both sides: hop-by-hop headers (RFC 9110 §7.6.1) are removed in
//! both directions, and requests get ALB's `X-Forwarded-For` / `-Proto` / `-Port`.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection, never the message: they must not be forwarded.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// Removes the hop-by-hop headers and every header the `Connection` header names.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The `X-Forwarded-For` and `X-Forwarded-Port` values of one client connection, built once
/// when it is accepted rather than on every request.
#[derive(Debug)]
pub(crate) struct Forwarded {
    client: HeaderValue,
    port: HeaderValue,
}

impl Forwarded {
    /// The client address, as `X-Forwarded-For` ends.
    pub(crate) fn client(&self) -> &[u8] {
        self.client.as_bytes()
    }

    /// The listener port, as `X-Forwarded-Port` says.
    pub(crate) fn port(&self) -> &[u8] {
        self.port.as_bytes()
    }

    pub(crate) fn new(client: IpAddr, port: u16) -> Self {
        // An IP address is a valid header value.
        let client = HeaderValue::from_str(&client.to_canonical().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("-"));
        Forwarded {
            client,
            port: HeaderValue::from(port),
        }
    }
}

/// Appends the client address to `X-Forwarded-For` (keeping what earlier proxies wrote) and
/// sets `X-Forwarded-Proto` and `X-Forwarded-Port` to the listener's, as ALB does.
pub(crate) fn set_forwarded(headers: &mut HeaderMap, conn: &Forwarded, scheme: &str) {
    let earlier: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    let chain = if earlier.is_empty() {
        Some(conn.client.clone())
    } else {
        let client = conn.client.to_str().unwrap_or("-");
        // Built only from valid header values, ", " and an IP address, so it is valid too.
        HeaderValue::from_str(&format!("{}, {client}", earlier.join(", "))).ok()
    };
    if let Some(v) = chain {
        headers.insert(X_FORWARDED_FOR, v);
    }
    let proto = match scheme {
        "https" => HeaderValue::from_static("https"),
        "http" => HeaderValue::from_static("http"),
        other => HeaderValue::from_str(other).unwrap_or_else(|_| HeaderValue::from_static("http")),
    };
    headers.insert(X_FORWARDED_PROTO, proto);
    headers.insert(X_FORWARDED_PORT, conn.port.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_go() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret"),
            ("connection", "x-other"),
            ("x-secret", "1"),
            ("x-other", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-kept", "yes"),
            ("host", "example.com"),
        ]);
        remove_hop_by_hop(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, vec!["host", "x-kept"]);
    }

    #[test]
    fn forwarded_for_appends_and_proto_port_overwrite() {
        let mut h = map(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ]);
        set_forwarded(
            &mut h,
            &Forwarded::new("127.0.0.1".parse().unwrap(), 8080),
            "http",
        );
        assert_eq!(h[X_FORWARDED_FOR], "203.0.113.9, 198.51.100.7, 127.0.0.1");
        assert_eq!(h[X_FORWARDED_PROTO], "http");
        assert_eq!(h[X_FORWARDED_PORT], "8080");

        let mut h = HeaderMap::new();
        set_forwarded(
            &mut h,
            &Forwarded::new("::ffff:10.0.0.1".parse().unwrap(), 80),
            "http",
        );
        assert_eq!(h[X_FORWARDED_FOR], "10.0.0.1");
    }
}
