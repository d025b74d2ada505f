//! Failure drills in the store: a drill is saved when it starts and whenever it advances, so a
//! daemon restarted after a crash finds the drills still running and ends (and undoes) the ones
//! whose time is over.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, from_json, to_json};
use crate::chaos::Drill;

/// Finished drills kept as history.
const KEEP_FINISHED: i64 = 200;

impl Store {
    pub fn save_drill(&self, d: &Drill) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR REPLACE INTO drills (id, finished, started_at, record) VALUES (?1, ?2, ?3, ?4)",
            params![d.id, d.is_finished(), d.started_at.as_millis(), to_json(d)],
        )?;
        conn.execute(
            "DELETE FROM drills WHERE finished = 1 AND id NOT IN
               (SELECT id FROM drills WHERE finished = 1 ORDER BY started_at DESC LIMIT ?1)",
            [KEEP_FINISHED],
        )?;
        Ok(())
    }

    pub fn drill(&self, id: &str) -> Result<Option<Drill>, StoreError> {
        let text: Option<String> = self
            .conn()
            .query_row("SELECT record FROM drills WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        text.map(|t| from_json(&t, "drill")).transpose()
    }

    /// Drills, newest first; only unfinished ones with `running_only`.
    pub fn drills(&self, running_only: bool, limit: usize) -> Result<Vec<Drill>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT record FROM drills WHERE (?1 = 0 OR finished = 0)
             ORDER BY started_at DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![running_only, limit as i64], |r| {
            r.get::<_, String>(0)
        })?;
        rows.map(|r| from_json(&r?, "drill")).collect()
    }
}

#[cfg(test)]
mod tests {
    use model::Timestamp;

    use super::*;
    use crate::chaos::{Baseline, DrillSpec, progress};

    #[test]
    fn drills_round_trip_and_running_ones_are_found() {
        let store = Store::open_in_memory().unwrap();
        let spec = DrillSpec::StopAz {
            availability_zone: "us-east-1a".into(),
            duration_ms: 5000,
        };
        let a = Drill::start(
            "a".into(),
            spec.clone(),
            Baseline::default(),
            vec![],
            Timestamp(1),
        );
        let b = Drill::start("b".into(), spec, Baseline::default(), vec![], Timestamp(2));
        store.save_drill(&a).unwrap();
        store.save_drill(&b).unwrap();
        assert_eq!(store.drill("a").unwrap(), Some(a.clone()));
        assert_eq!(store.drill("zz").unwrap(), None);
        let (a, _) = progress::stop(&a, Timestamp(3), "stopped");
        store.save_drill(&a).unwrap();
        let running: Vec<_> = store
            .drills(true, 10)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(running, vec!["b"]);
        let all: Vec<_> = store
            .drills(false, 10)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(all, vec!["b", "a"]);
    }
}
