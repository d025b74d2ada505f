//! ALB's request id: `X-Amzn-Trace-Id: Root=1-<8 hex: epoch seconds>-<24 hex: random>`. A
//! request that already carries a `Root` keeps it and gets a `Self` field added, as ALB does
//! behind another load balancer.

use http::{HeaderMap, HeaderName, HeaderValue};

pub(crate) const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// A fresh id for a request received at `unix_secs`.
pub(crate) fn new_id(unix_secs: u64, random: u128) -> String {
    let random = random & ((1u128 << 96) - 1);
    format!("1-{:08x}-{random:024x}", unix_secs & 0xffff_ffff)
}

/// The header value for a request received at `unix_secs` with a fresh `random` id: as
/// [`header_value`] with [`new_id`], but a request without a `Root` (nearly all) costs one
/// allocation instead of four (this runs on every request).
pub(crate) fn for_request(existing: Option<&str>, unix_secs: u64, random: u128) -> HeaderValue {
    let mut v = Vec::with_capacity(42);
    append(existing, unix_secs, random, &mut v);
    HeaderValue::from_maybe_shared(bytes::Bytes::from(v))
        .unwrap_or_else(|_| HeaderValue::from_static("Root=1-0-0"))
}

/// Appends the header value [`for_request`] builds to `out` (the HTTP/1.1 fast path writes
/// heads as bytes).
pub(crate) fn append(existing: Option<&str>, unix_secs: u64, random: u128, out: &mut Vec<u8>) {
    let has_root = existing.is_some_and(|v| v.split(';').any(|f| f.trim().starts_with("Root=")));
    if has_root {
        out.extend_from_slice(header_value(existing, &new_id(unix_secs, random)).as_bytes());
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let random = random & ((1u128 << 96) - 1);
    let secs = unix_secs & 0xffff_ffff;
    out.extend_from_slice(b"Root=1-");
    out.extend(
        (0..8)
            .rev()
            .map(|i| HEX[((secs >> (i * 4)) & 0xf) as usize]),
    );
    out.push(b'-');
    out.extend(
        (0..24)
            .rev()
            .map(|i| HEX[((random >> (i * 4)) & 0xf) as usize]),
    );
}

/// Sets the request's trace header from the value built for it ([`header_value`]).
pub(crate) fn set(headers: &mut HeaderMap, value: HeaderValue) {
    headers.insert(X_AMZN_TRACE_ID, value);
}

/// The header value for a request: `Root=<id>`, or the client's header with `;Self=<id>`
/// (replacing an earlier `Self`) when it has a `Root` already.
pub(crate) fn header_value(existing: Option<&str>, id: &str) -> HeaderValue {
    let kept = existing
        .filter(|v| v.split(';').any(|f| f.trim().starts_with("Root=")))
        .map(|v| {
            v.split(';')
                .map(str::trim)
                .filter(|f| !f.starts_with("Self=") && !f.is_empty())
                .collect::<Vec<_>>()
                .join(";")
        });
    let text = match kept {
        Some(v) => format!("Self={id};{v}"),
        None => format!("Root={id}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Root=1-0-0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_albs() {
        let id = new_id(0x6712_3456, 0xabc);
        assert_eq!(id, "1-67123456-000000000000000000000abc");
        assert_eq!(header_value(None, &id), format!("Root={id}").as_str());
        let client = "Root=1-1-2;Self=old;Sampled=1";
        assert_eq!(
            header_value(Some(client), "1-3-4"),
            "Self=1-3-4;Root=1-1-2;Sampled=1"
        );
        assert_eq!(header_value(Some("whatever"), "1-3-4"), "Root=1-3-4");
    }

    #[test]
    fn the_fast_path_builds_the_same_values() {
        for (secs, random) in [
            (0x6712_3456, 0xabc),
            (0, 0),
            (u64::MAX, u128::MAX),
            (7, 1 << 95),
        ] {
            let id = new_id(secs, random);
            for existing in [
                None,
                Some("whatever"),
                Some("Root=1-1-2;Self=old;Sampled=1"),
            ] {
                assert_eq!(
                    for_request(existing, secs, random),
                    header_value(existing, &id)
                );
            }
        }
    }
}
