//! `aws_lb_listener_rule`, listener actions and the ALB target group attributes: Terraform in,
//! `model` out, AWS's quotas and value rules reported at the line that breaks them.

use std::time::Duration;

use model::{
    Action, Algorithm, FixedResponse, ProtocolVersion, RedirectStatus, RuleCondition, Stickiness,
};

use super::*;

fn with_rule(rule: &str) -> String {
    format!("{TIER}\n{rule}")
}

const RULES: &str = r#"
resource "aws_lb_target_group" "api" {
  port                          = 9000
  target_type                   = "ip"
  protocol_version              = "HTTP2"
  load_balancing_algorithm_type = "least_outstanding_requests"
  stickiness {
    type            = "app_cookie"
    cookie_name     = "session"
    cookie_duration = 600
  }
}

resource "aws_lb_listener_rule" "api" {
  listener_arn = aws_lb_listener.http.arn
  priority     = 10
  action {
    type = "forward"
    forward {
      target_group {
        arn    = aws_lb_target_group.api.arn
        weight = 3
      }
      target_group {
        arn = aws_lb_target_group.web.arn
      }
      stickiness {
        enabled  = true
        duration = 3600
      }
    }
  }
  condition {
    host_header {
      values = ["api.example.com", "*.api.example.com"]
    }
  }
  condition {
    path_pattern {
      values = ["/v1/*"]
    }
  }
  condition {
    query_string {
      key   = "version"
      value = "2"
    }
    query_string {
      value = "beta"
    }
  }
}

resource "aws_lb_listener_rule" "old" {
  listener_arn = aws_lb_listener.http.arn
  action {
    type = "redirect"
    redirect {
      path        = "/new/#{path}"
      status_code = "HTTP_301"
    }
  }
  condition {
    http_header {
      http_header_name = "X-Legacy"
      values           = ["yes"]
    }
  }
  condition {
    source_ip {
      values = ["127.0.0.0/8", "::1/128"]
    }
  }
}

resource "aws_lb_listener_rule" "maintenance" {
  listener_arn = aws_lb_listener.http.arn
  priority     = 5
  action {
    type = "fixed-response"
    fixed_response {
      content_type = "application/json"
      message_body = "{\"down\":true}"
      status_code  = "503"
    }
  }
  condition {
    http_request_method {
      values = ["DELETE", "PATCH"]
    }
  }
}
"#;

#[test]
fn rules_with_every_condition_and_action_decode() {
    let s = ok(&with_rule(RULES)).stack;
    let api = &s.listener_rules["api"];
    assert_eq!((api.listener.as_str(), api.priority), ("http", 10));
    let Action::Forward {
        target_groups,
        stickiness,
    } = &api.action
    else {
        panic!("{:?}", api.action)
    };
    assert_eq!(
        target_groups
            .iter()
            .map(|t| (t.target_group.as_str(), t.weight))
            .collect::<Vec<_>>(),
        [("api", 3), ("web", 1)]
    );
    assert_eq!(*stickiness, Some(Duration::from_secs(3600)));
    assert!(matches!(
        &api.conditions[..],
        [
            RuleCondition::HostHeader { .. },
            RuleCondition::PathPattern { .. },
            RuleCondition::QueryString { values }
        ] if values.len() == 2 && values[0].key.as_deref() == Some("version") && values[1].key.is_none()
    ));
    // No priority: the next after the listener's highest so far.
    assert_eq!(s.listener_rules["old"].priority, 11);
    let Action::Redirect(r) = &s.listener_rules["old"].action else {
        panic!()
    };
    assert_eq!(
        (r.path.as_str(), r.host.as_str(), r.status_code),
        ("/new/#{path}", "#{host}", RedirectStatus::Http301)
    );
    assert!(matches!(
        &s.listener_rules["old"].conditions[1],
        RuleCondition::SourceIp { values } if values.len() == 2
    ));
    assert_eq!(
        s.listener_rules["maintenance"].action,
        Action::FixedResponse(FixedResponse {
            content_type: "application/json".into(),
            message_body: "{\"down\":true}".into(),
            status_code: 503,
        })
    );
    let tg = &s.target_groups["api"];
    assert_eq!(tg.protocol_version, ProtocolVersion::Http2);
    assert_eq!(tg.algorithm, Algorithm::LeastOutstandingRequests);
    assert_eq!(
        tg.stickiness,
        Some(Stickiness::AppCookie {
            cookie_name: "session".into(),
            duration: Duration::from_secs(600)
        })
    );
    // Defaults.
    let web = &s.target_groups["web"];
    assert_eq!(web.algorithm, Algorithm::RoundRobin);
    assert_eq!(web.slow_start, Duration::ZERO);
    assert_eq!(web.stickiness, None);
}

#[test]
fn rule_quotas_and_values_are_reported_at_their_line() {
    // Four values in one condition.
    let text = with_rule(&RULES.replace(
        r#"values = ["DELETE", "PATCH"]"#,
        r#"values = ["DELETE", "PATCH", "PUT", "POST"]"#,
    ));
    let e = one_error(&text);
    assert_eq!(
        e.attribute.as_deref(),
        Some("condition.http_request_method.values")
    );
    assert_eq!(line(&e), line_of(&text, "\"POST\"]"));
    assert!(e.message.contains("at most 3"), "{e}");

    // Two rules with one priority on one listener.
    let text = with_rule(&RULES.replace("priority     = 5", "priority     = 10"));
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "priority 10 is already used by rule `api` of listener `http`"
    );
    assert_eq!(
        e.address.as_deref(),
        Some("aws_lb_listener_rule.maintenance")
    );

    // Out of range.
    let text = with_rule(&RULES.replace("priority     = 5", "priority     = 50001"));
    assert!(one_error(&text).message.contains("from 1 to 50000"));

    // A bad redirect and a bad fixed response.
    let text = with_rule(
        &RULES
            .replace("\"HTTP_301\"", "\"301\"")
            .replace("\"application/json\"", "\"image/png\""),
    );
    let e = errors(&text);
    let attrs: Vec<_> = e.iter().filter_map(|e| e.attribute.as_deref()).collect();
    assert_eq!(
        attrs,
        [
            "action.redirect.status_code",
            "action.fixed_response.content_type"
        ]
    );

    // A method in lower case, a source that is not CIDR, two sub-blocks in one condition.
    let text = with_rule(
        &RULES
            .replace("\"DELETE\", \"PATCH\"", "\"delete\"")
            .replace("\"::1/128\"", "\"localhost\"")
            .replace(
                "    path_pattern {\n      values = [\"/v1/*\"]\n    }\n",
                "    path_pattern {\n      values = [\"/v1/*\"]\n    }\n    source_ip {\n      values = [\"127.0.0.1/32\"]\n    }\n",
            ),
    );
    let e = errors(&text);
    assert_eq!(e.len(), 3, "{}", ConfigErrors(e.clone()));
    assert!(e[0].message.contains("exactly one of"), "{}", e[0]);
    assert!(e[1].message.contains("`localhost` is not a CIDR block"));
    assert_eq!(
        e[2].hint.as_deref(),
        Some("methods are case-sensitive: write \"GET\", not \"get\"")
    );

    // A rule without conditions.
    let text = with_rule(
        r#"resource "aws_lb_listener_rule" "bare" {
  listener_arn = aws_lb_listener.http.arn
  priority     = 1
  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}"#,
    );
    assert!(one_error(&text).message.contains("at least one condition"));
}

#[test]
fn target_group_attribute_ranges() {
    let text = with(
        TIER,
        "  port     = 8080\n",
        "  port     = 8080\n  slow_start = 10\n",
    );
    assert!(one_error(&text).message.contains("0 (off) or 30 to 900"));
    let text = with(
        TIER,
        "  port     = 8080\n",
        "  port     = 8080\n  slow_start = 60\n  load_balancing_algorithm_type = \"weighted_random\"\n",
    );
    let e = one_error(&text);
    assert!(e.message.contains("cannot be combined"), "{e}");
    let text = with(
        TIER,
        "  port     = 8080\n",
        "  port     = 8080\n  load_balancing_algorithm_type = \"least_outstanding_request\"\n",
    );
    assert_eq!(
        one_error(&text).hint.as_deref(),
        Some("did you mean `least_outstanding_requests`?")
    );
    let text = with(
        TIER,
        "  port     = 8080\n",
        "  port     = 8080\n  stickiness {\n    type        = \"app_cookie\"\n    cookie_name = \"AWSALBAPP-1\"\n  }\n",
    );
    assert_eq!(
        one_error(&text).attribute.as_deref(),
        Some("stickiness.cookie_name")
    );
    // gRPC target groups take gRPC codes and default to ALB's gRPC health check.
    let text = with(
        TIER,
        "  protocol = \"HTTP\"\n  health_check {\n    path     = \"/health\"\n    interval = 10\n  }\n",
        "  protocol = \"HTTP\"\n  protocol_version = \"GRPC\"\n",
    );
    let tg = &ok(&text).stack.target_groups["web"];
    assert_eq!(tg.health_check.path, "/AWS.ALB/healthcheck");
    assert!(tg.health_check.matcher.matches(12));
    // Access logs are off unless enabled.
    let text = with(
        TIER,
        "  subnets = [aws_subnet.a.id, aws_subnet.b.id]\n",
        "  subnets = [aws_subnet.a.id, aws_subnet.b.id]\n  access_logs {\n    bucket  = \"logs\"\n    prefix  = \"front\"\n    enabled = true\n  }\n",
    );
    let lb = &ok(&text).stack.load_balancers["front"];
    assert_eq!(lb.access_logs.as_ref().unwrap().prefix, "front");
    assert_eq!(ok(TIER).stack.load_balancers["front"].access_logs, None);
}
