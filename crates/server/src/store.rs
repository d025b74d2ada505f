//! The state store: embedded SQLite under the state directory.
//!
//! It holds what must survive a crash of updraft so that a restart adopts the instances left
//! running instead of leaking or duplicating them: the applied stack, each group's spec and
//! state (desired capacity, launch backoff), every instance record, and the scaling activity
//! history. Records are stored as JSON next to the columns that are queried, so the schema
//! stays small while the model evolves; `SCHEMA_VERSION` guards incompatible changes.

use std::path::Path;

use model::{AutoScalingGroup, InstanceId, Stack, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use scaling::GroupState;
use serde::{Deserialize, Serialize};

use crate::fleet::InstanceRecord;

const SCHEMA_VERSION: i64 = 1;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("state store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state store holds a record it cannot read ({what}): {source}")]
    Decode {
        what: String,
        source: serde_json::Error,
    },
    #[error(
        "state store was written by an incompatible version of updraft (schema {found}, expected {SCHEMA_VERSION}); move the state directory away or run `updraft down` with that version"
    )]
    Schema { found: i64 },
}

/// Status of a scaling activity (AWS `StatusCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivityStatus {
    InProgress,
    Successful,
    Failed,
    Cancelled,
}

impl ActivityStatus {
    fn as_str(self) -> &'static str {
        match self {
            ActivityStatus::InProgress => "InProgress",
            ActivityStatus::Successful => "Successful",
            ActivityStatus::Failed => "Failed",
            ActivityStatus::Cancelled => "Cancelled",
        }
    }

    fn parse(s: &str) -> ActivityStatus {
        match s {
            "Successful" => ActivityStatus::Successful,
            "Failed" => ActivityStatus::Failed,
            "Cancelled" => ActivityStatus::Cancelled,
            _ => ActivityStatus::InProgress,
        }
    }
}

/// One scaling activity, as `DescribeScalingActivities` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub id: i64,
    pub group: String,
    pub instance: Option<InstanceId>,
    /// "Launching a new EC2 instance: i-…", "Terminating EC2 instance: i-…".
    pub description: String,
    pub cause: String,
    pub status: ActivityStatus,
    pub status_message: Option<String>,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
}

/// The SQLite store. The controller owns it; the mutex only makes it `Sync` so that the
/// controller's futures can hold `&self` across awaits — it is never contended.
pub struct Store {
    conn: std::sync::Mutex<Connection>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS stack (id INTEGER PRIMARY KEY CHECK (id = 1),
                 config TEXT NOT NULL, spec TEXT NOT NULL, applied_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS groups (key TEXT PRIMARY KEY, spec TEXT NOT NULL,
                 state TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, group_key TEXT NOT NULL,
                 lifecycle TEXT NOT NULL, launched_at INTEGER NOT NULL, record TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS instances_by_group ON instances (group_key, launched_at);
             CREATE TABLE IF NOT EXISTS activities (id INTEGER PRIMARY KEY AUTOINCREMENT,
                 group_key TEXT NOT NULL, instance TEXT, description TEXT NOT NULL,
                 cause TEXT NOT NULL, status TEXT NOT NULL, status_message TEXT,
                 start_time INTEGER NOT NULL, end_time INTEGER);
             CREATE INDEX IF NOT EXISTS activities_by_group ON activities (group_key, id);
             CREATE TABLE IF NOT EXISTS drills (id TEXT PRIMARY KEY, finished INTEGER NOT NULL,
                 started_at INTEGER NOT NULL, record TEXT NOT NULL);",
        )?;
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match found.and_then(|v| v.parse::<i64>().ok()) {
            None => {
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) => return Err(StoreError::Schema { found }),
        }
        Ok(Store {
            conn: std::sync::Mutex::new(conn),
        })
    }

    /// Records the stack being run and where its config came from.
    pub fn save_stack(
        &self,
        config: &str,
        stack: &Stack,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO stack (id, config, spec, applied_at) VALUES (1, ?1, ?2, ?3)",
            params![config, to_json(stack), now.as_millis()],
        )?;
        Ok(())
    }

    /// The stack an earlier run applied, with its config path.
    pub fn load_stack(&self) -> Result<Option<(String, Stack)>, StoreError> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row("SELECT config, spec FROM stack WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(config, spec)| Ok((config, from_json(&spec, "stack")?)))
            .transpose()
    }

    pub fn save_group(
        &self,
        spec: &AutoScalingGroup,
        state: &GroupState,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO groups (key, spec, state) VALUES (?1, ?2, ?3)",
            params![spec.key, to_json(spec), to_json(state)],
        )?;
        Ok(())
    }

    pub fn load_groups(&self) -> Result<Vec<(AutoScalingGroup, GroupState)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT spec, state FROM groups ORDER BY key")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (spec, state) = row?;
            out.push((
                from_json(&spec, "group spec")?,
                from_json(&state, "group state")?,
            ));
        }
        Ok(out)
    }

    pub fn delete_group(&self, key: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM groups WHERE key = ?1", [key])?;
        Ok(())
    }

    /// Forgets the stack and its groups (after `updraft down`); instance records and activities
    /// stay as history.
    pub fn clear_stack(&self) -> Result<(), StoreError> {
        self.conn()
            .execute_batch("DELETE FROM groups; DELETE FROM stack;")?;
        Ok(())
    }

    pub fn save_instance(&self, r: &InstanceRecord) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO instances (id, group_key, lifecycle, launched_at, record)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                r.id.as_str(),
                r.group,
                r.lifecycle.as_str(),
                r.launched_at.as_millis(),
                to_json(r)
            ],
        )?;
        Ok(())
    }

    /// Instances that are not Terminated, oldest first.
    pub fn live_instances(&self) -> Result<Vec<InstanceRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT record FROM instances WHERE lifecycle != 'Terminated' ORDER BY launched_at, id",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| from_json(&r?, "instance")).collect()
    }

    /// Drops terminated instance records older than `before`, keeping history bounded.
    pub fn prune_terminated(&self, before: Timestamp) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM instances WHERE lifecycle = 'Terminated' AND launched_at < ?1",
            [before.as_millis()],
        )?)
    }

    /// Starts an activity; returns its id.
    pub fn start_activity(
        &self,
        group: &str,
        instance: Option<&InstanceId>,
        description: &str,
        cause: &str,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        self.conn().execute(
            "INSERT INTO activities (group_key, instance, description, cause, status, start_time)
             VALUES (?1, ?2, ?3, ?4, 'InProgress', ?5)",
            params![
                group,
                instance.map(InstanceId::as_str),
                description,
                cause,
                now.as_millis()
            ],
        )?;
        Ok(self.conn().last_insert_rowid())
    }

    pub fn finish_activity(
        &self,
        id: i64,
        status: ActivityStatus,
        message: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE activities SET status = ?2, status_message = ?3, end_time = ?4 WHERE id = ?1",
            params![id, status.as_str(), message, now.as_millis()],
        )?;
        Ok(())
    }

    /// Changes the status message of an activity still in progress ("waiting for lifecycle
    /// hook boot").
    pub fn note_activity(&self, id: i64, message: Option<&str>) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE activities SET status_message = ?2 WHERE id = ?1 AND status = 'InProgress'",
            params![id, message],
        )?;
        Ok(())
    }

    /// The in-progress activity about an instance, if any (its launch or its termination).
    pub fn open_activity(&self, instance: &InstanceId) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id FROM activities WHERE instance = ?1 AND status = 'InProgress'
                 ORDER BY id DESC LIMIT 1",
                [instance.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Whether activity `id` is a launch ("Launching a new EC2 instance…").
    pub fn is_launch_activity(&self, id: i64) -> Result<bool, StoreError> {
        let description: Option<String> = self
            .conn()
            .query_row(
                "SELECT description FROM activities WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(description.is_some_and(|d| d.starts_with("Launching")))
    }

    /// The newest `limit` activities of a group, newest first.
    pub fn activities(&self, group: &str, limit: usize) -> Result<Vec<Activity>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, group_key, instance, description, cause, status, status_message,
                    start_time, end_time
             FROM activities WHERE group_key = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![group, limit as i64], |r| {
            Ok(Activity {
                id: r.get(0)?,
                group: r.get(1)?,
                instance: r.get::<_, Option<String>>(2)?.and_then(|s| s.parse().ok()),
                description: r.get(3)?,
                cause: r.get(4)?,
                status: ActivityStatus::parse(&r.get::<_, String>(5)?),
                status_message: r.get(6)?,
                start_time: Timestamp::from_millis(r.get(7)?),
                end_time: r.get::<_, Option<i64>>(8)?.map(Timestamp::from_millis),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Store {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each call is one statement
        // or one transaction), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("model types serialize infallibly")
}

fn from_json<T: for<'de> Deserialize<'de>>(s: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|source| StoreError::Decode {
        what: what.to_owned(),
        source,
    })
}

mod drills;
#[cfg(test)]
mod tests;
