//! The parsers' properties, checked on arbitrary text: by the fuzz target
//! (`fuzz/fuzz_targets/loadgen_parse.rs`) and, on its committed corpus, by `cargo test`.

use std::time::Duration;

use crate::schedule::{Cursor, Schedule};

/// Runs `text` through the stages parser (as a file) and each line through the threshold,
/// duration and rate parsers. Rejections are fine; panics, and accepted input that yields an
/// inconsistent schedule, are not.
pub fn parse_all(text: &str) {
    match crate::stages::parse("fuzz", text) {
        Ok(stages) => {
            assert!(!stages.is_empty());
            let schedule = Schedule::from_stages(1.0, &stages, None);
            let end = schedule.duration() + Duration::from_millis(1);
            let mut cursor = Cursor::default();
            let mut last = Duration::ZERO;
            // Due times never decrease and stay inside the run (checked on a bounded prefix).
            for n in 0..schedule.total().min(10_000) {
                let due = cursor.due(&schedule, n).expect("n < total has a due time");
                assert!(due >= last && due <= end, "n={n}: {due:?} after {last:?}");
                last = due;
            }
            assert_eq!(cursor.due(&schedule, schedule.total()), None);
        }
        Err(e) => {
            assert!(e.line >= 1 && !e.message.is_empty());
        }
    }
    for line in text.lines() {
        if let Ok(t) = crate::threshold::parse(line) {
            assert!(!t.expression.is_empty());
        }
        let _ = crate::units::parse_duration(line);
        let _ = crate::units::parse_rate(line);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fuzz_corpus_parses_without_panicking() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/loadgen_parse");
        let mut n = 0;
        for entry in std::fs::read_dir(&corpus).expect("the fuzz corpus is committed") {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            super::parse_all(&String::from_utf8_lossy(&bytes));
            n += 1;
        }
        assert!(n >= 3, "the corpus holds {n} inputs");
    }
}
