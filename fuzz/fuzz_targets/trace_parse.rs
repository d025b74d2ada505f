//! `updraft simulate`'s trace reader: never panics, never yields a trace longer than its limit,
//! and every rate it yields is finite and non-negative.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = scaling::replay::trace::parse(text) {
        assert!(!t.rate.is_empty());
        assert!(t.rate.len() as i64 <= scaling::replay::trace::MAX_SECONDS + 1);
        assert!(t.rate.iter().all(|r| r.is_finite() && *r >= 0.0));
    }
});
