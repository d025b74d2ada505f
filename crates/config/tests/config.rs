//! End-to-end tests of the config crate: real HCL text in, `model::Stack` or errors (with exact
//! lines and hints) out. Inline texts go through `config::load_str`; the complete stack and the
//! templates are real files under `tests/fixtures/`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{ConfigError, ConfigErrors, Loaded};
use model::{
    HealthCheckPort, HealthCheckType, LaunchTemplateVersion, Protocol, ResourceAddress, TargetType,
    TerminationPolicy,
};

#[path = "config/database.rs"]
mod database;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(text: &str) -> Result<Loaded, ConfigErrors> {
    config::load_str("main.tf", text, &BTreeMap::new(), Path::new("."))
}

#[track_caller]
fn ok(text: &str) -> Loaded {
    load(text).unwrap_or_else(|e| panic!("expected the config to load:\n{e}"))
}

#[track_caller]
fn ok_with(text: &str, given: &BTreeMap<String, String>) -> Loaded {
    config::load_str("main.tf", text, given, Path::new("."))
        .unwrap_or_else(|e| panic!("expected the config to load:\n{e}"))
}

#[track_caller]
fn errors(text: &str) -> Vec<ConfigError> {
    match load(text) {
        Ok(_) => panic!("expected errors, the config loaded"),
        Err(e) => e.0,
    }
}

/// The only error of `text`.
#[track_caller]
fn one_error(text: &str) -> ConfigError {
    let mut e = errors(text);
    assert_eq!(
        e.len(),
        1,
        "expected one error, got:\n{}",
        ConfigErrors(e.clone())
    );
    e.remove(0)
}

/// The 1-based line of the first occurrence of `needle`.
#[track_caller]
fn line_of(text: &str, needle: &str) -> u32 {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is not in the text"));
    text[..at].matches('\n').count() as u32 + 1
}

#[track_caller]
fn line(e: &ConfigError) -> u32 {
    e.location.as_ref().expect("the error has a location").line
}

/// `base` with `from` replaced by `to` (which must be there: a test that edits nothing tests
/// nothing).
#[track_caller]
fn with(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "`{from}` is not in the text");
    base.replacen(from, to, 1)
}

/// A small valid web tier every error test starts from.
const TIER: &str = r##"resource "aws_subnet" "a" {
  availability_zone = "us-east-1a"
  cidr_block        = "10.0.1.0/24"
}

resource "aws_subnet" "b" {
  availability_zone = "us-east-1b"
  cidr_block        = "10.0.2.0/24"
}

resource "aws_lb" "front" {
  subnets = [aws_subnet.a.id, aws_subnet.b.id]
}

resource "aws_lb_target_group" "web" {
  port     = 8080
  protocol = "HTTP"
  health_check {
    path     = "/health"
    interval = 10
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.front.arn
  port              = 80
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_launch_template" "web" {
  name          = "web"
  instance_type = "t3.micro"
  user_data     = base64encode("#!/bin/sh\nexec ./app\n")
}

resource "aws_autoscaling_group" "web" {
  min_size            = 2
  max_size            = 4
  vpc_zone_identifier = [aws_subnet.a.id, aws_subnet.b.id]
  target_group_arns   = [aws_lb_target_group.web.arn]
  launch_template {
    id = aws_launch_template.web.id
  }
}
"##;

// === complete stacks ===

#[test]
fn the_complete_stack_evaluates_to_the_expected_model() {
    let dir = fixtures().join("complete");
    let loaded = config::load(&dir, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    let s = &loaded.stack;
    assert_eq!(loaded.files, vec![dir.join("main.tf")]);
    assert_eq!(s.region, "eu-west-3");

    let zones: Vec<_> = s
        .subnets
        .values()
        .map(|x| x.availability_zone.as_str())
        .collect();
    assert_eq!(zones, ["eu-west-3a", "eu-west-3b", "eu-west-3c"]);
    let a = &s.subnets["public[0]"];
    assert_eq!(a.id, "subnet-public-0");
    assert_eq!(a.cidr_block.to_string(), "10.0.1.0/24");
    assert_eq!(a.loopback_block.to_string(), "127.0.1.0/24");
    assert_eq!(
        s.subnets["public[2]"].loopback_block.to_string(),
        "127.0.3.0/24"
    );

    let lb = &s.load_balancers["front"];
    assert_eq!(lb.name, "mylearning-alb");
    assert!(lb.arn.starts_with(
        "arn:aws:elasticloadbalancing:eu-west-3:000000000000:loadbalancer/app/mylearning-alb/"
    ));
    assert_eq!(lb.subnets, ["public[0]", "public[1]", "public[2]"]);
    assert_eq!(lb.idle_timeout, Duration::from_secs(30));
    assert!(!lb.internal);

    let tg = &s.target_groups["web"];
    assert_eq!(
        (tg.name.as_str(), tg.port, tg.protocol),
        ("mylearning-web", 8080, Protocol::Http)
    );
    assert_eq!(tg.target_type, TargetType::Instance);
    assert_eq!(tg.deregistration_delay, Duration::from_secs(20));
    let hc = &tg.health_check;
    assert_eq!(hc.path, "/healthz");
    assert_eq!(hc.port, HealthCheckPort::TrafficPort);
    assert_eq!(
        (hc.interval, hc.timeout),
        (Duration::from_secs(10), Duration::from_secs(3))
    );
    assert_eq!((hc.healthy_threshold, hc.unhealthy_threshold), (2, 2));
    assert!(hc.matcher.matches(204) && !hc.matcher.matches(301));

    let l = &s.listeners["http"];
    assert_eq!(
        (l.load_balancer.as_str(), l.port, l.protocol),
        ("front", 80, Protocol::Http)
    );
    let target_groups = &l.default_action.target_groups();
    assert_eq!(target_groups.len(), 1);
    assert_eq!(
        (
            target_groups[0].target_group.as_str(),
            target_groups[0].weight
        ),
        ("web", 1)
    );
    let lb_suffix = lb.arn.split_once(":loadbalancer/").unwrap().1;
    assert!(l.arn.contains(&format!(":listener/{lb_suffix}/")));

    let lt = &s.launch_templates["web"];
    assert!(lt.name.starts_with("mylearning-"));
    assert!(lt.id.starts_with("lt-") && lt.id.len() == 20);
    assert_eq!(lt.instance_type, "t3.micro");
    assert_eq!(lt.image_id.as_deref(), Some("ami-updraft-local"));
    assert_eq!(
        lt.user_data,
        "#!/bin/sh\nexport PORT=8080\nexec ./mylearning --port \"$PORT\"\n"
    );
    assert_eq!(lt.version, 1);

    let g = &s.auto_scaling_groups["web"];
    assert_eq!(g.name, "mylearning-web");
    assert_eq!(
        (g.min_size, g.max_size, g.desired_capacity),
        (3, 12, Some(3))
    );
    assert_eq!(g.subnets, ["public[0]", "public[1]", "public[2]"]);
    assert_eq!(g.target_groups, ["web"]);
    assert_eq!(g.launch_template.template, "web");
    assert_eq!(g.launch_template.version, LaunchTemplateVersion::Number(1));
    assert_eq!(g.health_check_type, HealthCheckType::Elb);
    assert_eq!(g.health_check_grace_period, Duration::from_secs(60));
    assert_eq!(g.default_cooldown, Duration::from_secs(300));
    assert_eq!(
        g.termination_policies,
        [
            TerminationPolicy::OldestInstance,
            TerminationPolicy::Default
        ]
    );
    assert_eq!(s.group_zones(g).len(), 3);

    let recorded: Vec<_> = s.recorded.iter().map(|r| r.address.to_string()).collect();
    assert_eq!(recorded, ["aws_vpc.main", "aws_security_group.web"]);
    assert!(s.recorded.iter().all(|r| !r.note.is_empty()));

    let text = std::fs::read_to_string(dir.join("main.tf")).unwrap();
    let at = |kind: &str, key: &str, attr: Option<&str>| {
        loaded
            .sources
            .get(&ResourceAddress::new(kind, key), attr)
            .unwrap()
            .line
    };
    assert_eq!(
        at("aws_lb_target_group", "web", None),
        line_of(&text, "resource \"aws_lb_target_group\"")
    );
    assert_eq!(
        at("aws_lb_target_group", "web", Some("health_check.interval")),
        line_of(&text, "interval            = 10")
    );
    assert_eq!(
        at("aws_subnet", "public[1]", Some("cidr_block")),
        line_of(&text, "cidr_block        = cidrsubnet")
    );
    assert_eq!(
        at("aws_autoscaling_group", "web", Some("tag[1].key")),
        line_of(&text, "key                 = tag.key")
    );
    let file = &loaded
        .sources
        .get(&ResourceAddress::new("aws_lb", "front"), None)
        .unwrap()
        .file;
    assert_eq!(Path::new(file), dir.join("main.tf"));
}

#[test]
fn loading_a_file_or_its_directory_gives_the_same_stack_every_time() {
    let dir = fixtures().join("complete");
    let from_dir = config::load(&dir, &BTreeMap::new()).unwrap();
    let from_file = config::load(&dir.join("main.tf"), &BTreeMap::new()).unwrap();
    assert_eq!(from_dir.stack, from_file.stack);
    assert_eq!(from_dir, config::load(&dir, &BTreeMap::new()).unwrap());
}

#[test]
fn the_small_tier_loads_with_aws_defaults() {
    let s = ok(TIER).stack;
    assert_eq!(s.region, "us-east-1");
    let lb = &s.load_balancers["front"];
    assert_eq!(
        (lb.name.as_str(), lb.idle_timeout),
        ("front", Duration::from_secs(60))
    );
    let tg = &s.target_groups["web"];
    assert_eq!(tg.deregistration_delay, Duration::from_secs(300));
    assert_eq!(tg.health_check.timeout, Duration::from_secs(5));
    let g = &s.auto_scaling_groups["web"];
    assert_eq!(g.launch_template.version, LaunchTemplateVersion::Latest);
    assert_eq!(g.health_check_type, HealthCheckType::Ec2);
    assert_eq!(g.health_check_grace_period, Duration::from_secs(300));
    assert_eq!(g.desired_capacity, None);
    assert_eq!(
        s.launch_templates["web"].user_data,
        "#!/bin/sh\nexec ./app\n"
    );
}

#[test]
fn missing_files_and_empty_directories_are_errors() {
    let e = config::load(Path::new("/nonexistent/updraft"), &BTreeMap::new()).unwrap_err();
    assert!(e.0[0].message.contains("cannot read"), "{e}");
    let empty = std::env::temp_dir().join(format!("updraft-config-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let e = config::load(&empty, &BTreeMap::new()).unwrap_err();
    assert!(e.0[0].message.starts_with("no .tf files"), "{e}");
    std::fs::remove_dir(&empty).unwrap();
}

#[test]
fn a_directory_is_one_module_across_files() {
    let dir = std::env::temp_dir().join(format!("updraft-config-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("variables.tf"),
        "variable \"port\" {\n  default = 8080\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.tf"),
        TIER.replace("port     = 8080", "port     = var.port"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not configuration").unwrap();
    let loaded = config::load(&dir, &vars(&[("port", "9000")])).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.files,
        vec![dir.join("main.tf"), dir.join("variables.tf")]
    );
    assert_eq!(loaded.stack.target_groups["web"].port, 9000);

    std::fs::write(
        dir.join("variables.tf"),
        "variable \"port\" {\n  default = 8080\n  typo = 1\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.tf"),
        with(
            TIER,
            "max_size            = 4",
            "max_size            = \"four\"",
        ),
    )
    .unwrap();
    let e = config::load(&dir, &BTreeMap::new()).unwrap_err();
    let files: Vec<_> = e
        .iter()
        .map(|e| {
            Path::new(&e.location.as_ref().unwrap().file)
                .file_name()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(files, ["main.tf", "variables.tf"], "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// === count, for_each, references ===

#[test]
fn count_and_for_each_expand_with_terraform_addresses() {
    let text = r#"
variable "zones" {
  default = { "us-east-1a" = "10.0.1.0/24", "us-east-1b" = "10.0.2.0/24" }
}
resource "aws_subnet" "public" {
  for_each          = var.zones
  availability_zone = each.key
  cidr_block        = each.value
}
resource "aws_subnet" "private" {
  count             = 2
  availability_zone = element(keys(var.zones), count.index)
  cidr_block        = "127.42.${count.index}.0/24"
}
resource "aws_lb" "front" {
  subnets = values(aws_subnet.public)[*].id
}
resource "aws_lb" "inner" {
  internal = true
  subnets  = [aws_subnet.private[0].id, aws_subnet.private[1].id]
}
resource "aws_lb_target_group" "web" {
  port = 80
}
resource "aws_launch_template" "web" {
  instance_type = "t3.small"
}
resource "aws_autoscaling_group" "web" {
  min_size            = 1
  max_size            = 2
  vpc_zone_identifier = concat([for s in aws_subnet.public : s.id], aws_subnet.private[*].id)
  launch_template {
    name = aws_launch_template.web.name
  }
}
"#;
    let loaded = ok(text);
    let s = &loaded.stack;
    let keys: Vec<_> = s.subnets.keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "private[0]",
            "private[1]",
            "public[\"us-east-1a\"]",
            "public[\"us-east-1b\"]"
        ]
    );
    assert_eq!(
        s.subnets["public[\"us-east-1b\"]"].id,
        "subnet-public-us-east-1b"
    );
    assert_eq!(
        s.subnets["private[1]"].loopback_block.to_string(),
        "127.42.1.0/24"
    );
    assert_eq!(
        s.load_balancers["front"].subnets,
        ["public[\"us-east-1a\"]", "public[\"us-east-1b\"]"]
    );
    assert_eq!(
        s.load_balancers["inner"].subnets,
        ["private[0]", "private[1]"]
    );
    assert!(s.load_balancers["inner"].internal);
    assert_eq!(s.auto_scaling_groups["web"].subnets.len(), 4);
    assert_eq!(s.auto_scaling_groups["web"].launch_template.template, "web");
    let addr = ResourceAddress::new("aws_subnet", "public[\"us-east-1a\"]");
    assert_eq!(
        loaded.sources.get(&addr, Some("cidr_block")).unwrap().line,
        line_of(text, "cidr_block        = each.value")
    );
}

#[test]
fn availability_zones_data_and_zone_based_groups() {
    let text = r#"
provider "aws" {
  region = "eu-west-1"
}
data "aws_availability_zones" "available" {
  state = "available"
}
resource "aws_subnet" "z" {
  count             = 3
  availability_zone = data.aws_availability_zones.available.names[count.index]
  cidr_block        = cidrsubnet("10.0.0.0/16", 8, count.index)
}
resource "aws_launch_template" "web" {
  instance_type = "t3.micro"
}
resource "aws_autoscaling_group" "web" {
  min_size           = 1
  max_size           = 3
  availability_zones = ["eu-west-1a", "eu-west-1c"]
  launch_template {
    id      = aws_launch_template.web.id
    version = "$Default"
  }
}
"#;
    let s = ok(&text.replace("max_size           = 3", "max_size           = 6 / 2")).stack;
    let zones: Vec<_> = s
        .subnets
        .values()
        .map(|x| x.availability_zone.to_string())
        .collect();
    assert_eq!(zones, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]);
    let g = &s.auto_scaling_groups["web"];
    assert_eq!(g.subnets, ["z[0]", "z[2]"]);
    assert_eq!(g.max_size, 3, "6 / 2 is a whole number even as a float");
    assert_eq!(g.launch_template.version, LaunchTemplateVersion::Default);
}

#[test]
fn weighted_forwarding_attachments_and_alb_aliases() {
    let text = with(
        TIER,
        "resource \"aws_lb_listener\" \"http\" {",
        r#"resource "aws_alb_target_group" "static" {
  port        = 9000
  target_type = "ip"
}

resource "aws_lb_target_group_attachment" "nginx" {
  target_group_arn = aws_alb_target_group.static.arn
  target_id        = "127.0.9.10"
}

resource "aws_lb_listener" "http" {"#,
    );
    let text = with(
        &text,
        "    target_group_arn = aws_lb_target_group.web.arn\n",
        r#"    forward {
      target_group {
        arn    = aws_lb_target_group.web.arn
        weight = 90
      }
      target_group {
        arn    = aws_alb_target_group.static.arn
        weight = 10
      }
    }
"#,
    );
    let s = ok(&text).stack;
    let target_groups = &s.listeners["http"].default_action.target_groups();
    let weights: Vec<_> = target_groups
        .iter()
        .map(|t| (t.target_group.as_str(), t.weight))
        .collect();
    assert_eq!(weights, [("web", 90), ("static", 10)]);
    let a = &s.target_group_attachments["nginx"];
    assert_eq!((a.target_group.as_str(), a.port), ("static", 9000));
    assert_eq!(a.ip, "127.0.9.10".parse::<IpAddr>().unwrap());
    assert_eq!(s.target_groups["static"].target_type, TargetType::Ip);
}

// === variables ===

#[test]
fn variables_come_from_var_flags_then_defaults() {
    let text = with(
        TIER,
        "resource \"aws_subnet\" \"a\" {",
        r#"variable "app_port" {
  type    = number
  default = 8080
}
variable "region" {}
variable "zones" {
  type    = list(string)
  default = ["us-east-1a", "us-east-1b"]
}
provider "aws" {
  region = var.region
}
resource "aws_subnet" "a" {"#,
    );
    let text = with(&text, "port     = 8080", "port     = var.app_port");
    let text = with(
        &text,
        "availability_zone = \"us-east-1b\"",
        "availability_zone = var.zones[length(var.zones) - 1]",
    );
    let given = vars(&[
        ("region", "eu-central-1"),
        ("app_port", "9090"),
        ("zones", r#"["us-east-1a", "us-east-1c"]"#),
    ]);
    let s = config::load_str("main.tf", &text, &given, Path::new("."))
        .unwrap()
        .stack;
    assert_eq!(s.region, "eu-central-1");
    assert_eq!(s.target_groups["web"].port, 9090);
    assert_eq!(s.subnets["b"].availability_zone.as_str(), "us-east-1c");

    let s = config::load_str(
        "main.tf",
        &text,
        &vars(&[("region", "us-west-2")]),
        Path::new("."),
    )
    .unwrap()
    .stack;
    assert_eq!(s.target_groups["web"].port, 8080);
    assert_eq!(s.subnets["b"].availability_zone.as_str(), "us-east-1b");

    let e = config::load_str("main.tf", &text, &BTreeMap::new(), Path::new(".")).unwrap_err();
    assert_eq!(e.len(), 1, "{e}");
    assert_eq!(e.0[0].message, "variable `region` has no value");
    assert!(e.0[0].hint.as_deref().unwrap().contains("-var region=..."));
    assert_eq!(line(&e.0[0]), line_of(&text, "variable \"region\""));

    let e = config::load_str(
        "main.tf",
        &text,
        &vars(&[("region", "x"), ("app_port", "http")]),
        Path::new("."),
    )
    .unwrap_err();
    assert_eq!(
        e.0[0].message,
        "-var app_port=http: expected number, got string \"http\""
    );
}

// === functions, heredocs, files ===

#[test]
fn functions_templates_and_files_in_a_configuration() {
    let dir = fixtures().join("templates");
    let text = std::fs::read_to_string(dir.join("main.tf")).unwrap();
    let loaded = config::load_str("main.tf", &text, &BTreeMap::new(), &dir)
        .unwrap_or_else(|e| panic!("{e}"));
    let s = &loaded.stack;
    let lt = &s.launch_templates["web"];
    assert_eq!(
        lt.user_data,
        "#!/bin/sh\n# zones: us-east-1a us-east-1b\nexec ./app --port 8080 --name WEB\n"
    );
    let tpl = &s.launch_templates["from_file"];
    assert_eq!(
        tpl.user_data,
        std::fs::read_to_string(dir.join("boot.sh")).unwrap()
    );
    let tg = &s.target_groups["web"];
    assert_eq!(tg.name, "web-8080-us-east-1");
    assert_eq!(tg.health_check.path, "/health?v=\"1\"");
    assert_eq!(tg.port, 8080);
    assert_eq!(s.subnets["b"].cidr_block.to_string(), "10.20.2.0/24");
    assert_eq!(s.auto_scaling_groups["web"].max_size, 6);
    assert_eq!(s.auto_scaling_groups["web"].min_size, 2);
}

#[test]
fn every_function_is_callable_from_a_configuration() {
    let calls = [
        ("upper(\"a\")", "A"),
        ("lower(\"A\")", "a"),
        ("trimspace(\" a \")", "a"),
        ("join(\"-\", [\"a\", \"b\"])", "a-b"),
        ("format(\"%s-%03d\", \"a\", 7)", "a-007"),
        ("tostring(length([1, 2]))", "2"),
        ("tostring(tonumber(\"3\"))", "3"),
        ("element([\"a\", \"b\"], 3)", "b"),
        ("join(\",\", concat([\"a\"], [\"b\"]))", "a,b"),
        ("lookup({ a = \"x\" }, \"b\", \"y\")", "y"),
        ("replace(\"a.b\", \".\", \"-\")", "a-b"),
        (
            "jsonencode({ b = 1, a = [true] })",
            "{\"a\":[true],\"b\":1}",
        ),
        ("merge({ a = \"1\" }, { a = \"2\" }).a", "2"),
        ("cidrsubnet(\"10.0.0.0/16\", 8, 3)", "10.0.3.0/24"),
        ("tostring(min(3, 1, 2) + max(4, 5))", "6"),
        ("base64decode(base64encode(\"ok\"))", "ok"),
    ];
    let check = |call: &str, expected: &str| {
        let text = format!(
            "locals {{\n  result = {call}\n  check  = local.result == {expected:?} ? 1 : tonumber(\"mismatch\")\n}}\n"
        );
        load(&text).map(|_| ())
    };
    for (call, expected) in calls {
        check(call, expected)
            .unwrap_or_else(|e| panic!("{call} did not return {expected:?}:\n{e}"));
    }
    assert!(
        check("upper(\"a\")", "a").is_err(),
        "the check itself can fail"
    );
}

// === errors: one class each, with line and hint ===

#[test]
fn unknown_resource_types_suggest_what_to_write() {
    let text = with(
        TIER,
        "resource \"aws_subnet\" \"b\"",
        "resource \"aws_subnett\" \"b\"",
    );
    let e = errors(&text);
    let typo = e
        .iter()
        .find(|e| e.message.contains("aws_subnett"))
        .unwrap();
    assert_eq!(line(typo), line_of(&text, "aws_subnett"));
    assert_eq!(typo.hint.as_deref(), Some("did you mean `aws_subnet`?"));
    assert_eq!(typo.address.as_deref(), Some("aws_subnett.b"));
    // References to the rejected resource are not reported again.
    assert_eq!(e.len(), 1, "{}", ConfigErrors(e.clone()));

    let text = format!("{TIER}\nresource \"aws_instance\" \"bastion\" {{\n  ami = \"ami-1\"\n}}\n");
    let e = one_error(&text);
    assert_eq!(e.message, "unknown resource type `aws_instance`");
    assert_eq!(line(&e), line_of(&text, "aws_instance"));
    assert!(
        e.hint
            .unwrap()
            .contains("aws_autoscaling_group with min_size = max_size = 1")
    );
}

#[test]
fn planned_resource_types_are_not_supported_yet() {
    let text = format!(
        "{TIER}\nresource \"aws_cloudfront_distribution\" \"cdn\" {{\n  enabled = true\n}}\n"
    );
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "`aws_cloudfront_distribution` is not supported yet by this version of updraft"
    );
    assert_eq!(line(&e), line_of(&text, "aws_cloudfront_distribution"));
    let text = with(
        TIER,
        "resource \"aws_lb\" \"front\" {\n",
        "resource \"aws_lb\" \"front\" {\n  load_balancer_type = \"network\"\n",
    );
    let e = one_error(&text);
    assert_eq!(line(&e), line_of(&text, "\"network\""));
    assert!(e.message.contains("not supported yet"), "{e}");
    assert_eq!(e.attribute.as_deref(), Some("load_balancer_type"));
}

#[test]
fn unknown_attributes_get_a_did_you_mean() {
    let text = with(
        TIER,
        "  min_size            = 2",
        "  min_sise            = 2\n  min_size            = 2",
    );
    let e = one_error(&text);
    assert_eq!(e.message, "unknown attribute `min_sise`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `min_size`?"));
    assert_eq!(line(&e), line_of(&text, "min_sise"));
    assert_eq!(
        e.to_string().lines().next(),
        Some("error: aws_autoscaling_group.web: min_sise: unknown attribute `min_sise`")
    );
}

#[test]
fn wrong_types_name_the_expected_type() {
    let text = with(TIER, "port     = 8080", "port     = \"eighty\"");
    let e = one_error(&text);
    assert_eq!(e.message, "expected a number, got string \"eighty\"");
    assert_eq!(e.attribute.as_deref(), Some("port"));
    assert_eq!(line(&e), line_of(&text, "\"eighty\""));
    // Terraform's conversions still apply: a numeric string is a fine port.
    ok(&with(TIER, "port     = 8080", "port     = \"8080\""));
}

#[test]
fn references_to_missing_resources_point_at_the_reference() {
    let text = with(
        TIER,
        "target_group_arns   = [aws_lb_target_group.web.arn]",
        "target_group_arns   = [aws_lb_target_group.wbe.arn]",
    );
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "reference to undeclared resource `aws_lb_target_group.wbe`"
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("did you mean `aws_lb_target_group.web`?")
    );
    assert_eq!(line(&e), line_of(&text, "aws_lb_target_group.wbe"));

    let text = with(
        TIER,
        "load_balancer_arn = aws_lb.front.arn",
        "load_balancer_arn = aws_lb.front.arm",
    );
    let e = one_error(&text);
    assert_eq!(e.message, "`aws_lb.front` has no attribute `arm`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `arn`?"));
    assert_eq!(line(&e), line_of(&text, "aws_lb.front.arm"));
}

#[test]
fn unknown_functions_list_the_supported_ones() {
    let text = with(TIER, "base64encode(\"#!", "base64(\"#!");
    let e = one_error(&text);
    assert_eq!(e.message, "unknown function `base64`");
    assert_eq!(line(&e), line_of(&text, "base64(\""));
    let text = with(TIER, "base64encode(\"#!", "frobnicate(\"#!");
    let hint = one_error(&text).hint.unwrap();
    assert!(
        hint.starts_with("supported functions: abs, base64decode, base64encode"),
        "{hint}"
    );
    assert!(hint.contains("templatefile") && hint.contains("cidrsubnet"));
}

#[test]
fn local_cycles_are_reported_as_paths() {
    let text = format!("{TIER}\nlocals {{\n  a = local.b\n  b = \"${{local.a}}-x\"\n  c = 1\n}}\n");
    let e = one_error(&text);
    assert_eq!(e.message, "cycle: local.a → local.b → local.a");
    assert_eq!(line(&e), line_of(&text, "a = local.b"));
}

#[test]
fn group_capacity_rules_read_like_aws() {
    let text = with(TIER, "min_size            = 2", "min_size            = 13");
    let text = with(&text, "max_size            = 4", "max_size            = 12");
    let e = one_error(&text);
    assert_eq!(
        e.to_string(),
        format!(
            "error: aws_autoscaling_group.web: min_size (13) is greater than max_size (12)\n  --> main.tf:{}\n  = help: make min_size ≤ desired_capacity ≤ max_size",
            line_of(&text, "min_size            = 13")
        )
    );
}

#[test]
fn launch_template_mistakes() {
    let text = with(
        TIER,
        "instance_type = \"t3.micro\"",
        "instance_type = \"t3.mikro\"",
    );
    let e = one_error(&text);
    assert_eq!(e.message, "unknown instance type `t3.mikro`");
    assert_eq!(e.hint.as_deref(), Some("did you mean `t3.micro`?"));
    assert_eq!(line(&e), line_of(&text, "t3.mikro"));

    let text = with(
        TIER,
        "base64encode(\"#!/bin/sh\\nexec ./app\\n\")",
        "\"#!/bin/sh\\nexec ./app\\n\"",
    );
    let e = one_error(&text);
    assert_eq!(e.attribute.as_deref(), Some("user_data"));
    assert_eq!(e.hint.as_deref(), Some("wrap it in base64encode(...)"));
    assert_eq!(line(&e), line_of(&text, "user_data"));
}

#[test]
fn zones_without_a_letter_need_a_loopback_block() {
    let text = with(
        TIER,
        "availability_zone = \"us-east-1a\"",
        "availability_zone = \"use1-az1\"",
    );
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "zone `use1-az1` has no letter suffix; use a 127.x.y.0/24 cidr_block"
    );
    assert_eq!(line(&e), line_of(&text, "use1-az1"));
    let fixed = with(
        &text,
        "cidr_block        = \"10.0.1.0/24\"",
        "cidr_block        = \"127.0.7.0/24\"",
    );
    assert_eq!(
        ok(&fixed).stack.subnets["a"].loopback_block.to_string(),
        "127.0.7.0/24"
    );
}

#[test]
fn health_check_ranges_are_reported_at_the_attribute() {
    let text = with(TIER, "interval = 10", "interval = 2");
    let e = errors(&text);
    let interval = e
        .iter()
        .find(|e| e.attribute.as_deref() == Some("health_check.interval"))
        .unwrap();
    assert_eq!(line(interval), line_of(&text, "interval = 2"));
    assert_eq!(
        interval.hint.as_deref(),
        Some("set health_check.interval between 5 and 300")
    );
    // timeout (default 5) is no longer below the interval either.
    assert!(
        e.iter()
            .any(|e| e.message.contains("must be smaller than interval"))
    );
}

#[test]
fn two_listeners_on_one_port_point_at_the_second() {
    let text = format!(
        "{TIER}\nresource \"aws_lb_listener\" \"again\" {{\n  load_balancer_arn = aws_lb.front.arn\n  port              = 80\n  default_action {{\n    type             = \"forward\"\n    target_group_arn = aws_lb_target_group.web.arn\n  }}\n}}\n"
    );
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "port 80 is already used by listener `http` of the same load balancer"
    );
    assert_eq!(e.address.as_deref(), Some("aws_lb_listener.again"));
    let second_port = text.rfind("port              = 80").unwrap();
    assert_eq!(
        line(&e),
        text[..second_port].matches('\n').count() as u32 + 1
    );
}

#[test]
fn target_types_must_fit_how_targets_register() {
    let ip_group = with(
        TIER,
        "  protocol = \"HTTP\"\n",
        "  protocol = \"HTTP\"\n  target_type = \"ip\"\n",
    );
    let e = one_error(&ip_group);
    assert!(
        e.message
            .contains("target_type = \"ip\", but a group registers instances"),
        "{e}"
    );
    assert_eq!(line(&e), line_of(&ip_group, "target_group_arns"));

    let attach = |target: &str| {
        format!(
            "{TIER}\nresource \"aws_lb_target_group_attachment\" \"one\" {{\n  target_group_arn = aws_lb_target_group.web.arn\n  target_id        = \"{target}\"\n}}\n"
        )
    };
    let text = attach("i-0123456789abcdef0");
    let e = one_error(&text);
    assert!(
        e.message
            .contains("updraft starts instances only through auto scaling groups"),
        "{e}"
    );
    assert_eq!(line(&e), line_of(&text, "i-0123456789abcdef0"));

    let text = attach("not-an-ip").replace(
        "resource \"aws_lb_target_group_attachment\"",
        "resource \"aws_lb_target_group\" \"ips\" {\n  port = 81\n  target_type = \"ip\"\n}\nresource \"aws_lb_target_group_attachment\"",
    );
    let text = text.replace(
        "target_group_arn = aws_lb_target_group.web.arn\n  target_id",
        "target_group_arn = aws_lb_target_group.ips.arn\n  target_id",
    );
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "`not-an-ip` is not an IP address, which an ip target group needs"
    );
}

#[test]
fn data_sources_and_meta_argument_misuse() {
    let text = format!("{TIER}\ndata \"aws_vpc\" \"default\" {{\n  default = true\n}}\n");
    let e = one_error(&text);
    assert_eq!(e.message, "data source `aws_vpc` is not supported");
    assert!(e.hint.unwrap().contains("aws_availability_zones"));

    let text = with(TIER, "port     = 8080", "port     = 8080 + count.index");
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "count.index is only available in a resource with count"
    );
    assert_eq!(line(&e), line_of(&text, "count.index"));

    let text = with(
        TIER,
        "resource \"aws_subnet\" \"a\" {\n",
        "resource \"aws_subnet\" \"a\" {\n  count = 1\n",
    );
    let e = errors(&text);
    let lines: Vec<u32> = e.iter().map(line).collect();
    assert_eq!(
        lines,
        [
            line_of(&text, "subnets = [aws_subnet.a.id"),
            line_of(&text, "vpc_zone_identifier")
        ]
    );
    for e in &e {
        assert_eq!(
            e.message,
            "`aws_subnet.a` has count: refer to one instance or to all of them"
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("write aws_subnet.a[0].id or aws_subnet.a[*].id")
        );
    }
}

#[test]
fn syntax_errors_and_bad_var_flags() {
    let text = with(TIER, "port     = 8080", "port     = = 8080");
    let e = one_error(&text);
    assert!(e.message.starts_with("syntax error"), "{e}");
    assert_eq!(line(&e), line_of(&text, "= = 8080"));

    let text = format!("variable \"region\" {{\n  default = \"us-east-1\"\n}}\n{TIER}");
    let stray = vars(&[("aws_profile", "dev")]);
    ok_with(&text, &stray);
    let e =
        config::load_str("main.tf", &text, &vars(&[("regoin", "x")]), Path::new(".")).unwrap_err();
    assert_eq!(
        e.0[0].message,
        "-var regoin: no variable `regoin` is declared"
    );
    assert!(e.0[0].location.is_none());
}

#[test]
fn all_errors_are_reported_together_in_line_order() {
    let text = with(
        TIER,
        "cidr_block        = \"10.0.2.0/24\"",
        "cidr_block        = \"10.0.2.0/33\"",
    );
    let text = with(&text, "port     = 8080", "port     = 70000");
    let text = with(&text, "max_size            = 4", "max_size            = 1");
    let e = load(&text).unwrap_err();
    assert_eq!(e.len(), 3, "{e}");
    let lines: Vec<u32> = e.iter().map(line).collect();
    assert_eq!(
        lines,
        [
            line_of(&text, "10.0.2.0/33"),
            line_of(&text, "70000"),
            line_of(&text, "min_size            = 2")
        ]
    );
    let shown = e.to_string();
    assert!(shown.ends_with("\n\n3 errors"), "{shown}");
    assert_eq!(shown.matches("\n  --> main.tf:").count(), 3);
}

#[test]
fn load_balancers_need_two_zones_and_aws_names() {
    let text = with(
        TIER,
        "subnets = [aws_subnet.a.id, aws_subnet.b.id]",
        "subnets = [aws_subnet.a.id]",
    );
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "an application load balancer needs subnets in at least two availability zones, got 1"
    );
    assert_eq!(line(&e), line_of(&text, "subnets = [aws_subnet.a.id]"));

    let text = with(
        TIER,
        "resource \"aws_lb\" \"front\" {\n",
        "resource \"aws_lb\" \"front\" {\n  name = \"front_lb\"\n",
    );
    let e = one_error(&text);
    assert!(
        e.message.starts_with("`front_lb` is not a valid name"),
        "{e}"
    );
    assert_eq!(line(&e), line_of(&text, "front_lb"));

    let text = with(
        TIER,
        "  port              = 80\n",
        "  port              = 80\n  protocol          = \"TCP\"\n",
    );
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "an application load balancer listens on HTTP or HTTPS, not TCP"
    );
    assert_eq!(line(&e), line_of(&text, "\"TCP\""));

    let text = with(
        TIER,
        "load_balancer_arn = aws_lb.front.arn",
        "load_balancer_arn = \"arn:nothing\"",
    );
    let e = one_error(&text);
    assert_eq!(
        e.message,
        "`arn:nothing` is not the ARN of any aws_lb in this configuration"
    );
    assert_eq!(e.hint.as_deref(), Some("refer to one: aws_lb.<name>.arn"));
}

// === fuzz corpus replay ===

#[test]
fn the_fuzz_corpus_loads_without_panicking() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config_parse");
    let mut n = 0;
    for entry in std::fs::read_dir(&corpus).expect("the fuzz corpus is committed") {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(text) = std::str::from_utf8(&bytes) {
            // Either outcome is fine; a panic fails the test.
            let _ = config::load_str("fuzz.tf", text, &BTreeMap::new(), Path::new("."));
            n += 1;
        }
    }
    assert!(n >= 3, "the corpus holds {n} texts");
}

#[path = "elb/listener_rules.rs"]
mod listener_rules;

// === scaling policies, scheduled actions and alarms ===

const POLICIES: &str = r##"
resource "aws_autoscaling_policy" "cpu" {
  name                   = "cpu50"
  autoscaling_group_name = aws_autoscaling_group.web.name
  policy_type            = "TargetTrackingScaling"
  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = 50
  }
}

resource "aws_autoscaling_policy" "requests" {
  name                   = "rps"
  autoscaling_group_name = aws_autoscaling_group.web.name
  policy_type            = "TargetTrackingScaling"
  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.front.arn_suffix}/${aws_lb_target_group.web.arn_suffix}"
    }
    target_value     = 600
    disable_scale_in = true
  }
}

resource "aws_autoscaling_policy" "step" {
  name                   = "step-out"
  autoscaling_group_name = aws_autoscaling_group.web.name
  policy_type            = "StepScaling"
  adjustment_type        = "PercentChangeInCapacity"
  min_adjustment_magnitude = 1
  step_adjustment {
    metric_interval_lower_bound = 0
    metric_interval_upper_bound = 10
    scaling_adjustment          = 10
  }
  step_adjustment {
    metric_interval_lower_bound = 10
    scaling_adjustment          = 30
  }
}

resource "aws_autoscaling_policy" "simple" {
  name                   = "add-one"
  autoscaling_group_name = aws_autoscaling_group.web.name
  scaling_adjustment     = 1
  cooldown               = 120
}

resource "aws_cloudwatch_metric_alarm" "high" {
  alarm_name          = "cpu-high"
  comparison_operator = "GreaterThanOrEqualToThreshold"
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  metric_name         = "CPUUtilization"
  namespace           = "AWS/EC2"
  period              = 10
  statistic           = "Average"
  threshold           = 50
  treat_missing_data  = "notBreaching"
  dimensions = {
    AutoScalingGroupName = aws_autoscaling_group.web.name
  }
  alarm_actions = [aws_autoscaling_policy.step.arn, "arn:aws:sns:us-east-1:000000000000:ops"]
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  alarm_name          = "p99"
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  metric_name         = "TargetResponseTime"
  namespace           = "AWS/ApplicationELB"
  period              = 60
  extended_statistic  = "p99"
  threshold           = 0.5
}

resource "aws_autoscaling_schedule" "mornings" {
  scheduled_action_name  = "mornings"
  autoscaling_group_name = aws_autoscaling_group.web.name
  recurrence             = "0 9 * * MON-FRI"
  time_zone              = "Europe/Paris"
  min_size               = -1
  max_size               = -1
  desired_capacity       = 4
}
"##;

#[test]
fn policies_alarms_and_schedules_decode_to_the_model() {
    use model::{AlarmAction, PolicyKind, Statistic, TrackedMetric, TreatMissingData};
    let stack = ok(&format!("{TIER}{POLICIES}")).stack;
    assert_eq!(stack.scaling_policies.len(), 4);
    let PolicyKind::TargetTracking(tt) = &stack.scaling_policies["cpu"].kind else {
        panic!("target tracking")
    };
    assert_eq!(tt.target_value.0, 50.0);
    assert_eq!(stack.scaling_policies["cpu"].group, "web");
    let PolicyKind::TargetTracking(rps) = &stack.scaling_policies["requests"].kind else {
        panic!("target tracking")
    };
    assert!(rps.disable_scale_in);
    assert!(
        matches!(&rps.metric, TrackedMetric::AlbRequestCountPerTarget { resource_label } if resource_label.contains("/targetgroup/web/"))
    );
    let PolicyKind::Step(step) = &stack.scaling_policies["step"].kind else {
        panic!("step")
    };
    assert_eq!(step.steps.len(), 2);
    assert_eq!(step.min_adjustment_magnitude, Some(1));
    let PolicyKind::Simple(simple) = &stack.scaling_policies["simple"].kind else {
        panic!("simple is the default policy type")
    };
    assert_eq!(simple.cooldown, Some(Duration::from_secs(120)));
    let high = &stack.metric_alarms["high"];
    assert_eq!(
        (
            high.evaluation_periods,
            high.datapoints_to_alarm,
            high.metric.period
        ),
        (3, 2, 10)
    );
    assert_eq!(high.treat_missing_data, TreatMissingData::NotBreaching);
    assert_eq!(
        high.alarm_actions[0],
        AlarmAction::ScalingPolicy("step".into())
    );
    assert!(matches!(high.alarm_actions[1], AlarmAction::Recorded(_)));
    assert_eq!(high.metric.dimensions[0].value, "web");
    assert_eq!(
        stack.metric_alarms["latency"].metric.statistic,
        Statistic::Percentile(99.0)
    );
    let s = &stack.scheduled_actions["mornings"];
    assert_eq!(
        (s.min_size, s.max_size, s.desired_capacity),
        (None, None, Some(4))
    );
    assert_eq!(s.time_zone.as_deref(), Some("Europe/Paris"));
}

#[track_caller]
fn policy_error(from: &str, to: &str) -> ConfigError {
    let text = format!("{TIER}{}", with(POLICIES, from, to));
    let e = one_error(&text);
    assert_eq!(e.location.as_ref().unwrap().file, "main.tf");
    assert!(e.hint.is_some(), "every error says what to do: {e}");
    e
}

#[test]
fn invalid_policies_are_refused_with_line_attribute_and_fix() {
    let text = format!("{TIER}{POLICIES}");
    // Overlapping step intervals.
    let e = policy_error(
        "    metric_interval_lower_bound = 10\n",
        "    metric_interval_lower_bound = 5\n",
    );
    assert!(e.message.contains("overlaps"), "{e}");
    // A gap.
    let e = policy_error(
        "    metric_interval_lower_bound = 10\n",
        "    metric_interval_lower_bound = 15\n",
    );
    assert!(e.message.contains("gap"), "{e}");
    assert!(e.hint.as_deref().unwrap().contains("= 10"), "{e}");
    // Target ≤ 0.
    let e = policy_error("    target_value = 50\n", "    target_value = 0\n");
    assert_eq!(
        e.attribute.as_deref(),
        Some("target_tracking_configuration.target_value")
    );
    assert_eq!(line(&e), line_of(&text, "    target_value = 50"));
    // Unknown predefined metric and unknown metric names.
    let e = policy_error(
        "\"ASGAverageCPUUtilization\"",
        "\"ASGAverageCPUUtilisation\"",
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("ASGAverageCPUUtilization"),
        "{e}"
    );
    let e = policy_error("\"TargetResponseTime\"", "\"TargetResponseTimes\"");
    assert!(e.message.contains("no metric `TargetResponseTimes`"), "{e}");
    // Cron syntax and time zones.
    let e = policy_error("\"0 9 * * MON-FRI\"", "\"0 9 * MON-FRI\"");
    assert_eq!(e.attribute.as_deref(), Some("recurrence"));
    let e = policy_error("\"0 9 * * MON-FRI\"", "\"0 25 * * MON-FRI\"");
    assert!(e.message.contains("not a valid cron expression"), "{e}");
    let e = policy_error("\"Europe/Paris\"", "\"Europe/Pariss\"");
    assert_eq!(e.attribute.as_deref(), Some("time_zone"));
    // Alarm periods and M of N.
    let e = policy_error(
        "  period              = 10\n",
        "  period              = 90\n",
    );
    assert!(e.hint.as_deref().unwrap().contains("period = 60"), "{e}");
    let e = policy_error("  datapoints_to_alarm = 2\n", "  datapoints_to_alarm = 4\n");
    assert_eq!(e.attribute.as_deref(), Some("datapoints_to_alarm"));
    // Math is refused clearly.
    let e = policy_error(
        "  extended_statistic  = \"p99\"\n",
        "  extended_statistic  = \"p99\"\n  metric_query {\n    id = \"e1\"\n    expression = \"m1 * 2\"\n  }\n",
    );
    assert!(e.message.contains("metric math"), "{e}");
    // Comparison operators and treat_missing_data suggest the right word.
    let e = policy_error("\"notBreaching\"", "\"notbreaching\"");
    assert!(e.hint.as_deref().unwrap().contains("notBreaching"), "{e}");
    // Alarm actions must point at a policy of this configuration.
    let e = policy_error(
        "aws_autoscaling_policy.step.arn, ",
        "\"arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x\", ",
    );
    assert!(
        e.message
            .contains("not the ARN of any aws_autoscaling_policy"),
        "{e}"
    );
}
