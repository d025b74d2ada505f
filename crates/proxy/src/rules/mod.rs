//! Listener rule matching, compiled once per snapshot: [`RuleSet::compile`] turns a listener's
//! `aws_lb_listener_rule`s into matchers sorted by priority, and [`RuleSet::first_match`] finds
//! the rule a request goes to (lowest priority number wins; `None` means the default action).
//!
//! Semantics (ALB user guide, "Condition types for listener rules"):
//! - every condition of a rule must match (AND); any value of a condition may match (OR);
//! - `host-header`: case-insensitive, wildcards, compared without the port;
//! - `path-pattern`: case-sensitive, wildcards, the path without the query string;
//! - `http-header`: the header name case-insensitive, any of its values, wildcards,
//!   case-insensitive;
//! - `http-request-method`: exact, case-sensitive;
//! - `query-string`: key/value pairs (key optional), percent-decoded, wildcards,
//!   case-insensitive;
//! - `source-ip`: the connection's client address within a CIDR block.
//!
//! This module is pure (no I/O, no clock) and public so that the fuzz target can drive it.

mod wildcard;

use std::net::IpAddr;

use http::HeaderName;
use ipnet::IpNet;
use model::{ListenerRule, RuleCondition};

use wildcard::Wildcard;

/// What rules look at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    /// The `Host` header (or HTTP/2 `:authority`), possibly with a port.
    pub host: Option<&'a str>,
    pub path: &'a str,
    /// Without the `?`.
    pub query: Option<&'a str>,
    pub headers: crate::HeaderView<'a>,
    /// The client address of the connection.
    pub source: IpAddr,
}

/// A listener's rules, compiled and sorted by priority.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    /// Position in the slice given to `compile`.
    index: usize,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
enum Condition {
    Host(Vec<Wildcard>),
    Path(Vec<Wildcard>),
    Header(HeaderName, Vec<Wildcard>),
    Method(Vec<Box<str>>),
    Query(Vec<(Option<Wildcard>, Wildcard)>),
    Source(Vec<IpNet>),
    /// A condition that can never match (an invalid header name slipped through).
    Never,
}

impl RuleSet {
    /// Compiles `rules` (of one listener). Ties in priority keep the given order.
    pub fn compile<'a>(rules: impl IntoIterator<Item = &'a ListenerRule>) -> RuleSet {
        let mut compiled: Vec<(u32, CompiledRule)> = rules
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                let conditions = r.conditions.iter().map(compile_condition).collect();
                (r.priority, CompiledRule { index, conditions })
            })
            .collect();
        compiled.sort_by_key(|(priority, rule)| (*priority, rule.index));
        RuleSet {
            rules: compiled.into_iter().map(|(_, r)| r).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The index (into the slice given to `compile`) of the rule with the lowest priority whose
    /// conditions all hold, if any.
    pub fn first_match(&self, facts: &RequestFacts<'_>) -> Option<usize> {
        if self.rules.is_empty() {
            return None;
        }
        // Parsed lazily, at most once per request.
        let mut query: Option<Vec<(String, String)>> = None;
        self.rules
            .iter()
            .find(|r| r.conditions.iter().all(|c| holds(c, facts, &mut query)))
            .map(|r| r.index)
    }
}

fn compile_condition(c: &RuleCondition) -> Condition {
    let many = |values: &[String], ci: bool| values.iter().map(|v| Wildcard::new(v, ci)).collect();
    match c {
        RuleCondition::HostHeader { values } => Condition::Host(many(values, true)),
        RuleCondition::PathPattern { values } => Condition::Path(many(values, false)),
        RuleCondition::HttpHeader { name, values } => match HeaderName::from_bytes(name.as_bytes())
        {
            Ok(name) => Condition::Header(name, many(values, true)),
            Err(_) => Condition::Never,
        },
        RuleCondition::HttpRequestMethod { values } => {
            Condition::Method(values.iter().map(|m| m.as_str().into()).collect())
        }
        RuleCondition::QueryString { values } => Condition::Query(
            values
                .iter()
                .map(|p| {
                    (
                        p.key.as_deref().map(|k| Wildcard::new(k, true)),
                        Wildcard::new(&p.value, true),
                    )
                })
                .collect(),
        ),
        RuleCondition::SourceIp { values } => Condition::Source(values.clone()),
    }
}

fn holds(c: &Condition, f: &RequestFacts<'_>, query: &mut Option<Vec<(String, String)>>) -> bool {
    match c {
        Condition::Host(patterns) => {
            let Some(host) = f.host.map(strip_port) else {
                return false;
            };
            patterns.iter().any(|p| p.matches(host))
        }
        Condition::Path(patterns) => patterns.iter().any(|p| p.matches(f.path)),
        Condition::Header(name, patterns) => f
            .headers
            .get_all(name.as_str())
            .any(|v| patterns.iter().any(|p| p.matches(v))),
        Condition::Method(methods) => methods.iter().any(|m| &**m == f.method),
        Condition::Query(pairs) => {
            let params = query.get_or_insert_with(|| parse_query(f.query.unwrap_or("")));
            pairs.iter().any(|(key, value)| {
                params
                    .iter()
                    .any(|(k, v)| key.as_ref().is_none_or(|key| key.matches(k)) && value.matches(v))
            })
        }
        Condition::Source(nets) => {
            let ip = f.source.to_canonical();
            nets.iter().any(|n| n.contains(&ip))
        }
        Condition::Never => false,
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.strip_prefix('[').and_then(|h| h.find(']')) {
        // `[v6]` or `[v6]:port`; anything else after the bracket is not a port, keep it all
        // (found by fuzzing: `[]x` used to match as `[]`).
        let (name, rest) = host.split_at(end + 2);
        return match rest.strip_prefix(':') {
            Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            None if rest.is_empty() => name,
            _ => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// `a=1&b=x%20y&c` → `[(a, 1), (b, x y), (c, "")]`.
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (as a space); invalid escapes stay as written.
fn percent_decode(s: &str) -> String {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: &u8| (*b as char).to_digit(16);
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    // Two hex digits make at most 255.
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
