//! Arbitrary UTF-8 through `updraft load`'s parsers (stages file, thresholds, durations,
//! rates, HTTP/1.1 response framing): rejected with an error or accepted, never a panic; an
//! accepted stages file gives a schedule whose due times never decrease and stay inside the
//! run; responses framed from one buffer or from 3-byte pieces are the same.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    loadgen::fuzzing::parse_all(text);
});
