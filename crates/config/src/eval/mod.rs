//! Evaluation: turns declarations into values, the way `terraform plan` would, minus the cloud.
//!
//! 1. variables get their values (`-var`, defaults);
//! 2. every expression is analysed statically ([`crate::refs`]): references to names that do not
//!    exist and calls of unknown functions are reported with a suggestion, and the references
//!    give each local, data source and resource its dependencies;
//! 3. nodes are evaluated in dependency order; cycles are reported as paths;
//! 4. each resource instance (`count` / `for_each` expanded) is evaluated to an [`EvalBody`] and
//!    published to later expressions with the attributes AWS would compute (ids, ARNs).
//!
//! A node whose evaluation fails is reported once; nodes that depend on it are skipped silently,
//! so one mistake does not bury the user under follow-up errors.

mod body;
mod computed;
mod order;
mod vars;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use hcl::Value;
use hcl::eval::{Context, Evaluate};
use model::{Location, ResourceAddress};

pub(crate) use body::{EvalAttr, EvalBlock, EvalBody};

use crate::decl::Declarations;
use crate::error::ConfigError;
use crate::refs::{self, Ref, Refs, Via};
use crate::{functions, kinds, schema, suggest};
use body::{MAX_INSTANCES, Sink};

/// One evaluated resource instance.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    /// Canonical type (`aws_lb` for `aws_alb`).
    pub kind: String,
    /// The type as written, for addresses in messages and the source map.
    pub written_kind: String,
    /// `web`, `public[0]`, `public["a"]`.
    pub key: String,
    pub at: Location,
    pub body: EvalBody,
    /// What other expressions see: the attributes set, the schema's unset ones as null, and
    /// the computed ones.
    pub exported: hcl::Map<String, Value>,
}

impl Instance {
    pub fn address(&self) -> ResourceAddress {
        ResourceAddress::new(&self.written_kind, &self.key)
    }
}

/// The result of evaluation: what the decoders turn into a `model::Stack`.
#[derive(Debug, Default)]
pub(crate) struct Evaluated {
    pub region: String,
    pub instances: Vec<Instance>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Provider,
    Local(usize),
    Data(usize),
    Resource(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Single,
    Count,
    ForEach,
}

struct Evaluator<'d, 'e> {
    d: &'d Declarations,
    errors: &'e mut Vec<ConfigError>,
    ctx: Context<'static>,
    bad_vars: BTreeSet<String>,
    locals: hcl::Map<String, Value>,
    data: hcl::Map<String, Value>,
    resources: BTreeMap<String, hcl::Map<String, Value>>,
    modes: HashMap<usize, Mode>,
    region: String,
    failed: BTreeSet<Node>,
    refs: BTreeMap<Node, Vec<(Ref, Location)>>,
    deps: BTreeMap<Node, Vec<Node>>,
    instances: Vec<Instance>,
}

/// Evaluates everything `d` declares. Errors go to `errors`; the result holds every instance
/// that evaluated cleanly.
pub(crate) fn evaluate(
    d: &Declarations,
    cli: &BTreeMap<String, String>,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Evaluated {
    let (var_values, bad_vars) = vars::resolve(d, cli, errors);
    let mut ctx = Context::new();
    functions::declare(&mut ctx, &[]);
    ctx.declare_var("var", Value::Object(var_values));
    let module = match base_dir.display().to_string() {
        s if s.is_empty() => ".".to_owned(),
        s => s,
    };
    let cwd = std::env::current_dir().map_or_else(|_| ".".to_owned(), |p| p.display().to_string());
    ctx.declare_var(
        "path",
        Value::from_iter([("module", module.clone()), ("root", module), ("cwd", cwd)]),
    );
    ctx.declare_var("terraform", Value::from_iter([("workspace", "default")]));
    ctx.declare_var("local", Value::Object(hcl::Map::new()));
    ctx.declare_var("data", Value::Object(hcl::Map::new()));

    let mut e = Evaluator {
        d,
        errors,
        ctx,
        bad_vars,
        locals: hcl::Map::new(),
        data: hcl::Map::new(),
        resources: BTreeMap::new(),
        modes: HashMap::new(),
        region: "us-east-1".into(),
        failed: BTreeSet::new(),
        refs: BTreeMap::new(),
        deps: BTreeMap::new(),
        instances: Vec::new(),
    };
    e.run();
    Evaluated {
        region: e.region,
        instances: e.instances,
    }
}

impl Evaluator<'_, '_> {
    fn run(&mut self) {
        let mut nodes = Vec::new();
        if self.d.provider.is_some() {
            nodes.push(Node::Provider);
        }
        nodes.extend((0..self.d.locals.len()).map(Node::Local));
        nodes.extend((0..self.d.data.len()).map(Node::Data));
        nodes.extend((0..self.d.resources.len()).map(Node::Resource));

        for &node in &nodes {
            self.analyse(node);
        }
        for output in &self.d.outputs {
            let owner = format!("output.{}", output.name);
            let r = refs::body_refs(&output.body);
            self.check_refs(None, &owner, output.file, &output.at, r, (false, false));
        }

        let (order, cycles) = order::topological(&nodes, &self.deps);
        for cycle in cycles {
            let path: Vec<String> = cycle.iter().map(|n| self.node_name(*n)).collect();
            let at = self.node_at(cycle[0]);
            self.errors.push(
                ConfigError::new(format!("cycle: {}", path.join(" → ")))
                    .at(at)
                    .hint("each of these refers to the next; remove one of the references"),
            );
            self.failed.extend(cycle);
        }

        for node in order {
            if self.failed.contains(&node) {
                continue;
            }
            let deps_failed = self
                .deps
                .get(&node)
                .is_some_and(|ds| ds.iter().any(|d| self.failed.contains(d)));
            if deps_failed || !self.check_attributes(node) {
                self.failed.insert(node);
                continue;
            }
            let ok = match node {
                Node::Provider => self.eval_provider(),
                Node::Local(i) => self.eval_local(i),
                Node::Data(i) => self.eval_data(i),
                Node::Resource(i) => self.eval_resource(i),
            };
            if !ok {
                self.failed.insert(node);
            }
        }
    }

    fn node_name(&self, node: Node) -> String {
        match node {
            Node::Provider => "provider.aws".into(),
            Node::Local(i) => format!("local.{}", self.d.locals[i].name),
            Node::Data(i) => format!("data.{}", self.d.data[i].address()),
            Node::Resource(i) => self.d.resources[i].address(),
        }
    }

    fn node_at(&self, node: Node) -> Location {
        match node {
            Node::Provider => self.d.provider.as_ref().map(|p| p.at.clone()),
            Node::Local(i) => Some(self.d.locals[i].at.clone()),
            Node::Data(i) => Some(self.d.data[i].at.clone()),
            Node::Resource(i) => Some(self.d.resources[i].at.clone()),
        }
        .unwrap_or_else(|| Location {
            file: String::new(),
            line: 1,
        })
    }

    /// Static checks of one node: references, function names, schema. Records its dependencies.
    fn analyse(&mut self, node: Node) {
        let d = self.d;
        let (refs, file, at, flags) = match node {
            Node::Provider => {
                let Some(p) = &d.provider else { return };
                (
                    refs::body_refs(&p.body),
                    p.file,
                    p.at.clone(),
                    (false, false),
                )
            }
            Node::Local(i) => {
                let l = &d.locals[i];
                (
                    refs::expr_refs(&l.expr),
                    l.file,
                    l.at.clone(),
                    (false, false),
                )
            }
            Node::Data(i) => {
                let item = &d.data[i];
                (
                    refs::body_refs(&item.body),
                    item.file,
                    item.at.clone(),
                    (false, false),
                )
            }
            Node::Resource(i) => {
                let item = &d.resources[i];
                if item.rejected {
                    self.failed.insert(node);
                    return;
                }
                if let Some(s) = schema::resource(kinds::canonical(&item.kind)) {
                    let address = item.address();
                    let mut sink = Sink {
                        file: d.file(item.file),
                        address: &address,
                        errors: self.errors,
                        ok: true,
                    };
                    body::check_schema(&item.body, s, "", &mut sink);
                }
                let flags = (
                    item.body.has_attribute("count"),
                    item.body.has_attribute("for_each"),
                );
                (
                    refs::body_refs(&item.body),
                    item.file,
                    item.at.clone(),
                    flags,
                )
            }
        };
        let owner = self.node_name(node);
        let (mut deps, ok) = self.check_refs(Some(node), &owner, file, &at, refs, flags);
        if !ok {
            self.failed.insert(node);
        }
        if matches!(node, Node::Data(_) | Node::Resource(_)) && d.provider.is_some() {
            deps.push(Node::Provider);
        }
        deps.sort();
        deps.dedup();
        self.deps.insert(node, deps);
    }

    /// Checks every reference and call of `owner`; returns its dependencies and whether it can
    /// be evaluated. `flags` says whether `count` / `for_each` are set on it.
    fn check_refs(
        &mut self,
        node: Option<Node>,
        owner: &str,
        file: usize,
        at: &Location,
        found: Refs,
        (has_count, has_each): (bool, bool),
    ) -> (Vec<Node>, bool) {
        let d = self.d;
        let src = d.file(file);
        let mut deps = Vec::new();
        let mut ok = true;
        let mut located = Vec::new();
        for (name, span) in found.calls {
            if !functions::is_supported(&name) {
                let hint = suggest::did_you_mean(&name, functions::names()).unwrap_or_else(|| {
                    format!(
                        "supported functions: {}",
                        functions::names().collect::<Vec<_>>().join(", ")
                    )
                });
                let loc = span.map_or_else(|| at.clone(), |s| src.location(Some(s)));
                self.errors.push(
                    ConfigError::new(format!("unknown function `{name}`"))
                        .address(owner)
                        .at(loc)
                        .hint(hint),
                );
                ok = false;
            }
        }
        for (r, span) in found.refs {
            let loc = span.map_or_else(|| at.clone(), |s| src.location(Some(s)));
            let problem: Option<(String, String)> = match &r {
                Ref::Var(n) if d.variables.iter().any(|v| &v.name == n) => {
                    if self.bad_vars.contains(n) {
                        ok = false;
                    }
                    None
                }
                Ref::Var(n) => Some((
                    format!("variable `{n}` is not declared"),
                    suggest::did_you_mean(n, d.variables.iter().map(|v| v.name.as_str()))
                        .unwrap_or_else(|| format!("declare it: variable \"{n}\" {{}}")),
                )),
                Ref::Local(n) => match d.locals.iter().position(|l| &l.name == n) {
                    Some(i) => {
                        deps.push(Node::Local(i));
                        None
                    }
                    None => Some((
                        format!("local `{n}` is not declared"),
                        suggest::did_you_mean(n, d.locals.iter().map(|l| l.name.as_str()))
                            .unwrap_or_else(|| format!("declare it in a locals block: {n} = …")),
                    )),
                },
                Ref::Data { kind, name } => match d.data.iter().position(|x| &x.kind == kind && &x.name == name) {
                    Some(i) => {
                        deps.push(Node::Data(i));
                        None
                    }
                    None => {
                        let wanted = format!("{kind}.{name}");
                        let all: Vec<String> = d.data.iter().map(|x| x.address()).collect();
                        Some((
                            format!("data source `data.{wanted}` is not declared"),
                            suggest::did_you_mean(&wanted, all.iter().map(String::as_str))
                                .unwrap_or_else(|| format!("declare it: data \"{kind}\" \"{name}\" {{}}")),
                        ))
                    }
                },
                Ref::Resource { kind, name, .. } => match d.resources.iter().position(|x| &x.kind == kind && &x.name == name) {
                    Some(i) => {
                        deps.push(Node::Resource(i));
                        located.push((r.clone(), loc.clone()));
                        None
                    }
                    None => {
                        let wanted = format!("{kind}.{name}");
                        let all: Vec<String> = d.resources.iter().map(|x| x.address()).collect();
                        let hint = suggest::did_you_mean(&wanted, all.iter().map(String::as_str)).unwrap_or_else(|| {
                            if kind == "module" {
                                "modules are not supported yet".into()
                            } else {
                                format!("declare it: resource \"{kind}\" \"{name}\" {{ … }}")
                            }
                        });
                        Some((format!("reference to undeclared resource `{wanted}`"), hint))
                    }
                },
                Ref::Count if !has_count => Some((
                    "count.index is only available in a resource with count".into(),
                    "add count = N to this resource, or remove the reference".into(),
                )),
                Ref::Each if !has_each => Some((
                    "each.key and each.value are only available in a resource with for_each".into(),
                    "add for_each = … to this resource, or remove the reference".into(),
                )),
                Ref::Count | Ref::Each | Ref::Path | Ref::Terraform => None,
                Ref::Unknown(n) => Some((
                    format!("`{n}` is not defined"),
                    "references start with var., local., data., count., each., path. or a resource \
                     type (aws_subnet.a.id)"
                        .into(),
                )),
            };
            if let Some((message, hint)) = problem {
                self.errors
                    .push(ConfigError::new(message).address(owner).at(loc).hint(hint));
                ok = false;
            }
        }
        if let Some(n) = node {
            self.refs.insert(n, located);
        }
        (deps, ok)
    }

    /// Checks that the attributes read from other resources exist, now that they are evaluated.
    fn check_attributes(&mut self, node: Node) -> bool {
        let Some(found) = self.refs.get(&node) else {
            return true;
        };
        let owner = self.node_name(node);
        let mut ok = true;
        for (r, loc) in found {
            let Ref::Resource {
                kind,
                name,
                attr,
                via,
            } = r
            else {
                continue;
            };
            let Some(idx) = self
                .d
                .resources
                .iter()
                .position(|x| &x.kind == kind && &x.name == name)
            else {
                continue;
            };
            let (Some(mode), Some(value)) = (
                self.modes.get(&idx),
                self.resources.get(kind).and_then(|m| m.get(name)),
            ) else {
                continue;
            };
            let addr = format!("{kind}.{name}");
            let attr_s = attr.as_deref().unwrap_or("id");
            let problem = match (mode, via, attr) {
                (Mode::Single, Via::Index, _) => Some((
                    format!("`{addr}` has no count or for_each, so it cannot be indexed"),
                    format!("write {addr}.{attr_s}"),
                )),
                (Mode::Count, Via::Direct, Some(_)) => Some((
                    format!("`{addr}` has count: refer to one instance or to all of them"),
                    format!("write {addr}[0].{attr_s} or {addr}[*].{attr_s}"),
                )),
                (Mode::ForEach, Via::Direct, Some(_)) => Some((
                    format!("`{addr}` has for_each: refer to one instance or to all of them"),
                    format!("write {addr}[\"key\"].{attr_s} or [for x in {addr} : x.{attr_s}]"),
                )),
                _ => None,
            };
            let sample = match mode {
                Mode::Single => Some(value),
                Mode::Count => value.as_array().and_then(|a| a.first()),
                Mode::ForEach => value.as_object().and_then(|o| o.values().next()),
            };
            let problem = problem.or_else(|| {
                let (a, obj) = (attr.as_ref()?, sample?.as_object()?);
                (!obj.contains_key(a)).then(|| {
                    let hint = suggest::did_you_mean(a, obj.keys().map(String::as_str))
                        .unwrap_or_else(|| {
                            format!(
                                "known attributes: {}",
                                obj.keys().cloned().collect::<Vec<_>>().join(", ")
                            )
                        });
                    (format!("`{addr}` has no attribute `{a}`"), hint)
                })
            });
            if let Some((message, hint)) = problem {
                self.errors.push(
                    ConfigError::new(message)
                        .address(&owner)
                        .at(loc.clone())
                        .hint(hint),
                );
                ok = false;
            }
        }
        ok
    }

    fn eval_provider(&mut self) -> bool {
        let Some(p) = &self.d.provider else {
            return true;
        };
        let Some(attr) = p.body.get_attribute("region") else {
            return true;
        };
        let at = self.d.file(p.file).at(attr);
        let err = |message: String| {
            ConfigError::new(message)
                .address("provider.aws")
                .attribute("region")
                .at(at)
        };
        match hcl::Expression::from(attr.value.clone()).evaluate(&self.ctx) {
            Ok(Value::String(s)) if !s.is_empty() => {
                self.region = s;
                true
            }
            Ok(other) => {
                let e = err(format!(
                    "expected a region name, got {}",
                    crate::types::describe(&other)
                ));
                self.errors.push(e.hint("write region = \"us-east-1\""));
                false
            }
            Err(e) => {
                self.errors.push(err(format!("cannot evaluate: {e}")));
                false
            }
        }
    }

    fn eval_local(&mut self, i: usize) -> bool {
        let l = &self.d.locals[i];
        match hcl::Expression::from(l.expr.clone()).evaluate(&self.ctx) {
            Ok(v) => {
                self.locals.insert(l.name.clone(), v);
                self.ctx
                    .declare_var("local", Value::Object(self.locals.clone()));
                true
            }
            Err(e) => {
                let address = format!("local.{}", l.name);
                self.errors.push(
                    ConfigError::new(format!("cannot evaluate: {e}"))
                        .address(address)
                        .at(l.at.clone()),
                );
                false
            }
        }
    }

    /// `data "aws_availability_zones"` and `data "aws_ami"`: answered locally.
    fn eval_data(&mut self, i: usize) -> bool {
        let item = &self.d.data[i];
        let region = self.region.clone();
        let value: Value = match item.kind.as_str() {
            "aws_availability_zones" => {
                let names = self.known_zones();
                let ids: Vec<String> = (1..=names.len())
                    .map(|n| format!("{region}-az{n}"))
                    .collect();
                Value::from_iter([
                    ("id", Value::from(region.clone())),
                    ("names", Value::from(names)),
                    ("zone_ids", Value::from(ids)),
                    ("group_names", Value::from(vec![region])),
                ])
            }
            "aws_ami" => Value::from_iter([
                ("id", Value::from("ami-updraft-local")),
                ("image_id", Value::from("ami-updraft-local")),
                ("name", Value::from("updraft-local")),
                (
                    "arn",
                    Value::from(format!("arn:aws:ec2:{region}::image/ami-updraft-local")),
                ),
                ("architecture", Value::from("x86_64")),
            ]),
            other => {
                self.errors.push(
                    ConfigError::new(format!("data source `{other}` is not supported"))
                        .address(format!("data.{}", item.address()))
                        .at(item.at.clone())
                        .hint("updraft answers data \"aws_availability_zones\" and data \"aws_ami\"; use a variable or a literal instead"),
                );
                return false;
            }
        };
        let by_kind = self
            .data
            .entry(item.kind.clone())
            .or_insert_with(|| Value::Object(hcl::Map::new()));
        if let Value::Object(m) = by_kind {
            m.insert(item.name.clone(), value);
        }
        self.ctx
            .declare_var("data", Value::Object(self.data.clone()));
        true
    }

    /// Zone names written literally on subnets, else the region's a, b and c.
    fn known_zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = self
            .d
            .resources
            .iter()
            .filter(|r| kinds::canonical(&r.kind) == "aws_subnet")
            .filter_map(
                |r| match &r.body.get_attribute("availability_zone")?.value {
                    hcl_edit::expr::Expression::String(s) => Some(s.to_string()),
                    _ => None,
                },
            )
            .collect();
        zones.sort();
        zones.dedup();
        if zones.is_empty() {
            zones = ["a", "b", "c"]
                .iter()
                .map(|l| format!("{}{l}", self.region))
                .collect();
        }
        zones
    }

    fn eval_resource(&mut self, i: usize) -> bool {
        let d = self.d;
        let item = &d.resources[i];
        let kind = kinds::canonical(&item.kind).to_owned();
        let file = d.file(item.file);
        let Some((mode, expansions)) = self.expansions(i) else {
            return false;
        };

        let mut ok = true;
        let mut list = Vec::new();
        let mut map = hcl::Map::new();
        let mut single = None;
        let start = self.instances.len();
        for (key, each) in expansions {
            let address = format!("{}.{key}", item.kind);
            let each_key = match &each {
                Expansion::Each(k, _) => k.clone(),
                _ => String::new(),
            };
            match each {
                Expansion::Single => {}
                Expansion::Count(n) => self
                    .ctx
                    .declare_var("count", Value::from_iter([("index", n)])),
                Expansion::Each(k, v) => self.ctx.declare_var(
                    "each",
                    Value::from_iter([("key", Value::from(k)), ("value", v)]),
                ),
            }
            let mut sink = Sink {
                file,
                address: &address,
                errors: self.errors,
                ok: true,
            };
            let body = body::eval_body(&self.ctx, &item.body, "", &mut sink);
            ok &= sink.ok;
            let mut exported = body.to_object();
            if let Some(s) = schema::resource(&kind) {
                for a in s.attrs {
                    exported.entry((*a).to_owned()).or_insert(Value::Null);
                }
            }
            for (k, v) in computed::computed(&kind, &key, &exported, &self.region) {
                exported.insert(k.to_owned(), v);
            }
            match mode {
                Mode::Single => single = Some(Value::Object(exported.clone())),
                Mode::Count => list.push(Value::Object(exported.clone())),
                Mode::ForEach => {
                    map.insert(each_key, Value::Object(exported.clone()));
                }
            }
            self.instances.push(Instance {
                kind: kind.clone(),
                written_kind: item.kind.clone(),
                key,
                at: item.at.clone(),
                body,
                exported,
            });
        }
        if !ok {
            // Nothing is half-applied: a resource with an error contributes no instance.
            self.instances.truncate(start);
            return false;
        }
        let value = match mode {
            Mode::Single => single.unwrap_or(Value::Null),
            Mode::Count => Value::Array(list),
            Mode::ForEach => Value::Object(map),
        };
        self.modes.insert(i, mode);
        let by_kind = self.resources.entry(item.kind.clone()).or_default();
        by_kind.insert(item.name.clone(), value);
        let published = Value::Object(by_kind.clone());
        self.ctx.declare_var(item.kind.clone(), published);
        true
    }

    /// The instances of resource `i`: one, or one per `count` index / `for_each` element.
    fn expansions(&mut self, i: usize) -> Option<(Mode, Vec<(String, Expansion)>)> {
        let item = &self.d.resources[i];
        let file = self.d.file(item.file);
        let address = item.address();
        let count = item.body.get_attribute("count");
        let for_each = item.body.get_attribute("for_each");
        let mut fail = |attr: &hcl_edit::structure::Attribute, message: String, hint: &str| {
            let e = ConfigError::new(message)
                .address(&address)
                .attribute(attr.key.as_str())
                .at(file.at(attr));
            self.errors.push(e.hint(hint));
            None
        };
        match (count, for_each) {
            (None, None) => Some((Mode::Single, vec![(item.name.clone(), Expansion::Single)])),
            (Some(_), Some(fe)) => fail(
                fe,
                "count and for_each cannot be used together".into(),
                "keep one of them",
            ),
            (Some(c), None) => {
                let v = hcl::Expression::from(c.value.clone()).evaluate(&self.ctx);
                let n = match v.as_ref().ok().and_then(|v| {
                    crate::types::convert(v.clone(), &crate::types::Type::Number).ok()
                }) {
                    Some(Value::Number(n)) => n.as_u64().filter(|n| *n as usize <= MAX_INSTANCES),
                    _ => None,
                };
                match n {
                    Some(n) => Some((
                        Mode::Count,
                        (0..n as usize)
                            .map(|k| (format!("{}[{k}]", item.name), Expansion::Count(k)))
                            .collect(),
                    )),
                    None => {
                        let got = match v {
                            Ok(v) => crate::types::describe(&v),
                            Err(e) => e.to_string(),
                        };
                        fail(
                            c,
                            format!(
                                "count must be a whole number from 0 to {MAX_INSTANCES}, got {got}"
                            ),
                            "write count = 3",
                        )
                    }
                }
            }
            (None, Some(fe)) => {
                let items: Option<Vec<(String, Value)>> =
                    match hcl::Expression::from(fe.value.clone()).evaluate(&self.ctx) {
                        Ok(Value::Object(o)) => Some(o.into_iter().collect()),
                        Ok(Value::Array(a)) => a
                            .into_iter()
                            .map(|v| v.as_str().map(|s| (s.to_owned(), v.clone())))
                            .collect::<Option<Vec<_>>>()
                            .map(|mut v| {
                                v.dedup();
                                v
                            }),
                        _ => None,
                    };
                match items {
                    Some(items) if items.len() <= MAX_INSTANCES => Some((
                        Mode::ForEach,
                        items
                            .into_iter()
                            .map(|(k, v)| {
                                let quoted = serde_json::to_string(&k).unwrap_or_default();
                                (format!("{}[{quoted}]", item.name), Expansion::Each(k, v))
                            })
                            .collect(),
                    )),
                    _ => fail(
                        fe,
                        format!(
                            "for_each must be a map or a set of strings (at most {MAX_INSTANCES})"
                        ),
                        "write for_each = toset([\"a\", \"b\"]) or for_each = { a = …, b = … }",
                    ),
                }
            }
        }
    }
}

enum Expansion {
    Single,
    Count(usize),
    Each(String, Value),
}
