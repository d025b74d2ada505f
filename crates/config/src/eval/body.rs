//! Evaluating one block body (a resource instance, or a nested block) into values, keeping each
//! attribute's line; expanding `dynamic` blocks; and checking a body against its [`Schema`].

use hcl::Value;
use hcl::eval::{Context, Evaluate};
use hcl_edit::structure::{Block, Body};
use model::Location;

use crate::error::ConfigError;
use crate::schema::Schema;
use crate::source::SourceFile;
use crate::suggest;

/// Meta-arguments: handled by the evaluator, never attributes of the resource itself.
pub(crate) const META_ATTRIBUTES: &[&str] = &["count", "for_each", "depends_on", "provider"];
pub(crate) const META_BLOCKS: &[&str] = &["lifecycle", "provisioner", "connection"];

/// Upper bound on instances per resource and elements per `dynamic` block: everything runs on
/// one machine, and a fuzzer must not make us allocate without bound.
pub(crate) const MAX_INSTANCES: usize = 256;

/// An evaluated attribute.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvalAttr {
    pub name: String,
    pub value: Value,
    pub at: Location,
}

/// An evaluated nested block (`health_check { … }`, or one element of a `dynamic` block).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvalBlock {
    pub name: String,
    pub at: Location,
    pub body: EvalBody,
}

/// An evaluated body.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct EvalBody {
    pub attrs: Vec<EvalAttr>,
    pub blocks: Vec<EvalBlock>,
}

impl EvalBody {
    pub fn attr(&self, name: &str) -> Option<&EvalAttr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn blocks<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a EvalBlock> + 'a {
        self.blocks.iter().filter(move |b| b.name == name)
    }

    /// The body as an object: attributes, and nested blocks as lists of objects (how Terraform
    /// exposes `aws_lb_target_group.web.health_check[0].path`).
    pub fn to_object(&self) -> hcl::Map<String, Value> {
        let mut out: hcl::Map<String, Value> = self
            .attrs
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect();
        for b in &self.blocks {
            let entry = out
                .entry(b.name.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(Value::Object(b.body.to_object()));
            }
        }
        out
    }
}

/// Where errors found while evaluating a body go.
pub(crate) struct Sink<'a> {
    pub file: &'a SourceFile,
    pub address: &'a str,
    pub errors: &'a mut Vec<ConfigError>,
    pub ok: bool,
}

impl Sink<'_> {
    fn error(&mut self, at: Location, attribute: &str, message: String, hint: Option<String>) {
        self.ok = false;
        let mut e = ConfigError::new(message)
            .address(self.address)
            .at(at)
            .hint_opt(hint);
        if !attribute.is_empty() {
            e = e.attribute(attribute);
        }
        self.errors.push(e);
    }
}

/// Evaluates every attribute and nested block of `body` (minus meta-arguments).
pub(crate) fn eval_body(
    ctx: &Context<'_>,
    body: &Body,
    prefix: &str,
    sink: &mut Sink<'_>,
) -> EvalBody {
    let mut out = EvalBody::default();
    for attr in body.attributes() {
        let name = attr.key.as_str();
        if prefix.is_empty() && META_ATTRIBUTES.contains(&name) {
            continue;
        }
        let at = sink.file.at(attr);
        match hcl::Expression::from(attr.value.clone()).evaluate(ctx) {
            Ok(value) => out.attrs.push(EvalAttr {
                name: name.to_owned(),
                value,
                at,
            }),
            Err(e) => sink.error(
                at,
                &format!("{prefix}{name}"),
                format!("cannot evaluate: {e}"),
                None,
            ),
        }
    }
    for block in body.blocks() {
        let name = block.ident.as_str();
        if META_BLOCKS.contains(&name) {
            continue;
        }
        if name == "dynamic" {
            expand_dynamic(ctx, block, prefix, sink, &mut out);
            continue;
        }
        let at = sink.file.at(block);
        let inner = eval_body(ctx, &block.body, &format!("{prefix}{name}."), sink);
        out.blocks.push(EvalBlock {
            name: name.to_owned(),
            at,
            body: inner,
        });
    }
    out
}

/// `dynamic "tag" { for_each = …, iterator = t, content { … } }`: one `tag` block per element,
/// with `tag.key` / `tag.value` (or `t.…`) in scope inside `content`.
fn expand_dynamic(
    ctx: &Context<'_>,
    block: &Block,
    prefix: &str,
    sink: &mut Sink<'_>,
    out: &mut EvalBody,
) {
    let at = sink.file.at(block);
    let Some(label) = block.labels.first().map(|l| l.as_str().to_owned()) else {
        let hint = Some("write dynamic \"tag\" { for_each = …; content { … } }".to_owned());
        return sink.error(
            at,
            "",
            "a dynamic block needs the name of the block it generates".into(),
            hint,
        );
    };
    let iterator = match block.body.get_attribute("iterator").map(|a| &a.value) {
        Some(hcl_edit::expr::Expression::Variable(v)) => v.as_str().to_owned(),
        Some(_) => {
            return sink.error(at, "iterator", "iterator must be a bare name".into(), None);
        }
        None => label.clone(),
    };
    let Some(for_each) = block.body.get_attribute("for_each") else {
        return sink.error(at, &label, "a dynamic block needs for_each".into(), None);
    };
    let Some(content) = block.body.get_blocks("content").next() else {
        return sink.error(
            at,
            &label,
            "a dynamic block needs a content block".into(),
            None,
        );
    };
    let items: Vec<(Value, Value)> =
        match hcl::Expression::from(for_each.value.clone()).evaluate(ctx) {
            Ok(Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.into(), v))
                .collect(),
            Ok(Value::Object(o)) => o.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            Ok(Value::Null) => Vec::new(),
            Ok(other) => {
                let message = format!(
                    "for_each must be a list or a map, got {}",
                    crate::types::describe(&other)
                );
                return sink.error(
                    sink.file.at(for_each),
                    &format!("{prefix}{label}"),
                    message,
                    None,
                );
            }
            Err(e) => {
                let message = format!("cannot evaluate: {e}");
                return sink.error(
                    sink.file.at(for_each),
                    &format!("{prefix}{label}"),
                    message,
                    None,
                );
            }
        };
    if items.len() > MAX_INSTANCES {
        let message = format!(
            "for_each yields {} blocks; at most {MAX_INSTANCES}",
            items.len()
        );
        return sink.error(sink.file.at(for_each), &label, message, None);
    }
    for (key, value) in items {
        let mut child = ctx.clone();
        child.declare_var(
            iterator.clone(),
            Value::from_iter([("key", key), ("value", value)]),
        );
        let body = eval_body(&child, &content.body, &format!("{prefix}{label}."), sink);
        out.blocks.push(EvalBlock {
            name: label.clone(),
            at: at.clone(),
            body,
        });
    }
}

/// Reports attributes and blocks the schema does not know, with a suggestion from the names it
/// does know. Looks through `dynamic` blocks into their `content`.
pub(crate) fn check_schema(body: &Body, schema: &Schema, prefix: &str, sink: &mut Sink<'_>) {
    if schema.open {
        return;
    }
    for attr in body.attributes() {
        let name = attr.key.as_str();
        if (prefix.is_empty() && META_ATTRIBUTES.contains(&name)) || schema.has_attr(name) {
            continue;
        }
        let hint = suggest::did_you_mean(
            name,
            schema
                .attrs
                .iter()
                .copied()
                .chain(schema.blocks.iter().map(|(b, _)| *b)),
        );
        let hint = hint.or_else(|| {
            (schema.block(name).is_some())
                .then(|| format!("`{name}` is a block: write {name} {{ … }}"))
        });
        let at = sink.file.at(attr);
        let message = if schema.block(name).is_some() {
            format!("`{name}` is a block, not an attribute")
        } else {
            format!("unknown attribute `{name}`")
        };
        sink.error(at, &format!("{prefix}{name}"), message, hint);
    }
    for block in body.blocks() {
        let mut name = block.ident.as_str();
        let mut inner = &block.body;
        if META_BLOCKS.contains(&name) {
            continue;
        }
        if name == "dynamic" {
            let Some(label) = block.labels.first() else {
                continue;
            };
            name = label.as_str();
            match block.body.get_blocks("content").next() {
                Some(content) => inner = &content.body,
                None => continue,
            }
        }
        match schema.block(name) {
            Some(s) => check_schema(inner, s, &format!("{prefix}{name}."), sink),
            None => {
                let at = sink.file.at(block);
                let hint = suggest::did_you_mean(name, schema.blocks.iter().map(|(b, _)| *b));
                let message = if schema.has_attr(name) {
                    format!("`{name}` is an attribute: write {name} = …")
                } else {
                    format!("unknown block `{name}`")
                };
                sink.error(at, &format!("{prefix}{name}"), message, hint);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, ctx: &Context<'_>) -> (EvalBody, Vec<ConfigError>) {
        let body = hcl_edit::parser::parse_body(text).unwrap();
        let file = SourceFile::new("t.tf", text);
        let mut errors = Vec::new();
        let mut sink = Sink {
            file: &file,
            address: "aws_x.y",
            errors: &mut errors,
            ok: true,
        };
        let out = eval_body(ctx, &body, "", &mut sink);
        (out, errors)
    }

    #[test]
    fn attributes_blocks_and_lines() {
        let mut ctx = Context::new();
        ctx.declare_var("var", Value::from_iter([("port", 8080)]));
        let (b, errors) = eval(
            "count = 2\nport = var.port\nhealth_check {\n  path = \"/up\"\n}\nbad = var.nope\n",
            &ctx,
        );
        assert_eq!(b.attr("port").unwrap().value, Value::from(8080));
        assert_eq!(b.attr("port").unwrap().at.line, 2);
        assert!(b.attr("count").is_none());
        let hc = b.blocks("health_check").next().unwrap();
        assert_eq!(hc.body.attr("path").unwrap().at.line, 4);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].attribute.as_deref(), Some("bad"));
        assert_eq!(errors[0].location.as_ref().unwrap().line, 6);
        let obj = b.to_object();
        assert_eq!(obj["health_check"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn dynamic_blocks_expand() {
        let mut ctx = Context::new();
        ctx.declare_var(
            "var",
            Value::from_iter([("tags", Value::from_iter([("a", "1"), ("b", "2")]))]),
        );
        let (b, errors) = eval(
            "dynamic \"tag\" {\n  for_each = var.tags\n  content {\n    key = tag.key\n    value = tag.value\n  }\n}\n",
            &ctx,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let tags: Vec<_> = b
            .blocks("tag")
            .map(|t| t.body.attr("key").unwrap().value.clone())
            .collect();
        assert_eq!(tags, vec![Value::from("a"), Value::from("b")]);
    }

    #[test]
    fn schema_violations_are_suggested() {
        let text = "name = \"x\"\nport = 80\nhealth_check {\n  intervall = 5\n}\nhealthcheck {\n}\nstickiness = 1\n";
        let body = hcl_edit::parser::parse_body(text).unwrap();
        let file = SourceFile::new("t.tf", text);
        let mut errors = Vec::new();
        let mut sink = Sink {
            file: &file,
            address: "aws_lb_target_group.web",
            errors: &mut errors,
            ok: true,
        };
        let schema = crate::schema::resource("aws_lb_target_group").unwrap();
        check_schema(&body, schema, "", &mut sink);
        errors.sort_by_key(|e| e.location.as_ref().unwrap().line);
        let got: Vec<_> = errors
            .iter()
            .map(|e| {
                (
                    e.location.as_ref().unwrap().line,
                    e.attribute.clone().unwrap(),
                    e.hint.clone(),
                )
            })
            .collect();
        assert_eq!(
            got[0],
            (
                4,
                "health_check.intervall".into(),
                Some("did you mean `interval`?".into())
            )
        );
        assert_eq!(
            got[1],
            (
                6,
                "healthcheck".into(),
                Some("did you mean `health_check`?".into())
            )
        );
        assert_eq!(got[2].0, 8);
        assert!(errors[2].message.contains("is a block"));
    }
}
