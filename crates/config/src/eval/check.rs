//! Static checks before evaluation (names exist, functions are known, attributes fit the
//! schema) and, once dependencies are evaluated, checks of the attributes read from them.

use model::Location;

use super::body::{self, Sink};
use super::{Evaluator, Mode, Node};
use crate::error::ConfigError;
use crate::refs::{self, Ref, Refs, Via};
use crate::{functions, kinds, schema, suggest};

impl Evaluator<'_, '_> {
    /// Static checks of one node: references, function names, schema. Records its dependencies.
    pub(super) fn analyse(&mut self, node: Node) {
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
    pub(super) fn check_refs(
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
                    // A misspelt type (`aws_subnett.b`) has been reported at its block;
                    // references that meant it (`aws_subnet.b`) are not reported again.
                    None if d.resources.iter().any(|x| {
                        x.rejected && &x.name == name && suggest::edit_distance(&x.kind, kind) <= 2
                    }) =>
                    {
                        ok = false;
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
    pub(super) fn check_attributes(&mut self, node: Node) -> bool {
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
}
