//! Validation results. Pure checks return [`Violation`]s; `config` attaches the file and line
//! of the offending attribute so that every message reads `file:line: attribute: message`.

use serde::{Deserialize, Serialize};

/// One rule a resource breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The attribute at fault, as written in Terraform (`health_check.interval`).
    pub attribute: String,
    pub message: String,
    /// What to do instead.
    pub hint: Option<String>,
}

impl Violation {
    pub fn new(attribute: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            attribute: attribute.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Pushes a violation when `value` is outside `lo..=hi`.
pub fn check_range(
    out: &mut Vec<Violation>,
    attribute: &str,
    value: u64,
    lo: u64,
    hi: u64,
    unit: &str,
) {
    if !(lo..=hi).contains(&value) {
        out.push(
            Violation::new(
                attribute,
                format!("{value}{unit} is out of range: AWS accepts {lo} to {hi}{unit}"),
            )
            .hint(format!("set {attribute} between {lo} and {hi}")),
        );
    }
}
