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
mod check;
mod computed;
mod order;
mod resource;
mod vars;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use hcl::Value;
use hcl::eval::{Context, Evaluate};
use model::{Location, ResourceAddress};

pub(crate) use body::{EvalAttr, EvalBlock, EvalBody};

use crate::decl::Declarations;
use crate::error::ConfigError;
use crate::refs::{self, Ref};
use crate::{functions, kinds};

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
}
