use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use model::{Action, QueryStringPair};

use super::*;

fn rule(priority: u32, conditions: Vec<RuleCondition>) -> ListenerRule {
    ListenerRule {
        key: format!("r{priority}"),
        arn: String::new(),
        listener: "http".into(),
        priority,
        conditions,
        action: Action::Forward {
            target_groups: vec![],
            stickiness: Some(Duration::from_secs(1)),
        },
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

struct Req {
    method: &'static str,
    host: Option<&'static str>,
    path: &'static str,
    query: Option<&'static str>,
    headers: HeaderMap,
    source: IpAddr,
}

fn req(path: &'static str) -> Req {
    Req {
        method: "GET",
        host: Some("www.example.com"),
        path,
        query: None,
        headers: HeaderMap::new(),
        source: "127.0.0.1".parse().unwrap(),
    }
}

impl Req {
    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            method: self.method,
            host: self.host,
            path: self.path,
            query: self.query,
            headers: (&self.headers).into(),
            source: self.source,
        }
    }
}

fn matched(rules: &[ListenerRule], r: &Req) -> Option<u32> {
    RuleSet::compile(rules)
        .first_match(&r.facts())
        .map(|i| rules[i].priority)
}

#[test]
fn lowest_priority_wins_and_no_match_means_default() {
    let rules = vec![
        rule(
            20,
            vec![RuleCondition::PathPattern {
                values: strings(&["/api/*"]),
            }],
        ),
        rule(
            10,
            vec![RuleCondition::PathPattern {
                values: strings(&["/api/v2/*"]),
            }],
        ),
    ];
    assert_eq!(matched(&rules, &req("/api/v2/x")), Some(10));
    assert_eq!(matched(&rules, &req("/api/v1/x")), Some(20));
    assert_eq!(matched(&rules, &req("/other")), None);
    assert!(
        RuleSet::compile(&[])
            .first_match(&req("/").facts())
            .is_none()
    );
}

#[test]
fn host_header_ignores_case_and_port() {
    let rules = vec![rule(
        1,
        vec![RuleCondition::HostHeader {
            values: strings(&["*.Example.com", "api.test"]),
        }],
    )];
    let mut r = req("/");
    r.host = Some("WWW.example.COM:8080");
    assert_eq!(matched(&rules, &r), Some(1));
    r.host = Some("example.com");
    assert_eq!(matched(&rules, &r), None);
    r.host = Some("api.test");
    assert_eq!(matched(&rules, &r), Some(1));
    r.host = None;
    assert_eq!(matched(&rules, &r), None);
    assert_eq!(strip_port("[::1]:80"), "[::1]");
    assert_eq!(strip_port("[::1]"), "[::1]");
    assert_eq!(strip_port("[]\x03?"), "[]\x03?");
    assert_eq!(strip_port("[::1]x:80"), "[::1]x:80");
}

#[test]
fn path_pattern_is_case_sensitive() {
    let rules = vec![rule(
        1,
        vec![RuleCondition::PathPattern {
            values: strings(&["/img/*.png", "/a?c"]),
        }],
    )];
    assert_eq!(matched(&rules, &req("/img/x/y.png")), Some(1));
    assert_eq!(matched(&rules, &req("/IMG/y.png")), None);
    assert_eq!(matched(&rules, &req("/abc")), Some(1));
}

#[test]
fn http_header_any_value_case_insensitive() {
    let rules = vec![rule(
        1,
        vec![RuleCondition::HttpHeader {
            name: "X-Env".into(),
            values: strings(&["stag*"]),
        }],
    )];
    let mut r = req("/");
    assert_eq!(matched(&rules, &r), None);
    r.headers.append("x-env", HeaderValue::from_static("prod"));
    r.headers
        .append("x-env", HeaderValue::from_static("STAGING"));
    assert_eq!(matched(&rules, &r), Some(1));
}

#[test]
fn method_is_exact() {
    let rules = vec![rule(
        1,
        vec![RuleCondition::HttpRequestMethod {
            values: strings(&["POST", "PURGE"]),
        }],
    )];
    let mut r = req("/");
    assert_eq!(matched(&rules, &r), None);
    r.method = "PURGE";
    assert_eq!(matched(&rules, &r), Some(1));
    r.method = "post";
    assert_eq!(matched(&rules, &r), None);
}

#[test]
fn query_string_pairs_with_and_without_key() {
    let rules = vec![rule(
        1,
        vec![RuleCondition::QueryString {
            values: vec![
                QueryStringPair {
                    key: Some("version".into()),
                    value: "v2*".into(),
                },
                QueryStringPair {
                    key: None,
                    value: "hello world".into(),
                },
            ],
        }],
    )];
    let mut r = req("/");
    r.query = Some("a=1&VERSION=V2.1");
    assert_eq!(matched(&rules, &r), Some(1));
    r.query = Some("a=1&version=3");
    assert_eq!(matched(&rules, &r), None);
    r.query = Some("greeting=hello%20world");
    assert_eq!(matched(&rules, &r), Some(1));
    r.query = Some("greeting=hello+world&x");
    assert_eq!(matched(&rules, &r), Some(1));
    r.query = None;
    assert_eq!(matched(&rules, &r), None);
    assert_eq!(percent_decode("%4"), "%4");
    assert_eq!(percent_decode("%41%zz%"), "A%zz%");
}

#[test]
fn source_ip_cidr_including_mapped_v4() {
    let rules = vec![rule(
        1,
        vec![RuleCondition::SourceIp {
            values: vec!["127.0.2.0/24".parse().unwrap(), "::1/128".parse().unwrap()],
        }],
    )];
    let mut r = req("/");
    assert_eq!(matched(&rules, &r), None);
    r.source = "127.0.2.9".parse().unwrap();
    assert_eq!(matched(&rules, &r), Some(1));
    r.source = "::ffff:127.0.2.9".parse().unwrap();
    assert_eq!(matched(&rules, &r), Some(1));
    r.source = "::1".parse().unwrap();
    assert_eq!(matched(&rules, &r), Some(1));
}

#[test]
fn all_conditions_must_hold() {
    let rules = vec![rule(
        1,
        vec![
            RuleCondition::HostHeader {
                values: strings(&["api.*"]),
            },
            RuleCondition::PathPattern {
                values: strings(&["/v1/*"]),
            },
        ],
    )];
    let mut r = req("/v1/x");
    assert_eq!(matched(&rules, &r), None, "host differs");
    r.host = Some("api.example.com");
    assert_eq!(matched(&rules, &r), Some(1));
    r.path = "/v2/x";
    assert_eq!(matched(&rules, &r), None, "path differs");
}
