//! Arbitrary UTF-8 through `updraft load`'s parsers (stages file, thresholds, durations,
//! rates): rejected with an error or accepted, never a panic, and an accepted stages file
//! gives a schedule whose due times never decrease and stay inside the run.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    loadgen::fuzzing::parse_all(text);
});
