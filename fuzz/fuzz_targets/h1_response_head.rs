//! The fast path's response head parser (`l7/h1/response.rs`) on arbitrary target bytes: it
//! must never panic, and the head it writes for the client must be a well-formed HTTP/1.1 head
//! that keeps the target's end-to-end headers, drops every hop-by-hop one (and those named in
//! `Connection`), and frames the body exactly one way.
//!
//! The input is the target's bytes as they are; each is parsed under three rewrites (plain; a
//! HEAD request; closing with both stickiness cookies).

#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy::fuzzing::{
    H1_GROUP_COOKIE, H1_STICK_COOKIE, H1Response, H1Rewrite, h1_is_hop_by_hop, h1_parse_length,
    h1_response_head,
};

/// Headers of a head that httparse reads completely, as (name, value).
fn headers(head: &[u8]) -> Option<(usize, u16, u8, Vec<(String, Vec<u8>)>)> {
    let mut slots = [httparse::EMPTY_HEADER; 512];
    let mut resp = httparse::Response::new(&mut slots);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(n)) => Some((
            n,
            resp.code?,
            resp.version?,
            resp.headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
        )),
        _ => None,
    }
}

fn check(data: &[u8], rw: H1Rewrite<'_>) {
    let head = match h1_response_head(data, rw) {
        H1Response::Partial | H1Response::Invalid(_) => return,
        H1Response::Informational(n) => {
            assert!(n > 0 && n <= data.len());
            return;
        }
        H1Response::Head(head) => head,
    };
    assert!(head.len <= data.len());
    assert!(!(100..200).contains(&head.status));
    let out = &head.client_head;
    assert!(out.starts_with(b"HTTP/1.1 "));
    assert!(out.ends_with(b"\r\n\r\n"));
    let (_, _, _, input) = headers(&data[..head.len]).expect("the target's head parses again");
    let (n, status, version, output) = headers(out).expect("the client's head parses");
    assert_eq!(n, out.len(), "one head, nothing after it");
    assert_eq!((status, version), (head.status, 1));

    // Names the target's `Connection` headers list (UTF-8 values only, as the parser reads them).
    let listed: Vec<String> = input
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .filter(|t| !t.is_empty())
        .collect();
    // A body relayed chunked keeps the target's other transfer codings (gzip, …) before
    // `chunked` (UTF-8 values only, as the parser reads them).
    let mut codings: Vec<&str> = input
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("transfer-encoding"))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(',').map(str::trim))
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("chunked"))
        .collect();
    codings.push("chunked");
    let chunked_te = codings.join(", ");
    let added = |name: &str, value: &[u8]| {
        (name == "transfer-encoding" && value == chunked_te.as_bytes())
            || (name == "connection" && value == b"close")
            || (name == "set-cookie"
                && (value == H1_STICK_COOKIE.as_bytes() || value == H1_GROUP_COOKIE.as_bytes()))
    };
    let reframed = head.body == Some(None);
    // Every header the client sees is either added by the balancer or the target's own,
    // end-to-end and not listed in `Connection`; and every such header of the target's is kept
    // (but `Content-Length` when the body goes out chunked).
    let kept: Vec<&(String, Vec<u8>)> = input
        .iter()
        .filter(|(name, _)| !h1_is_hop_by_hop(name) && !listed.contains(&name.to_ascii_lowercase()))
        .filter(|(name, _)| !(reframed && name.eq_ignore_ascii_case("content-length")))
        .collect();
    let copied: Vec<&(String, Vec<u8>)> = output
        .iter()
        .filter(|(name, value)| !added(name, value))
        .collect();
    // An added `set-cookie` equal to one of the target's own is indistinguishable; compare
    // without those.
    let strip = |v: Vec<&(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        v.into_iter()
            .filter(|(n, v)| !added(n, v))
            .cloned()
            .collect()
    };
    assert_eq!(strip(copied), strip(kept), "headers kept for the client");
    for (name, value) in &output {
        assert!(
            !h1_is_hop_by_hop(name) || added(name, value),
            "hop-by-hop header {name:?} reached the client"
        );
    }

    // Exactly one framing.
    let te = output
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .count();
    let lengths: Vec<Option<u64>> = output
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| h1_parse_length(v))
        .collect();
    match head.body {
        Some(None) => {
            assert_eq!(te, 1);
            assert!(lengths.is_empty(), "chunked and Content-Length both sent");
        }
        Some(Some(n)) => {
            assert_eq!(te, 0);
            assert!(!lengths.is_empty() && lengths.iter().all(|l| *l == Some(n)));
        }
        None => assert_eq!(te, 0),
    }
    if head.reusable {
        assert!(
            head.body != Some(None) || head.chunked,
            "a body ended by closing is not reusable"
        );
    }
    if rw.close {
        assert!(out.ends_with(b"connection: close\r\n\r\n"));
    }
    let cookie = |c: &str| {
        output
            .iter()
            .any(|(n, v)| n == "set-cookie" && v == c.as_bytes())
    };
    if rw.group_cookie {
        assert!(cookie(H1_GROUP_COOKIE));
    }
    if rw.app_cookie == Some("") {
        assert!(cookie(H1_STICK_COOKIE));
    }
    if let Some(location) = &head.location {
        assert!(
            input
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("location") && v == location.as_bytes())
        );
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, H1Rewrite::default());
    check(
        data,
        H1Rewrite {
            request_was_head: true,
            ..H1Rewrite::default()
        },
    );
    check(
        data,
        H1Rewrite {
            close: true,
            app_cookie: Some(""),
            group_cookie: true,
            ..H1Rewrite::default()
        },
    );
    check(
        data,
        H1Rewrite {
            app_cookie: Some("session"),
            ..H1Rewrite::default()
        },
    );

    // `Content-Length` values: digits only, surrounding whitespace allowed.
    if data.len() <= 32 {
        let trimmed = data.trim_ascii();
        let expected = (!trimmed.is_empty() && trimmed.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(trimmed).ok()?.parse::<u64>().ok())
            .flatten();
        assert_eq!(h1_parse_length(data), expected);
    }
});
