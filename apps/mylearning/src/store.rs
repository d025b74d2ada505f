//! Where MyLearning keeps its data: PostgreSQL through the stack's writer and reader endpoints
//! when `UPDRAFT_DB_WRITER` is set (see [`crate::pg`]), in memory otherwise (one instance's
//! data, lost when it stops — fine for a demo, and the reason the database exists).
//!
//! Which endpoint serves what: the catalogue is read from the reader endpoint (replicas may lag
//! a little; courses change rarely); a user's own enrolments and attempts are read from the
//! writer, so that a user always sees what they just did (read-your-writes).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::catalogue::{self, Course};
use crate::pg::PgStore;

/// A course a user is enrolled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrolment {
    pub course_id: u32,
    pub title: String,
    /// Seconds since the Unix epoch.
    pub enrolled_at: i64,
}

/// One graded quiz attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub course_id: Option<u32>,
    pub score: u32,
    pub total: u32,
    pub at: i64,
}

/// Why the store could not answer (the database is unreachable, a query failed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// The data store.
pub enum Store {
    Memory(Mutex<Memory>),
    Postgres(Box<PgStore>),
}

#[derive(Debug, Default)]
pub struct Memory {
    enrolments: BTreeMap<String, BTreeMap<u32, i64>>,
    attempts: BTreeMap<String, Vec<Attempt>>,
}

impl Store {
    pub fn memory() -> Store {
        Store::Memory(Mutex::new(Memory::default()))
    }

    /// `postgres (writer …, reader …)` or `in memory`, for the startup line and `/health/deep`.
    pub fn describe(&self) -> String {
        match self {
            Store::Memory(_) => "in memory (no UPDRAFT_DB_WRITER)".into(),
            Store::Postgres(pg) => pg.describe(),
        }
    }

    fn mem(m: &Mutex<Memory>) -> std::sync::MutexGuard<'_, Memory> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn courses(&self) -> Result<Vec<Course>, StoreError> {
        match self {
            Store::Memory(_) => Ok(catalogue::COURSES.to_vec()),
            Store::Postgres(pg) => pg.courses().await,
        }
    }

    pub async fn course(&self, id: u32) -> Result<Option<Course>, StoreError> {
        match self {
            Store::Memory(_) => Ok(catalogue::find(id).cloned()),
            Store::Postgres(pg) => pg.course(id).await,
        }
    }

    /// Enrols `user` in `course`; `Ok(false)` when already enrolled.
    pub async fn enrol(&self, user: &str, course: u32, now: i64) -> Result<bool, StoreError> {
        match self {
            Store::Memory(m) => {
                let mut m = Self::mem(m);
                let mine = m.enrolments.entry(user.to_owned()).or_default();
                if mine.contains_key(&course) {
                    return Ok(false);
                }
                mine.insert(course, now);
                Ok(true)
            }
            Store::Postgres(pg) => pg.enrol(user, course, now).await,
        }
    }

    pub async fn enrolments(&self, user: &str) -> Result<Vec<Enrolment>, StoreError> {
        match self {
            Store::Memory(m) => {
                let m = Self::mem(m);
                Ok(m.enrolments
                    .get(user)
                    .into_iter()
                    .flatten()
                    .filter_map(|(id, at)| {
                        catalogue::find(*id).map(|c| Enrolment {
                            course_id: c.id,
                            title: c.title.clone(),
                            enrolled_at: *at,
                        })
                    })
                    .collect())
            }
            Store::Postgres(pg) => pg.enrolments(user).await,
        }
    }

    pub async fn record_attempt(&self, user: &str, a: Attempt) -> Result<(), StoreError> {
        match self {
            Store::Memory(m) => {
                Self::mem(m)
                    .attempts
                    .entry(user.to_owned())
                    .or_default()
                    .push(a);
                Ok(())
            }
            Store::Postgres(pg) => pg.record_attempt(user, &a).await,
        }
    }

    pub async fn attempts(&self, user: &str) -> Result<Vec<Attempt>, StoreError> {
        match self {
            Store::Memory(m) => {
                let mut v = Self::mem(m).attempts.get(user).cloned().unwrap_or_default();
                v.reverse();
                Ok(v)
            }
            Store::Postgres(pg) => pg.attempts(user).await,
        }
    }

    /// Checks the store answers (both endpoints for PostgreSQL).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Postgres(pg) => pg.ping().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_enrols_once_and_lists_newest_attempts_first() {
        let s = Store::memory();
        assert!(s.enrol("ada", 2, 10).await.unwrap());
        assert!(!s.enrol("ada", 2, 11).await.unwrap(), "already enrolled");
        assert!(s.enrol("ada", 5, 12).await.unwrap());
        let e = s.enrolments("ada").await.unwrap();
        assert_eq!(
            e.iter().map(|e| e.course_id).collect::<Vec<_>>(),
            vec![2, 5]
        );
        assert_eq!(e[0].enrolled_at, 10);
        assert!(s.enrolments("bob").await.unwrap().is_empty());
        for score in [3, 7] {
            let a = Attempt {
                course_id: Some(2),
                score,
                total: 10,
                at: score as i64,
            };
            s.record_attempt("ada", a).await.unwrap();
        }
        let a = s.attempts("ada").await.unwrap();
        assert_eq!(a.iter().map(|a| a.score).collect::<Vec<_>>(), vec![7, 3]);
        assert_eq!(s.courses().await.unwrap().len(), catalogue::COURSES.len());
        assert_eq!(s.course(99).await.unwrap(), None);
    }
}
