//! `aws_lb_listener_rule` and the action blocks of rules and listeners (`action`,
//! `default_action`): forward (weighted, with target group stickiness), redirect and
//! fixed-response, with AWS's quotas and value rules from `model::listener_rule`.

use std::time::Duration;

use model::{
    Action, FixedResponse, ListenerRule, QueryStringPair, Redirect, RedirectStatus, RuleCondition,
    Violation, WeightedTargetGroup, listener_rule,
};

use super::elb::NOT_YET;
use super::{Decode, Reader};

const CONDITION_BLOCKS: [&str; 6] = [
    "host_header",
    "path_pattern",
    "http_header",
    "http_request_method",
    "query_string",
    "source_ip",
];

impl Decode<'_> {
    pub(super) fn listener_rule(&self) -> Option<ListenerRule> {
        let r = self.r;
        let arn = r.required_string("listener_arn", "aws_lb_listener.front.arn");
        let listener = arn.and_then(|a| {
            self.index
                .resolve(r, "listener_arn", &a, "aws_lb_listener", "arn")
        });
        let priority = if r.has("priority") {
            let lo = u64::from(*listener_rule::PRIORITY_RANGE.start());
            let hi = u64::from(*listener_rule::PRIORITY_RANGE.end());
            r.number("priority", lo, hi).map(|p| p as u32)
        } else {
            // Terraform: the next priority after the listener's highest (assigned in `decode`).
            Some(0)
        };
        let action = self.actions(r, "action");
        let conditions = self.conditions(r);
        let conditions = conditions?;
        let mut ok = true;
        for v in listener_rule::validate_conditions(&conditions) {
            report_condition(r, v);
            ok = false;
        }
        let rule = ListenerRule {
            key: self.inst.key.clone(),
            arn: self.exported("arn"),
            listener: listener?,
            priority: priority?,
            conditions,
            action: action?,
        };
        ok.then_some(rule)
    }

    fn conditions(&self, r: &Reader<'_>) -> Option<Vec<RuleCondition>> {
        let mut out = Vec::new();
        let mut ok = true;
        for c in r.blocks("condition") {
            let present: Vec<&str> = CONDITION_BLOCKS
                .iter()
                .copied()
                .filter(|b| !c.blocks(b).is_empty())
                .collect();
            let [kind] = present.as_slice() else {
                c.block_error(
                    format!(
                        "a condition block takes exactly one of {}, found {}",
                        CONDITION_BLOCKS.join(", "),
                        if present.is_empty() {
                            "none".to_string()
                        } else {
                            present.join(" and ")
                        }
                    ),
                    Some("write one condition block per condition".into()),
                );
                ok = false;
                continue;
            };
            match self.condition(&c, kind) {
                Some(cond) => out.push(cond),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn condition(&self, c: &Reader<'_>, kind: &str) -> Option<RuleCondition> {
        if kind == "query_string" {
            let mut values = Vec::new();
            for q in c.blocks("query_string") {
                let value = q.required_string("value", "\"true\"")?;
                values.push(QueryStringPair {
                    key: q.string("key").filter(|k| !k.is_empty()),
                    value,
                });
            }
            return Some(RuleCondition::QueryString { values });
        }
        let b = c.block(kind)?;
        let values = if b.has("values") {
            b.strings("values")?
        } else {
            return b.missing("values", "[\"...\"]");
        };
        Some(match kind {
            "host_header" => RuleCondition::HostHeader { values },
            "path_pattern" => RuleCondition::PathPattern { values },
            "http_request_method" => RuleCondition::HttpRequestMethod { values },
            "http_header" => RuleCondition::HttpHeader {
                name: b.required_string("http_header_name", "\"X-Custom\"")?,
                values,
            },
            "source_ip" => {
                let mut nets = Vec::new();
                for v in &values {
                    match v.parse::<ipnet::IpNet>() {
                        Ok(n) => nets.push(n),
                        Err(_) => {
                            b.error(
                                "values",
                                format!("`{v}` is not a CIDR block"),
                                Some(
                                    "write addresses as CIDR: \"192.0.2.0/24\", \"127.0.0.1/32\""
                                        .into(),
                                ),
                            );
                            return None;
                        }
                    }
                }
                RuleCondition::SourceIp { values: nets }
            }
            _ => return None,
        })
    }

    /// The single action of a rule (`action`) or listener (`default_action`).
    pub(super) fn actions(&self, r: &Reader<'_>, name: &str) -> Option<Action> {
        let blocks = r.blocks(name);
        match blocks.as_slice() {
            [] => {
                r.block_error(
                    format!("a {name} block is required"),
                    Some(format!(
                        "add {name} {{ type = \"forward\", target_group_arn = aws_lb_target_group.web.arn }}"
                    )),
                );
                None
            }
            [a] => {
                let action = self.action(a)?;
                let violations = listener_rule::validate_action(&action, name);
                let ok = violations.is_empty();
                for v in violations {
                    let attr = v
                        .attribute
                        .strip_prefix(&format!("{name}."))
                        .unwrap_or(&v.attribute)
                        .to_owned();
                    a.error(&attr, v.message, v.hint);
                }
                ok.then_some(action)
            }
            [_, second, ..] => {
                second.block_error(
                    format!("several actions (authentication, then forward) are {NOT_YET}"),
                    Some(format!("keep one {name} block")),
                );
                None
            }
        }
    }

    fn action(&self, a: &Reader<'_>) -> Option<Action> {
        let ty = a.required_string("type", "\"forward\"")?;
        match ty.as_str() {
            "forward" => self.forward(a),
            "redirect" => redirect(a),
            "fixed-response" => fixed_response(a),
            "authenticate-cognito" | "authenticate-oidc" | "jwt-validation" => {
                a.error(
                    "type",
                    format!("`{ty}` actions are {NOT_YET}"),
                    Some("use \"forward\", \"redirect\" or \"fixed-response\"".into()),
                );
                None
            }
            other => {
                let hint =
                    crate::suggest::did_you_mean(other, ["forward", "redirect", "fixed-response"]);
                a.error(
                    "type",
                    format!("unknown action type `{other}`"),
                    hint.or(Some(
                        "use \"forward\", \"redirect\" or \"fixed-response\"".into(),
                    )),
                );
                None
            }
        }
    }

    fn forward(&self, a: &Reader<'_>) -> Option<Action> {
        let mut target_groups = Vec::new();
        let mut stickiness = None;
        if let Some(fwd) = a.block("forward") {
            let groups = fwd.blocks("target_group");
            if groups.is_empty() || groups.len() > listener_rule::MAX_TARGET_GROUPS_PER_FORWARD {
                fwd.block_error(
                    format!(
                        "a forward block takes 1 to {} target_group blocks, got {}",
                        listener_rule::MAX_TARGET_GROUPS_PER_FORWARD,
                        groups.len()
                    ),
                    None,
                );
                return None;
            }
            let mut ok = true;
            for g in groups {
                let arn = g.required_string("arn", "aws_lb_target_group.web.arn");
                let key = arn.and_then(|arn| {
                    self.index
                        .resolve(&g, "arn", &arn, "aws_lb_target_group", "arn")
                });
                let weight = if g.has("weight") {
                    g.number("weight", 0, 999)
                } else {
                    Some(1)
                };
                match (key, weight) {
                    (Some(target_group), Some(weight)) => {
                        if target_groups
                            .iter()
                            .any(|t: &WeightedTargetGroup| t.target_group == target_group)
                        {
                            g.error(
                                "arn",
                                format!("target group `{target_group}` is listed twice"),
                                Some("list each target group once".into()),
                            );
                            ok = false;
                        }
                        target_groups.push(WeightedTargetGroup {
                            target_group,
                            weight: weight as u16,
                        });
                    }
                    _ => ok = false,
                }
            }
            if let Some(st) = fwd.block("stickiness") {
                let enabled = if st.has("enabled") {
                    st.bool("enabled")?
                } else {
                    false
                };
                let duration = st.required_number("duration", 1, 604_800)?;
                if enabled {
                    stickiness = Some(Duration::from_secs(duration));
                }
            }
            if !ok {
                return None;
            }
        } else if a.has("target_group_arn") {
            let arn = a.string("target_group_arn")?;
            let key =
                self.index
                    .resolve(a, "target_group_arn", &arn, "aws_lb_target_group", "arn")?;
            target_groups.push(WeightedTargetGroup {
                target_group: key,
                weight: 1,
            });
        } else {
            a.block_error(
                "a forward action needs target_group_arn or a forward block",
                Some("add target_group_arn = aws_lb_target_group.web.arn".into()),
            );
            return None;
        }
        Some(Action::Forward {
            target_groups,
            stickiness,
        })
    }
}

fn redirect(a: &Reader<'_>) -> Option<Action> {
    let Some(b) = a.block("redirect") else {
        a.block_error(
            "a redirect action needs a redirect block",
            Some(
                "add redirect { protocol = \"HTTPS\", port = \"443\", status_code = \"HTTP_301\" }"
                    .into(),
            ),
        );
        return None;
    };
    let d = Redirect::default();
    let code = b.required_string("status_code", "\"HTTP_301\"")?;
    let Some(status_code) = RedirectStatus::parse(&code) else {
        b.error(
            "status_code",
            format!("`{code}` is not a redirect status code"),
            Some("use \"HTTP_301\" (permanent) or \"HTTP_302\" (found)".into()),
        );
        return None;
    };
    let get = |name: &str, default: String| b.string(name).unwrap_or(default);
    Some(Action::Redirect(Redirect {
        protocol: get("protocol", d.protocol),
        host: get("host", d.host),
        port: get("port", d.port),
        path: get("path", d.path),
        query: get("query", d.query),
        status_code,
    }))
}

fn fixed_response(a: &Reader<'_>) -> Option<Action> {
    let Some(b) = a.block("fixed_response") else {
        a.block_error(
            "a fixed-response action needs a fixed_response block",
            Some("add fixed_response { content_type = \"text/plain\", status_code = \"200\", message_body = \"ok\" }".into()),
        );
        return None;
    };
    let content_type = b.required_string("content_type", "\"text/plain\"")?;
    let status_code = if b.has("status_code") {
        b.number("status_code", 100, 599)? as u16
    } else {
        // The provider's default.
        200
    };
    Some(Action::FixedResponse(FixedResponse {
        content_type,
        message_body: b.string("message_body").unwrap_or_default(),
        status_code,
    }))
}

/// Reports a violation of `model::listener_rule::validate_conditions` at the condition block it
/// names (`condition[2].host_header.values`).
fn report_condition(r: &Reader<'_>, v: Violation) {
    let parsed = v
        .attribute
        .strip_prefix("condition[")
        .and_then(|rest| rest.split_once("]."))
        .and_then(|(i, attr)| Some((i.parse::<usize>().ok()?, attr.to_owned())));
    match parsed {
        Some((i, attr)) => match r.blocks("condition").get(i) {
            Some(c) => c.error(&attr, v.message, v.hint),
            None => r.error("condition", v.message, v.hint),
        },
        None => r.error(&v.attribute, v.message, v.hint),
    }
}
