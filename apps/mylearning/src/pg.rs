//! PostgreSQL through the stack's database endpoints (tokio-postgres).
//!
//! Configuration, as updraft hands it to instances: `UPDRAFT_DB_WRITER` and `UPDRAFT_DB_READER`
//! (`host:port`; the reader defaults to the writer), `UPDRAFT_DB_NAME`, `UPDRAFT_DB_USER`,
//! `UPDRAFT_DB_PASSWORD`.
//!
//! Invariants:
//! - one connection per endpoint, shared by all requests (tokio-postgres pipelines concurrent
//!   queries on it), opened lazily and reopened when it breaks — after a failover the writer
//!   endpoint points at the new primary, and the next query reconnects there;
//! - a query that fails because the connection broke is retried once on a fresh connection;
//! - the schema is created idempotently by whichever instance gets there first, under an
//!   advisory lock so that instances starting together do not race (`CREATE TABLE IF NOT
//!   EXISTS` alone can fail with a duplicate type when two sessions run it at once);
//! - the app starts without its database: `/health` does not depend on it (a database
//!   failover must not make the load balancer eject every instance); `/health/deep` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Row};

use crate::catalogue::{Course, SEED};
use crate::store::{Attempt, Enrolment, StoreError};

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long any one database call (connecting included) may take before the request gets a
/// 503: a database in trouble must cost a quick error, not a hung request.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Arbitrary key of the advisory lock that serialises schema creation.
const SCHEMA_LOCK: i64 = 0x006d_796c_6561_726e;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS courses (
    id integer PRIMARY KEY,
    title text NOT NULL,
    level text NOT NULL,
    lessons integer NOT NULL
);
CREATE TABLE IF NOT EXISTS enrolments (
    user_name text NOT NULL,
    course_id integer NOT NULL REFERENCES courses (id),
    enrolled_at bigint NOT NULL,
    PRIMARY KEY (user_name, course_id)
);
CREATE TABLE IF NOT EXISTS attempts (
    id bigserial PRIMARY KEY,
    user_name text NOT NULL,
    course_id integer REFERENCES courses (id),
    score integer NOT NULL,
    total integer NOT NULL,
    at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_user ON attempts (user_name, id);
";

/// Connection settings from the environment; `None` without `UPDRAFT_DB_WRITER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    pub writer: String,
    pub reader: String,
    pub database: String,
    pub user: String,
    pub password: Option<String>,
}

impl PgSettings {
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<PgSettings>, String> {
        let Some(writer) = var("UPDRAFT_DB_WRITER").filter(|w| !w.is_empty()) else {
            return Ok(None);
        };
        let reader = var("UPDRAFT_DB_READER")
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| writer.clone());
        for (name, value) in [
            ("UPDRAFT_DB_WRITER", &writer),
            ("UPDRAFT_DB_READER", &reader),
        ] {
            split_host_port(value).map_err(|e| format!("{name}={value}: {e}"))?;
        }
        Ok(Some(PgSettings {
            writer,
            reader,
            database: var("UPDRAFT_DB_NAME").unwrap_or_else(|| "mylearning".into()),
            user: var("UPDRAFT_DB_USER").unwrap_or_else(|| "postgres".into()),
            password: var("UPDRAFT_DB_PASSWORD"),
        }))
    }

    fn config(&self, endpoint: &str) -> tokio_postgres::Config {
        let (host, port) = split_host_port(endpoint).expect("checked in from_env");
        let mut c = tokio_postgres::Config::new();
        c.host(host)
            .port(port)
            .dbname(&self.database)
            .user(&self.user)
            .application_name("mylearning")
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(p) = &self.password {
            c.password(p);
        }
        c
    }
}

fn split_host_port(s: &str) -> Result<(&str, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or("expected host:port, e.g. 127.0.1.10:5432")?;
    let port = port
        .parse()
        .map_err(|_| format!("`{port}` is not a port number"))?;
    if host.is_empty() {
        return Err("the host is empty; expected host:port".into());
    }
    Ok((host.trim_matches(|c| c == '[' || c == ']'), port))
}

/// One endpoint with its lazily (re)opened connection.
struct Endpoint {
    name: &'static str,
    address: String,
    config: tokio_postgres::Config,
    client: Mutex<Option<Arc<Client>>>,
}

impl Endpoint {
    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut slot = tokio::time::timeout(CALL_TIMEOUT, self.client.lock())
            .await
            .map_err(|_| self.timed_out())?;
        if let Some(c) = slot.as_ref()
            && !c.is_closed()
        {
            return Ok(Arc::clone(c));
        }
        let (client, connection) = tokio::time::timeout(CALL_TIMEOUT, self.config.connect(NoTls))
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| {
                StoreError(format!(
                    "cannot connect to the database {} endpoint {}: {e}",
                    self.name, self.address
                ))
            })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("mylearning: database connection closed: {e}");
            }
        });
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// Runs `f` on the connection; once more on a fresh one if the connection broke.
    async fn with<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let client = self.client().await?;
        let first = tokio::time::timeout(CALL_TIMEOUT, f(Arc::clone(&client)))
            .await
            .map_err(|_| self.timed_out())?;
        match first {
            Ok(v) => Ok(v),
            Err(e) if e.is_closed() || client.is_closed() => {
                let client = self.client().await?;
                tokio::time::timeout(CALL_TIMEOUT, f(client))
                    .await
                    .map_err(|_| self.timed_out())?
                    .map_err(|e| self.error(e))
            }
            Err(e) => Err(self.error(e)),
        }
    }

    fn timed_out(&self) -> StoreError {
        StoreError(format!(
            "the database {} endpoint {} did not answer within {} s",
            self.name,
            self.address,
            CALL_TIMEOUT.as_secs()
        ))
    }

    fn error(&self, e: tokio_postgres::Error) -> StoreError {
        StoreError(format!(
            "database {} endpoint {}: {}",
            self.name,
            self.address,
            e.as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned())
        ))
    }
}

/// The PostgreSQL store.
pub struct PgStore {
    writer: Endpoint,
    reader: Endpoint,
    schema_ready: AtomicBool,
    schema_lock: Mutex<()>,
}

impl PgStore {
    pub fn new(s: &PgSettings) -> PgStore {
        let endpoint = |name, address: &String| Endpoint {
            name,
            address: address.clone(),
            config: s.config(address),
            client: Mutex::new(None),
        };
        PgStore {
            writer: endpoint("writer", &s.writer),
            reader: endpoint("reader", &s.reader),
            schema_ready: AtomicBool::new(false),
            schema_lock: Mutex::new(()),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "postgres (writer {}, reader {})",
            self.writer.address, self.reader.address
        )
    }

    /// Creates the schema and seeds the catalogue, once per process (idempotent in the
    /// database). Called before the first query; a failure is retried on the next one. Runs on
    /// a connection of its own: a transaction on the shared one would capture other requests'
    /// pipelined queries.
    pub async fn ensure_schema(&self) -> Result<(), StoreError> {
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one_at_a_time = tokio::time::timeout(CALL_TIMEOUT, self.schema_lock.lock())
            .await
            .map_err(|_| self.writer.timed_out())?;
        if self.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let w = &self.writer;
        let (mut client, connection) = tokio::time::timeout(CALL_TIMEOUT, w.config.connect(NoTls))
            .await
            .map_err(|_| w.timed_out())?
            .map_err(|e| {
                StoreError(format!(
                    "cannot connect to the database writer endpoint {}: {e}",
                    w.address
                ))
            })?;
        let conn = tokio::spawn(connection);
        let result = async {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .await?;
            tx.batch_execute(SCHEMA).await?;
            for course in SEED {
                tx.execute(
                    "INSERT INTO courses (id, title, level, lessons) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO NOTHING",
                    &[
                        &(course.id as i32),
                        &course.title,
                        &course.level,
                        &(course.lessons as i32),
                    ],
                )
                .await?;
            }
            tx.commit().await
        };
        let result = tokio::time::timeout(CALL_TIMEOUT, result).await;
        drop(client);
        let _ = conn.await;
        result.map_err(|_| w.timed_out())?.map_err(|e| w.error(e))?;
        self.schema_ready.store(true, Ordering::Release);
        Ok(())
    }

    pub async fn courses(&self) -> Result<Vec<Course>, StoreError> {
        self.ensure_schema().await?;
        let rows = self
            .reader
            .with(|c| async move {
                c.query(
                    "SELECT id, title, level, lessons FROM courses ORDER BY id",
                    &[],
                )
                .await
            })
            .await?;
        Ok(rows.iter().map(course).collect())
    }

    pub async fn course(&self, id: u32) -> Result<Option<Course>, StoreError> {
        self.ensure_schema().await?;
        let id = id as i32;
        let row = self
            .reader
            .with(|c| async move {
                c.query_opt(
                    "SELECT id, title, level, lessons FROM courses WHERE id = $1",
                    &[&id],
                )
                .await
            })
            .await?;
        Ok(row.as_ref().map(course))
    }

    pub async fn enrol(&self, user: &str, course: u32, now: i64) -> Result<bool, StoreError> {
        self.ensure_schema().await?;
        let (user, course) = (user.to_owned(), course as i32);
        let n = self
            .writer
            .with(|c| {
                let user = user.clone();
                async move {
                    c.execute(
                        "INSERT INTO enrolments (user_name, course_id, enrolled_at) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                        &[&user, &course, &now],
                    )
                    .await
                }
            })
            .await?;
        Ok(n == 1)
    }

    pub async fn enrolments(&self, user: &str) -> Result<Vec<Enrolment>, StoreError> {
        self.ensure_schema().await?;
        let user = user.to_owned();
        let rows = self
            .writer
            .with(|c| {
                let user = user.clone();
                async move {
                    c.query(
                        "SELECT e.course_id, c.title, e.enrolled_at FROM enrolments e
                         JOIN courses c ON c.id = e.course_id
                         WHERE e.user_name = $1 ORDER BY e.course_id",
                        &[&user],
                    )
                    .await
                }
            })
            .await?;
        Ok(rows
            .iter()
            .map(|r| Enrolment {
                course_id: r.get::<_, i32>(0) as u32,
                title: r.get(1),
                enrolled_at: r.get(2),
            })
            .collect())
    }

    pub async fn record_attempt(&self, user: &str, a: &Attempt) -> Result<(), StoreError> {
        self.ensure_schema().await?;
        let user = user.to_owned();
        let (course, score, total, at) = (
            a.course_id.map(|c| c as i32),
            a.score as i32,
            a.total as i32,
            a.at,
        );
        self.writer
            .with(|c| {
                let user = user.clone();
                async move {
                    c.execute(
                        "INSERT INTO attempts (user_name, course_id, score, total, at)
                         VALUES ($1, $2, $3, $4, $5)",
                        &[&user, &course, &score, &total, &at],
                    )
                    .await
                }
            })
            .await?;
        Ok(())
    }

    pub async fn attempts(&self, user: &str) -> Result<Vec<Attempt>, StoreError> {
        self.ensure_schema().await?;
        let user = user.to_owned();
        let rows = self
            .writer
            .with(|c| {
                let user = user.clone();
                async move {
                    c.query(
                        "SELECT course_id, score, total, at FROM attempts WHERE user_name = $1
                         ORDER BY id DESC LIMIT 50",
                        &[&user],
                    )
                    .await
                }
            })
            .await?;
        Ok(rows
            .iter()
            .map(|r| Attempt {
                course_id: r.get::<_, Option<i32>>(0).map(|c| c as u32),
                score: r.get::<_, i32>(1) as u32,
                total: r.get::<_, i32>(2) as u32,
                at: r.get(3),
            })
            .collect())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        for e in [&self.writer, &self.reader] {
            e.with(|c| async move { c.simple_query("SELECT 1").await })
                .await?;
        }
        Ok(())
    }
}

fn course(r: &Row) -> Course {
    Course {
        id: r.get::<_, i32>(0) as u32,
        title: r.get(1),
        level: r.get(2),
        lessons: r.get::<_, i32>(3) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn settings_come_from_the_updraft_variables() {
        assert_eq!(PgSettings::from_env(env(&[])).unwrap(), None);
        let s = PgSettings::from_env(env(&[("UPDRAFT_DB_WRITER", "127.0.1.10:5432")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            s.reader, "127.0.1.10:5432",
            "the reader defaults to the writer"
        );
        assert_eq!(
            (s.database.as_str(), s.user.as_str()),
            ("mylearning", "postgres")
        );
        let s = PgSettings::from_env(env(&[
            ("UPDRAFT_DB_WRITER", "127.0.1.10:5432"),
            ("UPDRAFT_DB_READER", "127.0.2.10:5433"),
            ("UPDRAFT_DB_NAME", "learn"),
            ("UPDRAFT_DB_USER", "app"),
            ("UPDRAFT_DB_PASSWORD", "secret"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.reader, "127.0.2.10:5433");
        assert_eq!(s.password.as_deref(), Some("secret"));
        let e = PgSettings::from_env(env(&[("UPDRAFT_DB_WRITER", "localhost")])).unwrap_err();
        assert!(
            e.contains("UPDRAFT_DB_WRITER=localhost: expected host:port"),
            "{e}"
        );
        let e = PgSettings::from_env(env(&[("UPDRAFT_DB_WRITER", "h:99999")])).unwrap_err();
        assert!(e.contains("not a port number"), "{e}");
    }
}
