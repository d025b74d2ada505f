//! Faults of a running cluster, each a clear state in `updraft status` and an event: updraft's
//! own credentials changed behind its back (the replication role's password: set again from
//! `credentials.json`; the monitoring role's: the servers are alive but unobserved, and nothing
//! is failed over for it); a replica whose disk fills up; no safe promotion (the synchronous
//! standby hung, then the primary killed: nothing is promoted, the old primary restarts in
//! place). Also: the cluster's `AWS/RDS` metrics in `updraft metrics`.

use std::time::Duration;

use serde_json::Value;

use crate::database::{database, db_config, healthy, psql, psql_user, require_postgres, text};
use crate::support::{Stack, free_port};

fn events(stack: &Stack) -> String {
    text(&stack.cli(&["db", "events", "--limit", "300"]))
}

fn node_note(status: &Value, needle: &str) -> bool {
    database(status).is_some_and(|db| {
        db["nodes"].as_array().unwrap().iter().any(|n| {
            ["fault", "probe_error", "reason"]
                .iter()
                .any(|k| n[*k].as_str().is_some_and(|s| s.contains(needle)))
        })
    })
}

#[test]
fn changed_credentials_are_reported_and_updrafts_own_are_set_again() {
    require_postgres();
    let port = free_port();
    let db_port = free_port();
    let writer = format!("127.0.0.2:{db_port}");
    let stack = Stack::up("db-creds", &db_config(94, port, db_port), port);
    let status = stack.wait_for("a healthy cluster", Duration::from_secs(120), healthy);
    let db = database(&status).unwrap();
    let primary = db["primary"].as_str().unwrap().to_owned();
    let promotions = db["promotions"].clone();
    let primary_addr = db["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == primary.as_str())
        .unwrap()["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let creds: Value = serde_json::from_str(
        &std::fs::read_to_string(stack.dir.0.join("state/db/main/credentials.json")).unwrap(),
    )
    .unwrap();
    let admin = creds["admin_password"].as_str().unwrap().to_owned();
    let as_admin = |password: &str, sql: &str| {
        psql_user(&primary_addr, "updraft_admin", "postgres", password, sql)
    };
    psql(&writer, "CREATE TABLE t (id int PRIMARY KEY)").unwrap();

    // The database's metrics reach the metrics store under RDS's names.
    let metric = |name: &str, id: &str| {
        let out = stack.cli(&[
            "metrics",
            name,
            "--dimension",
            &format!("DBInstanceIdentifier={id}"),
            "--since",
            "30",
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    stack.wait_for("RDS metrics in the store", Duration::from_secs(30), |_| {
        metric("DatabaseConnections", "main")
            .contains("AWS/RDS DatabaseConnections DBInstanceIdentifier=main (Count)")
            && metric("ReplicaLag", "main-replica")
                .contains("AWS/RDS ReplicaLag DBInstanceIdentifier=main-replica (Seconds)")
    });

    // 1. The replication role's password changes behind updraft's back and the standbys are
    // disconnected: they are refused, that is said, and updraft sets the password again.
    // (Two statements: a transaction that cut the synchronous standby off would wait for it
    // to reconnect, with the old password, before it commits.)
    as_admin(
        &admin,
        "ALTER ROLE updraft_replication PASSWORD 'changed-behind-our-back'",
    )
    .unwrap();
    as_admin(
        &admin,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_replication",
    )
    .unwrap();
    stack.wait_for(
        "the refused standby reported and the password set again",
        Duration::from_secs(60),
        |_| {
            let log = events(&stack);
            log.contains("updraft's own role was refused (password authentication failed)")
                && log.contains("setting updraft's roles' passwords on")
        },
    );
    stack.wait_for(
        "every standby streaming again",
        Duration::from_secs(60),
        |s| healthy(s) && events(&stack).contains("cleared (updraft's own role was refused"),
    );
    psql(&writer, "INSERT INTO t VALUES (1)").unwrap();

    // 2. The monitoring role's password changes: every server is alive but cannot be
    // observed. That is said in status and as an event; nothing is failed over for it.
    // (Its monitor keeps its connection: cut it, as a server restart would.)
    as_admin(&admin, "ALTER ROLE updraft_admin PASSWORD 'changed-too'").unwrap();
    as_admin(
        "changed-too",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE usename = 'updraft_admin' AND pid <> pg_backend_pid()",
    )
    .unwrap();
    let status = stack.wait_for(
        "the refused monitoring role reported",
        Duration::from_secs(30),
        |s| node_note(s, "monitoring role was refused"),
    );
    assert!(
        events(&stack).contains("updraft's monitoring role was refused"),
        "{}",
        events(&stack)
    );
    let db = database(&status).unwrap();
    assert_eq!(db["primary"], primary.as_str(), "{db}");
    assert_eq!(db["promotions"], promotions, "nothing failed over: {db}");
    psql(&writer, "INSERT INTO t VALUES (2)").unwrap();
    // The operator puts it back; the note clears.
    as_admin(
        "changed-too",
        &format!("ALTER ROLE updraft_admin PASSWORD '{admin}'"),
    )
    .unwrap();
    stack.wait_for("the note cleared", Duration::from_secs(30), |s| {
        healthy(s) && !node_note(s, "monitoring role was refused")
    });
    let status = stack.status().unwrap();
    assert_eq!(database(&status).unwrap()["promotions"], promotions);
    assert_eq!(psql(&writer, "SELECT count(*) FROM t").unwrap(), "2");
    assert!(stack.down().success());
}

/// A tmpfs mounted on a node's directory (a small disk of its own); lazily unmounted on drop,
/// even if the test fails.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs for a replica's disk and needs root (CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(dir.to_owned())
    }

    fn available(&self) -> u64 {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.0)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_replica_whose_disk_fills_up_is_reported_and_catches_up_when_space_returns() {
    require_postgres();
    let port = free_port();
    let db_port = free_port();
    let writer = format!("127.0.0.2:{db_port}");
    let mut disk = None;
    let stack = Stack::up_with("db-diskfull", &db_config(95, port, db_port), port, |dir| {
        disk = Some(SmallDisk::mount(
            &dir.join("state/db/main/main-replica"),
            "256m",
        ));
    });
    let disk = disk.unwrap();
    let status = stack.wait_for("a healthy cluster", Duration::from_secs(120), healthy);
    let replica_addr = database(&status).unwrap()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "main-replica")
        .unwrap()["address"]
        .as_str()
        .unwrap()
        .to_owned();
    // Leave the replica 4 MB: less than one 16 MB WAL segment.
    let ballast = disk.0.join("ballast");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0u8; 1 << 20];
        let mut left = disk.available().saturating_sub(4 << 20);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if f.write_all(&chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
    }
    // About 40 MB of WAL: the replica must start new segments and cannot.
    psql(
        &writer,
        "CREATE TABLE big (id int, pad text); \
         INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 250000) g",
    )
    .unwrap();
    let status = stack.wait_for(
        "the full disk reported in status",
        Duration::from_secs(60),
        |s| {
            database(s).is_some_and(|db| {
                db["nodes"].as_array().unwrap().iter().any(|n| {
                    n["name"] == "main-replica"
                        && n["fault"].as_str().is_some_and(|f| f.contains("disk full"))
                })
            })
        },
    );
    let log = events(&stack);
    assert!(
        log.contains("main-replica: disk full (No space left on device)"),
        "{log}"
    );
    // Writes go on: the replica is asynchronous; the primary stays where it was.
    let db = database(&status).unwrap();
    assert_ne!(db["primary"], "main-replica");
    psql(&writer, "INSERT INTO big VALUES (0, 'after')").unwrap();

    // Space returns: the replica streams again and has every row.
    std::fs::remove_file(&ballast).unwrap();
    stack.wait_for("the replica caught up", Duration::from_secs(60), |_| {
        psql(&replica_addr, "SELECT count(*) FROM big").as_deref() == Ok("250001")
            && events(&stack).contains("main-replica: cleared (disk full")
    });
    // Detached first (lazily: its servers still use it until they stop), so that the stack's
    // temporary directory can be removed whole.
    drop(disk);
    assert!(stack.down().success());
}

/// SIGSTOP or SIGCONT to a server: its postmaster and every child (PostgreSQL's children
/// each call `setsid()`, so the postmaster's process group is the postmaster alone). The
/// server may be gone: updraft may have replaced a hung server meanwhile.
fn signal_server(postmaster: u64, signal: nix::sys::signal::Signal) {
    let mut pids = vec![postmaster];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let (_, rest) = s.rsplit_once(')')?;
                rest.split_whitespace().nth(1)?.parse::<u64>().ok()
            });
        if ppid == Some(postmaster) {
            pids.push(pid);
        }
    }
    for pid in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
    }
}

#[test]
fn with_the_synchronous_standby_gone_too_nothing_unsafe_is_promoted() {
    require_postgres();
    let port = free_port();
    let db_port = free_port();
    let writer = format!("127.0.0.2:{db_port}");
    let stack = Stack::up("db-nosafe", &db_config(96, port, db_port), port);
    let status = stack.wait_for("a healthy cluster", Duration::from_secs(120), |s| {
        healthy(s)
            && database(s).is_some_and(|db| {
                db["nodes"].as_array().unwrap().iter().any(|n| {
                    n["name"] == db["synchronous_standby"]
                        && n["role"].as_str().is_some_and(|r| r.starts_with("standby"))
                })
            })
    });
    let db = database(&status).unwrap();
    let primary = db["primary"].as_str().unwrap().to_owned();
    let standby = db["synchronous_standby"].as_str().unwrap().to_owned();
    let promotions = db["promotions"].clone();
    let standby_pid = db["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == standby.as_str())
        .unwrap()["pid"]
        .as_u64()
        .unwrap();
    psql(
        &writer,
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)",
    )
    .unwrap();

    // The synchronous standby hangs (its whole server frozen): it is dropped from the
    // synchronous set, and commits go on on the primary alone.
    signal_server(standby_pid, nix::sys::signal::Signal::SIGSTOP);
    stack.wait_for(
        "the frozen standby detached",
        Duration::from_secs(30),
        |_| events(&stack).contains(&format!("synchronous standby {standby} detached")),
    );
    psql(&writer, "INSERT INTO t VALUES (101)").unwrap();
    // Now the primary dies. Row 101 is on the primary alone: neither the frozen standby nor
    // the replica may be promoted. Writes stay refused, with the reason, until the old
    // primary is restarted in place.
    let out = stack.cli(&["chaos", "kill-db-primary"]);
    let report = text(&out);
    let log = events(&stack);
    assert!(out.status.success(), "{report}\n{log}");
    assert!(log.contains("no safe promotion"), "{log}");
    assert!(
        log.contains(&format!("restarting {primary} in place as the primary")),
        "{log}"
    );
    signal_server(standby_pid, nix::sys::signal::Signal::SIGCONT);
    let status = stack.wait_for("the cluster back", Duration::from_secs(60), healthy);
    let db = database(&status).unwrap();
    assert_eq!(db["primary"], primary.as_str(), "{db}");
    assert_eq!(db["promotions"], promotions, "nothing was promoted: {db}");
    assert_eq!(psql(&writer, "SELECT count(*) FROM t").unwrap(), "101");
    assert!(stack.down().success());
}
