//! Managed PostgreSQL end to end: real servers (Debian's postgresql package), the real
//! binary, real failovers under write load, the writer and reader endpoints.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Stack, free_port, stack_config};

/// The test stack plus a Multi-AZ primary (subnet group a + b) and a read replica in c.
pub(crate) fn db_config(net: u8, port: u16, db_port: u16) -> String {
    format!(
        "{}{}",
        stack_config(net, port, 1, "exec mylearning"),
        format_args!(
            r#"
resource "aws_db_subnet_group" "db" {{
  name       = "db"
  subnet_ids = aws_subnet.z[*].id
}}

resource "aws_db_instance" "main" {{
  identifier           = "main"
  engine               = "postgres"
  instance_class       = "db.t3.micro"
  allocated_storage    = 20
  db_name              = "app"
  username             = "app"
  password             = "correct-horse"
  port                 = {db_port}
  multi_az             = true
  availability_zone    = "us-east-1a"
  db_subnet_group_name = aws_db_subnet_group.db.name
  skip_final_snapshot  = true
}}

resource "aws_db_instance" "replica" {{
  identifier          = "main-replica"
  replicate_source_db = aws_db_instance.main.identifier
  instance_class      = "db.t3.micro"
  availability_zone   = "us-east-1c"
  port                = {db_port}
}}
"#
        )
    )
}

/// Fails the test with what to install when PostgreSQL's server binaries are missing.
pub(crate) fn require_postgres() {
    assert!(
        std::path::Path::new("/usr/lib/postgresql").is_dir(),
        "PostgreSQL is not installed: apt-get install postgresql (see .ci/run)"
    );
}

pub(crate) fn database(status: &Value) -> Option<&Value> {
    status["databases"].as_array()?.first()
}

/// Healthy: a primary, a synchronous standby, every node running.
pub(crate) fn healthy(status: &Value) -> bool {
    database(status).is_some_and(|db| {
        db["primary"].is_string()
            && db["synchronous_standby"].is_string()
            && db["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == 3 && n.iter().all(|n| n["status"] == "running"))
    })
}

pub(crate) fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
#[allow(clippy::disallowed_methods)] // real processes: wall-clock waits, bounded
fn failovers_lose_no_acknowledged_write_and_reads_survive_a_replica() {
    require_postgres();
    let port = free_port();
    let db_port = free_port();
    let stack = Stack::up("db-failover", &db_config(90, port, db_port), port);
    let status = stack.wait_for(
        "a healthy Multi-AZ cluster",
        Duration::from_secs(120),
        healthy,
    );
    let db = database(&status).unwrap();
    assert_eq!(db["writer_endpoint"], format!("127.0.0.2:{db_port}"));

    // Endpoints for scripts, exactly.
    let out = stack.cli(&["db", "endpoints"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("writer 127.0.0.2:{db_port}\nreader 127.0.0.3:{db_port}\n")
    );

    // Wrong credentials through the writer endpoint: PostgreSQL's own answer, passed through.
    let writer = format!("127.0.0.2:{db_port}");
    let wrong = psql_as(&writer, "wrong-password", "SELECT 1").unwrap_err();
    assert!(wrong.contains("password authentication failed"), "{wrong}");

    // Databases are not changed live: apply refuses and changes nothing.
    let changed = stack.dir.0.join("changed.tf");
    std::fs::write(
        &changed,
        db_config(90, port, db_port).replace("correct-horse", "another-horse"),
    )
    .unwrap();
    let out = stack.cli(&["apply", changed.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("databases are not changed on a running stack"),
        "{}",
        text(&out)
    );

    // Two SIGKILL failovers under write load: nothing acknowledged is lost.
    let started = Instant::now();
    let out = stack.cli(&["db", "drill", "--failovers", "2"]);
    let report = text(&out);
    assert!(
        out.status.success(),
        "drill failed:\n{report}\nlog:\n{}",
        stack.log()
    );
    assert!(report.contains(", 0 lost;"), "{report}");
    eprintln!("drill ({:?}):\n{report}", started.elapsed());

    // Every step is an event with its timing.
    let out = stack.cli(&["db", "events", "main"]);
    let events = text(&out);
    assert!(events.contains("fenced"), "{events}");
    assert!(events.contains("promoted in"), "{events}");
    assert!(events.contains("writes accepted"), "{events}");

    // Reads through the reader endpoint keep working when a replica dies.
    let status = stack.wait_for("healthy again", Duration::from_secs(120), healthy);
    let db = database(&status).unwrap();
    let readers: Vec<String> = db["readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert!(!readers.is_empty());
    let out = stack.cli(&["chaos", "kill-db-node", "main-replica"]);
    assert!(out.status.success(), "{}", text(&out));
    let reader = format!("127.0.0.3:{db_port}");
    let mut ok = 0;
    for _ in 0..20 {
        if psql(&reader, "SELECT 1").is_ok() {
            ok += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        ok >= 18,
        "reads failed {} of 20 times after a replica died",
        20 - ok
    );
    stack.down();
}

/// One query through an endpoint with psql (the client every PostgreSQL user has).
pub(crate) fn psql(endpoint: &str, sql: &str) -> Result<String, String> {
    psql_as(endpoint, "correct-horse", sql)
}

pub(crate) fn psql_as(endpoint: &str, password: &str, sql: &str) -> Result<String, String> {
    psql_user(endpoint, "app", "app", password, sql)
}

/// One query as `user` on database `db`.
pub(crate) fn psql_user(
    endpoint: &str,
    user: &str,
    db: &str,
    password: &str,
    sql: &str,
) -> Result<String, String> {
    let (host, port) = endpoint.rsplit_once(':').unwrap();
    let out = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
        .args(["-h", host, "-p", port, "-U", user, "-d", db, "-Atc", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "3")
        // Bounded even when a commit waits for a synchronous standby that is gone.
        .env("PGOPTIONS", "-c statement_timeout=30000")
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn a_missing_postgresql_names_the_package_and_starts_nothing() {
    let port = free_port();
    let dir = crate::support::TempDir::new("db-missing");
    std::fs::write(dir.0.join("main.tf"), db_config(91, port, free_port())).unwrap();
    let out = std::process::Command::new(crate::support::updraft_bin())
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .arg("up")
        .arg(dir.0.join("main.tf"))
        .env("UPDRAFT_POSTGRES_BIN", "/nonexistent/postgresql/bin")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("apt-get install postgresql"), "{err}");
    assert!(err.contains("aws_db_instance.main"), "{err}");
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the listener was released"
    );
}

#[test]
#[allow(clippy::disallowed_methods)] // real processes: wall-clock waits, bounded
fn a_data_directory_that_is_not_ours_is_left_alone_and_said() {
    require_postgres();
    let port = free_port();
    let stack = Stack::up_with(
        "db-foreign",
        &db_config(92, port, free_port()),
        port,
        |dir| {
            let foreign = dir.join("state/db/main/main-1/data");
            std::fs::create_dir_all(&foreign).unwrap();
            std::fs::write(foreign.join("PG_VERSION"), "14\n").unwrap();
        },
    );
    let foreign = stack.dir.0.join("state/db/main/main-1/data");
    let status = stack.wait_for(
        "the foreign data directory to be reported",
        Duration::from_secs(60),
        |s| {
            database(s).is_some_and(|db| {
                db["nodes"].as_array().is_some_and(|n| {
                    n.iter().any(|n| {
                        n["reason"].as_str().is_some_and(|r| {
                            r.contains("not created by updraft") || r.contains("already exists")
                        })
                    })
                })
            })
        },
    );
    let db = database(&status).unwrap();
    assert!(db["primary"].is_null());
    assert!(db["writes_refused"].is_string());
    // Untouched.
    assert_eq!(
        std::fs::read_to_string(foreign.join("PG_VERSION")).unwrap(),
        "14\n"
    );
    stack.down();
}
