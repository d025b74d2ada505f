//! Instance console logs: one file per instance with its stdout and stderr.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How far back from the end [`tail_log`] reads: enough for any sane `n`, bounded for a log
/// that grew to gigabytes.
const TAIL_WINDOW: u64 = 64 * 1024;

/// The last `n` lines of an instance's log (for "launch failed" messages in `updraft status`).
/// Empty if the file is missing or unreadable; invalid UTF-8 is replaced, not an error.
pub fn tail_log(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_WINDOW);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The window began mid-line.
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| l.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_last_lines_only() {
        let path = std::env::temp_dir().join(format!("updraft-tail-{}.log", std::process::id()));
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        assert_eq!(tail_log(&path, 2), vec!["two", "three"]);
        assert_eq!(tail_log(&path, 10), vec!["one", "two", "three"]);
        assert!(tail_log(&path, 0).is_empty());

        let long = format!("{}\nlast\n", "x".repeat(TAIL_WINDOW as usize * 2));
        std::fs::write(&path, long).unwrap();
        assert_eq!(
            tail_log(&path, 5),
            vec!["last"],
            "a partial first line is dropped"
        );
        std::fs::remove_file(&path).unwrap();
        assert!(tail_log(&path, 3).is_empty());
    }
}
