//! The request framing tracker (request smuggling defences) on arbitrary client bytes: it must
//! never panic, and its verdict must not depend on how the bytes were cut into reads (whole,
//! cut where the first byte says, and one byte at a time all agree).
//!
//! Seeds worth starting from: pipelined heads with `Content-Length` and chunked bodies.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy::framing::Framing;

fuzz_target!(|data: &[u8]| {
    let mut whole = Framing::default();
    whole.feed(data);
    let cut = data.first().map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let mut two = Framing::default();
    two.feed(&data[..cut]);
    two.feed(&data[cut..]);
    let mut bytes = Framing::default();
    for b in data {
        bytes.feed(std::slice::from_ref(b));
    }
    assert_eq!(whole.verdict(), two.verdict());
    assert_eq!(whole.verdict(), bytes.verdict());
    assert_eq!(whole.is_tracking(), bytes.is_tracking());
});
