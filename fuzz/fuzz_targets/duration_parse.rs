//! `model::time::parse_duration` (every duration typed by a user: `updraft chaos` and
//! `updraft load` flags, stages files, thresholds): never panics, and whatever it accepts
//! formats back to the same duration when it is whole microseconds below one second or whole
//! seconds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = model::time::parse_duration(text) {
        let shown = model::time::format_duration(d);
        let exact = d.subsec_nanos() == 0
            || (d < std::time::Duration::from_secs(1) && d.subsec_nanos().is_multiple_of(1000));
        if exact {
            assert_eq!(model::time::parse_duration(&shown), Ok(d), "{text:?} → {shown}");
        }
    }
});
