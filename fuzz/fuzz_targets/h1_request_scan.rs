//! The fast path's request header scan (`Scan::of` in `l7/h1/request.rs`), which decides from a
//! client's head whether the fast path serves it (one `Host`, at most one `Content-Length`, no
//! `Transfer-Encoding`, `Upgrade` or `Expect`) and which headers it drops on the way to the
//! target: it must never panic, and what it reports must agree with the headers themselves.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy::fuzzing::{h1_is_hop_by_hop, h1_parse_length, h1_request_scan};

fuzz_target!(|data: &[u8]| {
    let scan = h1_request_scan(data);
    if !scan.complete {
        return;
    }
    let mut slots = [httparse::EMPTY_HEADER; 256];
    let mut req = httparse::Request::new(&mut slots);
    assert!(matches!(req.parse(data), Ok(httparse::Status::Complete(_))));
    let headers: &[httparse::Header<'_>] = req.headers;
    let named = |n: &str| -> Vec<&httparse::Header<'_>> {
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(n))
            .collect()
    };
    let lengths: Vec<Option<u64>> = named("content-length")
        .iter()
        .map(|h| h1_parse_length(h.value))
        .collect();
    if scan.scanned.is_err() {
        assert!(lengths.contains(&None), "refused with valid lengths");
        return;
    }
    assert!(
        !lengths.contains(&None),
        "an invalid Content-Length was accepted"
    );
    assert_eq!(scan.lengths, lengths.len());
    assert_eq!(scan.content_length, lengths.last().copied().flatten());
    assert_eq!(scan.hosts, named("host").len());
    assert!(scan.listed.len() <= 8);
    if let Some(host) = &scan.host {
        assert!(
            host.bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        );
    }
    let tokens: Vec<String> = named("connection")
        .iter()
        .flat_map(|h| {
            String::from_utf8_lossy(h.value)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    if scan.close {
        assert!(tokens.iter().any(|t| t == "close"));
    }
    if !scan.hand_over {
        // What the fast path serves.
        assert_eq!(scan.hosts, 1);
        assert!(scan.host.is_some());
        assert!(scan.lengths <= 1);
        for n in ["transfer-encoding", "upgrade", "expect"] {
            assert_eq!(named(n).len(), 0, "{n} served by the fast path");
        }
        assert!(!tokens.iter().any(|t| t == "upgrade"));
        // Every name `Connection` lists is dropped, and nothing hop-by-hop or set by the
        // balancer reaches the target.
        for (name, dropped) in &scan.drops {
            let lower = name.to_ascii_lowercase();
            if h1_is_hop_by_hop(&lower)
                || lower.starts_with("x-forwarded-")
                    && ["for", "proto", "port"].contains(&&lower[12..])
                || lower == "x-amzn-trace-id"
                || tokens.contains(&lower)
            {
                assert!(dropped, "{name} reaches the target");
            }
        }
    }
});
