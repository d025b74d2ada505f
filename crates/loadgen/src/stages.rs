//! Stages: how the arrival rate changes over a run, from `--stage` flags or a small file.
//!
//! ```text
//! # one stage per line; `#` starts a comment
//! ramp to 200/s over 30s     # linear from the current rate (--rate, else 0) to 200/s
//! hold for 1m                # keep the current rate
//! spike 800/s for 10s        # jump to 800/s, then back to the rate before the spike
//! hold 100/s for 30s         # jump to 100/s and keep it
//! ramp to 0 over 10s
//! ```
//!
//! The words `to`, `over` and `for` are optional (`ramp 200 30s` is the same stage); a rate has
//! no time unit (`200`, `200/s`, `1.5k/s`), a duration always has one (`30s`, `2m`, `1m30s`).
//! Every error names the line and says what to write instead.

use std::fmt;
use std::time::Duration;

use crate::units::{DURATION_HELP, MAX_DURATION, RATE_HELP, parse_duration, parse_rate};

/// One example per kind, for error messages.
const EXAMPLES: &str =
    "`ramp to 200/s over 30s`, `hold for 1m`, `hold 100/s for 30s` or `spike 800/s for 10s`";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// Linear change from the current rate to the target.
    Ramp,
    /// Constant rate (the given one, else the current one), which becomes the current rate.
    Hold,
    /// Constant rate for the duration; afterwards the rate before the spike is current again.
    Spike,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub kind: StageKind,
    /// Requests per second; `None` only for a `hold` that keeps the current rate.
    pub rate: Option<f64>,
    pub duration: Duration,
    /// 1-based line in its source (the flag's position for `--stage`).
    pub line: usize,
}

/// A stage that could not be read: where, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageError {
    /// The file's name, or `--stage` for flags.
    pub source: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.message)
    }
}

impl std::error::Error for StageError {}

/// Parses a stages file (or the joined `--stage` flags, one per line). `source` names it in
/// errors. An input with no stage is an error.
pub fn parse(source: &str, text: &str) -> Result<Vec<Stage>, StageError> {
    let mut stages = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let stage = parse_line(content, line).map_err(|message| StageError {
            source: source.to_owned(),
            line,
            message,
        })?;
        stages.push(stage);
    }
    if stages.is_empty() {
        return Err(StageError {
            source: source.to_owned(),
            line: 1,
            message: format!("no stage found; write one per line, e.g. {EXAMPLES}"),
        });
    }
    let total: Duration = stages.iter().map(|s| s.duration).sum();
    if total > MAX_DURATION {
        return Err(StageError {
            source: source.to_owned(),
            line: stages.last().map(|s| s.line).unwrap_or(1),
            message: "the stages add up to more than 24 h; shorten them".into(),
        });
    }
    Ok(stages)
}

fn parse_line(content: &str, line: usize) -> Result<Stage, String> {
    let mut words = content.split_whitespace();
    let kind_word = words.next().unwrap_or_default();
    let kind = match kind_word.to_ascii_lowercase().as_str() {
        "ramp" => StageKind::Ramp,
        "hold" => StageKind::Hold,
        "spike" => StageKind::Spike,
        _ => {
            return Err(format!(
                "unknown stage `{kind_word}`: a stage is ramp, hold or spike, e.g. {EXAMPLES}"
            ));
        }
    };
    let mut rate = None;
    let mut duration = None;
    for word in words {
        if matches!(word, "to" | "over" | "for" | "at") {
            continue;
        }
        if let Ok(d) = parse_duration(word) {
            if duration.replace(d).is_some() {
                return Err(format!("`{content}` has two durations; give one"));
            }
        } else if let Ok(r) = parse_rate(word) {
            if let Some(first) = rate.replace(r) {
                return Err(format!(
                    "`{content}` has two rates ({first} and {r}); give one, and give the \
                     duration a unit ({DURATION_HELP})"
                ));
            }
        } else {
            // Say why, using the parser the word most looks like.
            let why = if word.ends_with("/s") || !word.chars().any(|c| c.is_alphabetic()) {
                parse_rate(word).err()
            } else {
                parse_duration(word).err()
            };
            return Err(format!(
                "`{word}` is neither a rate ({RATE_HELP}) nor a duration ({DURATION_HELP}){}",
                why.map(|w| format!(": {w}")).unwrap_or_default()
            ));
        }
    }
    let Some(duration) = duration else {
        return Err(format!(
            "`{content}` has no duration; add one ({DURATION_HELP}), e.g. {EXAMPLES}"
        ));
    };
    if duration.is_zero() {
        return Err(format!(
            "`{content}` lasts no time; give a duration above 0"
        ));
    }
    if rate.is_none() && kind != StageKind::Hold {
        let verb = if kind == StageKind::Ramp {
            "ramp to"
        } else {
            "spike to"
        };
        return Err(format!(
            "`{content}` has no rate: say what to {verb}, e.g. {EXAMPLES}"
        ));
    }
    Ok(Stage {
        kind,
        rate,
        duration,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Stage {
        let mut stages = parse("t", text).unwrap();
        assert_eq!(stages.len(), 1);
        stages.remove(0)
    }

    fn err(text: &str) -> String {
        parse("stages.txt", text).unwrap_err().to_string()
    }

    #[test]
    fn each_kind_in_long_and_short_form() {
        let ramp = one("ramp to 200/s over 30s");
        assert_eq!(ramp.kind, StageKind::Ramp);
        assert_eq!(ramp.rate, Some(200.0));
        assert_eq!(ramp.duration, Duration::from_secs(30));
        assert_eq!(one("ramp 200 30s"), ramp);
        assert_eq!(one("RAMP 30s 200"), ramp);
        let hold = one("hold for 1m");
        assert_eq!((hold.kind, hold.rate), (StageKind::Hold, None));
        assert_eq!(one("hold 50/s for 2s").rate, Some(50.0));
        let spike = one("  spike 1.5k/s for 10s   # burst");
        assert_eq!((spike.kind, spike.rate), (StageKind::Spike, Some(1500.0)));
    }

    #[test]
    fn a_file_keeps_line_numbers_and_skips_comments() {
        let text = "# warm up\nramp to 100 over 10s\n\nhold for 20s # steady\nspike 400 5s\n";
        let stages = parse("s", text).unwrap();
        assert_eq!(
            stages.iter().map(|s| s.line).collect::<Vec<_>>(),
            vec![2, 4, 5]
        );
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        let e = err("ramp to 100 over 10s\nrmap to 5 over 1s");
        assert!(e.starts_with("stages.txt:2: unknown stage `rmap`"), "{e}");
        assert!(e.contains("ramp to 200/s over 30s"), "{e}");
        let e = err("hold 100");
        assert!(
            e.contains("stages.txt:1:") && e.contains("no duration"),
            "{e}"
        );
        let e = err("spike for 10s");
        assert!(e.contains("no rate"), "{e}");
        let e = err("ramp to 100 over 10");
        assert!(e.contains("two rates"), "{e}");
        let e = err("ramp to 100 over 10q");
        assert!(e.contains("`q` in `"), "{e}");
        let e = err("hold fast for 10s");
        assert!(e.contains("`fast` is neither a rate"), "{e}");
        let e = err("hold 5 for 0s");
        assert!(e.contains("lasts no time"), "{e}");
        let e = err("# nothing\n\n");
        assert!(e.contains("no stage found"), "{e}");
        let e = err("hold 1 for 20h\nhold 1 for 5h");
        assert!(e.contains("stages.txt:2:") && e.contains("24 h"), "{e}");
    }
}
