//! Typed access to an evaluated body, with Terraform's conversions (`"80"` is a number) and an
//! error at the attribute's line, naming the expected type, when a value does not fit.

use std::cell::RefCell;

use hcl::Value;
use model::Location;

use crate::error::ConfigError;
use crate::eval::{EvalAttr, EvalBody};
use crate::types::{self, Type, describe};

/// Reads one (possibly nested) block of one resource instance.
pub(crate) struct Reader<'a> {
    pub address: &'a str,
    /// `""` for the resource itself, `"health_check."` inside a nested block.
    pub prefix: String,
    pub body: &'a EvalBody,
    pub at: Location,
    pub errors: &'a RefCell<Vec<ConfigError>>,
}

impl<'a> Reader<'a> {
    /// The attribute, unless absent or null (null means "use the default", as in Terraform).
    pub fn attr(&self, name: &str) -> Option<&'a EvalAttr> {
        self.body.attr(name).filter(|a| !a.value.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    /// Where `path` (`port`, or `health_check.interval`) was written; the block if it was not.
    pub fn loc(&self, path: &str) -> Location {
        let mut body = self.body;
        let mut at = &self.at;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                return body.attr(part).map_or_else(|| at.clone(), |a| a.at.clone());
            }
            match body.blocks(part).next() {
                Some(b) => {
                    at = &b.at;
                    body = &b.body;
                }
                None => break,
            }
        }
        at.clone()
    }

    /// Reports a problem with attribute `name` of this block.
    pub fn error(&self, name: &str, message: impl Into<String>, hint: Option<String>) {
        let e = ConfigError::new(message)
            .address(self.address)
            .attribute(format!("{}{name}", self.prefix))
            .at(self.loc(name))
            .hint_opt(hint);
        self.errors.borrow_mut().push(e);
    }

    /// Reports a problem with the block as a whole.
    pub fn block_error(&self, message: impl Into<String>, hint: Option<String>) {
        let mut e = ConfigError::new(message)
            .address(self.address)
            .at(self.at.clone())
            .hint_opt(hint);
        if let Some(block) = self.prefix.strip_suffix('.') {
            e = e.attribute(block);
        }
        self.errors.borrow_mut().push(e);
    }

    /// Reports that a required attribute is missing.
    pub fn missing<T>(&self, name: &str, example: &str) -> Option<T> {
        let path = format!("{}{name}", self.prefix);
        let e = ConfigError::new(format!("{path} is required"))
            .address(self.address)
            .attribute(path)
            .at(self.at.clone())
            .hint(format!("add {name} = {example}"));
        self.errors.borrow_mut().push(e);
        None
    }

    fn converted(&self, name: &str, ty: &Type) -> Option<Value> {
        let attr = self.attr(name)?;
        match types::convert(attr.value.clone(), ty) {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(
                    name,
                    format!("expected {}, got {}", type_name(ty), describe(&attr.value)),
                    None,
                );
                None
            }
        }
    }

    pub fn string(&self, name: &str) -> Option<String> {
        match self.converted(name, &Type::String)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn required_string(&self, name: &str, example: &str) -> Option<String> {
        if self.has(name) {
            self.string(name)
        } else {
            self.missing(name, example)
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.converted(name, &Type::Bool)? {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// A whole number within `lo..=hi`.
    pub fn number(&self, name: &str, lo: u64, hi: u64) -> Option<u64> {
        let Value::Number(n) = self.converted(name, &Type::Number)? else {
            return None;
        };
        match types::whole(&n).filter(|v| (lo..=hi).contains(v)) {
            Some(v) => Some(v),
            None => {
                self.error(
                    name,
                    format!("expected a whole number from {lo} to {hi}, got {n}"),
                    Some(format!("set {}{name} between {lo} and {hi}", self.prefix)),
                );
                None
            }
        }
    }

    /// A whole number within `lo..=hi`, or `-1` (AWS's "not set"). Outer `None`: invalid
    /// (reported); inner `None`: absent, null or -1.
    pub fn number_or_unset(&self, name: &str, lo: u64, hi: u64) -> Option<Option<u64>> {
        if !self.has(name) {
            return Some(None);
        }
        let Value::Number(n) = self.converted(name, &Type::Number)? else {
            return None;
        };
        if n.as_i64() == Some(-1) || n.as_f64() == Some(-1.0) {
            return Some(None);
        }
        match types::whole(&n).filter(|v| (lo..=hi).contains(v)) {
            Some(v) => Some(Some(v)),
            None => {
                self.error(
                    name,
                    format!("expected -1 or a whole number from {lo} to {hi}, got {n}"),
                    Some(format!(
                        "set {}{name} between {lo} and {hi}, or -1 to leave it unset",
                        self.prefix
                    )),
                );
                None
            }
        }
    }

    /// A list of whole numbers within `lo..=hi`.
    pub fn numbers(&self, name: &str, lo: u64, hi: u64) -> Option<Vec<u64>> {
        let Value::Array(items) = self.converted(name, &Type::List(Box::new(Type::Number)))? else {
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item
                .as_number()
                .and_then(types::whole)
                .filter(|v| (lo..=hi).contains(v))
            {
                Some(v) => out.push(v),
                None => {
                    self.error(
                        name,
                        format!("expected whole numbers from {lo} to {hi}, got {item}"),
                        None,
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    pub fn required_number(&self, name: &str, lo: u64, hi: u64) -> Option<u64> {
        if self.has(name) {
            self.number(name, lo, hi)
        } else {
            self.missing(name, &lo.max(1).min(hi).to_string())
        }
    }

    /// Any finite number (thresholds, target values, step bounds).
    pub fn float(&self, name: &str) -> Option<f64> {
        let Value::Number(n) = self.converted(name, &Type::Number)? else {
            return None;
        };
        n.as_f64().filter(|f| f.is_finite())
    }

    /// A whole number, possibly negative, within `lo..=hi`.
    pub fn integer(&self, name: &str, lo: i64, hi: i64) -> Option<i64> {
        let f = self.float(name)?;
        if f.fract() == 0.0 && (lo as f64..=hi as f64).contains(&f) {
            return Some(f as i64);
        }
        self.error(
            name,
            format!("expected a whole number from {lo} to {hi}, got {f}"),
            Some(format!("set {}{name} between {lo} and {hi}", self.prefix)),
        );
        None
    }

    /// A map of strings (`dimensions = { AutoScalingGroupName = "web" }`), sorted by key.
    pub fn string_map(&self, name: &str) -> Option<Vec<(String, String)>> {
        match self.converted(name, &Type::Map(Box::new(Type::String)))? {
            Value::Object(fields) => Some(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
            ),
            _ => None,
        }
    }

    pub fn port(&self, name: &str) -> Option<u16> {
        self.number(name, 1, 65535)
            .and_then(|p| u16::try_from(p).ok())
    }

    pub fn strings(&self, name: &str) -> Option<Vec<String>> {
        match self.converted(name, &Type::List(Box::new(Type::String)))? {
            Value::Array(items) => Some(
                items
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The nested block `name`; an error if it is repeated where AWS takes one.
    pub fn block(&self, name: &str) -> Option<Reader<'a>> {
        let body: &'a EvalBody = self.body;
        let mut blocks = body.blocks.iter().filter(|b| b.name == name);
        let first = blocks.next()?;
        if let Some(second) = blocks.next() {
            let e = ConfigError::new(format!("only one `{}{name}` block is allowed", self.prefix))
                .address(self.address)
                .attribute(format!("{}{name}", self.prefix))
                .at(second.at.clone())
                .hint("merge the blocks into one");
            self.errors.borrow_mut().push(e);
        }
        Some(self.nested(name, first))
    }

    pub fn blocks(&self, name: &str) -> Vec<Reader<'a>> {
        let body: &'a EvalBody = self.body;
        body.blocks
            .iter()
            .filter(|b| b.name == name)
            .map(|b| self.nested(name, b))
            .collect()
    }

    fn nested(&self, name: &str, b: &'a crate::eval::EvalBlock) -> Reader<'a> {
        Reader {
            address: self.address,
            prefix: format!("{}{name}.", self.prefix),
            body: &b.body,
            at: b.at.clone(),
            errors: self.errors,
        }
    }
}

fn type_name(ty: &Type) -> &'static str {
    match ty {
        Type::String => "a string",
        Type::Number => "a number",
        Type::Bool => "a bool (true or false)",
        Type::List(t) if **t == Type::Number => "a list of numbers",
        Type::List(_) => "a list of strings",
        _ => "another type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{EvalAttr, EvalBlock};

    fn loc(line: u32) -> Location {
        Location {
            file: "t.tf".into(),
            line,
        }
    }

    fn body() -> EvalBody {
        let attr = |name: &str, value: Value, line| EvalAttr {
            name: name.into(),
            value,
            at: loc(line),
        };
        EvalBody {
            attrs: vec![
                attr("port", Value::from("80"), 2),
                attr("name", Value::from(7), 3),
                attr("bad", Value::from("eighty"), 4),
                attr("zones", Value::from_iter(["a", "b"]), 5),
                attr("nothing", Value::Null, 6),
            ],
            blocks: vec![EvalBlock {
                name: "health_check".into(),
                at: loc(7),
                body: EvalBody {
                    attrs: vec![attr("interval", Value::from(400), 8)],
                    blocks: vec![],
                },
            }],
        }
    }

    #[test]
    fn converts_and_reports_at_the_line() {
        let b = body();
        let errors = RefCell::new(Vec::new());
        let r = Reader {
            address: "aws_lb_target_group.web",
            prefix: String::new(),
            body: &b,
            at: loc(1),
            errors: &errors,
        };
        assert_eq!(r.port("port"), Some(80));
        assert_eq!(r.string("name").as_deref(), Some("7"));
        assert_eq!(r.strings("zones").unwrap(), ["a", "b"]);
        assert_eq!(r.number("nothing", 0, 1), None);
        assert!(errors.borrow().is_empty());
        assert_eq!(r.port("bad"), None);
        assert_eq!(r.bool("zones"), None);
        assert_eq!(r.loc("health_check.interval").line, 8);
        let hc = r.block("health_check").unwrap();
        assert_eq!(hc.number("interval", 5, 300), None);
        assert_eq!(r.required_string("missing", "\"x\""), None);
        let errors = errors.into_inner();
        let summary: Vec<_> = errors
            .iter()
            .map(|e| {
                (
                    e.attribute.clone().unwrap_or_default(),
                    e.location.as_ref().unwrap().line,
                    e.message.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary[0],
            (
                "bad".into(),
                4,
                "expected a number, got string \"eighty\"".into()
            )
        );
        assert_eq!(summary[1].0, "zones");
        assert_eq!(
            summary[2],
            (
                "health_check.interval".into(),
                8,
                "expected a whole number from 5 to 300, got 400".into()
            )
        );
        assert_eq!(summary[3].2, "missing is required");
        assert_eq!(summary[3].1, 1);
    }
}
