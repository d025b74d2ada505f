//! `updraft db drill`: the proof that failover loses no acknowledged write and brings writes
//! back fast. A writer task commits numbered rows through the writer endpoint, one row per
//! transaction, and records each id whose COMMIT was acknowledged; the drill kills the primary
//! (SIGKILL of its process group, or a stop of its AZ), measures the time from the kill to the
//! first commit acknowledged by the new primary, then checks that every acknowledged id is on
//! the new primary. Bounded in rounds and in time.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use database::controller::ClusterStatus;
use server::ApiClient;
use tokio::time::Instant;
use tokio_postgres::NoTls;

/// Longest wait for the cluster to be healthy again between rounds.
const HEAL_TIMEOUT: Duration = Duration::from_secs(180);
/// Longest wait for writes to come back after a kill.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Args, Debug, Clone)]
pub struct DrillArgs {
    /// The database's identifier; optional when the stack has one.
    pub name: Option<String>,
    /// How many failovers.
    #[arg(long, default_value_t = 3)]
    pub failovers: u32,
    /// `kill`: SIGKILL the primary's process group; `stop-az`: stop the primary's AZ (an
    /// `updraft chaos stop-az` drill), restored after the failover.
    #[arg(long, default_value = "kill", value_parser = ["kill", "stop-az"])]
    pub mode: String,
    /// Write the per-round results as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// One failover of the drill.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Round {
    pub round: u32,
    pub killed: String,
    pub promoted: String,
    /// From the kill to the first write acknowledged by the new primary.
    pub write_outage_ms: u64,
    /// Acknowledged rows so far / missing on the new primary.
    pub acknowledged: usize,
    pub lost: usize,
}

/// The whole drill.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub database: String,
    pub mode: String,
    pub rounds: Vec<Round>,
    pub acknowledged: usize,
    pub lost: usize,
    pub median_ms: u64,
    pub max_ms: u64,
}

#[derive(Default)]
struct Writes {
    /// (id, acknowledged at, its connection opened at).
    acked: Vec<(i64, Instant, Instant)>,
    errors: u64,
    last_error: Option<String>,
}

pub async fn run(args: DrillArgs, state_dir: &std::path::Path) -> ExitCode {
    let client = match ApiClient::for_state_dir(state_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match drill(&client, &args).await {
        Ok(report) => {
            if let Some(path) = &args.json
                && let Err(e) = std::fs::write(
                    path,
                    serde_json::to_string_pretty(&report).unwrap_or_default(),
                )
            {
                eprintln!("error: cannot write {}: {e}", path.display());
            }
            let ok = report.lost == 0;
            println!(
                "{} failovers ({}): {} acknowledged rows, {} lost; writes back after median {} ms, max {} ms",
                report.rounds.len(),
                report.mode,
                report.acknowledged,
                report.lost,
                report.median_ms,
                report.max_ms
            );
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn status_of(client: &ApiClient, name: &str) -> Result<ClusterStatus, String> {
    let all = client.databases().await.map_err(|e| e.to_string())?;
    all.into_iter()
        .find(|c| c.identifier == name)
        .ok_or_else(|| format!("database {name} is gone"))
}

/// Healthy: a primary takes writes, (Multi-AZ) the standby of the Multi-AZ pair is synchronous
/// (holds every commit), every node runs.
fn healthy(db: &ClusterStatus) -> bool {
    let standby_synchronous = db.synchronous_standby.as_ref().is_some_and(|s| {
        db.nodes
            .iter()
            .any(|n| &n.name == s && n.role.starts_with("standby"))
    });
    db.primary.is_some()
        && (!db.multi_az || standby_synchronous)
        && db.nodes.iter().all(|n| n.status == "running")
}

async fn wait_healthy(client: &ApiClient, name: &str) -> Result<ClusterStatus, String> {
    let deadline = Instant::now() + HEAL_TIMEOUT;
    loop {
        let db = status_of(client, name).await?;
        if healthy(&db) {
            return Ok(db);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{name} did not become healthy within {} s: {}",
                HEAL_TIMEOUT.as_secs(),
                crate::db::render_cluster(&db)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Target {
    writer: String,
    user: String,
    password: String,
    dbname: String,
}

impl Target {
    fn config(&self) -> tokio_postgres::Config {
        let (host, port) = self
            .writer
            .rsplit_once(':')
            .unwrap_or((&self.writer, "5432"));
        let mut c = tokio_postgres::Config::new();
        c.host(host)
            .port(port.parse().unwrap_or(5432))
            .user(&self.user)
            .password(&self.password)
            .dbname(&self.dbname)
            .application_name("updraft-drill")
            .connect_timeout(Duration::from_secs(2));
        c
    }

    async fn connect(&self) -> Result<tokio_postgres::Client, String> {
        let (client, conn) = self
            .config()
            .connect(NoTls)
            .await
            .map_err(|e| pg_error(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => d.message().to_owned(),
        None => e.to_string(),
    }
}

async fn drill(client: &ApiClient, args: &DrillArgs) -> Result<Report, String> {
    let all = client.databases().await.map_err(|e| e.to_string())?;
    let name = crate::db::pick(&all, args.name.as_deref())
        .map_err(|e| e.to_string())?
        .identifier
        .clone();
    let stack = client.stack().await.map_err(|e| e.to_string())?;
    let db = stack
        .db_instance(&name)
        .ok_or_else(|| format!("{name} is not in the running stack"))?;
    let model::DbInstanceKind::Primary {
        db_name,
        username,
        password,
        multi_az,
    } = &db.kind
    else {
        return Err(format!("{name} is a read replica; drill its primary"));
    };
    if !multi_az {
        eprintln!(
            "note: {name} is not Multi-AZ: a lost primary is restarted in place, not replaced"
        );
    }
    let target = Arc::new(Target {
        writer: db.writer_endpoint().to_string(),
        user: username.clone(),
        password: password.clone(),
        dbname: db_name.clone().unwrap_or_else(|| "postgres".into()),
    });
    eprintln!("waiting for {name} to be healthy…");
    wait_healthy(client, &name).await?;
    let setup = target.connect().await?;
    setup
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS updraft_drill (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(|e| pg_error(&e))?;
    let start: i64 = setup
        .query_one("SELECT coalesce(max(id), 0) FROM updraft_drill", &[])
        .await
        .map_err(|e| pg_error(&e))?
        .get(0);
    drop(setup);

    let writes = Arc::new(Mutex::new(Writes::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn(write_loop(
        target.clone(),
        writes.clone(),
        stop.clone(),
        start + 1,
    ));

    let mut rounds = Vec::new();
    let result = async {
        for round in 1..=args.failovers {
            let before = wait_healthy(client, &name).await?;
            let old = before.primary.clone().expect("healthy means a primary");
            let zone = before
                .nodes
                .iter()
                .find(|n| n.name == old)
                .map(|n| n.availability_zone.clone())
                .unwrap_or_default();
            // Writes flow before the kill.
            let flowing = acked_count(&writes);
            let deadline = Instant::now() + Duration::from_secs(30);
            while acked_count(&writes) < flowing + 20 {
                if Instant::now() > deadline {
                    return Err(format!("writes are not flowing through {}: {:?}", target.writer, writes.lock().ok().and_then(|w| w.last_error.clone())));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let t0 = Instant::now();
            let drill_id = match args.mode.as_str() {
                "stop-az" => {
                    let spec = server::chaos::DrillSpec::StopAz {
                        availability_zone: zone.clone(),
                        duration_ms: 120_000,
                    };
                    let d = client.start_drill(spec).await.map_err(|e| e.to_string())?;
                    Some(d.id)
                }
                _ => {
                    client.kill_db_primary(&name).await.map_err(|e| e.to_string())?;
                    None
                }
            };
            // The first commit acknowledged on a connection opened after the kill comes from
            // the new primary.
            let killed = Instant::now();
            let deadline = t0 + WRITE_TIMEOUT;
            let first = loop {
                if let Some(at) = first_ack_after(&writes, killed) {
                    break at;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "round {round}: no write acknowledged within {} s of killing {old}",
                        WRITE_TIMEOUT.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            };
            let outage = first.duration_since(t0);
            // The status is published once per controller tick: wait (bounded) for it to show
            // the new primary.
            let mut promoted = String::new();
            for _ in 0..50 {
                let after = status_of(client, &name).await?;
                promoted = after.primary.clone().unwrap_or_default();
                if !promoted.is_empty() && promoted != old {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if let Some(id) = drill_id {
                client.stop_drill(&id).await.map_err(|e| e.to_string())?;
            }
            let acked: Vec<i64> = writes
                .lock()
                .map(|w| w.acked.iter().map(|(id, _, _)| *id).collect())
                .unwrap_or_default();
            let lost = verify(&target, &acked).await?;
            eprintln!(
                "round {round}: killed {old} ({zone}), {promoted} took writes after {} ms; {} acknowledged rows, {} missing",
                outage.as_millis(),
                acked.len(),
                lost
            );
            rounds.push(Round {
                round,
                killed: old,
                promoted,
                write_outage_ms: outage.as_millis() as u64,
                acknowledged: acked.len(),
                lost,
            });
            if lost > 0 {
                return Err(format!("round {round}: {lost} acknowledged rows are missing on the new primary"));
            }
        }
        Ok(())
    }
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = writer.await;
    result?;
    let acknowledged = acked_count(&writes);
    let mut times: Vec<u64> = rounds.iter().map(|r| r.write_outage_ms).collect();
    times.sort();
    Ok(Report {
        database: name,
        mode: args.mode.clone(),
        acknowledged,
        lost: rounds.iter().map(|r| r.lost).max().unwrap_or(0),
        median_ms: times.get(times.len() / 2).copied().unwrap_or(0),
        max_ms: times.last().copied().unwrap_or(0),
        rounds,
    })
}

fn acked_count(w: &Mutex<Writes>) -> usize {
    w.lock().map(|w| w.acked.len()).unwrap_or(0)
}

fn first_ack_after(w: &Mutex<Writes>, killed: Instant) -> Option<Instant> {
    let w = w.lock().ok()?;
    w.acked
        .iter()
        .rev()
        .take_while(|(_, at, _)| *at > killed)
        .filter(|(_, _, opened)| *opened > killed)
        .last()
        .map(|(_, at, _)| *at)
}

/// One row per transaction; a row is acknowledged only when its COMMIT returned OK.
async fn write_loop(
    target: Arc<Target>,
    writes: Arc<Mutex<Writes>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    mut id: i64,
) {
    let mut conn: Option<tokio_postgres::Client> = None;
    let mut opened = Instant::now();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            match target.connect().await {
                Ok(c) => {
                    conn = Some(c);
                    opened = Instant::now();
                }
                Err(e) => {
                    if let Ok(mut w) = writes.lock() {
                        w.errors += 1;
                        w.last_error = Some(e);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            }
        }
        let c = conn.as_ref().expect("connected");
        let result = tokio::time::timeout(
            Duration::from_secs(5),
            c.execute(
                "INSERT INTO updraft_drill (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
                &[&id],
            ),
        )
        .await;
        match result {
            Ok(Ok(_)) => {
                if let Ok(mut w) = writes.lock() {
                    w.acked.push((id, Instant::now(), opened));
                }
                id += 1;
            }
            Ok(Err(e)) => {
                // Unknown outcome: the id is never reused, and never counted as acknowledged.
                if let Ok(mut w) = writes.lock() {
                    w.errors += 1;
                    w.last_error = Some(pg_error(&e));
                }
                id += 1;
                conn = None;
            }
            Err(_) => {
                id += 1;
                conn = None;
            }
        }
    }
}

/// How many acknowledged ids are missing on the (new) primary, read through the writer. A
/// connection cut meanwhile (the writer endpoint cuts connections when its route changes) is
/// reopened and the whole check read again, within the deadline.
async fn verify(target: &Target, acked: &[i64]) -> Result<usize, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = async {
            let c = target.connect().await?;
            let mut present = BTreeSet::new();
            for chunk in acked.chunks(10_000) {
                let rows = c
                    .query("SELECT id FROM updraft_drill WHERE id = ANY($1)", &[&chunk])
                    .await
                    .map_err(|e| pg_error(&e))?;
                present.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
            }
            Ok::<usize, String>(acked.iter().filter(|id| !present.contains(id)).count())
        };
        match attempt.await {
            Ok(missing) => return Ok(missing),
            Err(e) if Instant::now() > deadline => return Err(format!("cannot verify: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
