//! Faults recognised in a PostgreSQL server's log, so that `updraft status` can say *why* a
//! node is down ("disk full") and the controller can pick the right repair (a standby whose
//! upstream no longer has the WAL it needs is re-cloned; restarting it would not help).
//!
//! Pure: it classifies lines of text. The shell feeds it the tail of each node's log.

use serde::{Deserialize, Serialize};

/// A fault a node's log reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `No space left on device`: the node's disk is full.
    DiskFull,
    /// The upstream recycled WAL this standby still needs: it cannot catch up by streaming.
    WalRemoved,
    /// A timeline fork the standby cannot follow (it has WAL the new primary does not).
    Diverged,
    /// The data directory is damaged or was written by another PostgreSQL.
    DataDirectory,
    /// Password authentication failed (updraft's own roles).
    Authentication,
}

impl FaultKind {
    /// What `updraft status` says.
    pub fn describe(self) -> &'static str {
        match self {
            FaultKind::DiskFull => "disk full (No space left on device)",
            FaultKind::WalRemoved => {
                "cannot catch up: its upstream no longer has the WAL it needs (it will be re-cloned)"
            }
            FaultKind::Diverged => {
                "cannot follow the new timeline: it has WAL the primary does not (it will be rewound or re-cloned)"
            }
            FaultKind::DataDirectory => "its data directory is damaged or incompatible",
            FaultKind::Authentication => {
                "updraft's own role was refused (password authentication failed)"
            }
        }
    }

    /// Whether a restart cannot help and the node needs a fresh copy of the primary.
    pub fn needs_clone(self) -> bool {
        matches!(self, FaultKind::WalRemoved | FaultKind::Diverged)
    }
}

/// The fault one log line reports, if any.
pub fn classify(line: &str) -> Option<FaultKind> {
    let l = line;
    if l.contains("No space left on device") {
        Some(FaultKind::DiskFull)
    } else if l.contains("has already been removed")
        || l.contains("requested WAL segment")
        || l.contains("could not find previous WAL record")
    {
        Some(FaultKind::WalRemoved)
    } else if l.contains("is not a child of this server's history")
        || (l.contains("forked off current database system timeline")
            && l.contains("before current recovery point"))
    {
        Some(FaultKind::Diverged)
    } else if l.contains("incompatible with server")
        || l.contains("database files are incompatible")
        || l.contains("is not a valid data directory")
        || l.contains("could not find the database system")
    {
        Some(FaultKind::DataDirectory)
    } else if l.contains("password authentication failed") {
        Some(FaultKind::Authentication)
    } else {
        None
    }
}

/// Whether an authentication failure is one of updraft's own roles being refused.
fn ours(line: &str) -> bool {
    use crate::postgres::node::{ADMIN_ROLE, REPLICATION_ROLE};
    // Said by the client (the standby), not by the server that refused it.
    line.contains("could not connect")
        && [REPLICATION_ROLE, ADMIN_ROLE]
            .iter()
            .any(|role| line.contains(&format!("for user \"{role}\"")))
}

/// The most recent fault in `lines` (oldest first) that is still relevant: a line that says
/// the server started streaming or is ready clears earlier faults.
pub fn latest(lines: &[String]) -> Option<(FaultKind, String)> {
    let mut found = None;
    for line in lines {
        if line.contains("started streaming WAL")
            || line.contains("database system is ready to accept")
        {
            found = None;
        } else if let Some(kind) = classify(line) {
            // Authentication failures are clients' business unless they are updraft's own
            // roles' (a standby refused by its upstream, a rewind refused by its source).
            if kind != FaultKind::Authentication || ours(line) {
                found = Some((kind, line.trim().to_owned()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_log_lines_are_classified() {
        let cases = [
            (
                "2026-11-20 10:00:00.000 UTC [42] PANIC:  could not write to file \"pg_wal/xlogtemp.42\": No space left on device",
                Some(FaultKind::DiskFull),
            ),
            (
                "FATAL:  could not receive data from WAL stream: ERROR:  requested WAL segment 000000010000000000000003 has already been removed",
                Some(FaultKind::WalRemoved),
            ),
            (
                "FATAL:  requested timeline 2 is not a child of this server's history",
                Some(FaultKind::Diverged),
            ),
            (
                "LOG:  new timeline 2 forked off current database system timeline 1 before current recovery point 0/188CE138",
                Some(FaultKind::Diverged),
            ),
            (
                "FATAL:  database files are incompatible with server",
                Some(FaultKind::DataDirectory),
            ),
            ("LOG:  database system is ready to accept connections", None),
        ];
        for (line, want) in cases {
            assert_eq!(classify(line), want, "{line}");
        }
    }

    #[test]
    fn a_later_recovery_clears_an_earlier_fault() {
        let lines: Vec<String> = [
            "PANIC:  could not write: No space left on device",
            "LOG:  started streaming WAL from primary at 0/3000000 on timeline 1",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(latest(&lines), None);
        assert_eq!(latest(&lines[..1]).unwrap().0, FaultKind::DiskFull);
        assert!(FaultKind::WalRemoved.needs_clone());
        assert!(!FaultKind::DiskFull.needs_clone());
    }

    #[test]
    fn only_updrafts_own_roles_refused_are_a_fault() {
        let client =
            "2026-11-30 10:00:00 UTC [7] FATAL:  password authentication failed for user \"app\""
                .to_owned();
        assert_eq!(latest(std::slice::from_ref(&client)), None);
        // The server's side of a standby being refused: the standby says it.
        let server = "2026-11-30 10:00:00 UTC [7] FATAL:  password authentication failed for user \"updraft_replication\"".to_owned();
        assert_eq!(latest(std::slice::from_ref(&server)), None);
        let ours = "2026-11-30 10:00:01 UTC [8] FATAL:  could not connect to the primary server: connection to server at \"127.9.1.254\", port 5432 failed: FATAL:  password authentication failed for user \"updraft_replication\"".to_owned();
        assert_eq!(
            latest(&[client.clone(), ours.clone()]).map(|f| f.0),
            Some(FaultKind::Authentication)
        );
        let streaming =
            "LOG:  started streaming WAL from primary at 0/3000000 on timeline 1".to_owned();
        assert_eq!(latest(&[ours, streaming]), None);
    }
}
