//! Static analysis of expressions before anything is evaluated: which names an expression refers
//! to (`var.x`, `local.y`, `aws_subnet.a.id`, `count.index`, …) and which functions it calls,
//! each with its span so errors point at the line of the reference, not just of the attribute.
//!
//! The references give the evaluation order (a resource is evaluated after everything it refers
//! to) and let missing names be reported with a suggestion before evaluation starts. Names bound
//! by `for` expressions, `%{ for }` directives and `dynamic` blocks are local and not references.

use std::ops::Range;

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ForExpr, FuncCall, Traversal, TraversalOperator};
use hcl_edit::structure::Body;
use hcl_edit::template::ForTemplateExpr;
use hcl_edit::visit::{self, Visit};

/// A name an expression depends on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ref {
    Var(String),
    Local(String),
    Data {
        kind: String,
        name: String,
    },
    /// `kind.name`, then the attribute read after an optional index or splat
    /// (`aws_subnet.public[0].id` → `id`).
    Resource {
        kind: String,
        name: String,
        attr: Option<String>,
        via: Via,
    },
    Count,
    Each,
    Path,
    Terraform,
    /// A root name that refers to nothing (`foo` alone, `var` without `.name`).
    Unknown(String),
}

#[cfg(test)]
impl Ref {
    /// How the reference reads in the configuration.
    pub fn display(&self) -> String {
        match self {
            Ref::Var(n) => format!("var.{n}"),
            Ref::Local(n) => format!("local.{n}"),
            Ref::Data { kind, name } => format!("data.{kind}.{name}"),
            Ref::Resource { kind, name, .. } => format!("{kind}.{name}"),
            Ref::Count => "count".into(),
            Ref::Each => "each".into(),
            Ref::Path => "path".into(),
            Ref::Terraform => "terraform".into(),
            Ref::Unknown(n) => n.clone(),
        }
    }
}

/// How a resource reference reaches its instance(s): `aws_lb.front.arn` (direct),
/// `aws_subnet.public[0].id` (index) or `aws_subnet.public[*].id` (splat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Via {
    Direct,
    Index,
    Splat,
}

/// What an expression (or body) refers to and calls.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    pub refs: Vec<(Ref, Option<Range<usize>>)>,
    /// Called function names (`provider::x::f` for namespaced ones) and where.
    pub calls: Vec<(String, Option<Range<usize>>)>,
}

/// Attributes that are not expressions over the configuration's names: `provider = aws.west`
/// names a provider configuration, `lifecycle { ignore_changes = [tags] }` names attributes.
const NOT_REFERENCES: &[&str] = &["provider", "lifecycle"];

/// References of one expression.
pub(crate) fn expr_refs(expr: &Expression) -> Refs {
    let mut c = Collector::default();
    c.visit_expr(expr);
    c.out
}

/// References of a block body: its attributes and nested blocks, minus the meta-arguments that
/// are not expressions, with `dynamic` blocks' iterators bound inside their `content`.
pub(crate) fn body_refs(body: &Body) -> Refs {
    let mut c = Collector::default();
    c.walk_body(body);
    c.out
}

#[derive(Default)]
struct Collector {
    bound: Vec<String>,
    out: Refs,
}

impl Collector {
    fn walk_body(&mut self, body: &Body) {
        for attr in body.attributes() {
            if !NOT_REFERENCES.contains(&attr.key.as_str()) {
                self.visit_expr(&attr.value);
            }
        }
        for block in body.blocks() {
            match block.ident.as_str() {
                "lifecycle" => {}
                "dynamic" => {
                    let label = block.labels.first().map(|l| l.as_str().to_owned());
                    let iterator = block
                        .body
                        .get_attribute("iterator")
                        .and_then(|a| match &a.value {
                            Expression::Variable(v) => Some(v.as_str().to_owned()),
                            _ => None,
                        })
                        .or(label);
                    if let Some(for_each) = block.body.get_attribute("for_each") {
                        self.visit_expr(&for_each.value);
                    }
                    let bound = iterator.is_some();
                    if let Some(name) = iterator {
                        self.bound.push(name);
                    }
                    for content in block.body.get_blocks("content") {
                        self.walk_body(&content.body);
                    }
                    if bound {
                        self.bound.pop();
                    }
                }
                _ => self.walk_body(&block.body),
            }
        }
    }

    fn is_bound(&self, name: &str) -> bool {
        self.bound.iter().any(|b| b == name)
    }

    fn with_bound(&mut self, names: Vec<String>, f: impl FnOnce(&mut Self)) {
        let n = names.len();
        self.bound.extend(names);
        f(self);
        self.bound.truncate(self.bound.len() - n);
    }
}

fn attr_of(op: Option<&hcl_edit::Decorated<TraversalOperator>>) -> Option<String> {
    match op.map(|o| o.value()) {
        Some(TraversalOperator::GetAttr(ident)) => Some(ident.as_str().to_owned()),
        _ => None,
    }
}

/// Names a traversal rooted at the variable `root`.
fn classify(root: &str, ops: &[hcl_edit::Decorated<TraversalOperator>]) -> Ref {
    let attr = |i: usize| attr_of(ops.get(i));
    match root {
        "var" => attr(0).map_or_else(|| Ref::Unknown("var".into()), Ref::Var),
        "local" => attr(0).map_or_else(|| Ref::Unknown("local".into()), Ref::Local),
        "data" => match (attr(0), attr(1)) {
            (Some(kind), Some(name)) => Ref::Data { kind, name },
            _ => Ref::Unknown("data".into()),
        },
        "count" => Ref::Count,
        "each" => Ref::Each,
        "path" => Ref::Path,
        "terraform" => Ref::Terraform,
        kind => match attr(0) {
            Some(name) => {
                let (via, attr) = match ops.get(1).map(|o| o.value()) {
                    Some(TraversalOperator::GetAttr(a)) => {
                        (Via::Direct, Some(a.as_str().to_owned()))
                    }
                    Some(TraversalOperator::Index(_) | TraversalOperator::LegacyIndex(_)) => {
                        (Via::Index, attr(2))
                    }
                    Some(TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_)) => {
                        (Via::Splat, attr(2))
                    }
                    None => (Via::Direct, None),
                };
                Ref::Resource {
                    kind: kind.to_owned(),
                    name,
                    attr,
                    via,
                }
            }
            None => Ref::Unknown(kind.to_owned()),
        },
    }
}

impl Visit for Collector {
    fn visit_expr(&mut self, expr: &Expression) {
        if let Expression::Variable(v) = expr {
            if !self.is_bound(v.as_str()) {
                let r = classify(v.as_str(), &[]);
                self.out.refs.push((r, v.span()));
            }
            return;
        }
        visit::visit_expr(self, expr);
    }

    fn visit_traversal(&mut self, node: &Traversal) {
        match &node.expr {
            Expression::Variable(v) => {
                if !self.is_bound(v.as_str()) {
                    let r = classify(v.as_str(), &node.operators);
                    self.out.refs.push((r, node.span().or_else(|| v.span())));
                }
            }
            other => self.visit_expr(other),
        }
        for op in &node.operators {
            self.visit_traversal_operator(op);
        }
    }

    fn visit_func_call(&mut self, node: &FuncCall) {
        let mut name = String::new();
        for ns in &node.name.namespace {
            name.push_str(ns.as_str());
            name.push_str("::");
        }
        name.push_str(node.name.name.as_str());
        self.out.calls.push((name, node.span()));
        visit::visit_func_args(self, &node.args);
    }

    fn visit_for_expr(&mut self, node: &ForExpr) {
        self.visit_expr(&node.intro.collection_expr);
        let mut names = vec![node.intro.value_var.as_str().to_owned()];
        if let Some(k) = &node.intro.key_var {
            names.push(k.as_str().to_owned());
        }
        self.with_bound(names, |c| {
            if let Some(key) = &node.key_expr {
                c.visit_expr(key);
            }
            c.visit_expr(&node.value_expr);
            if let Some(cond) = &node.cond {
                c.visit_expr(&cond.expr);
            }
        });
    }

    fn visit_for_template_expr(&mut self, node: &ForTemplateExpr) {
        self.visit_expr(&node.collection_expr);
        let mut names = vec![node.value_var.as_str().to_owned()];
        if let Some(k) = &node.key_var {
            names.push(k.as_str().to_owned());
        }
        self.with_bound(names, |c| c.visit_template(&node.template));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs_of(src: &str) -> Vec<String> {
        let expr = hcl_edit::parser::parse_expr(src).unwrap();
        let mut out: Vec<_> = expr_refs(&expr)
            .refs
            .into_iter()
            .map(|(r, _)| match r {
                Ref::Resource {
                    kind,
                    name,
                    attr: Some(a),
                    ..
                } => format!("{kind}.{name}.{a}"),
                r => r.display(),
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn finds_roots_and_attributes() {
        assert_eq!(refs_of("aws_subnet.public[0].id"), ["aws_subnet.public.id"]);
        assert_eq!(refs_of("aws_subnet.public[*].id"), ["aws_subnet.public.id"]);
        assert_eq!(
            refs_of("\"${var.name}-${local.env}\""),
            ["local.env", "var.name"]
        );
        assert_eq!(
            refs_of("data.aws_availability_zones.all.names[count.index]"),
            ["count", "data.aws_availability_zones.all"]
        );
        assert_eq!(refs_of("foo"), ["foo"]);
        assert_eq!(refs_of("var"), ["var"]);
    }

    #[test]
    fn for_variables_are_not_references() {
        assert_eq!(
            refs_of("[for s in aws_subnet.public : s.id if s.id != var.skip]"),
            ["aws_subnet.public", "var.skip"]
        );
        assert_eq!(refs_of("{ for k, v in local.m : k => v }"), ["local.m"]);
        assert_eq!(
            refs_of("<<EOT\n%{ for x in var.xs }${x}%{ endfor }\nEOT"),
            ["var.xs"]
        );
    }

    #[test]
    fn calls_are_collected_with_index_expressions() {
        let expr = hcl_edit::parser::parse_expr("join(\",\", [upper(var.a)])[0]").unwrap();
        let r = expr_refs(&expr);
        let calls: Vec<_> = r.calls.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(calls, ["join", "upper"]);
        assert_eq!(r.refs.len(), 1);
    }

    #[test]
    fn dynamic_iterators_and_meta_arguments() {
        let body = hcl_edit::parser::parse_body(
            "provider = aws.west\nlifecycle {\n ignore_changes = [tags]\n}\n\
             dynamic \"tag\" {\n for_each = var.tags\n content {\n  key = tag.key\n  value = tag.value\n }\n}\n",
        )
        .unwrap();
        let r = body_refs(&body);
        let names: Vec<_> = r.refs.iter().map(|(r, _)| r.display()).collect();
        assert_eq!(names, ["var.tags"]);
    }
}
