//! `model::time::parse_duration` (the `--duration`, `--delay` and `--jitter` flags of
//! `updraft chaos`): never panics, and whatever it accepts formats back to the same duration
//! when whole milliseconds below one second or whole seconds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = model::time::parse_duration(text) {
        let shown = model::time::format_duration(d);
        if d.as_millis() < 1000 || d.as_millis() % 1000 == 0 {
            assert_eq!(model::time::parse_duration(&shown), Ok(d), "{text:?} → {shown}");
        }
    }
});
