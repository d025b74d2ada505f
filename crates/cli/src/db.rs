//! `updraft db …`: the running stack's managed databases — endpoints, events, switchover,
//! and the failover drill.

use std::fmt::Write;
use std::process::ExitCode;

use clap::Subcommand;
use database::controller::{ClusterStatus, DbEvent};
use server::ApiClient;
use server::ClientError;

use crate::db_drill;

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Print the writer and reader endpoints, one per line (`writer HOST:PORT`,
    /// `reader HOST:PORT`), for scripts. NAME may be omitted when the stack has one database.
    Endpoints {
        /// The database's identifier (or its Terraform resource name).
        name: Option<String>,
    },
    /// Show the cluster: its nodes per AZ, roles, WAL positions, lag, faults.
    Status {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every step the cluster took, with its timing: creation, failures, fencing, promotion,
    /// rejoin, synchronous replication changes.
    Events {
        name: Option<String>,
        /// How many of the latest events to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Manual switchover (maintenance): the primary stops cleanly, so its last WAL reaches the
    /// synchronous standby, which is promoted; the old primary rejoins as its standby. Like
    /// `aws rds reboot-db-instance --force-failover`.
    Failover { name: Option<String> },
    /// The failover proof: a client writes numbered rows through the writer endpoint and
    /// records every acknowledged commit while the primary is SIGKILLed (or its AZ stopped)
    /// again and again; after each failover every acknowledged row must be on the new primary.
    /// Prints the time from each kill to the first write acknowledged by the new primary.
    Drill(db_drill::DrillArgs),
}

/// Picks the cluster: by name, or the only one.
pub fn pick<'a>(
    statuses: &'a [ClusterStatus],
    name: Option<&str>,
) -> Result<&'a ClusterStatus, ClientError> {
    let names = || {
        statuses
            .iter()
            .map(|c| c.identifier.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let err = |message: String| ClientError::Api {
        code: "DBInstanceNotFound".into(),
        message,
        location: None,
    };
    match name {
        Some(n) => statuses.iter().find(|c| c.identifier == n).ok_or_else(|| {
            err(format!(
                "no database `{n}` in this stack; databases: {}",
                or_none(&names())
            ))
        }),
        None if statuses.len() == 1 => Ok(&statuses[0]),
        None if statuses.is_empty() => {
            Err(err("this stack has no database (no aws_db_instance)".into()))
        }
        None => Err(err(format!(
            "this stack has several databases ({}): name one",
            names()
        ))),
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "none" } else { s }
}

pub async fn run(cmd: DbCommand, state_dir: &std::path::Path) -> ExitCode {
    if let DbCommand::Drill(args) = cmd {
        return db_drill::run(args, state_dir).await;
    }
    crate::remote(state_dir, |c| async move { command(c, cmd).await }).await
}

async fn command(c: ApiClient, cmd: DbCommand) -> Result<(), ClientError> {
    let statuses = c.databases().await?;
    match cmd {
        DbCommand::Endpoints { name } => {
            let db = pick(&statuses, name.as_deref())?;
            println!("writer {}", db.writer_endpoint);
            println!("reader {}", db.reader_endpoint);
        }
        DbCommand::Status { name, json } => {
            let db = pick(&statuses, name.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(db).unwrap_or_default());
            } else {
                print!("{}", render_cluster(db));
            }
        }
        DbCommand::Events { name, limit, json } => {
            let db = pick(&statuses, name.as_deref())?;
            let events = c.database_events(&db.identifier, limit).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&events).unwrap_or_default()
                );
            } else {
                print!("{}", render_events(&events));
            }
        }
        DbCommand::Failover { name } => {
            let db = pick(&statuses, name.as_deref())?;
            let message = c.database_failover(&db.identifier).await?;
            println!("{message}");
            println!("follow it with `updraft db events {}`", db.identifier);
        }
        DbCommand::Drill(_) => {}
    }
    Ok(())
}

/// The cluster block of `updraft status` and `updraft db status`.
pub fn render_cluster(db: &ClusterStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Database {} (postgres{}): writer {}  reader {}",
        db.identifier,
        if db.multi_az { ", Multi-AZ" } else { "" },
        db.writer_endpoint,
        db.reader_endpoint
    );
    if let Some(e) = &db.error {
        let _ = writeln!(out, "  error: {e}");
    }
    match (&db.primary, &db.writes_refused) {
        (Some(p), _) => {
            let _ = writeln!(
                out,
                "  writes → {p}; synchronous standby: {}",
                db.synchronous_standby
                    .as_deref()
                    .unwrap_or("none (commits are acknowledged by the primary alone)")
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(out, "  writes REFUSED: {why}");
        }
        (None, None) => {
            let _ = writeln!(out, "  writes REFUSED");
        }
    }
    let _ = writeln!(
        out,
        "  reads → {} (replicas more than {} bytes behind are left out)",
        if db.readers.is_empty() {
            "nothing".to_owned()
        } else {
            db.readers.join(", ")
        },
        db.max_replica_lag
    );
    let _ = writeln!(
        out,
        "  {:<12} {:<22} {:<22} {:<22} {:<9} {:>12} {:>10}  NOTE",
        "AZ", "NODE", "ROLE", "ADDRESS", "STATUS", "LSN", "LAG"
    );
    let mut nodes: Vec<_> = db.nodes.iter().collect();
    nodes.sort_by(|a, b| (&a.availability_zone, &a.name).cmp(&(&b.availability_zone, &b.name)));
    for n in nodes {
        let note = [
            n.adopted.then_some("adopted after an updraft restart"),
            n.reason.as_deref(),
            n.fault.as_deref(),
            n.probe_error.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        let _ = writeln!(
            out,
            "  {:<12} {:<22} {:<22} {:<22} {:<9} {:>12} {:>10}  {}",
            n.availability_zone,
            n.name,
            n.role,
            n.address,
            n.status,
            n.lsn.as_deref().unwrap_or("-"),
            n.lag_bytes.map_or_else(|| "-".into(), |l| format!("{l} B")),
            note
        );
    }
    if let Some(f) = &db.last_failover {
        let _ = writeln!(
            out,
            "  last {}: {} lost ({}) at {}{}{}",
            if f.manual { "switchover" } else { "failover" },
            f.lost,
            f.reason,
            f.started,
            f.promoted
                .as_ref()
                .map(|p| format!(", {p} promoted"))
                .unwrap_or_default(),
            f.writes_restored_ms
                .map(|ms| format!(", writes back after {ms} ms"))
                .unwrap_or_default()
        );
    }
    out
}

pub fn render_events(events: &[DbEvent]) -> String {
    let mut out = String::new();
    for e in events {
        let since = e
            .since_failure_ms
            .map(|ms| format!("+{ms:>5} ms"))
            .unwrap_or_else(|| " ".repeat(10));
        let _ = writeln!(
            out,
            "{} {since} {:<10} {:<18} {}",
            e.at,
            e.kind.as_str(),
            e.node.as_deref().unwrap_or("-"),
            e.message
        );
    }
    if events.is_empty() {
        out.push_str("no events yet\n");
    }
    out
}

fn fail(e: ClientError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        ClientError::Api { .. } => ExitCode::from(crate::EXIT_USAGE),
        _ => ExitCode::FAILURE,
    }
}

/// `updraft chaos kill-db-primary`: SIGKILL, then follow the failover until writes are back
/// (bounded), printing its steps with their timing.
pub async fn kill_primary(client: &ApiClient, name: Option<&str>) -> ExitCode {
    let statuses = match client.databases().await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let db = match pick(&statuses, name) {
        Ok(db) => db.identifier.clone(),
        Err(e) => return fail(e),
    };
    let killed = match client.kill_db_primary(&db).await {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    println!(
        "SIGKILLed {} (process group {}) at {}; following the failover…",
        killed.node, killed.pid, killed.at
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let Ok(all) = client.databases().await else {
            continue;
        };
        let Some(s) = all.into_iter().find(|c| c.identifier == db) else {
            break;
        };
        let back = s.primary.as_ref().is_some_and(|p| *p != killed.node)
            || (s.primary.as_deref() == Some(killed.node.as_str())
                && s.last_failover
                    .as_ref()
                    .is_none_or(|f| f.started < killed.at));
        // No safe promotion: the killed primary, which alone holds every acknowledged
        // commit, is restarted in place (a new server process).
        let restarted_in_place = s.primary.as_deref() == Some(killed.node.as_str())
            && s.nodes.iter().any(|n| {
                n.name == killed.node
                    && n.status == "running"
                    && n.pid.is_some_and(|p| p != killed.pid)
            });
        if s.writes_refused.is_none()
            && ((back
                && s.last_failover
                    .as_ref()
                    .is_some_and(|f| f.started >= killed.at))
                || restarted_in_place)
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            eprintln!("writes are not back after 60 s:\n{}", render_cluster(&s));
            return ExitCode::FAILURE;
        }
    }
    match client.database_events(&db, 200).await {
        Ok(events) => {
            let recent: Vec<DbEvent> = events.into_iter().filter(|e| e.at >= killed.at).collect();
            print!("{}", render_events(&recent));
        }
        Err(e) => return fail(e),
    }
    ExitCode::SUCCESS
}

/// `updraft chaos kill-db-node`.
pub async fn kill_node(client: &ApiClient, name: Option<&str>, node: &str) -> ExitCode {
    let statuses = match client.databases().await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let db = match pick(&statuses, name) {
        Ok(db) => db.identifier.clone(),
        Err(e) => return fail(e),
    };
    match client.kill_db_node(&db, node).await {
        Ok(k) => {
            println!("SIGKILLed {} (process group {}) at {}", k.node, k.pid, k.at);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
