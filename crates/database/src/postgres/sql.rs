//! Talking to a node as updraft's own superuser: health probes, promotion, replication
//! settings, slots, checkpoints, and the application's roles.

use std::net::Ipv4Addr;
use std::time::Duration;

use model::Timestamp;
use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, NoTls};

use super::node::{ADMIN_ROLE, REPLICATION_ROLE};
use crate::failover::{Probe, ReplicaLink};
use crate::lsn::Lsn;

/// Passwords of updraft's roles in one cluster (kept in the cluster directory, mode 0600).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub admin_password: String,
    pub replication_password: String,
}

impl Credentials {
    pub fn generate() -> Credentials {
        let word = || {
            (0..32)
                .map(|_| {
                    let i = rand::random::<u8>() % 62;
                    (match i {
                        0..=9 => b'0' + i,
                        10..=35 => b'a' + i - 10,
                        _ => b'A' + i - 36,
                    }) as char
                })
                .collect::<String>()
        };
        Credentials {
            admin_password: word(),
            replication_password: word(),
        }
    }
}

/// Why a query failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    pub message: String,
    /// The server answered but refused our credentials: it is alive.
    pub auth: bool,
    /// The server answered that it is starting up (crash recovery): alive, not ready.
    pub starting: bool,
}

impl From<tokio_postgres::Error> for SqlError {
    fn from(e: tokio_postgres::Error) -> SqlError {
        let code = e.as_db_error().map(|d| d.code().code().to_owned());
        let auth = matches!(code.as_deref(), Some("28P01" | "28000"));
        let starting = code.as_deref() == Some("57P03");
        let message = match e.as_db_error() {
            Some(d) => d.message().to_owned(),
            None => {
                let mut s = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(inner) = src {
                    s = format!("{s}: {inner}");
                    src = inner.source();
                }
                s
            }
        };
        SqlError {
            message,
            auth,
            starting,
        }
    }
}

fn timed_out(what: &str) -> SqlError {
    SqlError {
        message: format!("{what} timed out"),
        auth: false,
        starting: false,
    }
}

/// Connects as updraft's superuser.
pub async fn connect(
    host: Ipv4Addr,
    port: u16,
    creds: &Credentials,
    timeout: Duration,
) -> Result<Client, SqlError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(host.to_string())
        .port(port)
        .user(ADMIN_ROLE)
        .password(&creds.admin_password)
        .dbname("postgres")
        .application_name("updraft")
        .connect_timeout(timeout);
    let (client, connection) = tokio::time::timeout(timeout, config.connect(NoTls))
        .await
        .map_err(|_| timed_out("connecting"))??;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

const PROBE: &str = "SELECT pg_is_in_recovery(),
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
  pg_last_wal_receive_lsn()::text,
  pg_last_wal_replay_lsn()::text,
  (SELECT status FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT sender_host FROM pg_stat_wal_receiver LIMIT 1),
  (SELECT coalesce(json_agg(json_build_array(application_name, state, sync_state,
      flush_lsn::text, replay_lsn::text,
      (extract(epoch FROM replay_lag) * 1000)::bigint)), '[]')::text FROM pg_stat_replication),
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int";

/// One health query: role, WAL positions, WAL receiver, and (on a primary) its standbys.
pub async fn probe(client: &Client, now: Timestamp, timeout: Duration) -> Result<Probe, SqlError> {
    let row = tokio::time::timeout(timeout, client.query_one(PROBE, &[]))
        .await
        .map_err(|_| timed_out("the health query"))??;
    let lsn = |i: usize| -> Option<Lsn> {
        row.get::<_, Option<String>>(i)
            .as_deref()
            .and_then(Lsn::parse)
    };
    let status: Option<String> = row.get(4);
    let links: String = row.get(6);
    Ok(Probe {
        at: now,
        in_recovery: row.get(0),
        current_lsn: lsn(1),
        receive_lsn: lsn(2),
        replay_lsn: lsn(3),
        streaming: status.as_deref() == Some("streaming"),
        upstream: row.get(5),
        replication: parse_links(&links),
        connections: row.get::<_, Option<i32>>(7).map(|c| c.max(0) as u32),
    })
}

/// `pg_stat_replication` as `json_agg` of arrays.
pub fn parse_links(json: &str) -> Vec<ReplicaLink> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    serde_json::from_str::<Vec<Row>>(json)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, state, sync, flush, replay, lag)| ReplicaLink {
            application_name: name.unwrap_or_default(),
            state: state.unwrap_or_default(),
            sync_state: sync.unwrap_or_default(),
            flush_lsn: flush.as_deref().and_then(Lsn::parse),
            replay_lsn: replay.as_deref().and_then(Lsn::parse),
            replay_lag_ms: lag.map(|l| l.max(0) as u64),
        })
        .collect()
}

/// `pg_promote(wait => true)`.
pub async fn promote(client: &Client) -> Result<(), SqlError> {
    let row = tokio::time::timeout(
        Duration::from_secs(30),
        client.query_one("SELECT pg_promote(true, 25)", &[]),
    )
    .await
    .map_err(|_| timed_out("pg_promote"))??;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(SqlError {
            message: "pg_promote did not finish within 25 s".into(),
            auth: false,
            starting: false,
        })
    }
}

/// `ALTER SYSTEM SET name = value` (a quoted literal) and reload.
pub async fn set_and_reload(client: &Client, name: &str, value: &str) -> Result<(), SqlError> {
    let sql = format!("ALTER SYSTEM SET {name} = '{}'", value.replace('\'', "''"));
    client.batch_execute(&sql).await?;
    client.batch_execute("SELECT pg_reload_conf()").await?;
    Ok(())
}

/// `synchronous_standby_names` for one standby (or none).
pub fn sync_names(standby: Option<&str>) -> String {
    match standby {
        Some(s) => format!("FIRST 1 (\"{}\")", s.replace('"', "")),
        None => String::new(),
    }
}

/// Creates a physical slot that retains WAL from now on, unless it exists.
pub async fn ensure_slot(client: &Client, slot: &str) -> Result<(), SqlError> {
    client
        .execute(
            "SELECT pg_create_physical_replication_slot($1, true)
             WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
            &[&slot],
        )
        .await?;
    Ok(())
}

pub async fn checkpoint(client: &Client) -> Result<(), SqlError> {
    tokio::time::timeout(Duration::from_secs(120), client.batch_execute("CHECKPOINT"))
        .await
        .map_err(|_| timed_out("CHECKPOINT"))??;
    Ok(())
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// On a new primary: the replication role and the application's master user and database.
/// Every start: the master user's password follows the configuration, as RDS's
/// `ModifyDBInstance` would set it.
pub async fn ensure_roles(
    client: &Client,
    creds: &Credentials,
    username: &str,
    password: &str,
    db_name: Option<&str>,
) -> Result<(), SqlError> {
    let exists = |role: &str| {
        let role = role.to_owned();
        async move {
            client
                .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
                .await
                .map(|r| r.is_some())
        }
    };
    // Not waiting for the synchronous standby: it may be the one refused until the
    // replication role's password is set again (the change still streams to it).
    client
        .batch_execute("SET synchronous_commit = local")
        .await?;
    let repl = quote_ident(REPLICATION_ROLE);
    let repl_pw = quote_literal(&creds.replication_password);
    if exists(REPLICATION_ROLE).await? {
        client
            .batch_execute(&format!(
                "ALTER ROLE {repl} WITH REPLICATION LOGIN PASSWORD {repl_pw}"
            ))
            .await?;
    } else {
        client
            .batch_execute(&format!(
                "CREATE ROLE {repl} WITH REPLICATION LOGIN PASSWORD {repl_pw}"
            ))
            .await?;
    }
    let user = quote_ident(username);
    let pw = quote_literal(password);
    if exists(username).await? {
        client
            .batch_execute(&format!("ALTER ROLE {user} WITH LOGIN PASSWORD {pw}"))
            .await?;
    } else {
        client
            .batch_execute(&format!(
                "CREATE ROLE {user} WITH LOGIN CREATEDB CREATEROLE PASSWORD {pw}; \
                 GRANT pg_monitor, pg_signal_backend TO {user}"
            ))
            .await?;
    }
    if let Some(db) = db_name {
        let found = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
            .await?
            .is_some();
        if !found {
            client
                .batch_execute(&format!("CREATE DATABASE {} OWNER {user}", quote_ident(db)))
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_rows_parse() {
        let links = parse_links(
            r#"[["main-2","streaming","sync","0/3000148","0/3000148",12],["r","catchup","async",null,null,null]]"#,
        );
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].sync_state, "sync");
        assert_eq!(links[0].flush_lsn, Some(Lsn(0x3000148)));
        assert_eq!(links[1].flush_lsn, None);
        assert_eq!(links[0].replay_lag_ms, Some(12));
        assert_eq!(links[1].replay_lag_ms, None);
        assert!(parse_links("not json").is_empty());
    }

    #[test]
    fn names_and_literals_are_quoted() {
        assert_eq!(sync_names(Some("main-2")), "FIRST 1 (\"main-2\")");
        assert_eq!(sync_names(None), "");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        let c = Credentials::generate();
        assert_eq!(c.admin_password.len(), 32);
        assert_ne!(c.admin_password, c.replication_password);
    }
}
