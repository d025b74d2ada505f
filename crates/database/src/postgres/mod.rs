//! The PostgreSQL I/O: the installation ([`install`]), nodes on disk and as processes
//! ([`node`]), and SQL ([`sql`]). Nothing here decides anything; [`crate::controller`] calls it
//! to carry out [`crate::failover::Action`]s.

pub mod adopt;
pub mod install;
pub mod node;
pub mod sql;

pub use install::{InstallError, Installation, OsUser};
pub use node::{NodeConfig, NodeError, NodeFiles, Runner, ServerProcess, Upstream};
pub use sql::{Credentials, SqlError};

/// The last `n` lines of a log file (empty if it cannot be read).
pub fn tail(path: &std::path::Path, n: usize) -> Vec<String> {
    let Ok(text) = std::fs::read(path) else {
        return Vec::new();
    };
    let start = text.len().saturating_sub(64 * 1024);
    let text = String::from_utf8_lossy(&text[start..]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}
