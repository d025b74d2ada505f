//! A crash of updraft does not restart or fail over its PostgreSQL servers: the next
//! `updraft up` adopts them (same pids, same start times), the writer endpoint comes back to
//! the same primary with every acknowledged row, a second writable node found after the crash
//! is fenced, and the death of an adopted primary is still detected and failed over.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::database::{database, db_config, healthy, psql, psql_user, require_postgres, text};
use crate::support::{Stack, free_port, process_alive};

/// Field 22 of `/proc/<pid>/stat`: with the pid, names a process.
fn start_time(pid: u64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Node name → (pid, start time, address, role).
fn servers(status: &Value) -> BTreeMap<String, (u64, u64, String, String)> {
    database(status).unwrap()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let pid = n["pid"].as_u64().expect("a running node has a pid");
            (
                n["name"].as_str().unwrap().to_owned(),
                (
                    pid,
                    start_time(pid).expect("its process runs"),
                    n["address"].as_str().unwrap().to_owned(),
                    n["role"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

/// Healthy, and the Multi-AZ standby (not the replica standing in while the standby was
/// still being cloned) is the synchronous standby.
fn settled(status: &Value) -> bool {
    healthy(status)
        && database(status).is_some_and(|db| {
            db["nodes"].as_array().unwrap().iter().any(|n| {
                n["name"] == db["synchronous_standby"]
                    && n["role"].as_str().is_some_and(|r| r.starts_with("standby"))
            })
        })
}

fn crash(stack: &mut Stack) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(stack.daemon_pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    stack.wait_exit(Duration::from_secs(10));
}

/// Events recorded after the `n`th adoption message, as text.
fn events(stack: &Stack) -> String {
    text(&stack.cli(&["db", "events", "--limit", "200"]))
}

#[test]
fn a_restarted_updraft_adopts_its_postgresql_servers() {
    require_postgres();
    let port = free_port();
    let db_port = free_port();
    let writer = format!("127.0.0.2:{db_port}");
    let mut stack = Stack::up("db-adopt", &db_config(93, port, db_port), port);
    let status = stack.wait_for(
        "a healthy Multi-AZ cluster, its standby synchronous",
        Duration::from_secs(120),
        settled,
    );
    let before = servers(&status);
    let primary = database(&status).unwrap()["primary"]
        .as_str()
        .unwrap()
        .to_owned();
    let promotions = database(&status).unwrap()["promotions"].clone();
    psql(
        &writer,
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)",
    )
    .unwrap();

    // 1. updraft dies hard; its servers do not, and keep serving (synchronously replicated).
    crash(&mut stack);
    for (name, (pid, ..)) in &before {
        assert!(process_alive(*pid as u32), "{name} died with updraft");
    }
    let primary_addr = &before[&primary].2;
    psql(primary_addr, "INSERT INTO t VALUES (101)").unwrap();

    stack.restart();
    let status = stack.wait_for(
        "the adopted cluster, healthy",
        Duration::from_secs(60),
        |s| settled(s) && database(s).unwrap()["nodes"][0]["adopted"] == true,
    );
    assert_eq!(
        servers(&status),
        before,
        "the same servers (pid and start time), not restarted ones\n{}",
        events(&stack)
    );
    let db = database(&status).unwrap();
    assert_eq!(
        db["primary"],
        primary.as_str(),
        "the writer leads to the same primary"
    );
    assert_eq!(db["promotions"], promotions, "no failover");
    assert!(
        db["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["adopted"] == true),
        "{db}"
    );
    let log = events(&stack);
    for name in before.keys() {
        assert!(
            log.contains(&format!("{name} adopted after an updraft restart")),
            "{log}"
        );
    }
    assert!(!log.contains("fenced"), "{log}");
    // Every acknowledged row, and writes through the writer endpoint again.
    psql(&writer, "INSERT INTO t VALUES (102)").unwrap();
    assert_eq!(psql(&writer, "SELECT count(*) FROM t").unwrap(), "102");

    // 2. Ambiguity after a crash: the standby was promoted behind updraft's back, so two nodes
    // are writable. The state names the primary; the other is fenced and rejoins as a standby.
    crash(&mut stack);
    let (standby, (standby_pid, _, standby_addr, _)) = before
        .iter()
        .find(|(_, (.., role))| role.starts_with("standby"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .unwrap();
    let creds: Value = serde_json::from_str(
        &std::fs::read_to_string(stack.dir.0.join("state/db/main/credentials.json")).unwrap(),
    )
    .unwrap();
    let admin = creds["admin_password"].as_str().unwrap();
    let promoted = psql_user(
        &standby_addr,
        "updraft_admin",
        "postgres",
        admin,
        "SELECT pg_promote(true, 30)",
    );
    assert_eq!(promoted.as_deref(), Ok("t"), "{promoted:?}");
    stack.restart();
    stack.wait_for(
        "the second writable node fenced",
        Duration::from_secs(30),
        |_| events(&stack).contains("split brain prevented"),
    );
    let status = stack.wait_for(
        "the fenced node back as the synchronous standby",
        Duration::from_secs(60),
        settled,
    );
    let db = database(&status).unwrap();
    assert_eq!(db["primary"], primary.as_str());
    assert_eq!(db["promotions"], promotions);
    let now = servers(&status);
    assert_ne!(
        now[&standby].0, standby_pid,
        "{standby} was fenced and rejoined"
    );
    assert_eq!(
        now[&primary], before[&primary],
        "the primary was adopted again"
    );
    assert_eq!(psql(&writer, "SELECT count(*) FROM t").unwrap(), "102");

    // 3. An adopted primary is not our child: its death is still seen, and failed over.
    let out = stack.cli(&["chaos", "kill-db-primary"]);
    let report = text(&out);
    assert!(out.status.success(), "{report}\n{}", stack.log());
    assert!(
        report.contains(&format!("primary {primary} lost")),
        "{report}"
    );
    assert!(report.contains("an adopted server"), "{report}");
    let status = stack.wait_for("a new primary", Duration::from_secs(30), |s| {
        database(s).is_some_and(|db| db["primary"].is_string() && db["primary"] != primary.as_str())
    });
    eprintln!(
        "failover of an adopted primary: {}",
        database(&status).unwrap()["last_failover"]
    );
    psql(&writer, "INSERT INTO t VALUES (103)").unwrap();
    assert_eq!(psql(&writer, "SELECT count(*) FROM t").unwrap(), "103");
    assert!(stack.down().success());
    for (name, (pid, ..)) in &now {
        assert!(
            !process_alive(*pid as u32),
            "{name} left running after down"
        );
    }
}
