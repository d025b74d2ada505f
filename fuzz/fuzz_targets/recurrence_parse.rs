//! `scaling::schedule` (`aws_autoscaling_schedule`'s `recurrence` and `time_zone`): parsing
//! never panics, and an accepted recurrence always yields a next run strictly later than the
//! time asked about, in UTC and in a zone with DST.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (cron, zone) = text.split_once('|').unwrap_or((text, "Europe/Paris"));
    let _ = scaling::schedule::parse_time_zone(zone);
    let Ok(c) = scaling::schedule::parse_recurrence(cron) else {
        return;
    };
    for tz in [jiff::tz::TimeZone::UTC, jiff::tz::TimeZone::get("Europe/Paris").unwrap()] {
        let after = Timestamp::from_secs(1_800_000_000);
        if let Some(next) = scaling::schedule::next_occurrence(&c, &tz, after) {
            assert!(next > after, "{cron:?}: {next} is not after {after}");
        }
    }
});
