//! Checks across resources, once every resource is decoded: a group only registers instances in
//! `instance` target groups, listener ports do not collide, AWS names are unique, and listeners
//! of application load balancers speak HTTP(S).

use std::cell::RefCell;
use std::collections::BTreeMap;

use model::{LoadBalancerType, Protocol, ResourceAddress, SourceMap, Stack, TargetType};

use crate::error::ConfigError;

pub(super) fn cross_check(stack: &Stack, sources: &SourceMap, errors: &RefCell<Vec<ConfigError>>) {
    // Addresses in the source map use the type as written (`aws_alb` or `aws_lb`); find the one
    // that was recorded.
    let address = |kinds: &[&str], key: &str| {
        kinds
            .iter()
            .map(|k| ResourceAddress::new(*k, key))
            .find(|a| sources.get(a, None).is_some())
            .unwrap_or_else(|| ResourceAddress::new(kinds[0], key))
    };
    let push = |addr: &ResourceAddress, attr: &str, message: String, hint: &str| {
        let mut e = ConfigError::new(message)
            .address(addr.to_string())
            .attribute(attr)
            .hint(hint);
        if let Some(at) = sources.get(addr, Some(attr)) {
            e = e.at(at.clone());
        }
        errors.borrow_mut().push(e);
    };
    const LB: &[&str] = &["aws_lb", "aws_alb"];
    const LISTENER: &[&str] = &["aws_lb_listener", "aws_alb_listener"];

    for (key, group) in &stack.auto_scaling_groups {
        for tg in &group.target_groups {
            if let Some(t) = stack.target_groups.get(tg)
                && t.target_type != TargetType::Instance
            {
                push(
                    &address(&["aws_autoscaling_group"], key),
                    "target_group_arns",
                    format!(
                        "target group `{tg}` has target_type = \"ip\", but a group registers instances"
                    ),
                    "use a target group with target_type = \"instance\" (the default)",
                );
            }
        }
    }

    // "The second" listener on a port is the second one in the files, not in key order.
    let position = |kinds: &[&str], key: &str| {
        sources
            .get(&address(kinds, key), None)
            .map(|l| (l.file.clone(), l.line))
    };
    let mut listeners: Vec<_> = stack.listeners.iter().collect();
    listeners.sort_by_key(|(key, _)| position(LISTENER, key));
    let mut ports: BTreeMap<u16, &str> = BTreeMap::new();
    for (key, listener) in listeners {
        let addr = address(LISTENER, key);
        if let Some(lb) = stack.load_balancers.get(&listener.load_balancer)
            && lb.load_balancer_type == LoadBalancerType::Application
            && !matches!(listener.protocol, Protocol::Http | Protocol::Https)
        {
            push(
                &addr,
                "protocol",
                format!(
                    "an application load balancer listens on HTTP or HTTPS, not {}",
                    listener.protocol.as_str()
                ),
                "use protocol = \"HTTP\"",
            );
        }
        match ports.get(&listener.port) {
            Some(other) => {
                let same_lb = stack
                    .listeners
                    .get(*other)
                    .is_some_and(|o| o.load_balancer == listener.load_balancer);
                let message = if same_lb {
                    format!(
                        "port {} is already used by listener `{other}` of the same load balancer",
                        listener.port
                    )
                } else {
                    format!(
                        "port {} is already used by listener `{other}`; every load balancer of a stack listens on this host",
                        listener.port
                    )
                };
                push(&addr, "port", message, "pick another port");
            }
            None => {
                ports.insert(listener.port, key);
            }
        }
    }

    listener_rules(stack, &address, &position, &push);
    check_databases(stack, &push, &address);

    let names = |kinds: &[&str], mut entries: Vec<(&String, &String)>| {
        entries.sort_by_key(|(key, _)| position(kinds, key));
        let mut seen: BTreeMap<&String, &String> = BTreeMap::new();
        for (key, name) in entries {
            match seen.get(name) {
                Some(first) => push(
                    &address(kinds, key),
                    "name",
                    format!("name `{name}` is already used by `{first}`"),
                    "AWS names are unique per region: rename one",
                ),
                None => {
                    seen.insert(name, key);
                }
            }
        }
    };
    names(
        LB,
        stack
            .load_balancers
            .iter()
            .map(|(k, v)| (k, &v.name))
            .collect(),
    );
    names(
        &["aws_lb_target_group", "aws_alb_target_group"],
        stack
            .target_groups
            .iter()
            .map(|(k, v)| (k, &v.name))
            .collect(),
    );
    names(
        &["aws_launch_template"],
        stack
            .launch_templates
            .iter()
            .map(|(k, v)| (k, &v.name))
            .collect(),
    );
    names(
        &["aws_autoscaling_group"],
        stack
            .auto_scaling_groups
            .iter()
            .map(|(k, v)| (k, &v.name))
            .collect(),
    );
}

/// Where a resource was written (file, line), to report "the second one" in file order.
type Position<'a> = &'a dyn Fn(&[&str], &str) -> Option<(String, u32)>;

/// Rule priorities are unique per listener; an ALB has at most 100 rules (default rules not
/// counted).
fn listener_rules(
    stack: &Stack,
    address: &dyn Fn(&[&str], &str) -> ResourceAddress,
    position: Position<'_>,
    push: &dyn Fn(&ResourceAddress, &str, String, &str),
) {
    const RULE: &[&str] = &["aws_lb_listener_rule", "aws_alb_listener_rule"];
    let mut rules: Vec<_> = stack.listener_rules.iter().collect();
    rules.sort_by_key(|(key, _)| position(RULE, key));
    let mut seen: BTreeMap<(&str, u32), &str> = BTreeMap::new();
    let mut per_lb: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, rule) in rules {
        let addr = address(RULE, key);
        match seen.get(&(rule.listener.as_str(), rule.priority)) {
            Some(other) => push(
                &addr,
                "priority",
                format!(
                    "priority {} is already used by rule `{other}` of listener `{}`",
                    rule.priority, rule.listener
                ),
                "priorities are unique per listener: pick another one (1-50000)",
            ),
            None => {
                seen.insert((rule.listener.as_str(), rule.priority), key);
            }
        }
        if let Some(l) = stack.listeners.get(&rule.listener) {
            let n = per_lb.entry(l.load_balancer.as_str()).or_default();
            *n += 1;
            if *n == MAX_RULES_PER_LOAD_BALANCER + 1 {
                push(
                    &addr,
                    "listener_arn",
                    format!(
                        "load balancer `{}` has more than {MAX_RULES_PER_LOAD_BALANCER} listener rules",
                        l.load_balancer
                    ),
                    "AWS allows 100 rules per application load balancer (default actions not counted): merge rules",
                );
            }
        }
    }
}

/// ALB quota "rules per load balancer (excluding default rules)".
const MAX_RULES_PER_LOAD_BALANCER: usize = 100;
/// Read replicas name a primary on the same port; zones exist; Multi-AZ has two zones; writer
/// endpoints do not share a port; identifiers are unique.
fn check_databases(
    stack: &Stack,
    push: &dyn Fn(&ResourceAddress, &str, String, &str),
    address: &dyn Fn(&[&str], &str) -> ResourceAddress,
) {
    use model::DbInstanceKind;
    const DB: &[&str] = &["aws_db_instance"];
    let mut ports: BTreeMap<u16, &str> = BTreeMap::new();
    let mut identifiers: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, db) in &stack.db_instances {
        let addr = address(DB, key);
        if let Some(first) = identifiers.insert(&db.identifier, key) {
            push(
                &addr,
                "identifier",
                format!(
                    "identifier `{}` is already used by `aws_db_instance.{first}`",
                    db.identifier
                ),
                "DB instance identifiers are unique per region: rename one",
            );
        }
        let zones = stack.db_zones(db);
        match (&db.availability_zone, zones.is_empty()) {
            (Some(z), false) if !zones.contains(z) => push(
                &addr,
                "availability_zone",
                format!(
                    "`{z}` is not a zone of the database's subnets ({})",
                    zones
                        .iter()
                        .map(|z| z.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "pick one of those zones, or add a subnet in it to the DB subnet group",
            ),
            (None, true) => push(
                &addr,
                "db_subnet_group_name",
                "the database has no availability zone to run in: the stack has no subnets".into(),
                "add an aws_db_subnet_group with subnets in two AZs and set db_subnet_group_name",
            ),
            (Some(z), true) if z.default_loopback_block().is_none() => push(
                &addr,
                "availability_zone",
                format!("zone `{z}` has no letter suffix, so it has no loopback block"),
                "use a zone name such as us-east-1a, or add subnets with 127.x.y.0/24 cidr blocks",
            ),
            _ => {}
        }
        match &db.kind {
            DbInstanceKind::Primary { multi_az, .. } => {
                let mut all = zones.clone();
                if let Some(z) = &db.availability_zone
                    && !all.contains(z)
                {
                    all.push(z.clone());
                }
                if *multi_az && all.len() < 2 {
                    push(
                        &addr,
                        "multi_az",
                        format!(
                            "multi_az needs two availability zones, but the database's subnets are all in {}",
                            all.first().map_or("no zone", |z| z.as_str())
                        ),
                        "give the DB subnet group subnets in at least two AZs",
                    );
                }
                if let Some(other) = ports.insert(db.port, key) {
                    push(
                        &addr,
                        "port",
                        format!(
                            "port {} is already used by the endpoints of `aws_db_instance.{other}`",
                            db.port
                        ),
                        "every database's writer and reader endpoints listen on its port: give each database its own port",
                    );
                }
            }
            DbInstanceKind::Replica { source } => match stack.db_instances.get(source) {
                Some(src) if !src.is_primary() => push(
                    &addr,
                    "replicate_source_db",
                    format!(
                        "`{}` is itself a read replica; replicas of replicas are not supported",
                        src.identifier
                    ),
                    "replicate from the primary instead",
                ),
                Some(src) if src.port != db.port => push(
                    &addr,
                    "port",
                    format!(
                        "the replica's port {} differs from its source's port {}: the cluster's endpoints share one port",
                        db.port, src.port
                    ),
                    "remove port from the replica, or set it to the source's port",
                ),
                _ => {}
            },
        }
    }
}
