//! Listener rules and actions (`aws_lb_listener_rule`, `default_action`, `action`): what an
//! Application Load Balancer does with a request, and the conditions that choose a rule, with
//! AWS's quotas and value rules (`ValidationError`s of `CreateRule`).
//!
//! Quotas (ALB user guide, "Quotas for your Application Load Balancers" and "Condition types"):
//! at most one host-header, path-pattern, http-request-method and source-ip condition per rule;
//! at most 3 values per condition, 5 condition values per rule, 5 wildcards per rule; priorities
//! 1–50000, unique per listener; forward to at most 5 target groups with weights 0–999.

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::validate::Violation;

/// Rule priorities AWS accepts.
pub const PRIORITY_RANGE: std::ops::RangeInclusive<u32> = 1..=50_000;
/// Values one condition may list.
pub const MAX_VALUES_PER_CONDITION: usize = 3;
/// Condition values (match evaluations) one rule may list, over all its conditions.
pub const MAX_VALUES_PER_RULE: usize = 5;
/// `*` and `?` one rule may use, over all its conditions.
pub const MAX_WILDCARDS_PER_RULE: usize = 5;
/// Target groups one forward action may list.
pub const MAX_TARGET_GROUPS_PER_FORWARD: usize = 5;
/// Forward stickiness duration (`TargetGroupStickinessConfig.DurationSeconds`).
pub const STICKINESS_SECONDS: std::ops::RangeInclusive<u64> = 1..=604_800;

/// What a listener or a rule does with a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Action {
    /// Forward to one or several weighted target groups.
    Forward {
        target_groups: Vec<WeightedTargetGroup>,
        /// Target group stickiness (`forward { stickiness { enabled, duration } }`): a client
        /// keeps going to the same target group for this long (AWSALBTG cookie).
        #[serde(default)]
        stickiness: Option<Duration>,
    },
    /// Answer with a redirect built from the request (`redirect` block).
    Redirect(Redirect),
    /// Answer with a fixed response (`fixed_response` block).
    FixedResponse(FixedResponse),
}

impl Action {
    /// A forward to one target group.
    pub fn forward(target_group: impl Into<String>) -> Action {
        Action::Forward {
            target_groups: vec![WeightedTargetGroup {
                target_group: target_group.into(),
                weight: 1,
            }],
            stickiness: None,
        }
    }

    /// `forward`, `redirect` or `fixed-response`, as AWS names the type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Action::Forward { .. } => "forward",
            Action::Redirect(_) => "redirect",
            Action::FixedResponse(_) => "fixed-response",
        }
    }

    /// The target groups a forward action sends to (empty for other actions).
    pub fn target_groups(&self) -> &[WeightedTargetGroup] {
        match self {
            Action::Forward { target_groups, .. } => target_groups,
            _ => &[],
        }
    }
}

/// A target group in a forward action, with its weight (0–999; 1 when only one group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedTargetGroup {
    /// Resource name of the target group.
    pub target_group: String,
    pub weight: u16,
}

/// `redirect { protocol, host, port, path, query, status_code }`. Each component is a template
/// that may use `#{protocol}`, `#{host}`, `#{port}`, `#{path}` and `#{query}`; the defaults
/// keep the request's own component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// `HTTP`, `HTTPS` or `#{protocol}`.
    pub protocol: String,
    pub host: String,
    /// 1–65535 or `#{port}`.
    pub port: String,
    /// Starts with `/`; default `/#{path}` (`#{path}` is the request path without its `/`).
    pub path: String,
    /// Without the leading `?`; default `#{query}`.
    pub query: String,
    pub status_code: RedirectStatus,
}

impl Default for Redirect {
    fn default() -> Self {
        Redirect {
            protocol: "#{protocol}".into(),
            host: "#{host}".into(),
            port: "#{port}".into(),
            path: "/#{path}".into(),
            query: "#{query}".into(),
            status_code: RedirectStatus::Http302,
        }
    }
}

/// `HTTP_301` (permanent) or `HTTP_302` (found).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RedirectStatus {
    #[serde(rename = "HTTP_301")]
    Http301,
    #[serde(rename = "HTTP_302")]
    Http302,
}

impl RedirectStatus {
    pub fn parse(s: &str) -> Option<RedirectStatus> {
        match s {
            "HTTP_301" => Some(RedirectStatus::Http301),
            "HTTP_302" => Some(RedirectStatus::Http302),
            _ => None,
        }
    }

    pub fn code(self) -> u16 {
        match self {
            RedirectStatus::Http301 => 301,
            RedirectStatus::Http302 => 302,
        }
    }
}

/// `fixed_response { content_type, message_body, status_code }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedResponse {
    /// One of [`FixedResponse::CONTENT_TYPES`].
    pub content_type: String,
    /// At most 1024 bytes.
    pub message_body: String,
    /// 2XX, 4XX or 5XX.
    pub status_code: u16,
}

impl FixedResponse {
    pub const CONTENT_TYPES: [&'static str; 5] = [
        "text/plain",
        "text/css",
        "text/html",
        "application/javascript",
        "application/json",
    ];
    pub const MAX_BODY: usize = 1024;
}

/// `aws_lb_listener_rule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerRule {
    pub key: String,
    pub arn: String,
    /// Resource name of the listener.
    pub listener: String,
    /// 1–50000, unique per listener; the lowest matching priority wins.
    pub priority: u32,
    /// All must match (AND); within one condition any value may match (OR).
    pub conditions: Vec<RuleCondition>,
    pub action: Action,
}

/// One `condition` of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "kebab-case")]
pub enum RuleCondition {
    /// Host names, case-insensitive, with `*` and `?` wildcards (`*.example.com`).
    HostHeader { values: Vec<String> },
    /// URL paths, case-sensitive, with wildcards (`/img/*`); the query string is not part of it.
    PathPattern { values: Vec<String> },
    /// A header's values, case-insensitive, with wildcards.
    HttpHeader { name: String, values: Vec<String> },
    /// Methods, exact and case-sensitive (`GET`, `POST`, custom ones allowed).
    HttpRequestMethod { values: Vec<String> },
    /// Key/value pairs of the query string (key optional), case-insensitive, with wildcards.
    QueryString { values: Vec<QueryStringPair> },
    /// Client address ranges (the connection's source, not `X-Forwarded-For`).
    SourceIp { values: Vec<IpNet> },
}

/// One `query_string { key, value }` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStringPair {
    pub key: Option<String>,
    pub value: String,
}

impl RuleCondition {
    /// The Terraform block name (`host_header`, …).
    pub fn block_name(&self) -> &'static str {
        match self {
            RuleCondition::HostHeader { .. } => "host_header",
            RuleCondition::PathPattern { .. } => "path_pattern",
            RuleCondition::HttpHeader { .. } => "http_header",
            RuleCondition::HttpRequestMethod { .. } => "http_request_method",
            RuleCondition::QueryString { .. } => "query_string",
            RuleCondition::SourceIp { .. } => "source_ip",
        }
    }

    fn value_count(&self) -> usize {
        match self {
            RuleCondition::HostHeader { values }
            | RuleCondition::PathPattern { values }
            | RuleCondition::HttpHeader { values, .. }
            | RuleCondition::HttpRequestMethod { values } => values.len(),
            RuleCondition::QueryString { values } => values.len(),
            RuleCondition::SourceIp { values } => values.len(),
        }
    }

    /// The strings wildcards may appear in.
    fn patterns(&self) -> Vec<&str> {
        match self {
            RuleCondition::HostHeader { values }
            | RuleCondition::PathPattern { values }
            | RuleCondition::HttpHeader { values, .. } => {
                values.iter().map(String::as_str).collect()
            }
            RuleCondition::QueryString { values } => values
                .iter()
                .flat_map(|p| p.key.as_deref().into_iter().chain([p.value.as_str()]))
                .collect(),
            RuleCondition::HttpRequestMethod { .. } | RuleCondition::SourceIp { .. } => vec![],
        }
    }
}

/// AWS's checks of a rule's conditions. Attributes are named as in Terraform
/// (`condition[1].host_header.values`).
pub fn validate_conditions(conditions: &[RuleCondition]) -> Vec<Violation> {
    let mut v = Vec::new();
    if conditions.is_empty() {
        v.push(
            Violation::new("condition", "a listener rule needs at least one condition").hint(
                "add e.g. condition { path_pattern { values = [\"/api/*\"] } }, or put the action in the listener's default_action",
            ),
        );
    }
    let mut total = 0;
    let mut wildcards = 0;
    for (i, c) in conditions.iter().enumerate() {
        let at = format!("condition[{i}].{}", c.block_name());
        let once = matches!(
            c,
            RuleCondition::HostHeader { .. }
                | RuleCondition::PathPattern { .. }
                | RuleCondition::HttpRequestMethod { .. }
                | RuleCondition::SourceIp { .. }
        );
        if once
            && conditions[..i]
                .iter()
                .any(|o| o.block_name() == c.block_name())
        {
            v.push(
                Violation::new(
                    &at,
                    format!("a rule takes at most one {} condition", c.block_name()),
                )
                .hint("list the alternatives in one condition's values (they are ORed)"),
            );
        }
        let n = c.value_count();
        total += n;
        if n == 0 {
            v.push(Violation::new(
                format!("{at}.values"),
                "the condition lists no value",
            ));
        }
        if n > MAX_VALUES_PER_CONDITION {
            v.push(
                Violation::new(
                    format!("{at}.values"),
                    format!(
                        "{n} values in one condition; AWS allows at most {MAX_VALUES_PER_CONDITION}"
                    ),
                )
                .hint("split the rule in two, or use a wildcard"),
            );
        }
        for p in c.patterns() {
            wildcards += p.chars().filter(|ch| matches!(ch, '*' | '?')).count();
            if let Some(bad) = p.chars().find(|ch| !ch.is_ascii_graphic() && *ch != ' ') {
                v.push(Violation::new(
                    format!("{at}.values"),
                    format!("`{p}` contains {bad:?}; rules only match visible ASCII characters"),
                ));
            }
            if p.len() > 128 {
                v.push(Violation::new(
                    format!("{at}.values"),
                    format!("`{p}` is longer than the 128 characters AWS allows"),
                ));
            }
        }
        match c {
            RuleCondition::PathPattern { values } => {
                for p in values
                    .iter()
                    .filter(|p| !p.starts_with('/') && !p.starts_with('*'))
                {
                    v.push(
                        Violation::new(
                            format!("{at}.values"),
                            format!("path pattern `{p}` must start with `/`"),
                        )
                        .hint(format!("write \"/{p}\"")),
                    );
                }
            }
            RuleCondition::HttpHeader { name, .. } => {
                let ok = !name.is_empty()
                    && name.len() <= 40
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !ok {
                    v.push(Violation::new(
                        format!("{at}.http_header_name"),
                        format!("`{name}` is not a valid header name (1–40 token characters)"),
                    ));
                }
                if name.eq_ignore_ascii_case("host") {
                    v.push(
                        Violation::new(
                            format!("{at}.http_header_name"),
                            "match the Host header with a host_header condition",
                        )
                        .hint("use condition { host_header { values = [...] } }"),
                    );
                }
            }
            RuleCondition::HttpRequestMethod { values } => {
                for m in values {
                    let ok = !m.is_empty()
                        && m.len() <= 40
                        && m.bytes()
                            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
                    if !ok {
                        v.push(
                            Violation::new(
                                format!("{at}.values"),
                                format!(
                                    "`{m}` is not a method AWS accepts (A-Z, `-` and `_`, up to 40)"
                                ),
                            )
                            .hint("methods are case-sensitive: write \"GET\", not \"get\""),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if total > MAX_VALUES_PER_RULE {
        v.push(
            Violation::new(
                "condition",
                format!(
                    "{total} condition values in one rule; AWS allows at most {MAX_VALUES_PER_RULE}"
                ),
            )
            .hint("split the rule into several rules"),
        );
    }
    if wildcards > MAX_WILDCARDS_PER_RULE {
        v.push(
            Violation::new(
                "condition",
                format!(
                    "{wildcards} wildcards in one rule; AWS allows at most {MAX_WILDCARDS_PER_RULE}"
                ),
            )
            .hint("use fewer `*`/`?` or split the rule"),
        );
    }
    v
}

/// AWS's checks of an action (`prefix` is e.g. `action` or `default_action`).
pub fn validate_action(action: &Action, prefix: &str) -> Vec<Violation> {
    let mut v = Vec::new();
    match action {
        Action::Forward {
            target_groups,
            stickiness,
        } => {
            if target_groups.is_empty() || target_groups.len() > MAX_TARGET_GROUPS_PER_FORWARD {
                v.push(Violation::new(
                    format!("{prefix}.forward"),
                    format!(
                        "a forward action takes 1 to {MAX_TARGET_GROUPS_PER_FORWARD} target groups, got {}",
                        target_groups.len()
                    ),
                ));
            }
            if target_groups.len() > 1 && target_groups.iter().all(|t| t.weight == 0) {
                v.push(
                    Violation::new(
                        format!("{prefix}.forward"),
                        "every target group has weight 0, so no request can be forwarded",
                    )
                    .hint("give at least one target group a weight above 0"),
                );
            }
            if let Some(d) = stickiness
                && !STICKINESS_SECONDS.contains(&d.as_secs())
            {
                v.push(Violation::new(
                    format!("{prefix}.forward.stickiness.duration"),
                    format!(
                        "{} s is out of range: AWS accepts 1 to 604800 s (7 days)",
                        d.as_secs()
                    ),
                ));
            }
        }
        Action::Redirect(r) => {
            let at = format!("{prefix}.redirect");
            if !matches!(r.protocol.as_str(), "HTTP" | "HTTPS" | "#{protocol}") {
                v.push(
                    Violation::new(
                        format!("{at}.protocol"),
                        format!("`{}` is not HTTP, HTTPS or #{{protocol}}", r.protocol),
                    )
                    .hint("protocols are upper case: \"HTTPS\""),
                );
            }
            let port_ok = r.port == "#{port}" || r.port.parse::<u16>().is_ok_and(|p| p > 0);
            if !port_ok {
                v.push(Violation::new(
                    format!("{at}.port"),
                    format!("`{}` is not a port (1-65535) or #{{port}}", r.port),
                ));
            }
            if !r.path.starts_with('/') {
                v.push(
                    Violation::new(
                        format!("{at}.path"),
                        format!("the redirect path `{}` must start with `/`", r.path),
                    )
                    .hint("write \"/#{path}\""),
                );
            }
            for (name, value) in [("host", &r.host), ("path", &r.path), ("query", &r.query)] {
                if value.len() > 128 {
                    v.push(Violation::new(
                        format!("{at}.{name}"),
                        "longer than the 128 characters AWS allows",
                    ));
                }
                if let Some(bad) = unknown_placeholder(value) {
                    v.push(
                        Violation::new(
                            format!("{at}.{name}"),
                            format!("unknown placeholder `{bad}`"),
                        )
                        .hint("use #{protocol}, #{host}, #{port}, #{path} or #{query}"),
                    );
                }
            }
            if r.host.is_empty() {
                v.push(Violation::new(
                    format!("{at}.host"),
                    "the host must not be empty",
                ));
            }
        }
        Action::FixedResponse(f) => {
            let at = format!("{prefix}.fixed_response");
            if !matches!(f.status_code / 100, 2 | 4 | 5) {
                v.push(
                    Violation::new(
                        format!("{at}.status_code"),
                        format!("{} is not a 2XX, 4XX or 5XX status code", f.status_code),
                    )
                    .hint("for a redirect use an action of type \"redirect\""),
                );
            }
            if !FixedResponse::CONTENT_TYPES.contains(&f.content_type.as_str()) {
                v.push(
                    Violation::new(
                        format!("{at}.content_type"),
                        format!("`{}` is not a content type AWS allows", f.content_type),
                    )
                    .hint(format!(
                        "use one of {}",
                        FixedResponse::CONTENT_TYPES.join(", ")
                    )),
                );
            }
            if f.message_body.len() > FixedResponse::MAX_BODY {
                v.push(Violation::new(
                    format!("{at}.message_body"),
                    format!(
                        "{} bytes; AWS allows at most {}",
                        f.message_body.len(),
                        FixedResponse::MAX_BODY
                    ),
                ));
            }
        }
    }
    v
}

/// The first `#{…}` in `s` that is not one of the five placeholders.
fn unknown_placeholder(s: &str) -> Option<String> {
    let mut rest = s;
    while let Some(i) = rest.find("#{") {
        let tail = &rest[i..];
        let end = tail.find('}').map_or(tail.len(), |e| e + 1);
        let ph = &tail[..end];
        if !matches!(
            ph,
            "#{protocol}" | "#{host}" | "#{port}" | "#{path}" | "#{query}"
        ) {
            return Some(ph.to_owned());
        }
        rest = &tail[end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(v: &[&str]) -> RuleCondition {
        RuleCondition::HostHeader {
            values: v.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn attrs(v: Vec<Violation>) -> Vec<String> {
        v.into_iter().map(|v| v.attribute).collect()
    }

    #[test]
    fn quotas_are_enforced() {
        assert!(validate_conditions(&[hosts(&["a.example.com"])]).is_empty());
        assert_eq!(attrs(validate_conditions(&[])), ["condition"]);
        // Four values in one condition.
        let v = validate_conditions(&[hosts(&["a", "b", "c", "d"])]);
        assert_eq!(attrs(v), ["condition[0].host_header.values"]);
        // Two host-header conditions.
        let v = validate_conditions(&[hosts(&["a"]), hosts(&["b"])]);
        assert_eq!(attrs(v), ["condition[1].host_header"]);
        // Six values over the rule.
        let paths = RuleCondition::PathPattern {
            values: vec!["/a".into(), "/b".into(), "/c".into()],
        };
        let v = validate_conditions(&[hosts(&["a", "b", "c"]), paths]);
        assert_eq!(attrs(v), ["condition"]);
        // Six wildcards.
        let v = validate_conditions(&[hosts(&["*.*.*", "?.?.?"])]);
        assert!(v[0].message.contains("6 wildcards"), "{v:?}");
    }

    #[test]
    fn values_are_checked_per_condition_type() {
        let v = validate_conditions(&[RuleCondition::PathPattern {
            values: vec!["img/*".into()],
        }]);
        assert_eq!(v[0].hint.as_deref(), Some("write \"/img/*\""));
        let v = validate_conditions(&[RuleCondition::HttpRequestMethod {
            values: vec!["get".into()],
        }]);
        assert_eq!(attrs(v), ["condition[0].http_request_method.values"]);
        let v = validate_conditions(&[RuleCondition::HttpHeader {
            name: "bad header".into(),
            values: vec!["x".into()],
        }]);
        assert_eq!(attrs(v), ["condition[0].http_header.http_header_name"]);
        let v = validate_conditions(&[hosts(&["caf\u{e9}.example"])]);
        assert!(v[0].message.contains("visible ASCII"));
    }

    #[test]
    fn actions_are_checked() {
        assert!(validate_action(&Action::forward("web"), "action").is_empty());
        let r = Redirect {
            protocol: "https".into(),
            port: "0".into(),
            path: "x".into(),
            query: "#{nope}".into(),
            ..Redirect::default()
        };
        let v = attrs(validate_action(&Action::Redirect(r), "action"));
        assert_eq!(
            v,
            [
                "action.redirect.protocol",
                "action.redirect.port",
                "action.redirect.path",
                "action.redirect.query"
            ]
        );
        let f = FixedResponse {
            content_type: "image/png".into(),
            message_body: "x".repeat(1025),
            status_code: 302,
        };
        let v = attrs(validate_action(&Action::FixedResponse(f), "default_action"));
        assert_eq!(v.len(), 3);
        let fwd = Action::Forward {
            target_groups: vec![
                WeightedTargetGroup {
                    target_group: "a".into(),
                    weight: 0,
                },
                WeightedTargetGroup {
                    target_group: "b".into(),
                    weight: 0,
                },
            ],
            stickiness: Some(Duration::ZERO),
        };
        assert_eq!(validate_action(&fwd, "action").len(), 2);
    }

    #[test]
    fn serde_round_trip() {
        let rule = ListenerRule {
            key: "api".into(),
            arn: "arn".into(),
            listener: "http".into(),
            priority: 10,
            conditions: vec![
                RuleCondition::SourceIp {
                    values: vec!["10.0.0.0/8".parse().unwrap()],
                },
                RuleCondition::QueryString {
                    values: vec![QueryStringPair {
                        key: None,
                        value: "x".into(),
                    }],
                },
            ],
            action: Action::Redirect(Redirect::default()),
        };
        let json = serde_json::to_string(&rule).unwrap();
        assert_eq!(serde_json::from_str::<ListenerRule>(&json).unwrap(), rule);
        // Older stores wrote forwards without stickiness.
        let old = r#"{"type":"forward","target_groups":[{"target_group":"web","weight":1}]}"#;
        assert_eq!(
            serde_json::from_str::<Action>(old).unwrap(),
            Action::forward("web")
        );
    }
}
