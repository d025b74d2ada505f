//! Resource instances: `count` and `for_each` expansion, evaluation of each instance, and
//! publication of the result (with computed attributes) to later expressions.

use hcl::Value;
use hcl::eval::Evaluate;

use super::body::{self, MAX_INSTANCES, Sink};
use super::{Evaluator, Instance, Mode, computed};
use crate::error::ConfigError;
use crate::{kinds, schema};

impl Evaluator<'_, '_> {
    pub(super) fn eval_resource(&mut self, i: usize) -> bool {
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
                    Some(Value::Number(n)) => {
                        crate::types::whole(&n).filter(|n| *n as usize <= MAX_INSTANCES)
                    }
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
