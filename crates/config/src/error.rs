//! Configuration errors: each one names the file, line, resource and attribute at fault, says what
//! is wrong and, where there is one, what to write instead. They print like rustc diagnostics.
//!
//! Loading collects every error it can find before giving up, so a user fixes a config in one
//! pass instead of one error per run; [`ConfigErrors`] sorts them by file and line.

use std::fmt;

use model::Location;

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where it was written; `None` for problems with the command line (`-var`) or the files
    /// themselves (unreadable, none found).
    pub location: Option<Location>,
    /// The resource (or block) at fault, as a Terraform address: `aws_lb.front`,
    /// `aws_subnet.public[0]`, `variable.region`.
    pub address: Option<String>,
    /// The attribute at fault; nested attributes use dots (`health_check.interval`).
    pub attribute: Option<String>,
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError {
            location: None,
            address: None,
            attribute: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    pub fn attribute(mut self, attribute: impl Into<String>) -> Self {
        self.attribute = Some(attribute.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the hint only when there is one.
    pub fn hint_opt(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("error: ")?;
        if let Some(address) = &self.address {
            write!(f, "{address}: ")?;
        }
        // Name the attribute unless the message already starts with it
        // ("min_size (13) is greater than max_size (12)").
        if let Some(attribute) = &self.attribute
            && !self.message.starts_with(attribute.as_str())
            && !self.message.starts_with(&format!("`{attribute}`"))
        {
            write!(f, "{attribute}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(location) = &self.location {
            write!(f, "\n  --> {location}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = help: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a configuration, sorted by file and line (problems without a location,
/// such as a bad `-var`, come first). Never empty when returned by `load`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Sorts by (file, line), keeping the discovery order of errors on the same line.
    pub(crate) fn sorted(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by(|a, b| {
            let key = |e: &ConfigError| e.location.as_ref().map(|l| (l.file.clone(), l.line));
            key(a).cmp(&key(b))
        });
        errors.dedup();
        ConfigErrors(errors)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for error in &self.0 {
            writeln!(f, "{error}\n")?;
        }
        match self.0.len() {
            1 => f.write_str("1 error"),
            n => write!(f, "{n} errors"),
        }
    }
}

impl std::error::Error for ConfigErrors {}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, line: u32) -> Location {
        Location {
            file: file.into(),
            line,
        }
    }

    #[test]
    fn prints_like_rustc() {
        let e = ConfigError::new("min_size (13) is greater than max_size (12)")
            .at(at("examples/mylearning/main.tf", 42))
            .address("aws_autoscaling_group.web")
            .attribute("min_size")
            .hint("make min_size ≤ desired_capacity ≤ max_size");
        assert_eq!(
            e.to_string(),
            "error: aws_autoscaling_group.web: min_size (13) is greater than max_size (12)\n  \
             --> examples/mylearning/main.tf:42\n  = help: make min_size ≤ desired_capacity ≤ max_size"
        );
        let e = ConfigError::new("2 s is out of range")
            .address("aws_lb_target_group.web")
            .attribute("health_check.interval");
        assert_eq!(
            e.to_string(),
            "error: aws_lb_target_group.web: health_check.interval: 2 s is out of range"
        );
        let e = ConfigError::new("`warm_pool` is not supported yet")
            .address("aws_autoscaling_group.web")
            .attribute("warm_pool");
        assert_eq!(
            e.to_string(),
            "error: aws_autoscaling_group.web: `warm_pool` is not supported yet"
        );
    }

    #[test]
    fn sorted_by_file_then_line_with_a_count() {
        let errors = ConfigErrors::sorted(vec![
            ConfigError::new("c").at(at("b.tf", 1)),
            ConfigError::new("b").at(at("a.tf", 9)),
            ConfigError::new("a").at(at("a.tf", 2)),
            ConfigError::new("var"),
        ]);
        let order: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(order, ["var", "a", "b", "c"]);
        let text = errors.to_string();
        assert!(text.ends_with("\n\n4 errors"), "{text}");
        assert_eq!(text.matches("error: ").count(), 4);
        let one = ConfigErrors::sorted(vec![ConfigError::new("x")]);
        assert_eq!(one.to_string(), "error: x\n\n1 error");
    }
}
