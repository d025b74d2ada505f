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

/// Appends the client address to `X-Forwarded-For` (keeping what earlier proxies wrote) and
/// sets `X-Forwarded-Proto` and `X-Forwarded-Port` to the listener's, as ALB does.
pub(crate) fn set_forwarded(headers: &mut HeaderMap, client: IpAddr, scheme: &str, port: u16) {
    let client = client.to_canonical().to_string();
    let earlier: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    let chain = if earlier.is_empty() {
        client
    } else {
        format!("{}, {client}", earlier.join(", "))
    };
    // Built only from valid header values, ", " and an IP address, so it is valid too.
    if let Ok(v) = HeaderValue::from_str(&chain) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    if let Ok(v) = HeaderValue::from_str(scheme) {
        headers.insert(X_FORWARDED_PROTO, v);
    }
    headers.insert(X_FORWARDED_PORT, HeaderValue::from(port));
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
        set_forwarded(&mut h, "127.0.0.1".parse().unwrap(), "http", 8080);
        assert_eq!(h[X_FORWARDED_FOR], "203.0.113.9, 198.51.100.7, 127.0.0.1");
        assert_eq!(h[X_FORWARDED_PROTO], "http");
        assert_eq!(h[X_FORWARDED_PORT], "8080");

        let mut h = HeaderMap::new();
        set_forwarded(&mut h, "::ffff:10.0.0.1".parse().unwrap(), "http", 80);
        assert_eq!(h[X_FORWARDED_FOR], "10.0.0.1");
    }
}
