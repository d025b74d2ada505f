//! Input variables: `variable "x" { type, default, description }` blocks, given values by
//! `-var x=...` (the CLI folds `TF_VAR_x` into the same map) or their defaults.

use std::collections::{BTreeMap, BTreeSet};

use hcl::Value;
use hcl::eval::{Context, Evaluate};

use crate::decl::Declarations;
use crate::error::ConfigError;
use crate::suggest;
use crate::types::{self, Type};

const VARIABLE_ATTRIBUTES: &[&str] = &[
    "default",
    "type",
    "description",
    "sensitive",
    "nullable",
    "ephemeral",
];

/// Resolves every declared variable. Returns the `var` object and the names that failed (they
/// have been reported; whatever uses them is skipped).
pub(crate) fn resolve(
    decls: &Declarations,
    cli: &BTreeMap<String, String>,
    errors: &mut Vec<ConfigError>,
) -> (hcl::Map<String, Value>, BTreeSet<String>) {
    let mut values = hcl::Map::new();
    let mut failed = BTreeSet::new();

    // The CLI folds TF_VAR_* from the environment into `cli`, and Terraform ignores TF_VAR_
    // values for undeclared variables; so an undeclared name is only an error when it looks
    // like a typo of a declared one (which is what a mistyped -var usually is).
    for name in cli.keys() {
        if decls.variables.iter().any(|v| &v.name == name) {
            continue;
        }
        if let Some(hint) =
            suggest::did_you_mean(name, decls.variables.iter().map(|v| v.name.as_str()))
        {
            errors.push(
                ConfigError::new(format!("-var {name}: no variable `{name}` is declared"))
                    .hint(hint),
            );
        }
    }

    for var in &decls.variables {
        let file = decls.file(var.file);
        let address = format!("var.{}", var.name);
        let mut ok = true;
        let mut err = |attr: Option<&str>, at, message: String, hint: Option<String>| {
            let mut e = ConfigError::new(message)
                .address(&address)
                .at(at)
                .hint_opt(hint);
            if let Some(a) = attr {
                e = e.attribute(a);
            }
            errors.push(e);
        };

        for attr in var.body.attributes() {
            let key = attr.key.as_str();
            if !VARIABLE_ATTRIBUTES.contains(&key) {
                let hint = suggest::did_you_mean(key, VARIABLE_ATTRIBUTES.iter().copied());
                err(
                    Some(key),
                    file.at(attr),
                    format!("unknown attribute `{key}`"),
                    hint,
                );
                ok = false;
            }
        }
        for block in var.body.blocks() {
            if block.ident.as_str() != "validation" {
                let msg = format!("unknown block `{}` in a variable", block.ident.as_str());
                err(
                    None,
                    file.at(block),
                    msg,
                    Some("variables take validation blocks only".into()),
                );
                ok = false;
            }
        }

        let ty = match var.body.get_attribute("type") {
            Some(attr) => match types::parse_type(&attr.value) {
                Ok(t) => Some(t),
                Err(e) => {
                    err(Some("type"), file.at(attr), e, None);
                    ok = false;
                    None
                }
            },
            None => None,
        };

        let default = match var.body.get_attribute("default") {
            Some(attr) => {
                let literal = hcl::Expression::from(attr.value.clone()).evaluate(&Context::new());
                match literal.map_err(|e| e.to_string()).and_then(|v| match &ty {
                    Some(t) => types::convert(v, t),
                    None => Ok(v),
                }) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        let hint = "a default must be a literal value of the variable's type";
                        err(Some("default"), file.at(attr), e, Some(hint.into()));
                        ok = false;
                        None
                    }
                }
            }
            None => None,
        };

        let value = match (cli.get(&var.name), default) {
            (Some(raw), default) => match types::from_cli(raw, ty.as_ref(), default.as_ref()) {
                Ok(v) => Some(v),
                Err(e) => {
                    let expected = ty
                        .as_ref()
                        .map_or_else(String::new, |t: &Type| format!(" ({t})"));
                    err(
                        None,
                        var.at.clone(),
                        format!("-var {}={raw}: {e}", var.name),
                        Some(format!("pass a value of the variable's type{expected}")),
                    );
                    None
                }
            },
            (None, Some(v)) => Some(v),
            (None, None) if ok => {
                err(
                    None,
                    var.at.clone(),
                    format!("variable `{}` has no value", var.name),
                    Some(format!(
                        "pass -var {}=... (or set TF_VAR_{}), or give the variable a default",
                        var.name, var.name
                    )),
                );
                None
            }
            (None, None) => None,
        };
        match value {
            Some(v) if ok => {
                values.insert(var.name.clone(), v);
            }
            _ => {
                failed.insert(var.name.clone());
            }
        }
    }
    (values, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, cli: &[(&str, &str)]) -> (hcl::Map<String, Value>, Vec<ConfigError>) {
        let mut errors = Vec::new();
        let d = crate::decl::collect(&[("v.tf".into(), text.into())], &mut errors);
        let cli = cli
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (values, _) = resolve(&d, &cli, &mut errors);
        (values, errors)
    }

    #[test]
    fn defaults_and_overrides() {
        let text = "variable \"n\" {\n  type = number\n  default = 2\n}\n\
                    variable \"zones\" {\n  default = [\"a\"]\n}\nvariable \"name\" {}\n";
        let (v, errors) = run(
            text,
            &[("n", "5"), ("name", "web"), ("zones", "[\"a\", \"b\"]")],
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(v["n"], Value::from(5));
        assert_eq!(v["name"], Value::from("web"));
        assert_eq!(v["zones"], Value::from_iter(["a", "b"]));
        let (v, _) = run(text, &[("name", "x")]);
        assert_eq!(v["n"], Value::from(2));
    }

    #[test]
    fn errors_name_the_variable_and_the_fix() {
        let text = "variable \"region\" {}\nvariable \"n\" {\n  type = number\n  default = \"x\"\n}\n\
                    variable \"m\" {\n  typ = string\n}\n";
        let (_, errors) = run(text, &[("regoin", "x"), ("aws_profile", "dev")]);
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages[0], "-var regoin: no variable `regoin` is declared");
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean `region`?"));
        // An unrelated name (a stray TF_VAR_aws_profile) is ignored, as Terraform does.
        assert!(!messages.iter().any(|m| m.contains("aws_profile")));
        let no_value = errors
            .iter()
            .find(|e| e.message.contains("has no value"))
            .unwrap();
        assert!(
            no_value
                .hint
                .as_deref()
                .unwrap()
                .contains("-var region=...")
        );
        assert_eq!(no_value.location.as_ref().unwrap().line, 1);
        let bad_default = errors
            .iter()
            .find(|e| e.attribute.as_deref() == Some("default"))
            .unwrap();
        assert_eq!(bad_default.location.as_ref().unwrap().line, 4);
        let typo = errors
            .iter()
            .find(|e| e.attribute.as_deref() == Some("typ"))
            .unwrap();
        assert_eq!(typo.hint.as_deref(), Some("did you mean `type`?"));
        let (_, errors) = run("variable \"n\" {\n  type = number\n}\n", &[("n", "many")]);
        assert!(
            errors[0]
                .message
                .starts_with("-var n=many: expected number"),
            "{errors:?}"
        );
    }
}
