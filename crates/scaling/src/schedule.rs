//! Scheduled actions (`aws_autoscaling_schedule`): when the next run is due.
//!
//! A recurrence is a five-field cron (`[minute] [hour] [day of month] [month] [day of week]`)
//! read in the action's `time_zone` (IANA, UTC by default), with DST handled the way AWS
//! describes it ("automatic DST adjustment"): the pattern is matched against wall-clock time
//! (parsed and matched by the `croner` crate) and each match is turned into an instant with
//! `jiff`'s time zone database — a wall time skipped by a spring-forward gap runs just after the
//! gap, a wall time repeated by a fall-back fold runs once, at its first occurrence.
//! `start_time` is the first run (alone, or the start of the recurrence); nothing runs after
//! `end_time`.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use model::{ScheduledAction, Timestamp};

/// Why a recurrence or time zone is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub attribute: &'static str,
    pub message: String,
    pub hint: String,
}

/// Parses a five-field recurrence.
pub fn parse_recurrence(text: &str) -> Result<Cron, ScheduleError> {
    let fields = text.split_whitespace().count();
    let hint =
        "write five fields: minute hour day-of-month month day-of-week, e.g. \"0 9 * * MON-FRI\"";
    if fields != 5 && !text.trim_start().starts_with('@') {
        return Err(ScheduleError {
            attribute: "recurrence",
            message: format!("`{text}` has {fields} fields; AWS recurrences have exactly 5"),
            hint: hint.into(),
        });
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|e| ScheduleError {
            attribute: "recurrence",
            message: format!("`{text}` is not a valid cron expression: {e}"),
            hint: hint.into(),
        })
}

/// Looks up an IANA time zone.
pub fn parse_time_zone(name: &str) -> Result<TimeZone, ScheduleError> {
    TimeZone::get(name).map_err(|_| ScheduleError {
        attribute: "time_zone",
        message: format!("`{name}` is not a time zone in the IANA database"),
        hint: "use an IANA name such as \"Etc/UTC\", \"Europe/Paris\" or \"America/New_York\""
            .into(),
    })
}

fn to_naive(dt: jiff::civil::DateTime) -> Option<chrono::NaiveDateTime> {
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::from(dt.year()), dt.month() as u32, dt.day() as u32)?;
    date.and_hms_opt(dt.hour() as u32, dt.minute() as u32, dt.second() as u32)
}

fn from_naive(n: chrono::NaiveDateTime) -> Option<jiff::civil::DateTime> {
    use chrono::{Datelike, Timelike};
    jiff::civil::DateTime::new(
        i16::try_from(n.year()).ok()?,
        n.month() as i8,
        n.day() as i8,
        n.hour() as i8,
        n.minute() as i8,
        n.second() as i8,
        0,
    )
    .ok()
}

fn to_jiff(t: Timestamp) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_millisecond(t.as_millis()).ok()
}

/// The first match of `cron` in `tz` strictly after `after`.
pub fn next_occurrence(cron: &Cron, tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let after_j = to_jiff(after)?;
    let mut from = to_naive(tz.to_datetime(after_j))?;
    // Bounded: a fold can make a wall-clock match fall before `after` a few times.
    for _ in 0..8 {
        let next = cron.find_next_occurrence(&from, false).ok()?;
        let civil = from_naive(next)?;
        let instant = tz.to_ambiguous_timestamp(civil).compatible().ok()?;
        if instant > after_j {
            return Some(Timestamp::from_millis(instant.as_millisecond()));
        }
        from = next;
    }
    None
}

/// A scheduled action with its recurrence and zone parsed.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: Option<Cron>,
    pub tz: TimeZone,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

impl Schedule {
    pub fn new(action: &ScheduledAction) -> Result<Schedule, ScheduleError> {
        let cron = action
            .recurrence
            .as_deref()
            .map(parse_recurrence)
            .transpose()?;
        let tz = match action.time_zone.as_deref() {
            Some(name) => parse_time_zone(name)?,
            None => TimeZone::UTC,
        };
        Ok(Schedule {
            cron,
            tz,
            start: action.start_time,
            end: action.end_time,
        })
    }

    /// The first run strictly after `after` (`None`: never again).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let candidate = match (&self.cron, self.start) {
            (None, Some(start)) => (start > after).then_some(start)?,
            (None, None) => return None,
            (Some(_), Some(start)) if start > after => start,
            (Some(cron), _) => next_occurrence(cron, &self.tz, after)?,
        };
        match self.end {
            Some(end) if candidate > end => None,
            _ => Some(candidate),
        }
    }

    /// The run due at `now`, if one came after `last` (or after `created` when it never ran):
    /// runs that were missed while updraft was down are not replayed, only the latest.
    pub fn due(&self, last: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let mut due = None;
        let mut t = last;
        // Bounded: at most a few hundred missed runs are skipped through.
        for _ in 0..512 {
            match self.next_after(t) {
                Some(next) if next <= now => {
                    due = Some(next);
                    t = next;
                }
                _ => break,
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        let t: jiff::Timestamp = s.parse().unwrap();
        Timestamp::from_millis(t.as_millisecond())
    }

    fn action(recurrence: Option<&str>, tz: Option<&str>) -> ScheduledAction {
        ScheduledAction {
            key: "k".into(),
            name: "business-hours".into(),
            group: "web".into(),
            recurrence: recurrence.map(str::to_owned),
            time_zone: tz.map(str::to_owned),
            start_time: None,
            end_time: None,
            min_size: None,
            max_size: None,
            desired_capacity: Some(6),
        }
    }

    #[test]
    fn weekday_mornings_in_paris_follow_dst() {
        let s = Schedule::new(&action(Some("0 9 * * MON-FRI"), Some("Europe/Paris"))).unwrap();
        // Friday 2026-03-27 (CET, UTC+1) 09:00 → 08:00Z; next is Monday 03-30 (CEST) → 07:00Z.
        assert_eq!(
            s.next_after(at("2026-03-27T00:00:00Z")),
            Some(at("2026-03-27T08:00:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-03-27T08:00:00Z")),
            Some(at("2026-03-30T07:00:00Z"))
        );
    }

    #[test]
    fn a_time_skipped_by_spring_forward_runs_after_the_gap_and_a_fold_runs_once() {
        let s = Schedule::new(&action(Some("30 2 * * *"), Some("Europe/Paris"))).unwrap();
        // 2026-03-29 02:30 does not exist in Paris: runs at 03:30 CEST = 01:30Z.
        assert_eq!(
            s.next_after(at("2026-03-29T00:00:00Z")),
            Some(at("2026-03-29T01:30:00Z"))
        );
        let s = Schedule::new(&action(Some("30 2 * * *"), Some("Europe/Paris"))).unwrap();
        // 2026-10-25 02:30 happens twice; the first (CEST, 00:30Z) runs, the next run is a day later.
        let first = s.next_after(at("2026-10-24T23:00:00Z")).unwrap();
        assert_eq!(first, at("2026-10-25T00:30:00Z"));
        assert_eq!(s.next_after(first), Some(at("2026-10-26T01:30:00Z")));
    }

    #[test]
    fn start_and_end_time_bound_the_recurrence() {
        let mut a = action(Some("*/10 * * * *"), None);
        a.start_time = Some(at("2026-01-01T00:05:00Z"));
        a.end_time = Some(at("2026-01-01T00:30:00Z"));
        let s = Schedule::new(&a).unwrap();
        assert_eq!(
            s.next_after(at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-01T00:05:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-01-01T00:05:00Z")),
            Some(at("2026-01-01T00:10:00Z"))
        );
        assert_eq!(s.next_after(at("2026-01-01T00:30:00Z")), None);
        // Missed runs are not replayed: only the latest is due.
        assert_eq!(
            s.due(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:25:00Z")),
            Some(at("2026-01-01T00:20:00Z"))
        );
        let once = ScheduledAction {
            recurrence: None,
            ..a
        };
        let s = Schedule::new(&once).unwrap();
        assert_eq!(
            s.due(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:05:00Z")),
            Some(at("2026-01-01T00:05:00Z"))
        );
        assert_eq!(
            s.due(at("2026-01-01T00:05:00Z"), at("2026-01-02T00:00:00Z")),
            None
        );
    }

    #[test]
    fn bad_recurrences_and_zones_are_explained() {
        for bad in ["0 9 * *", "61 * * * *", "0 9 * * FOO", "0 0 9 * * *", ""] {
            let e = parse_recurrence(bad).unwrap_err();
            assert_eq!(e.attribute, "recurrence", "{bad}");
            assert!(e.hint.contains("five fields"));
        }
        let e = parse_time_zone("Europe/Pariss").unwrap_err();
        assert!(e.message.contains("Europe/Pariss"));
        assert!(parse_time_zone("America/New_York").is_ok());
    }
}

#[cfg(test)]
mod corpus {
    /// The fuzz corpus replays on stable: every seed parses without panicking.
    #[test]
    fn fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/recurrence_parse");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let (cron, zone) = text.split_once('|').unwrap_or((&text, "UTC"));
            let _ = super::parse_time_zone(zone);
            if let Ok(c) = super::parse_recurrence(cron) {
                let after = model::Timestamp::from_secs(1_800_000_000);
                let tz = jiff::tz::TimeZone::UTC;
                assert!(super::next_occurrence(&c, &tz, after).is_none_or(|n| n > after));
            }
        }
    }
}
