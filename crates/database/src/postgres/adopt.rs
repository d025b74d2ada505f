//! Servers that outlive updraft: the record of each server process (`server.json` beside its
//! data: pid and `/proc` start time, written right after it is spawned), adopting a server a
//! crashed updraft left running, watching an adopted server for its exit, and finding the
//! PostgreSQL programs a crashed updraft left working on a node (initdb, `pg_basebackup`,
//! `pg_rewind`, a postmaster) so they can be stopped.
//!
//! An adopted postmaster is not our child, so its exit cannot be waited for: its
//! `/proc/<pid>/stat` is read every [`POLL`] (a few microseconds each), so its exit is seen
//! within 50 ms instead of at once — well inside the failover's budget. (A pidfd would see it
//! at once, but registering one with tokio now takes `unsafe`, which this workspace forbids.)

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::node::{NodeConfig, ServerProcess};

/// How often an adopted server is checked when no pidfd can be had.
pub const POLL: Duration = Duration::from_millis(50);

/// What identifies a running server: its pid and its start time (field 22 of
/// `/proc/<pid>/stat`, clock ticks after boot), so that a later process reusing the pid is
/// never taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRecord {
    pub pid: u32,
    pub start_time: u64,
}

/// Records a server just spawned (write-then-rename: a crash leaves the old record or the new).
pub fn write_record(node: &NodeConfig, pid: u32) -> Option<ServerRecord> {
    let stat = compute::procfs::read_stat(pid)?;
    let record = ServerRecord {
        pid,
        start_time: stat.start_time,
    };
    let tmp = node.files.server.with_extension("json.tmp");
    let text = serde_json::to_string(&record).ok()?;
    if let Err(e) =
        std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &node.files.server))
    {
        tracing::warn!(node = %node.name, error = %e, "cannot record the server process; a crash of updraft would restart it instead of adopting it");
    }
    Some(record)
}

pub fn read_record(node: &NodeConfig) -> Option<ServerRecord> {
    let text = std::fs::read_to_string(&node.files.server).ok()?;
    serde_json::from_str(&text).ok()
}

/// Why a recorded server cannot be adopted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAdopted {
    /// No record: it was never started, or updraft crashed before recording it.
    NoRecord,
    /// The recorded process is gone (or the pid now names another process).
    Gone,
    /// The process runs, but `postmaster.pid` in the node's data names another one.
    NotItsPostmaster { lock_pid: Option<u32> },
}

impl std::fmt::Display for NotAdopted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotAdopted::NoRecord => write!(f, "no record of its server process"),
            NotAdopted::Gone => write!(f, "its server is no longer running"),
            NotAdopted::NotItsPostmaster { lock_pid } => write!(
                f,
                "its data directory's postmaster.pid names {}",
                lock_pid.map_or_else(|| "no process".into(), |p| format!("pid {p}"))
            ),
        }
    }
}

/// The pid on the first line of `postmaster.pid`.
pub fn lock_pid(data: &Path) -> Option<u32> {
    std::fs::read_to_string(data.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Decides whether `record` still names the node's running postmaster: the same pid *and*
/// start time, a live `postgres` process, and the one the data directory's `postmaster.pid`
/// names. Pure apart from the reads it is handed.
pub fn check(
    record: Option<ServerRecord>,
    stat: impl Fn(u32) -> Option<compute::procfs::ProcStat>,
    comm: impl Fn(u32) -> String,
    lock: Option<u32>,
) -> Result<ServerRecord, NotAdopted> {
    let record = record.ok_or(NotAdopted::NoRecord)?;
    let live = stat(record.pid).is_some_and(|s| s.start_time == record.start_time && s.is_live())
        && comm(record.pid).trim() == "postgres";
    if !live {
        return Err(NotAdopted::Gone);
    }
    if lock != Some(record.pid) {
        return Err(NotAdopted::NotItsPostmaster { lock_pid: lock });
    }
    Ok(record)
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default()
}

/// Adopts the node's server if the process recorded for it still runs as its postmaster, and
/// watches it: `wake` is called when it exits.
pub fn adopt(
    node: &NodeConfig,
    wake: impl Fn() + Send + 'static,
) -> Result<ServerProcess, NotAdopted> {
    let record = check(
        read_record(node),
        compute::procfs::read_stat,
        comm,
        lock_pid(&node.files.data),
    )?;
    let exit = Arc::new(Mutex::new(None));
    let process = ServerProcess {
        pid: record.pid,
        start_time: record.start_time,
        adopted: true,
        exit: exit.clone(),
    };
    tokio::spawn(async move {
        let detail = watch(record).await;
        if let Ok(mut e) = exit.lock() {
            *e = Some(detail);
        }
        wake();
    });
    Ok(process)
}

/// Whether the recorded process has exited (or the pid was reused since).
fn gone(record: ServerRecord) -> bool {
    compute::procfs::read_stat(record.pid)
        .is_none_or(|s| s.start_time != record.start_time || !s.is_live())
}

/// Waits until an adopted server exits; returns how, as far as a non-parent can tell.
async fn watch(record: ServerRecord) -> String {
    while !gone(record) {
        tokio::time::sleep(POLL).await;
    }
    "exited (an adopted server: its exit status is unknown to updraft)".into()
}

/// PostgreSQL programs still working on the node's data directory (a postmaster, initdb,
/// `pg_basebackup`, `pg_rewind`): every process whose command line names `data` as an
/// argument. Their server backends rename themselves but share the postmaster's group.
pub fn processes_on(data: &Path) -> Vec<u32> {
    let Some(data) = data.to_str() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| names_dir(&c, data))
                && compute::procfs::read_stat(pid).is_some_and(|s| s.is_live())
        })
        .collect()
}

/// Whether a NUL-separated command line has `dir` as an argument (`-D dir`, `-Ddir`,
/// `--pgdata=dir`, `--target-pgdata=dir`).
pub fn names_dir(cmdline: &[u8], dir: &str) -> bool {
    let program_ok = |p: &[u8]| {
        let name = p.rsplit(|b| *b == b'/').next().unwrap_or(p);
        super::install::PROGRAMS
            .iter()
            .any(|known| known.as_bytes() == name)
    };
    let mut args = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty());
    let Some(program) = args.next() else {
        return false;
    };
    if !program_ok(program) {
        return false;
    }
    args.any(|a| {
        let a = String::from_utf8_lossy(a);
        let value = a
            .strip_prefix("-D")
            .or_else(|| a.strip_prefix("--pgdata="))
            .or_else(|| a.strip_prefix("--target-pgdata="))
            .unwrap_or(&a);
        value == dir
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use compute::procfs::ProcStat;

    fn stat(start_time: u64, state: char) -> ProcStat {
        ProcStat {
            state,
            pgrp: 42,
            cpu_ticks: 0,
            start_time,
        }
    }

    #[test]
    fn only_the_recorded_live_postmaster_of_this_data_is_adopted() {
        let record = ServerRecord {
            pid: 42,
            start_time: 1000,
        };
        let rec = Some(record);
        let pg = |_| "postgres\n".to_owned();
        let ok = check(rec, |_| Some(stat(1000, 'S')), pg, Some(42));
        assert_eq!(ok, Ok(record));
        assert_eq!(
            check(None, |_| Some(stat(1000, 'S')), pg, Some(42)),
            Err(NotAdopted::NoRecord)
        );
        // The pid was reused by a later process.
        assert_eq!(
            check(rec, |_| Some(stat(2000, 'S')), pg, Some(42)),
            Err(NotAdopted::Gone)
        );
        // Exited, not yet reaped.
        assert_eq!(
            check(rec, |_| Some(stat(1000, 'Z')), pg, Some(42)),
            Err(NotAdopted::Gone)
        );
        assert_eq!(check(rec, |_| None, pg, Some(42)), Err(NotAdopted::Gone));
        // Same pid and start, but not a postgres process.
        assert_eq!(
            check(rec, |_| Some(stat(1000, 'S')), |_| "bash".into(), Some(42)),
            Err(NotAdopted::Gone)
        );
        // A postgres process, but not the one the data directory is locked by.
        assert_eq!(
            check(rec, |_| Some(stat(1000, 'S')), pg, Some(43)),
            Err(NotAdopted::NotItsPostmaster { lock_pid: Some(43) })
        );
        assert_eq!(
            check(rec, |_| Some(stat(1000, 'S')), pg, None),
            Err(NotAdopted::NotItsPostmaster { lock_pid: None })
        );
    }

    #[test]
    fn programs_working_on_a_data_directory_are_recognised() {
        let d = "/s/db/main/main-1/data";
        let cmd = |parts: &[&str]| parts.join("\0").into_bytes();
        assert!(names_dir(
            &cmd(&[
                "/usr/lib/postgresql/15/bin/postgres",
                "-D",
                d,
                "-c",
                "port=5432"
            ]),
            d
        ));
        assert!(names_dir(&cmd(&["pg_basebackup", "-D", d, "-h", "x"]), d));
        assert!(names_dir(&cmd(&["initdb", &format!("-D{d}")]), d));
        assert!(names_dir(
            &cmd(&["pg_rewind", &format!("--target-pgdata={d}")]),
            d
        ));
        // Another node's data, or another program naming the path.
        assert!(!names_dir(
            &cmd(&["postgres", "-D", "/s/db/main/main-2/data"]),
            d
        ));
        assert!(!names_dir(&cmd(&["rm", "-rf", d]), d));
        assert!(!names_dir(b"", d));
    }

    #[tokio::test]
    async fn a_process_that_is_not_our_child_is_seen_to_exit() {
        // A grandchild: `sh` starts `sleep` in the background and exits, so the sleep is not
        // ours to wait for (as a postmaster left by a crashed updraft is not).
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 30 >/dev/null 2>&1 & echo $!"])
            .output()
            .unwrap();
        let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let record = ServerRecord {
            pid,
            start_time: compute::procfs::read_stat(pid).unwrap().start_time,
        };
        let watcher = tokio::spawn(watch(record));
        tokio::task::yield_now().await;
        assert!(!watcher.is_finished());
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let detail = tokio::time::timeout(Duration::from_secs(10), watcher)
            .await
            .expect("the exit is seen")
            .unwrap();
        assert!(detail.contains("adopted"), "{detail}");
    }
}
