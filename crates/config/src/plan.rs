//! `plan(current, desired)`: what applying a configuration to a running stack changes, in
//! Terraform's terms (create, update in place, destroy), resource by resource.
//!
//! The decision of whether a resource changed is `PartialEq` on the model types. To say *which*
//! attributes changed, and to cover every resource map of [`Stack`] — including ones added
//! later — without a hand-written list, the two stacks are compared field by field through
//! their serialized form; that is for display only.

use std::fmt;

use model::{ResourceAddress, Stack};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One resource's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub address: ResourceAddress,
    pub action: ChangeAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Create,
    /// Changed in place; the attributes that differ.
    Update {
        attributes: Vec<String>,
    },
    Destroy,
}

/// Every change, ordered by resource address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// What applying it set in motion (an instance refresh, say), one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn count(&self, pred: impl Fn(&ChangeAction) -> bool) -> usize {
        self.changes.iter().filter(|c| pred(&c.action)).count()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(
                f,
                "No changes. The running stack matches the configuration."
            );
        }
        for c in &self.changes {
            match &c.action {
                ChangeAction::Create => writeln!(f, "  + {}", c.address)?,
                ChangeAction::Destroy => writeln!(f, "  - {}", c.address)?,
                ChangeAction::Update { attributes } => {
                    writeln!(f, "  ~ {} ({})", c.address, attributes.join(", "))?
                }
            }
        }
        writeln!(
            f,
            "Plan: {} to add, {} to change, {} to destroy.",
            self.count(|a| matches!(a, ChangeAction::Create)),
            self.count(|a| matches!(a, ChangeAction::Update { .. })),
            self.count(|a| matches!(a, ChangeAction::Destroy)),
        )?;
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

/// The Terraform resource type a [`Stack`] field holds.
fn resource_type(field: &str) -> &str {
    match field {
        "subnets" => "aws_subnet",
        "load_balancers" => "aws_lb",
        "target_groups" => "aws_lb_target_group",
        "target_group_attachments" => "aws_lb_target_group_attachment",
        "listeners" => "aws_lb_listener",
        "listener_rules" => "aws_lb_listener_rule",
        "launch_templates" => "aws_launch_template",
        "auto_scaling_groups" => "aws_autoscaling_group",
        "db_subnet_groups" => "aws_db_subnet_group",
        "db_instances" => "aws_db_instance",
        "lifecycle_hooks" => "aws_autoscaling_lifecycle_hook",
        "scaling_policies" => "aws_autoscaling_policy",
        "scheduled_actions" => "aws_autoscaling_schedule",
        "metric_alarms" => "aws_cloudwatch_metric_alarm",
        other => other,
    }
}

/// The changes that turn `current` into `desired`.
pub fn plan(current: &Stack, desired: &Stack) -> Plan {
    let (Value::Object(cur), Value::Object(des)) = (to_value(current), to_value(desired)) else {
        return Plan::default();
    };
    let mut changes = Vec::new();
    for (field, des_value) in &des {
        let cur_value = cur.get(field).cloned().unwrap_or(Value::Null);
        match (&cur_value, des_value) {
            (Value::Object(c), Value::Object(d)) => diff_resources(field, c, d, &mut changes),
            (Value::Null, Value::Object(d)) => diff_resources(field, &Map::new(), d, &mut changes),
            _ if field == "recorded" => {}
            _ if &cur_value != des_value => changes.push(Change {
                address: ResourceAddress::new("provider", "aws"),
                action: ChangeAction::Update {
                    attributes: vec![field.clone()],
                },
            }),
            _ => {}
        }
    }
    changes.sort_by(|a, b| a.address.cmp(&b.address));
    Plan {
        changes,
        notes: Vec::new(),
    }
}

fn diff_resources(
    field: &str,
    current: &Map<String, Value>,
    desired: &Map<String, Value>,
    out: &mut Vec<Change>,
) {
    let kind = resource_type(field);
    for (key, d) in desired {
        let address = ResourceAddress::new(kind, key.clone());
        match current.get(key) {
            None => out.push(Change {
                address,
                action: ChangeAction::Create,
            }),
            Some(c) if c != d => out.push(Change {
                address,
                action: ChangeAction::Update {
                    attributes: changed_attributes(c, d),
                },
            }),
            Some(_) => {}
        }
    }
    for key in current.keys().filter(|k| !desired.contains_key(*k)) {
        out.push(Change {
            address: ResourceAddress::new(kind, key.clone()),
            action: ChangeAction::Destroy,
        });
    }
}

fn changed_attributes(current: &Value, desired: &Value) -> Vec<String> {
    match (current, desired) {
        (Value::Object(c), Value::Object(d)) => {
            let mut names: Vec<String> = d
                .iter()
                .filter(|(k, v)| c.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .chain(c.keys().filter(|k| !d.contains_key(*k)).cloned())
                .collect();
            names.sort();
            names.dedup();
            names
        }
        _ => vec!["(value)".into()],
    }
}

fn to_value(stack: &Stack) -> Value {
    serde_json::to_value(stack).unwrap_or(Value::Null)
}

/// Launch templates keep their version across applies and get the next version when their
/// content changes, as AWS numbers launch template versions. Call before comparing or applying.
pub fn carry_launch_template_versions(current: &Stack, desired: &mut Stack) {
    for (key, template) in desired.launch_templates.iter_mut() {
        if let Some(old) = current.launch_templates.get(key) {
            let mut same = template.clone();
            same.version = old.version;
            template.version = if same == *old {
                old.version
            } else {
                old.version + 1
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stack(text: &str) -> Stack {
        crate::load_str("main.tf", text, &BTreeMap::new(), std::path::Path::new("."))
            .unwrap()
            .stack
    }

    const BASE: &str = r#"
resource "aws_subnet" "a" {
  availability_zone = "us-east-1a"
  cidr_block        = "10.0.1.0/24"
}
resource "aws_subnet" "b" {
  availability_zone = "us-east-1b"
  cidr_block        = "10.0.2.0/24"
}
resource "aws_launch_template" "web" {
  instance_type = "t3.micro"
  user_data     = base64encode("exec mylearning")
}
resource "aws_autoscaling_group" "web" {
  min_size            = 1
  max_size            = 4
  vpc_zone_identifier = [aws_subnet.a.id, aws_subnet.b.id]
  launch_template {
    id = aws_launch_template.web.id
  }
}
"#;

    #[test]
    fn no_changes_for_the_same_config() {
        let a = stack(BASE);
        let p = plan(&a, &a.clone());
        assert!(p.is_empty());
        assert!(p.to_string().starts_with("No changes"));
    }

    #[test]
    fn creates_updates_and_destroys_are_listed_like_terraform() {
        let a = stack(BASE);
        let b = stack(
            &BASE
                .replace("max_size            = 4", "max_size            = 6")
                .replace(
                    "resource \"aws_subnet\" \"b\" {\n  availability_zone = \"us-east-1b\"\n  cidr_block        = \"10.0.2.0/24\"\n}\n",
                    "resource \"aws_subnet\" \"b\" {\n  availability_zone = \"us-east-1b\"\n  cidr_block        = \"10.0.2.0/24\"\n}\nresource \"aws_subnet\" \"c\" {\n  availability_zone = \"us-east-1c\"\n  cidr_block        = \"10.0.3.0/24\"\n}\n",
                ),
        );
        let p = plan(&a, &b);
        let text = p.to_string();
        assert!(text.contains("  + aws_subnet.c"), "{text}");
        assert!(
            text.contains("  ~ aws_autoscaling_group.web (max_size)"),
            "{text}"
        );
        assert!(
            text.contains("Plan: 1 to add, 1 to change, 0 to destroy."),
            "{text}"
        );
        let back = plan(&b, &a);
        assert!(back.to_string().contains("  - aws_subnet.c"));
    }

    #[test]
    fn launch_template_versions_advance_only_on_change() {
        let a = stack(BASE);
        let mut same = stack(BASE);
        carry_launch_template_versions(&a, &mut same);
        assert_eq!(same.launch_templates["web"].version, 1);
        let mut changed = stack(&BASE.replace("t3.micro", "t3.small"));
        carry_launch_template_versions(&a, &mut changed);
        assert_eq!(changed.launch_templates["web"].version, 2);
        let mut again = stack(&BASE.replace("t3.micro", "t3.small"));
        carry_launch_template_versions(&changed, &mut again);
        assert_eq!(again.launch_templates["web"].version, 2);
    }
}
