//! Reading `/proc/<pid>/stat`: start time (to tell a pid apart from a later process that reuses
//! it), state (a zombie has exited), process group, and CPU time.
//!
//! Parsing is split from reading so it can be tested on literal lines. The `comm` field (2) is
//! wrapped in parentheses and may itself contain spaces and `)`, so fields are counted from the
//! *last* `)`.

use std::fs;
use std::time::Duration;

/// Kernel clock ticks per second as seen by user space (`USER_HZ`). It is 100 on every Linux
/// architecture updraft runs on; the kernel fixes it in its user ABI independently of `CONFIG_HZ`.
pub const USER_HZ: u64 = 100;

/// The fields of `/proc/<pid>/stat` this crate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `T`, …
    pub state: char,
    /// Field 5: process group id.
    pub pgrp: u32,
    /// Fields 14–17: user + system time of the process and of its waited-for children, in ticks.
    pub cpu_ticks: u64,
    /// Field 22: start time after boot, in ticks. With the pid, it names a process uniquely.
    pub start_time: u64,
}

impl ProcStat {
    /// True while the process has not exited (a zombie has exited but is not yet reaped).
    pub fn is_live(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }

    pub fn cpu_time(&self) -> Duration {
        Duration::from_millis(self.cpu_ticks * 1000 / USER_HZ)
    }
}

/// Parses one `/proc/<pid>/stat` line; `None` if it is not of that shape.
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let after_comm = &line[line.rfind(')')? + 1..];
    // `rest[0]` is field 3 (state).
    let rest: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let num = |n: usize| field(n)?.parse::<u64>().ok();
    let state = field(3)?.chars().next()?;
    let pgrp = field(5)?.parse::<u32>().ok()?;
    let cpu_ticks = num(14)? + num(15)? + num(16)? + num(17)?;
    let start_time = num(22)?;
    Some(ProcStat {
        state,
        pgrp,
        cpu_ticks,
        start_time,
    })
}

/// Reads `/proc/<pid>/stat`; `None` when the process does not exist (any more).
pub fn read_stat(pid: u32) -> Option<ProcStat> {
    let line = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&line)
}

/// Live (non-zombie) members of process group `pgrp`, found by scanning `/proc`.
///
/// `killpg(pgrp, 0)` cannot answer this: it also succeeds for a group made only of zombies, and
/// orphaned zombies are reaped by whoever is PID 1, which we do not control.
pub fn live_group_members(pgrp: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| read_stat(pid).is_some_and(|s| s.pgrp == pgrp && s.is_live()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real line (from a `sleep`), with a comm that contains a space and a parenthesis.
    const LINE: &str = "4242 (sl ee)p) S 4241 4242 4241 0 -1 4194560 107 0 0 0 \
                        7 3 2 1 20 0 1 0 987654 5734400 129 18446744073709551615 1 1 0 0 0 0 0 0 0 \
                        0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn parses_fields_after_the_last_parenthesis() {
        let s = parse_stat(LINE).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.pgrp, 4242);
        assert_eq!(s.cpu_ticks, 7 + 3 + 2 + 1);
        assert_eq!(s.start_time, 987654);
        assert_eq!(s.cpu_time(), Duration::from_millis(130));
        assert!(s.is_live());
    }

    #[test]
    fn zombies_are_not_live_and_garbage_is_rejected() {
        let z = LINE.replace(") S ", ") Z ");
        assert!(!parse_stat(&z).unwrap().is_live());
        assert_eq!(parse_stat("no parenthesis here"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn reads_our_own_process() {
        let me = read_stat(std::process::id()).unwrap();
        assert!(me.is_live());
        assert!(me.start_time > 0);
        assert!(live_group_members(me.pgrp).contains(&std::process::id()));
        assert_eq!(read_stat(u32::MAX), None);
    }
}
