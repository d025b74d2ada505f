//! Terraform type constraints (`type = list(string)`) and Terraform's automatic conversions
//! between values: `"80"` is a fine number, `8080` a fine string, `"true"` a fine bool.
//!
//! Used for variable defaults and `-var` values, and by the typed attribute reader so that
//! `port = "80"` works as it does in Terraform while `port = "eighty"` is an error naming the
//! expected type.

use std::fmt;

use hcl::eval::{Context, Evaluate};
use hcl::{Number, Value};
use hcl_edit::expr::{Expression, ObjectKey};

/// A variable's `type`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Type {
    String,
    Number,
    Bool,
    Any,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    /// Attributes with their type and whether they are `optional(...)`.
    Object(Vec<(String, Type, bool)>),
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::Any => f.write_str("any"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Set(t) => write!(f, "set({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Tuple(ts) => {
                f.write_str("tuple([")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
            Type::Object(_) => f.write_str("object({...})"),
        }
    }
}

const TYPE_HINT: &str =
    "use string, number, bool, list(T), set(T), map(T), tuple([...]), object({...}) or any";

/// Reads a type constraint expression (not evaluated: `string` is a keyword here).
pub(crate) fn parse_type(expr: &Expression) -> Result<Type, String> {
    let bad = || format!("`{}` is not a type; {TYPE_HINT}", expr.to_string().trim());
    match expr {
        Expression::Variable(v) => match v.as_str() {
            "string" => Ok(Type::String),
            "number" => Ok(Type::Number),
            "bool" => Ok(Type::Bool),
            "any" => Ok(Type::Any),
            _ => Err(bad()),
        },
        // Terraform 0.11 syntax, still accepted: type = "string" / "list" / "map".
        Expression::String(s) => match s.as_str() {
            "string" => Ok(Type::String),
            "list" => Ok(Type::List(Box::new(Type::Any))),
            "map" => Ok(Type::Map(Box::new(Type::Any))),
            _ => Err(bad()),
        },
        Expression::FuncCall(call) if call.args.len() == 1 && call.name.namespace.is_empty() => {
            let arg = call.args.iter().next().ok_or_else(bad)?;
            match call.name.name.as_str() {
                "list" => Ok(Type::List(Box::new(parse_type(arg)?))),
                "set" => Ok(Type::Set(Box::new(parse_type(arg)?))),
                "map" => Ok(Type::Map(Box::new(parse_type(arg)?))),
                "tuple" => match arg {
                    Expression::Array(items) => Ok(Type::Tuple(
                        items.iter().map(parse_type).collect::<Result<_, _>>()?,
                    )),
                    _ => Err(bad()),
                },
                "object" => match arg {
                    Expression::Object(fields) => {
                        let mut out = Vec::new();
                        for (key, value) in fields.iter() {
                            let name = match key {
                                ObjectKey::Ident(i) => i.as_str().to_owned(),
                                ObjectKey::Expression(Expression::String(s)) => s.to_string(),
                                ObjectKey::Expression(_) => return Err(bad()),
                            };
                            let (ty, optional) = match value.expr() {
                                Expression::FuncCall(c) if c.name.name.as_str() == "optional" => {
                                    let inner = c.args.iter().next().ok_or_else(bad)?;
                                    (parse_type(inner)?, true)
                                }
                                other => (parse_type(other)?, false),
                            };
                            out.push((name, ty, optional));
                        }
                        Ok(Type::Object(out))
                    }
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

/// A short description of a value for "expected X, got Y" messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let mut short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                short.push('…');
            }
            format!("string {short:?}")
        }
        Value::Array(a) => format!("a list of {} element(s)", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

/// Parses a number the way Terraform converts a string to one.
pub(crate) fn parse_number(s: &str) -> Option<Number> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Number::from(i));
    }
    s.parse::<f64>().ok().and_then(Number::from_f64)
}

/// A number as a non-negative whole number, whether it is stored as an integer or as a float
/// (`10 / 2` is `5` in Terraform, but a float here).
pub(crate) fn whole(n: &Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        let f = n.as_f64()?;
        (f >= 0.0 && f.fract() == 0.0 && f <= 9.0e15).then_some(f as u64)
    })
}

/// Converts `value` to `ty` with Terraform's automatic conversions; the error says why not.
pub(crate) fn convert(value: Value, ty: &Type) -> Result<Value, String> {
    let mismatch = |v: &Value| format!("expected {ty}, got {}", describe(v));
    match (ty, value) {
        (_, Value::Null) => Ok(Value::Null),
        (Type::Any, v) => Ok(v),
        (Type::String, Value::String(s)) => Ok(Value::String(s)),
        (Type::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (Type::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::Number, Value::Number(n)) => Ok(Value::Number(n)),
        (Type::Number, Value::String(s)) => parse_number(&s)
            .map(Value::Number)
            .ok_or_else(|| mismatch(&Value::String(s))),
        (Type::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        (Type::Bool, Value::String(s)) if s == "true" || s == "false" => {
            Ok(Value::Bool(s == "true"))
        }
        (Type::List(t) | Type::Set(t), Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| convert(v, t).map_err(|e| format!("element {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (Type::Tuple(ts), Value::Array(items)) if ts.len() == items.len() => items
            .into_iter()
            .zip(ts)
            .enumerate()
            .map(|(i, (v, t))| convert(v, t).map_err(|e| format!("element {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (Type::Map(t), Value::Object(fields)) => fields
            .into_iter()
            .map(|(k, v)| {
                convert(v, t)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| format!("`{k}`: {e}"))
            })
            .collect::<Result<hcl::Map<_, _>, _>>()
            .map(Value::Object),
        (Type::Object(spec), Value::Object(mut fields)) => {
            let mut out = hcl::Map::new();
            for (name, t, optional) in spec {
                match fields.swap_remove(name) {
                    Some(v) => {
                        let v = convert(v, t).map_err(|e| format!("`{name}`: {e}"))?;
                        out.insert(name.clone(), v);
                    }
                    None if *optional => {
                        out.insert(name.clone(), Value::Null);
                    }
                    None => return Err(format!("attribute `{name}` is required")),
                }
            }
            Ok(Value::Object(out))
        }
        (_, v) => Err(mismatch(&v)),
    }
}

/// Evaluates a literal HCL expression (`["a", "b"]`, `{ k = 1 }`) with no names in scope.
pub(crate) fn parse_literal(text: &str) -> Result<Value, String> {
    let expr = hcl_edit::parser::parse_expr(text).map_err(|e| e.message().to_owned())?;
    hcl::Expression::from(expr)
        .evaluate(&Context::new())
        .map_err(|e| e.to_string())
}

/// Turns a `-var name=value` string into a value of the variable's type: the declared `type`
/// if any, else the default's type, else a string. Lists, maps and objects are written in HCL
/// syntax (`-var 'zones=["a","b"]'`).
pub(crate) fn from_cli(
    raw: &str,
    ty: Option<&Type>,
    default: Option<&Value>,
) -> Result<Value, String> {
    let inferred = match (ty, default) {
        (Some(t), _) => t.clone(),
        (None, Some(Value::Number(_))) => Type::Number,
        (None, Some(Value::Bool(_))) => Type::Bool,
        (None, Some(Value::Array(_) | Value::Object(_))) => Type::Any,
        (None, _) => Type::String,
    };
    match &inferred {
        Type::String | Type::Number | Type::Bool => {
            convert(Value::String(raw.to_owned()), &inferred)
        }
        Type::Any => Ok(parse_literal(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))),
        complex => {
            let v = parse_literal(raw).map_err(|e| {
                format!("expected {complex} written in HCL syntax (e.g. [\"a\", \"b\"]): {e}")
            })?;
            convert(v, complex)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(src: &str) -> Result<Type, String> {
        parse_type(&hcl_edit::parser::parse_expr(src).unwrap())
    }

    #[test]
    fn parses_type_constraints() {
        assert_eq!(ty("number").unwrap(), Type::Number);
        assert_eq!(ty("list(string)").unwrap().to_string(), "list(string)");
        assert_eq!(
            ty("map(list(number))").unwrap().to_string(),
            "map(list(number))"
        );
        assert_eq!(ty("\"string\"").unwrap(), Type::String);
        let o = ty("object({ name = string, size = optional(number) })").unwrap();
        assert_eq!(
            o,
            Type::Object(vec![
                ("name".into(), Type::String, false),
                ("size".into(), Type::Number, true)
            ])
        );
        assert!(ty("strin").unwrap_err().contains("not a type"));
        assert!(ty("list(strin)").is_err());
    }

    #[test]
    fn converts_like_terraform() {
        assert_eq!(
            convert("80".into(), &Type::Number).unwrap(),
            Value::from(80)
        );
        assert_eq!(
            convert(Value::from(80), &Type::String).unwrap(),
            Value::from("80")
        );
        assert_eq!(
            convert("true".into(), &Type::Bool).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            convert("eighty".into(), &Type::Number).unwrap_err(),
            "expected number, got string \"eighty\""
        );
        let list = Value::Array(vec![Value::from(1), Value::from("x")]);
        assert_eq!(
            convert(list, &Type::List(Box::new(Type::Number))).unwrap_err(),
            "element 1: expected number, got string \"x\""
        );
        let obj = parse_literal("{ name = \"a\" }").unwrap();
        let spec = ty("object({ name = string, size = optional(number) })").unwrap();
        let out = convert(obj, &spec).unwrap();
        assert_eq!(out.as_object().unwrap()["size"], Value::Null);
    }

    #[test]
    fn cli_values_follow_the_declared_or_default_type() {
        assert_eq!(
            from_cli("3", Some(&Type::Number), None).unwrap(),
            Value::from(3)
        );
        assert_eq!(
            from_cli("3", None, Some(&Value::from(1))).unwrap(),
            Value::from(3)
        );
        assert_eq!(from_cli("3", None, None).unwrap(), Value::from("3"));
        assert!(from_cli("x", Some(&Type::Bool), None).is_err());
        let zones = from_cli(
            "[\"a\", \"b\"]",
            Some(&Type::List(Box::new(Type::String))),
            None,
        );
        assert_eq!(zones.unwrap(), Value::from_iter(["a", "b"]));
        assert!(from_cli("a,b", Some(&Type::List(Box::new(Type::String))), None).is_err());
        assert_eq!(
            from_cli("hello", Some(&Type::Any), None).unwrap(),
            Value::from("hello")
        );
        assert_eq!(
            from_cli("1.5", Some(&Type::Number), None).unwrap(),
            Value::from(1.5)
        );
    }

    #[test]
    fn whole_numbers_may_be_floats() {
        assert_eq!(whole(&Number::from(5)), Some(5));
        assert_eq!(whole(&Number::from_f64(5.0).unwrap()), Some(5));
        assert_eq!(whole(&Number::from_f64(5.5).unwrap()), None);
        assert_eq!(whole(&Number::from(-1)), None);
    }
}
