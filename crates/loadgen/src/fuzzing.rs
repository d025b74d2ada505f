//! The parsers' properties, checked on arbitrary text: by the fuzz target
//! (`fuzz/fuzz_targets/loadgen_parse.rs`) and, on its committed corpus, by `cargo test`.

use std::time::Duration;

use crate::schedule::{Cursor, Schedule};

/// Runs `text` through the stages parser (as a file), each line through the threshold,
/// duration and rate parsers, and the bytes through the HTTP/1.1 response parser (whole and in
/// small pieces, which must agree). Rejections are fine; panics, and accepted input that yields
/// an inconsistent schedule, are not.
pub fn parse_all(text: &str) {
    responses(text.as_bytes());
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

/// Frames `bytes` as a stream of responses, fed whole and then 3 bytes at a time: both ways
/// must find the same responses (or the same kind of error), and never use more than given.
fn responses(bytes: &[u8]) {
    let run = |step: usize| {
        let mut parser = crate::h1::ResponseParser::new(&http::Method::GET);
        let mut buf: Vec<u8> = Vec::new();
        let mut found = Vec::new();
        for piece in bytes.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match parser.parse(&buf) {
                    Ok((used, done)) => {
                        assert!(used <= buf.len());
                        buf.drain(..used);
                        match done {
                            Some(r) => found.push(r),
                            None => break,
                        }
                    }
                    Err(_) => return (found, true),
                }
            }
        }
        let _ = parser.eof();
        (found, false)
    };
    let (whole, whole_failed) = run(bytes.len().max(1));
    let (pieces, pieces_failed) = run(3);
    if !whole_failed && !pieces_failed {
        assert_eq!(whole, pieces);
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
