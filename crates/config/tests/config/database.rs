//! `aws_db_instance` and `aws_db_subnet_group`: clusters, endpoints as references, RDS's rules.

use model::{DbInstanceKind, database};

use super::{TIER, errors, line, line_of, ok, one_error, with};

/// The tier plus a Multi-AZ primary, a read replica, and a launch template that uses the
/// endpoints the way user data does on AWS.
fn db_tier() -> String {
    format!(
        "{TIER}{}",
        r##"
resource "aws_db_subnet_group" "db" {
  name       = "main-db"
  subnet_ids = [aws_subnet.a.id, aws_subnet.b.id]
}

resource "aws_db_instance" "main" {
  identifier              = "main"
  engine                  = "postgres"
  engine_version          = "15"
  instance_class          = "db.t3.micro"
  allocated_storage       = 20
  db_name                 = "mylearning"
  username                = "app"
  password                = "correct-horse"
  multi_az                = true
  availability_zone       = "us-east-1a"
  db_subnet_group_name    = aws_db_subnet_group.db.name
  backup_retention_period = 7
  skip_final_snapshot     = true
  tags                    = { "updraft:max_replica_lag" = "1MB" }
}

resource "aws_db_instance" "replica" {
  identifier          = "main-replica"
  replicate_source_db = aws_db_instance.main.identifier
  instance_class      = "db.t3.micro"
  availability_zone   = "us-east-1b"
  skip_final_snapshot = true
}

resource "aws_launch_template" "app" {
  name          = "app"
  instance_type = "t3.micro"
  user_data     = base64encode("#!/bin/sh\nDB=${aws_db_instance.main.endpoint} HOST=${aws_db_instance.main.address} PORT=${aws_db_instance.main.port} RO=${aws_db_instance.replica.endpoint}\n")
}
"##
    )
}

#[test]
fn a_multi_az_primary_and_a_replica_form_a_cluster() {
    let loaded = ok(&db_tier());
    let s = &loaded.stack;
    let main = &s.db_instances["main"];
    assert_eq!(main.identifier, "main");
    assert!(main.multi_az());
    assert_eq!(main.port, database::DEFAULT_PORT);
    assert_eq!(main.db_subnet_group.as_deref(), Some("db"));
    assert_eq!(main.max_replica_lag, 1024 * 1024);
    assert!(
        main.recorded_settings
            .contains(&("backup_retention_period".into(), "7".into()))
    );
    let DbInstanceKind::Primary {
        username, db_name, ..
    } = &main.kind
    else {
        panic!("main is a primary")
    };
    assert_eq!(
        (username.as_str(), db_name.as_deref()),
        ("app", Some("mylearning"))
    );
    let replica = &s.db_instances["replica"];
    assert_eq!(
        replica.kind,
        DbInstanceKind::Replica {
            source: "main".into()
        }
    );
    assert_eq!(replica.engine, "postgres");
    assert_eq!(s.db_replicas_of("main").count(), 1);
    assert_eq!(s.db_zones(main).len(), 2);
    assert_eq!(s.db_instance("main-replica").unwrap().key, "replica");
    // References evaluate to the endpoints, as on AWS.
    assert_eq!(
        s.launch_templates["app"].user_data,
        "#!/bin/sh\nDB=127.0.0.2:5432 HOST=127.0.0.2 PORT=5432 RO=127.0.0.3:5432\n"
    );
}

#[test]
fn rds_rules_are_errors_at_their_lines() {
    let text = with(
        &db_tier(),
        "password                = \"correct-horse\"",
        "password = \"short\"",
    );
    let e = one_error(&text);
    assert_eq!(e.attribute.as_deref(), Some("password"));
    assert_eq!(line(&e), line_of(&text, "password = \"short\""));
    assert!(e.message.contains("5 characters"), "{e}");

    let text = with(
        &db_tier(),
        "engine                  = \"postgres\"",
        "engine = \"mysql\"",
    );
    let e = one_error(&text);
    assert!(e.message.contains("`mysql` is not supported"), "{e}");

    let text = with(&db_tier(), "  username                = \"app\"\n", "");
    let e = one_error(&text);
    assert_eq!(e.message, "username is required");

    let text = with(
        &db_tier(),
        "identifier              = \"main\"",
        "identifier = \"Main_DB\"",
    );
    let e = one_error(&text);
    assert!(
        e.message.contains("not a valid DB instance identifier"),
        "{e}"
    );
}

#[test]
fn replicas_are_checked_against_their_source() {
    let text = with(
        &db_tier(),
        "replicate_source_db = aws_db_instance.main.identifier",
        "replicate_source_db = \"nope\"",
    );
    let e = one_error(&text);
    assert!(e.message.contains("`nope` is not the identifier"), "{e}");

    let text = with(
        &db_tier(),
        "availability_zone   = \"us-east-1b\"",
        "availability_zone = \"us-east-1b\"\n  port = 6543",
    );
    let e = one_error(&text);
    assert_eq!(e.attribute.as_deref(), Some("port"));
    assert!(
        e.message.contains("differs from its source's port 5432"),
        "{e}"
    );

    let text = with(
        &db_tier(),
        "instance_class      = \"db.t3.micro\"\n  availability_zone",
        "instance_class = \"db.t3.micro\"\n  password = \"correct-horse\"\n  availability_zone",
    );
    let e = one_error(&text);
    assert!(
        e.message.contains("takes its password from its source"),
        "{e}"
    );
}

#[test]
fn placement_needs_zones_of_the_subnet_group() {
    let text = with(
        &db_tier(),
        "subnet_ids = [aws_subnet.a.id, aws_subnet.b.id]",
        "subnet_ids = [aws_subnet.a.id]",
    );
    let all = errors(&text);
    let messages: Vec<_> = all.iter().map(|e| e.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("multi_az needs two availability zones")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`us-east-1b` is not a zone")),
        "{messages:?}"
    );
}

#[test]
fn endpoint_ports_and_lag_tags() {
    let second = r#"
resource "aws_db_instance" "other" {
  engine         = "postgres"
  instance_class = "db.t3.micro"
  username       = "app"
  password       = "correct-horse"
}
"#;
    let text = format!("{}{second}", db_tier());
    let e = one_error(&text);
    assert!(
        e.message
            .contains("port 5432 is already used by the endpoints"),
        "{e}"
    );
    assert!(
        ok(&with(
            &text,
            "username       = \"app\"",
            "port = 6000\n  username = \"app\""
        ))
        .stack
        .db_instances["other"]
            .port
            == 6000
    );

    let text = with(&db_tier(), "\"1MB\"", "\"lots\"");
    let e = one_error(&text);
    assert!(e.message.contains("is not a size"), "{e}");
}

#[test]
fn aurora_and_parameter_groups_point_somewhere_useful() {
    let text = format!("{}\nresource \"aws_rds_cluster\" \"x\" {{}}\n", db_tier());
    let e = one_error(&text);
    assert!(
        e.hint
            .as_deref()
            .unwrap_or_default()
            .contains("multi_az = true"),
        "{e}"
    );
}
