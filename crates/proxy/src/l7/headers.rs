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

/// Whether `name` (any case) is a hop-by-hop header (the HTTP/1.1 fast path checks raw names).
pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP
        .iter()
        .any(|h| h.as_str().eq_ignore_ascii_case(name))
}

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

/// The `X-Forwarded-For` and `X-Forwarded-Port` values of one client connection, written once
/// when it is accepted rather than on every request, inline (an idle connection should cost
/// little, see `crate::l7::h1::parking`).
#[derive(Debug)]
pub(crate) struct Forwarded {
    /// The client address as text (an IPv6 address has at most 39 characters) and its length.
    client: [u8; 39],
    client_len: u8,
    /// The listener port as text, and its length.
    port: [u8; 5],
    port_len: u8,
}

impl Forwarded {
    /// The client address, as `X-Forwarded-For` ends.
    pub(crate) fn client(&self) -> &[u8] {
        &self.client[..usize::from(self.client_len)]
    }

    /// The listener port, as `X-Forwarded-Port` says.
    pub(crate) fn port(&self) -> &[u8] {
        &self.port[..usize::from(self.port_len)]
    }

    pub(crate) fn new(client: IpAddr, port: u16) -> Self {
        use std::io::Write;
        let mut f = Forwarded {
            client: [0; 39],
            client_len: 0,
            port: [0; 5],
            port_len: 0,
        };
        let mut text = &mut f.client[..];
        if write!(text, "{}", client.to_canonical()).is_ok() {
            f.client_len = (39 - text.len()) as u8;
        }
        let mut text = &mut f.port[..];
        if write!(text, "{port}").is_ok() {
            f.port_len = (5 - text.len()) as u8;
        }
        f
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
    // An IP address is a valid header value; with earlier values and ", " too.
    let client = std::str::from_utf8(conn.client()).unwrap_or("-");
    let chain = if earlier.is_empty() {
        HeaderValue::from_str(client).ok()
    } else {
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
    if let Ok(port) = HeaderValue::from_bytes(conn.port()) {
        headers.insert(X_FORWARDED_PORT, port);
    }
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
    fn the_longest_addresses_and_ports_fit_inline() {
        let longest = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let f = Forwarded::new(longest.parse().unwrap(), 65535);
        assert_eq!(f.client(), longest.as_bytes());
        assert_eq!(f.port(), b"65535");
        let f = Forwarded::new("::ffff:192.0.2.1".parse().unwrap(), 80);
        assert_eq!((f.client(), f.port()), (&b"192.0.2.1"[..], &b"80"[..]));
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
