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

/// Sets the request's trace header from the value built for it ([`header_value`]).
pub(crate) fn set(headers: &mut HeaderMap, value: HeaderValue) {
    headers.insert(X_AMZN_TRACE_ID, value);
}

/// The header value for a request: `Root=<id>`, or the client's header with `;Self=<id>`
/// (replacing an earlier `Self`) when it has a `Root` already.
pub(crate) fn header_value(existing: Option<&HeaderValue>, id: &str) -> HeaderValue {
    let kept = existing
        .and_then(|v| v.to_str().ok())
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
        let client = HeaderValue::from_static("Root=1-1-2;Self=old;Sampled=1");
        assert_eq!(
            header_value(Some(&client), "1-3-4"),
            "Self=1-3-4;Root=1-1-2;Sampled=1"
        );
        let junk = HeaderValue::from_static("whatever");
        assert_eq!(header_value(Some(&junk), "1-3-4"), "Root=1-3-4");
    }
}
