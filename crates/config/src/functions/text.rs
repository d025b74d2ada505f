//! String functions: `format`, `join`, `split`, `replace`, `upper`, `lower`, `trimspace`, …

use hcl::Value;
use hcl::eval::FuncArgs;

use super::{integer, list, string};
use crate::types::describe;

/// Widths and precisions above this are refused: `format("%99999999d", 1)` must not allocate
/// gigabytes.
const MAX_WIDTH: usize = 1024;

pub(super) fn upper(args: FuncArgs) -> Result<Value, String> {
    Ok(string(&args[0], "the argument")?.to_uppercase().into())
}

pub(super) fn lower(args: FuncArgs) -> Result<Value, String> {
    Ok(string(&args[0], "the argument")?.to_lowercase().into())
}

pub(super) fn trimspace(args: FuncArgs) -> Result<Value, String> {
    Ok(string(&args[0], "the argument")?.trim().into())
}

pub(super) fn trimprefix(args: FuncArgs) -> Result<Value, String> {
    let s = string(&args[0], "the string")?;
    let p = string(&args[1], "the prefix")?;
    Ok(s.strip_prefix(p.as_str()).unwrap_or(&s).into())
}

pub(super) fn trimsuffix(args: FuncArgs) -> Result<Value, String> {
    let s = string(&args[0], "the string")?;
    let p = string(&args[1], "the suffix")?;
    Ok(s.strip_suffix(p.as_str()).unwrap_or(&s).into())
}

pub(super) fn startswith(args: FuncArgs) -> Result<Value, String> {
    Ok(string(&args[0], "the string")?
        .starts_with(&string(&args[1], "the prefix")?)
        .into())
}

pub(super) fn endswith(args: FuncArgs) -> Result<Value, String> {
    Ok(string(&args[0], "the string")?
        .ends_with(&string(&args[1], "the suffix")?)
        .into())
}

pub(super) fn tostring(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Null => Ok(Value::Null),
        v => string(v, "the argument").map(Value::String),
    }
}

pub(super) fn replace(args: FuncArgs) -> Result<Value, String> {
    let s = string(&args[0], "the string")?;
    let search = string(&args[1], "the substring")?;
    let with = string(&args[2], "the replacement")?;
    if search.len() >= 2 && search.starts_with('/') && search.ends_with('/') {
        return Err(format!(
            "regular expressions ({search}) are not supported; replace a plain substring"
        ));
    }
    if search.is_empty() {
        return Ok(s.into());
    }
    Ok(s.replace(&search, &with).into())
}

pub(super) fn split(args: FuncArgs) -> Result<Value, String> {
    let sep = string(&args[0], "the separator")?;
    let s = string(&args[1], "the string")?;
    if s.is_empty() {
        return Ok(Value::Array(vec![Value::from("")]));
    }
    if sep.is_empty() {
        return Ok(s.chars().map(|c| Value::from(c.to_string())).collect());
    }
    Ok(s.split(sep.as_str()).map(Value::from).collect())
}

/// `join(separator, list, ...)`.
pub(super) fn join(args: FuncArgs) -> Result<Value, String> {
    let sep = string(&args[0], "the separator")?;
    if args.len() < 2 {
        return Err("join needs a separator and at least one list".into());
    }
    let mut parts = Vec::new();
    for (i, l) in args.iter().enumerate().skip(1) {
        for (j, item) in list(l, &format!("argument {}", i + 1))?.iter().enumerate() {
            parts.push(string(item, &format!("element {j} of argument {}", i + 1))?);
        }
    }
    Ok(parts.join(&sep).into())
}

/// `substr(string, offset, length)`: in characters; a negative offset counts from the end and
/// length -1 means "to the end".
pub(super) fn substr(args: FuncArgs) -> Result<Value, String> {
    let chars: Vec<char> = string(&args[0], "the string")?.chars().collect();
    let n = i64::try_from(chars.len()).unwrap_or(i64::MAX);
    let mut offset = integer(&args[1], "the offset")?;
    let length = integer(&args[2], "the length")?;
    if offset < 0 {
        offset += n;
    }
    if offset < 0 || offset > n {
        return Err(format!(
            "offset {offset} is outside the string of {n} characters"
        ));
    }
    let end = if length < 0 {
        n
    } else {
        offset.saturating_add(length).min(n)
    };
    let (start, end) = (offset as usize, end as usize);
    Ok(chars[start..end.max(start)]
        .iter()
        .collect::<String>()
        .into())
}

/// `format(spec, values...)` with Terraform's verbs: `%s %d %q %v %t %f %e %g %x %X %o %b %%`,
/// flags `-`, `+`, `0`, a width and a precision.
pub(super) fn format(args: FuncArgs) -> Result<Value, String> {
    let spec = string(&args[0], "the format")?;
    let mut values = args.iter().skip(1);
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek().filter(|f| "-+ #0".contains(**f)) {
            flags.push(f);
            chars.next();
        }
        let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        let width = digits(&mut chars);
        let precision = if chars.peek() == Some(&'.') {
            chars.next();
            Some(digits(&mut chars).unwrap_or(0))
        } else {
            None
        };
        if width.unwrap_or(0) > MAX_WIDTH || precision.unwrap_or(0) > MAX_WIDTH {
            return Err(format!(
                "widths and precisions above {MAX_WIDTH} are not supported"
            ));
        }
        let verb = chars
            .next()
            .ok_or("the format ends with an incomplete %-verb; write %% for a percent sign")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let value = values
            .next()
            .ok_or_else(|| format!("not enough arguments for %{verb}"))?;
        let body = verb_body(verb, value, precision, &flags)?;
        pad(&mut out, &body, width.unwrap_or(0), &flags, verb);
    }
    if values.next().is_some() {
        return Err("too many arguments for the format".into());
    }
    Ok(out.into())
}

fn verb_body(
    verb: char,
    v: &Value,
    precision: Option<usize>,
    flags: &str,
) -> Result<String, String> {
    let sign = |n: f64, s: String| {
        if flags.contains('+') && n >= 0.0 {
            format!("+{s}")
        } else {
            s
        }
    };
    Ok(match verb {
        's' => {
            let s = string(v, "%s's argument")?;
            match precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            }
        }
        'q' => serde_json::to_string(&string(v, "%q's argument")?).map_err(|e| e.to_string())?,
        'v' => match v {
            Value::String(s) => s.clone(),
            Value::Null => "null".into(),
            Value::Number(_) | Value::Bool(_) => string(v, "%v's argument")?,
            other => serde_json::to_string(other).map_err(|e| e.to_string())?,
        },
        't' => match v {
            Value::Bool(b) => b.to_string(),
            other => return Err(format!("%t needs a bool, got {}", describe(other))),
        },
        'd' => {
            let n = integer(v, "%d's argument")?;
            sign(n as f64, n.to_string())
        }
        'x' | 'X' | 'o' | 'b' => {
            let n = integer(v, &format!("%{verb}'s argument"))?;
            let (neg, m) = (n < 0, n.unsigned_abs());
            let s = match verb {
                'x' => format!("{m:x}"),
                'X' => format!("{m:X}"),
                'o' => format!("{m:o}"),
                _ => format!("{m:b}"),
            };
            if neg { format!("-{s}") } else { s }
        }
        'f' | 'e' | 'g' => {
            let n = super::number(v, &format!("%{verb}'s argument"))?;
            let p = precision.unwrap_or(6);
            let s = match verb {
                'f' => format!("{n:.p$}"),
                'e' => format!("{n:.p$e}"),
                _ => n.to_string(),
            };
            sign(n, s)
        }
        other => return Err(format!("%{other} is not a format verb Terraform knows")),
    })
}

fn pad(out: &mut String, body: &str, width: usize, flags: &str, verb: char) {
    let len = body.chars().count();
    if len >= width {
        out.push_str(body);
        return;
    }
    let fill = width - len;
    if flags.contains('-') {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if flags.contains('0') && "dfxXobeg".contains(verb) {
        let (sign, digits) = match body.strip_prefix(['-', '+']) {
            Some(rest) => (&body[..1], rest),
            None => ("", body),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::testing::{check, fails};

    #[test]
    fn case_and_trim() {
        check("upper(\"web\")", "\"WEB\"");
        check("lower(\"WeB\")", "\"web\"");
        check("trimspace(\"  a b \\n\")", "\"a b\"");
        check("trimprefix(\"web-1\", \"web-\")", "\"1\"");
        check("trimsuffix(\"web-1\", \"-1\")", "\"web\"");
        check("startswith(\"web-1\", \"web\")", "true");
        check("endswith(\"web-1\", \"web\")", "false");
        check("tostring(5)", "\"5\"");
        check("tostring(null)", "null");
        fails("tostring([1])", "must be a string");
    }

    #[test]
    fn join_split_replace_substr() {
        check("join(\",\", [\"a\", \"b\"], [1])", "\"a,b,1\"");
        check("join(\"-\", [])", "\"\"");
        fails("join(\",\")", "at least one list");
        fails("join(\",\", \"a\")", "argument 2 must be a list");
        check("split(\",\", \"a,b,,c\")", "[\"a\", \"b\", \"\", \"c\"]");
        check("replace(\"a-b-c\", \"-\", \"_\")", "\"a_b_c\"");
        fails("replace(\"abc\", \"/b/\", \"x\")", "regular expressions");
        check("substr(\"hello world\", 1, 4)", "\"ello\"");
        check("substr(\"hello\", -3, -1)", "\"llo\"");
        check("substr(\"héllo\", 1, 1)", "\"é\"");
        fails("substr(\"abc\", 9, 1)", "outside the string");
    }

    #[test]
    fn format_verbs() {
        check("format(\"%s-%d\", \"web\", 3)", "\"web-3\"");
        check("format(\"%q\", \"a\\\"b\")", "\"\\\"a\\\\\\\"b\\\"\"");
        check("format(\"%v %v %v\", \"x\", 1.5, true)", "\"x 1.5 true\"");
        check("format(\"%v\", [1, \"a\"])", "\"[1,\\\"a\\\"]\"");
        check(
            "format(\"%03d|%-4s|%4s|\", 7, \"ab\", \"cd\")",
            "\"007|ab  |  cd|\"",
        );
        check(
            "format(\"%.2f %t %x %%\", 3.14159, false, 255)",
            "\"3.14 false ff %\"",
        );
        check("format(\"%+d\", 5)", "\"+5\"");
        fails("format(\"%d\", 1.5)", "whole number");
        fails("format(\"%d %d\", 1)", "not enough arguments");
        fails("format(\"%d\", 1, 2)", "too many arguments");
        fails("format(\"%\")", "incomplete");
        fails("format(\"%y\", 1)", "not a format verb");
        fails("format(\"%99999999999999999999d\", 1)", "not supported");
    }
}
