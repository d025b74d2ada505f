//! Listener rule matching on arbitrary patterns and requests: compiling and matching must never
//! panic, and wildcard matching must agree with a straightforward reference (dynamic
//! programming over pattern × text) for host and path patterns.
//!
//! Input layout: `pattern \0 text \0 query \0 header-value`, each arbitrary UTF-8.

#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use model::{ListenerRule, QueryStringPair, RuleCondition};
use proxy::rules::{RequestFacts, RuleSet};

/// `*` any run, `?` one byte; optionally ASCII case-insensitive.
fn reference(pattern: &[u8], text: &[u8], ci: bool) -> bool {
    let eq = |a: u8, b: u8| if ci { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (n, m) = (pattern.len(), text.len());
    let mut dp = vec![vec![false; m + 1]; n + 1];
    dp[0][0] = true;
    for i in 1..=n {
        dp[i][0] = dp[i - 1][0] && pattern[i - 1] == b'*';
        for j in 1..=m {
            dp[i][j] = match pattern[i - 1] {
                b'*' => dp[i - 1][j] || dp[i][j - 1],
                b'?' => dp[i - 1][j - 1],
                p => dp[i - 1][j - 1] && eq(p, text[j - 1]),
            };
        }
    }
    dp[n][m]
}

fn rule(priority: u32, condition: RuleCondition) -> ListenerRule {
    ListenerRule {
        key: format!("r{priority}"),
        arn: String::new(),
        listener: "l".into(),
        priority,
        conditions: vec![condition],
        action: model::Action::forward("tg"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(4, '\0');
    let pattern = parts.next().unwrap_or("");
    let subject = parts.next().unwrap_or("");
    let query = parts.next().unwrap_or("");
    let header = parts.next().unwrap_or("");
    if pattern.len() > 256 || subject.len() > 4096 {
        return;
    }
    let rules = vec![
        rule(1, RuleCondition::PathPattern { values: vec![pattern.into()] }),
        rule(2, RuleCondition::HostHeader { values: vec![pattern.into()] }),
        rule(
            3,
            RuleCondition::QueryString {
                values: vec![QueryStringPair { key: Some(pattern.into()), value: "*".into() }],
            },
        ),
        rule(
            4,
            RuleCondition::HttpHeader { name: "x-fuzz".into(), values: vec![pattern.into()] },
        ),
    ];
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(header) {
        headers.insert("x-fuzz", v);
    }
    let only = |i: usize| RuleSet::compile(&rules[i..=i]);

    // Path: case-sensitive, the whole subject.
    let f = RequestFacts {
        method: "GET",
        host: None,
        path: subject,
        query: Some(query),
        headers: (&headers).into(),
        source: "127.0.0.1".parse().unwrap(),
    };
    let path_hit = only(0).first_match(&f).is_some();
    assert_eq!(path_hit, reference(pattern.as_bytes(), subject.as_bytes(), false));
    // Host: case-insensitive; compared without a trailing `:port`, so only check subjects that
    // have no colon.
    if !subject.contains(':') {
        let f = RequestFacts { host: Some(subject), ..f };
        let host_hit = only(1).first_match(&f).is_some();
        assert_eq!(host_hit, reference(pattern.as_bytes(), subject.as_bytes(), true));
    }
    // Everything together must not panic, and the winner is the lowest priority that matches.
    let all = RuleSet::compile(&rules);
    if let Some(i) = all.first_match(&f) {
        assert!((0..i).all(|j| only(j).first_match(&f).is_none()));
    }
});
