//! The fast path's chunked-body scanner (`Chunks` in `l7/h1/response.rs`), which finds where a
//! target's chunked body ends as it streams past: it must never panic, never claim more bytes
//! than it was given, and its answer (bytes of the body, end found, or bad framing) must not
//! depend on how the bytes were cut into reads: whole, cut where the first two bytes say, and
//! one byte at a time all agree.
//!
//! Seeds: chunked bodies with extensions, trailers and bytes after the end.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy::fuzzing::h1_chunks;

fuzz_target!(|data: &[u8]| {
    let whole = h1_chunks(&[data]);
    let cut = match data {
        [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])) % (data.len() + 1),
        _ => 0,
    };
    let two = h1_chunks(&[&data[..cut], &data[cut..]]);
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    let each = h1_chunks(&bytes);

    for r in [&whole, &two, &each] {
        assert!(r.consumed <= data.len());
        if r.error.is_none() && !r.done {
            assert_eq!(r.consumed, data.len(), "a body not ended takes every byte");
        }
    }
    assert_eq!(whole.error, two.error, "cut at {cut}");
    assert_eq!(whole.error, each.error);
    assert_eq!(whole.done, two.done, "cut at {cut}");
    assert_eq!(whole.done, each.done);
    if whole.error.is_none() {
        assert_eq!(whole.consumed, two.consumed, "cut at {cut}");
        assert_eq!(whole.consumed, each.consumed);
    }
    if whole.done {
        // The body ends with the empty line after the last chunk (or its trailers), exactly
        // where the scanner said, and it says the same given only the body.
        let body = &data[..whole.consumed];
        assert!(body.ends_with(b"\n\r\n"));
        let alone = h1_chunks(&[body]);
        assert!(alone.done && alone.error.is_none());
        assert_eq!(alone.consumed, body.len());
        // A piece after the end contributes nothing.
        assert!(each.per_piece[whole.consumed..].iter().all(|&n| n == 0));
    }
});
