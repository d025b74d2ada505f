//! Decoding: evaluated resource instances → `model` types, applying the Terraform AWS provider's
//! defaults and AWS's rules, and mapping the ids and ARNs written in attributes back to the
//! resource names the model uses (`[aws_lb_target_group.web.arn]` → `["web"]`).
//!
//! Types are decoded in dependency order ([`crate::kinds::SIMULATED`]) so that a decoder can
//! look at what it refers to (an attachment needs its target group's `target_type`). A resource
//! that fails to decode is reported and left out; whatever refers to it is not reported again.

mod alarm;
mod asg_parts;
mod autoscaling;
mod checks;
mod database;
mod elb;
mod policy;
mod reader;
mod rules;

use std::cell::RefCell;
use std::collections::HashMap;

use model::{AvailabilityZone, RecordedResource, SourceMap, Stack, Subnet};

use crate::error::ConfigError;
use crate::eval::{EvalBody, Evaluated, Instance};
use crate::kinds::{self, Support};
pub(crate) use reader::Reader;

/// Ids, ARNs and names of every evaluated instance, by canonical type, to map references back
/// to resource keys.
#[derive(Default)]
pub(crate) struct Index {
    by_value: HashMap<(String, String), String>,
}

impl Index {
    fn build(instances: &[Instance], errors: &RefCell<Vec<ConfigError>>) -> Self {
        let mut index = Index::default();
        // Hook names repeat across groups; nothing refers to a hook by id.
        for inst in instances
            .iter()
            .filter(|i| i.kind != "aws_autoscaling_lifecycle_hook")
        {
            for attr in ["id", "arn", "name", "identifier"] {
                let Some(value) = inst.exported.get(attr).and_then(|v| v.as_str()) else {
                    continue;
                };
                let slot = (inst.kind.clone(), value.to_owned());
                match index.by_value.get(&slot) {
                    Some(other) if other != &inst.key && attr != "name" && attr != "identifier" => {
                        errors.borrow_mut().push(
                            ConfigError::new(format!(
                                "`{}` and `{}.{other}` get the same {attr} `{value}`",
                                inst.address(),
                                inst.written_kind
                            ))
                            .at(inst.at.clone())
                            .hint("rename one of them: updraft derives ids from resource names"),
                        );
                    }
                    Some(_) => {}
                    None => {
                        index.by_value.insert(slot, inst.key.clone());
                    }
                }
            }
        }
        index
    }

    /// The key of the `kind` resource whose id, ARN or name is `value`.
    pub fn get(&self, kind: &str, value: &str) -> Option<&str> {
        self.by_value
            .get(&(kind.to_owned(), value.to_owned()))
            .map(String::as_str)
    }

    /// Resolves `value` (read from attribute `attr` of `r`) to a resource key of `kind`, or
    /// reports it naming what was expected.
    pub fn resolve(
        &self,
        r: &Reader<'_>,
        attr: &str,
        value: &str,
        kind: &str,
        what: &str,
    ) -> Option<String> {
        match self.get(kind, value) {
            Some(key) => Some(key.to_owned()),
            None => {
                let shown = if what == "arn" { "ARN" } else { what };
                r.error(
                    attr,
                    format!("`{value}` is not the {shown} of any {kind} in this configuration"),
                    Some(format!("refer to one: {kind}.<name>.{what}")),
                );
                None
            }
        }
    }
}

/// Decodes every instance into a [`Stack`] and records where everything was written.
pub(crate) fn decode(ev: &Evaluated, errors: &mut Vec<ConfigError>) -> (Stack, SourceMap) {
    let cell = RefCell::new(std::mem::take(errors));
    let mut stack = Stack {
        region: ev.region.clone(),
        ..Stack::default()
    };
    let mut sources = SourceMap::default();
    let index = Index::build(&ev.instances, &cell);

    for inst in &ev.instances {
        let address = inst.address();
        sources.insert(&address, None, inst.at.clone());
        record_attributes(&mut sources, &address, "", &inst.body);
        if let Some(Support::Recorded { note, .. }) = kinds::support(&inst.kind) {
            stack.recorded.push(RecordedResource {
                address,
                note: note.to_owned(),
            });
        }
    }

    for kind in kinds::SIMULATED {
        for inst in ev.instances.iter().filter(|i| i.kind == *kind) {
            let address = inst.address().to_string();
            let r = Reader {
                address: &address,
                prefix: String::new(),
                body: &inst.body,
                at: inst.at.clone(),
                errors: &cell,
            };
            let before = cell.borrow().len();
            let key = inst.key.clone();
            let d = Decode {
                r: &r,
                inst,
                index: &index,
                stack: &stack,
            };
            match *kind {
                "aws_subnet" => {
                    if let Some(v) = d.subnet() {
                        stack.subnets.insert(key, v);
                    }
                }
                "aws_lb" => {
                    if let Some(v) = d.load_balancer() {
                        stack.load_balancers.insert(key, v);
                    }
                }
                "aws_lb_target_group" => {
                    if let Some(v) = d.target_group() {
                        stack.target_groups.insert(key, v);
                    }
                }
                "aws_lb_listener" => {
                    if let Some(v) = d.listener() {
                        stack.listeners.insert(key, v);
                    }
                }
                "aws_lb_listener_rule" => {
                    if let Some(mut v) = d.listener_rule() {
                        if v.priority == 0 {
                            // Terraform: the next priority after the listener's highest.
                            v.priority = stack
                                .listener_rules
                                .values()
                                .filter(|o| o.listener == v.listener)
                                .map(|o| o.priority)
                                .max()
                                .unwrap_or(0)
                                + 1;
                        }
                        stack.listener_rules.insert(key, v);
                    }
                }
                "aws_lb_target_group_attachment" => {
                    if let Some(v) = d.attachment() {
                        stack.target_group_attachments.insert(key, v);
                    }
                }
                "aws_launch_template" => {
                    if let Some(v) = d.launch_template() {
                        stack.launch_templates.insert(key, v);
                    }
                }
                "aws_autoscaling_group" => {
                    if let Some(v) = d.auto_scaling_group() {
                        stack.auto_scaling_groups.insert(key, v);
                    }
                }
                "aws_db_subnet_group" => {
                    if let Some(v) = d.db_subnet_group() {
                        stack.db_subnet_groups.insert(key, v);
                    }
                }
                "aws_db_instance" => {
                    if let Some(v) = d.db_instance() {
                        stack.db_instances.insert(key, v);
                    }
                }
                "aws_autoscaling_policy" => {
                    if let Some(v) = d.scaling_policy() {
                        stack.scaling_policies.insert(key, v);
                    }
                }
                "aws_autoscaling_schedule" => {
                    if let Some(v) = d.scheduled_action() {
                        stack.scheduled_actions.insert(key, v);
                    }
                }
                "aws_cloudwatch_metric_alarm" => {
                    if let Some(v) = d.metric_alarm() {
                        stack.metric_alarms.insert(key, v);
                    }
                }
                "aws_autoscaling_lifecycle_hook" => {
                    if let Some(v) = d.lifecycle_hook_resource() {
                        stack.lifecycle_hooks.insert(key, v);
                    }
                }
                _ => {}
            }
            // A decoder may return a value after reporting a problem in it; leave it out so
            // that nothing half-valid reaches the cross-checks.
            if cell.borrow().len() > before {
                remove(&mut stack, kind, &inst.key);
            }
        }
    }

    checks::cross_check(&stack, &sources, &cell);
    *errors = cell.into_inner();
    (stack, sources)
}

fn remove(stack: &mut Stack, kind: &str, key: &str) {
    match kind {
        "aws_subnet" => drop(stack.subnets.remove(key)),
        "aws_lb" => drop(stack.load_balancers.remove(key)),
        "aws_lb_target_group" => drop(stack.target_groups.remove(key)),
        "aws_lb_listener" => drop(stack.listeners.remove(key)),
        "aws_lb_listener_rule" => drop(stack.listener_rules.remove(key)),
        "aws_lb_target_group_attachment" => drop(stack.target_group_attachments.remove(key)),
        "aws_launch_template" => drop(stack.launch_templates.remove(key)),
        "aws_autoscaling_group" => drop(stack.auto_scaling_groups.remove(key)),
        "aws_db_subnet_group" => drop(stack.db_subnet_groups.remove(key)),
        "aws_db_instance" => drop(stack.db_instances.remove(key)),
        "aws_autoscaling_lifecycle_hook" => drop(stack.lifecycle_hooks.remove(key)),
        "aws_autoscaling_policy" => drop(stack.scaling_policies.remove(key)),
        "aws_autoscaling_schedule" => drop(stack.scheduled_actions.remove(key)),
        "aws_cloudwatch_metric_alarm" => drop(stack.metric_alarms.remove(key)),
        _ => {}
    }
}

/// Records every attribute's line; nested ones as `health_check.interval`, repeated blocks
/// with their index (`tag[1].key`).
fn record_attributes(
    sources: &mut SourceMap,
    address: &model::ResourceAddress,
    prefix: &str,
    body: &EvalBody,
) {
    for a in &body.attrs {
        sources.insert(address, Some(&format!("{prefix}{}", a.name)), a.at.clone());
    }
    for (i, b) in body.blocks.iter().enumerate() {
        let repeated = body.blocks.iter().filter(|o| o.name == b.name).count() > 1;
        let nth = body.blocks[..i].iter().filter(|o| o.name == b.name).count();
        let name = if repeated {
            format!("{}[{nth}]", b.name)
        } else {
            b.name.clone()
        };
        sources.insert(address, Some(&format!("{prefix}{name}")), b.at.clone());
        record_attributes(sources, address, &format!("{prefix}{name}."), &b.body);
    }
}

/// What a decoder works with.
pub(crate) struct Decode<'a> {
    pub r: &'a Reader<'a>,
    pub inst: &'a Instance,
    pub index: &'a Index,
    pub stack: &'a Stack,
}

impl Decode<'_> {
    /// The computed attribute `attr` (id, arn, name) of this instance.
    pub fn exported(&self, attr: &str) -> String {
        self.inst
            .exported
            .get(attr)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    }

    fn subnet(&self) -> Option<Subnet> {
        let r = self.r;
        let zone_attr = if r.has("availability_zone") {
            "availability_zone"
        } else {
            "availability_zone_id"
        };
        let zone = match r.has(zone_attr) {
            true => r.string(zone_attr),
            false => r.missing("availability_zone", "\"us-east-1a\""),
        };
        let cidr_text = r.required_string("cidr_block", "\"10.0.1.0/24\"");
        let cidr = cidr_text
            .as_deref()
            .and_then(|c| match c.parse::<ipnet::Ipv4Net>() {
                Ok(n) => Some(n),
                Err(_) => {
                    r.error(
                        "cidr_block",
                        format!("`{c}` is not an IPv4 CIDR block"),
                        Some("write it like \"10.0.1.0/24\"".into()),
                    );
                    None
                }
            });
        let zone = AvailabilityZone::new(zone?);
        let cidr = cidr?;
        let Some(loopback_block) = model::network::loopback_block_for(&zone, cidr) else {
            r.error(
                zone_attr,
                format!("zone `{zone}` has no letter suffix; use a 127.x.y.0/24 cidr_block"),
                Some("updraft places zone a on 127.0.1.0/24, b on 127.0.2.0/24, …; zones without a letter need an explicit loopback block".into()),
            );
            return None;
        };
        Some(Subnet {
            name: self.inst.key.clone(),
            id: self.exported("id"),
            availability_zone: zone,
            cidr_block: cidr,
            loopback_block,
        })
    }
}
