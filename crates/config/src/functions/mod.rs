//! The Terraform built-in functions updraft provides. `hcl-rs` evaluates expressions but ships no
//! functions, so each one here is written to Terraform's documented behaviour (including its
//! automatic conversions: `join("-", [1, 2])` is `"1-2"`).
//!
//! Functions are plain `fn(FuncArgs) -> Result<Value, String>` (what `hcl::eval::FuncDef`
//! takes), so they capture nothing. `file` and `templatefile` read paths relative to the process
//! working directory, as Terraform does; configurations use `"${path.module}/…"` for files next
//! to them. None of them may panic on any input: the fuzz target feeds them arbitrary arguments.

mod collections;
mod files;
mod net;
mod text;

use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use hcl::{Number, Value};

use crate::types::describe;

type Func = fn(FuncArgs) -> Result<Value, String>;

/// (name, positional parameter count, variadic?, implementation). Parameters are `any`: each
/// function converts and checks its own arguments so that messages can say which argument is
/// wrong and why.
const FUNCTIONS: &[(&str, usize, bool, Func)] = &[
    ("abs", 1, false, collections::abs),
    ("base64decode", 1, false, files::base64decode),
    ("base64encode", 1, false, files::base64encode),
    ("ceil", 1, false, collections::ceil),
    ("cidrhost", 2, false, net::cidrhost),
    ("cidrsubnet", 3, false, net::cidrsubnet),
    ("coalesce", 0, true, collections::coalesce),
    ("compact", 1, false, collections::compact),
    ("concat", 0, true, collections::concat),
    ("contains", 2, false, collections::contains),
    ("distinct", 1, false, collections::distinct),
    ("element", 2, false, collections::element),
    ("endswith", 2, false, text::endswith),
    ("file", 1, false, files::file),
    ("flatten", 1, false, collections::flatten),
    ("floor", 1, false, collections::floor),
    ("format", 1, true, text::format),
    ("join", 1, true, text::join),
    ("jsonencode", 1, false, files::jsonencode),
    ("keys", 1, false, collections::keys),
    ("length", 1, false, collections::length),
    ("lookup", 2, true, collections::lookup),
    ("lower", 1, false, text::lower),
    ("max", 0, true, collections::max),
    ("merge", 0, true, collections::merge),
    ("min", 0, true, collections::min),
    ("range", 1, true, collections::range),
    ("replace", 3, false, text::replace),
    ("slice", 3, false, collections::slice),
    ("sort", 1, false, collections::sort),
    ("split", 2, false, text::split),
    ("startswith", 2, false, text::startswith),
    ("substr", 3, false, text::substr),
    ("templatefile", 2, false, files::templatefile),
    ("tobool", 1, false, collections::tobool),
    ("tolist", 1, false, collections::tolist),
    ("tomap", 1, false, collections::tomap),
    ("tonumber", 1, false, collections::tonumber),
    ("toset", 1, false, collections::toset),
    ("tostring", 1, false, text::tostring),
    ("trimprefix", 2, false, text::trimprefix),
    ("trimspace", 1, false, text::trimspace),
    ("trimsuffix", 2, false, text::trimsuffix),
    ("upper", 1, false, text::upper),
    ("values", 1, false, collections::values),
    ("zipmap", 2, false, collections::zipmap),
];

/// Names of every supported function, sorted.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|(name, ..)| *name)
}

pub(crate) fn is_supported(name: &str) -> bool {
    names().any(|n| n == name)
}

/// Declares every function in `ctx` (except those in `except`).
pub(crate) fn declare(ctx: &mut Context<'_>, except: &[&str]) {
    for (name, params, variadic, func) in FUNCTIONS {
        if except.contains(name) {
            continue;
        }
        let mut def = FuncDef::builder().params(std::iter::repeat_n(ParamType::Any, *params));
        if *variadic {
            def = def.variadic_param(ParamType::Any);
        }
        ctx.declare_func(*name, def.build(*func));
    }
}

// === argument helpers shared by the function modules ===

/// A string argument, converting numbers and bools as Terraform does.
pub(super) fn string(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("{what} must be a string, got {}", describe(other))),
    }
}

/// A number argument (strings that parse as numbers are accepted).
pub(super) fn number(v: &Value, what: &str) -> Result<f64, String> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => crate::types::parse_number(s).and_then(|n| n.as_f64()),
        _ => None,
    };
    n.ok_or_else(|| format!("{what} must be a number, got {}", describe(v)))
}

/// A whole-number argument.
pub(super) fn integer(v: &Value, what: &str) -> Result<i64, String> {
    let f = number(v, what)?;
    if f.fract() != 0.0 || f.abs() > 9.0e15 {
        return Err(format!("{what} must be a whole number, got {f}"));
    }
    Ok(f as i64)
}

/// A list argument.
pub(super) fn list<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} must be a list, got {}", describe(v)))
}

/// A map/object argument.
pub(super) fn map<'a>(v: &'a Value, what: &str) -> Result<&'a hcl::Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} must be a map, got {}", describe(v)))
}

/// A number result: whole numbers stay integers so that they print without `.0`.
pub(super) fn number_value(f: f64) -> Result<Value, String> {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Ok(Value::Number(Number::from(f as i64)))
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| "the result is not a finite number".to_owned())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use hcl::Value;
    use hcl::eval::{Context, Evaluate};

    /// Evaluates `src` with every function declared and a few variables in scope.
    pub fn eval(src: &str) -> Result<Value, String> {
        let mut ctx = Context::new();
        super::declare(&mut ctx, &[]);
        let expr = hcl_edit::parser::parse_expr(src).map_err(|e| e.to_string())?;
        hcl::Expression::from(expr)
            .evaluate(&ctx)
            .map_err(|e| e.to_string())
    }

    /// Evaluates `src` and compares it with the value of the literal `expected`.
    #[track_caller]
    pub fn check(src: &str, expected: &str) {
        let got = eval(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let want = eval(expected).unwrap();
        assert_eq!(got, want, "{src}");
    }

    #[track_caller]
    pub fn fails(src: &str, needle: &str) {
        let err = eval(src).expect_err(src);
        assert!(err.contains(needle), "{src}: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;

    #[test]
    fn functions_are_sorted_and_unique() {
        let names: Vec<_> = super::names().collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn argument_counts_are_checked() {
        fails("upper()", "expected 1 positional arguments");
        fails("upper(\"a\", \"b\")", "expected 1 positional arguments");
        check("upper(1)", "\"1\"");
    }
}
