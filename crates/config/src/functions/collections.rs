//! Collection, number and conversion functions: `length`, `element`, `concat`, `lookup`,
//! `merge`, `min`, `max`, `keys`, `values`, `range`, `to*`, …

use hcl::Value;
use hcl::eval::FuncArgs;

use super::{integer, list, map, number, number_value, string};
use crate::types::{describe, parse_number};

/// Terraform's own limit for `range`, which also keeps a fuzzer from allocating forever.
const MAX_RANGE: usize = 1024;

pub(super) fn length(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::String(s) => Ok(s.chars().count().into()),
        Value::Array(a) => Ok(a.len().into()),
        Value::Object(o) => Ok(o.len().into()),
        other => Err(format!(
            "length needs a string, list or map, got {}",
            describe(other)
        )),
    }
}

/// `element(list, index)`: wraps around like Terraform.
pub(super) fn element(args: FuncArgs) -> Result<Value, String> {
    let l = list(&args[0], "the first argument")?;
    let i = integer(&args[1], "the index")?;
    if l.is_empty() {
        return Err("cannot take an element of an empty list".into());
    }
    if i < 0 {
        return Err(format!("the index must not be negative, got {i}"));
    }
    Ok(l[(i as usize) % l.len()].clone())
}

pub(super) fn concat(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for (i, l) in args.iter().enumerate() {
        out.extend(list(l, &format!("argument {}", i + 1))?.iter().cloned());
    }
    Ok(Value::Array(out))
}

/// `lookup(map, key[, default])`.
pub(super) fn lookup(args: FuncArgs) -> Result<Value, String> {
    if args.len() > 3 {
        return Err("lookup takes a map, a key and an optional default".into());
    }
    let m = map(&args[0], "the first argument")?;
    let key = string(&args[1], "the key")?;
    match (m.get(&key), args.get(2)) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(format!(
            "the map has no key `{key}` and no default was given"
        )),
    }
}

pub(super) fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for (i, m) in args.iter().enumerate() {
        if m.is_null() {
            continue;
        }
        for (k, v) in map(m, &format!("argument {}", i + 1))? {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

fn numbers(args: &FuncArgs, what: &str) -> Result<Vec<f64>, String> {
    if args.is_empty() {
        return Err(format!("{what} needs at least one number"));
    }
    args.iter()
        .enumerate()
        .map(|(i, v)| number(v, &format!("argument {}", i + 1)))
        .collect()
}

pub(super) fn min(args: FuncArgs) -> Result<Value, String> {
    number_value(
        numbers(&args, "min")?
            .into_iter()
            .fold(f64::INFINITY, f64::min),
    )
}

pub(super) fn max(args: FuncArgs) -> Result<Value, String> {
    number_value(
        numbers(&args, "max")?
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max),
    )
}

pub(super) fn abs(args: FuncArgs) -> Result<Value, String> {
    number_value(number(&args[0], "the argument")?.abs())
}

pub(super) fn ceil(args: FuncArgs) -> Result<Value, String> {
    number_value(number(&args[0], "the argument")?.ceil())
}

pub(super) fn floor(args: FuncArgs) -> Result<Value, String> {
    number_value(number(&args[0], "the argument")?.floor())
}

pub(super) fn tonumber(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Null => Ok(Value::Null),
        Value::Number(n) => Ok(Value::Number(*n)),
        Value::String(s) => parse_number(s)
            .map(Value::Number)
            .ok_or_else(|| format!("cannot convert {s:?} to a number")),
        other => Err(format!("cannot convert {} to a number", describe(other))),
    }
}

pub(super) fn tobool(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Null => Ok(Value::Null),
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
        other => Err(format!("cannot convert {} to a bool", describe(other))),
    }
}

pub(super) fn tolist(args: FuncArgs) -> Result<Value, String> {
    list(&args[0], "the argument").map(|l| Value::Array(l.clone()))
}

pub(super) fn tomap(args: FuncArgs) -> Result<Value, String> {
    map(&args[0], "the argument").map(|m| Value::Object(m.clone()))
}

/// Sets are lists without repeats; sets of strings are ordered, as in Terraform.
pub(super) fn toset(args: FuncArgs) -> Result<Value, String> {
    let mut out = unique(list(&args[0], "the argument")?);
    if out.iter().all(Value::is_string) {
        out.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    Ok(Value::Array(out))
}

fn unique(items: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in items {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

pub(super) fn distinct(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(unique(list(&args[0], "the argument")?)))
}

pub(super) fn compact(args: FuncArgs) -> Result<Value, String> {
    let l = list(&args[0], "the argument")?;
    Ok(l.iter()
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
        .cloned()
        .collect())
}

pub(super) fn coalesce(args: FuncArgs) -> Result<Value, String> {
    args.iter()
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .cloned()
        .ok_or_else(|| "all arguments are null or empty".into())
}

pub(super) fn contains(args: FuncArgs) -> Result<Value, String> {
    Ok(list(&args[0], "the first argument")?
        .contains(&args[1])
        .into())
}

pub(super) fn flatten(args: FuncArgs) -> Result<Value, String> {
    fn walk(v: &[Value], out: &mut Vec<Value>) {
        for item in v {
            match item {
                Value::Array(inner) => walk(inner, out),
                other => out.push(other.clone()),
            }
        }
    }
    let mut out = Vec::new();
    walk(list(&args[0], "the argument")?, &mut out);
    Ok(Value::Array(out))
}

/// Keys in lexical order, as Terraform returns them.
pub(super) fn keys(args: FuncArgs) -> Result<Value, String> {
    let mut k: Vec<&String> = map(&args[0], "the argument")?.keys().collect();
    k.sort();
    Ok(k.into_iter().map(|s| Value::from(s.as_str())).collect())
}

/// Values in the lexical order of their keys.
pub(super) fn values(args: FuncArgs) -> Result<Value, String> {
    let m = map(&args[0], "the argument")?;
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    Ok(Value::Array(
        entries.into_iter().map(|(_, v)| v.clone()).collect(),
    ))
}

pub(super) fn zipmap(args: FuncArgs) -> Result<Value, String> {
    let k = list(&args[0], "the keys")?;
    let v = list(&args[1], "the values")?;
    if k.len() != v.len() {
        return Err(format!("{} keys but {} values", k.len(), v.len()));
    }
    let mut out = hcl::Map::new();
    for (i, (key, value)) in k.iter().zip(v).enumerate() {
        out.insert(string(key, &format!("key {i}"))?, value.clone());
    }
    Ok(Value::Object(out))
}

/// `range(limit)`, `range(start, limit)`, `range(start, limit, step)`.
pub(super) fn range(args: FuncArgs) -> Result<Value, String> {
    let n: Vec<f64> = args
        .iter()
        .enumerate()
        .map(|(i, v)| number(v, &format!("argument {}", i + 1)))
        .collect::<Result<_, _>>()?;
    let (start, limit, step) = match n.as_slice() {
        [limit] => (0.0, *limit, 1.0),
        [start, limit] => (*start, *limit, if start <= limit { 1.0 } else { -1.0 }),
        [start, limit, step] => (*start, *limit, *step),
        _ => return Err("range takes one to three numbers".into()),
    };
    if step == 0.0 || ((step > 0.0) != (limit >= start) && limit != start) {
        return Err("the step must be non-zero and point from start towards limit".into());
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0.0 && x < limit) || (step < 0.0 && x > limit) {
        if out.len() == MAX_RANGE {
            return Err(format!("range would produce more than {MAX_RANGE} values"));
        }
        out.push(number_value(x)?);
        x += step;
    }
    Ok(Value::Array(out))
}

pub(super) fn slice(args: FuncArgs) -> Result<Value, String> {
    let l = list(&args[0], "the first argument")?;
    let (start, end) = (
        integer(&args[1], "the start")?,
        integer(&args[2], "the end")?,
    );
    let len = i64::try_from(l.len()).unwrap_or(i64::MAX);
    if start < 0 || end > len || start > end {
        return Err(format!(
            "cannot slice [{start}, {end}) out of a list of {len}"
        ));
    }
    Ok(Value::Array(l[start as usize..end as usize].to_vec()))
}

pub(super) fn sort(args: FuncArgs) -> Result<Value, String> {
    let l = list(&args[0], "the argument")?;
    let mut s: Vec<String> = l
        .iter()
        .enumerate()
        .map(|(i, v)| string(v, &format!("element {i}")))
        .collect::<Result<_, _>>()?;
    s.sort();
    Ok(s.into_iter().map(Value::from).collect())
}

#[cfg(test)]
mod tests {
    use crate::functions::testing::{check, fails};

    #[test]
    fn lists() {
        check("length([1, 2, 3])", "3");
        check("length(\"héllo\")", "5");
        check("length({ a = 1 })", "1");
        fails("length(1)", "needs a string, list or map");
        check("element([\"a\", \"b\"], 3)", "\"b\"");
        fails("element([], 0)", "empty list");
        check("concat([1], [], [2, 3])", "[1, 2, 3]");
        fails("concat([1], 2)", "argument 2 must be a list");
        check("contains([\"a\"], \"a\")", "true");
        check("flatten([[1, [2]], 3])", "[1, 2, 3]");
        check("distinct([1, 1, 2])", "[1, 2]");
        check("compact([\"a\", \"\", null])", "[\"a\"]");
        check("coalesce(null, \"\", \"x\")", "\"x\"");
        check("slice([1, 2, 3], 1, 3)", "[2, 3]");
        fails("slice([1], 0, 5)", "cannot slice");
        check("sort([\"b\", \"a\"])", "[\"a\", \"b\"]");
        check("toset([\"b\", \"a\", \"b\"])", "[\"a\", \"b\"]");
        check("tolist([1])", "[1]");
        check("range(3)", "[0, 1, 2]");
        check("range(1, 7, 2)", "[1, 3, 5]");
        check("range(3, 0)", "[3, 2, 1]");
        fails("range(0, 10, -1)", "step");
        fails("range(100000)", "more than 1024");
    }

    #[test]
    fn maps() {
        check("lookup({ a = 1 }, \"a\")", "1");
        check("lookup({ a = 1 }, \"b\", 2)", "2");
        fails("lookup({ a = 1 }, \"b\")", "no key `b`");
        check(
            "merge({ a = 1, b = 1 }, null, { b = 2 })",
            "{ a = 1, b = 2 }",
        );
        fails("merge({}, [1])", "argument 2 must be a map");
        check("keys({ b = 1, a = 2 })", "[\"a\", \"b\"]");
        check("values({ b = 1, a = 2 })", "[2, 1]");
        check("zipmap([\"a\", \"b\"], [1, 2])", "{ a = 1, b = 2 }");
        fails("zipmap([\"a\"], [])", "1 keys but 0 values");
        check("tomap({ a = 1 })", "{ a = 1 }");
    }

    #[test]
    fn numbers() {
        check("min(3, 1, 2)", "1");
        check("max(3, \"7\", 2)", "7");
        check("max(1.5, 1)", "1.5");
        fails("min()", "at least one number");
        fails("max(\"x\")", "must be a number");
        check("abs(-3)", "3");
        check("ceil(1.2)", "2");
        check("floor(1.8)", "1");
        check("tonumber(\"42\")", "42");
        check("tonumber(\"1.5\")", "1.5");
        fails("tonumber(\"x\")", "cannot convert");
        check("tobool(\"true\")", "true");
        fails("tobool(1)", "cannot convert");
    }
}
