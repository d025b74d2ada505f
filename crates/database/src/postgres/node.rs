//! One PostgreSQL server on disk and as a process: its files, `initdb`, base backups,
//! `pg_rewind`, starting it (as the unprivileged user, in its own process group), stopping and
//! killing it.
//!
//! A node's identity (address, port, name) is passed on the `postgres` command line, so that
//! files copied from another node (`pg_basebackup`, `pg_rewind` copy configuration files
//! wholesale) can never give it another node's port. Its replication settings live in
//! `postgresql.auto.conf`, which updraft rewrites before every start and changes at run time
//! with `ALTER SYSTEM`.

use std::net::Ipv4Addr;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::process::Command;

use super::Installation;
use super::sql::Credentials;

/// The roles updraft creates for itself.
pub const ADMIN_ROLE: &str = "updraft_admin";
pub const REPLICATION_ROLE: &str = "updraft_replication";

/// Settings every node shares (written once into the first primary's `postgresql.conf`; base
/// backups copy them).
const SHARED_SETTINGS: &str = "
# --- updraft: replication and failover (see updraft's ARCHITECTURE.md) ---
wal_level = replica
max_wal_senders = 16
max_replication_slots = 16
max_slot_wal_keep_size = 1GB
wal_keep_size = 128MB
hot_standby = on
hot_standby_feedback = on
wal_log_hints = on
synchronous_commit = on
wal_retrieve_retry_interval = 100ms
wal_receiver_status_interval = 1s
wal_sender_timeout = 10s
wal_receiver_timeout = 10s
shared_buffers = 32MB
max_connections = 100
password_encryption = scram-sha-256
logging_collector = off
log_line_prefix = '%m [%p] '
unix_socket_directories = ''
";

const HBA: &str = "# updraft: password authentication on loopback only
host replication updraft_replication 127.0.0.0/8 scram-sha-256
host all all 127.0.0.0/8 scram-sha-256
";

/// Written next to the data directory: proof that updraft made it, for this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub cluster: String,
    pub node: String,
}

/// Where a node lives.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub log: PathBuf,
    pub marker: PathBuf,
    /// The running server's pid and start time ([`super::adopt::ServerRecord`]).
    pub server: PathBuf,
}

impl NodeFiles {
    pub fn new(cluster_dir: &Path, node: &str) -> NodeFiles {
        let dir = cluster_dir.join(node);
        NodeFiles {
            data: dir.join("data"),
            log: dir.join("postgres.log"),
            marker: dir.join("node.json"),
            server: dir.join("server.json"),
            dir,
        }
    }
}

/// How a node connects to its upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub host: Ipv4Addr,
    pub port: u16,
}

/// Everything needed to run one node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub cluster: String,
    pub name: String,
    pub host: Ipv4Addr,
    pub port: u16,
    pub slot: String,
    pub files: NodeFiles,
}

/// A node's server process: one this updraft started (its child), or one a crashed updraft
/// left running and this one adopted ([`super::adopt`]).
#[derive(Debug, Clone)]
pub struct ServerProcess {
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat`: with the pid, names the process.
    pub start_time: u64,
    pub adopted: bool,
    /// Set when it exits: how.
    pub exit: Arc<Mutex<Option<String>>>,
}

impl ServerProcess {
    pub fn exited(&self) -> Option<String> {
        self.exit.lock().map(|e| e.clone()).unwrap_or(None)
    }
}

/// What went wrong with a node operation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct NodeError {
    pub message: String,
    /// Retrying will not help (e.g. a data directory that is not ours).
    pub permanent: bool,
}

impl NodeError {
    fn new(message: impl Into<String>) -> NodeError {
        NodeError {
            message: message.into(),
            permanent: false,
        }
    }

    fn permanent(message: impl Into<String>) -> NodeError {
        NodeError {
            message: message.into(),
            permanent: true,
        }
    }
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> NodeError {
    let what = format!("{what} {}", path.display());
    move |e| NodeError::new(format!("cannot {what}: {e}"))
}

/// Runs PostgreSQL programs as the installation's user.
pub struct Runner<'a> {
    pub install: &'a Installation,
}

impl Runner<'_> {
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(self.install.program(program));
        if self.install.user.switch {
            c.uid(self.install.user.uid).gid(self.install.user.gid);
        }
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null());
        c
    }

    /// Runs a program to completion, with its output in the node's log; the error carries the
    /// last lines.
    async fn run(
        &self,
        mut cmd: Command,
        what: &str,
        log: &Path,
        timeout: Duration,
    ) -> Result<(), NodeError> {
        let file = open_log(log)?;
        let err = file.try_clone().map_err(io("open", log))?;
        cmd.stdout(file)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| NodeError::new(format!("cannot run {what}: {e}")))?;
        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(s) => s.map_err(|e| NodeError::new(format!("{what}: {e}")))?,
            Err(_) => {
                let _ = child.kill().await;
                return Err(NodeError::new(format!(
                    "{what} did not finish within {} s",
                    timeout.as_secs()
                )));
            }
        };
        if status.success() {
            Ok(())
        } else {
            let tail = crate::postgres::tail(log, 3).join(" | ");
            Err(NodeError::new(format!("{what} failed ({status}): {tail}")))
        }
    }

    /// Makes the node's directory, owned by the servers' user.
    pub fn prepare_dir(&self, node: &NodeConfig) -> Result<(), NodeError> {
        let dir = &node.files.dir;
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        self.own(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("protect", dir))?;
        Ok(())
    }

    fn own(&self, path: &Path) -> Result<(), NodeError> {
        if self.install.user.switch {
            chown(
                path,
                Some(self.install.user.uid),
                Some(self.install.user.gid),
            )
            .map_err(io("hand over", path))?;
        }
        Ok(())
    }

    /// Refuses a data directory updraft did not create for this node.
    pub fn check_ownership(&self, node: &NodeConfig) -> Result<(), NodeError> {
        let data = &node.files.data;
        if !data.exists() {
            return Ok(());
        }
        let marker: Option<Marker> = std::fs::read_to_string(&node.files.marker)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let ours = marker
            .as_ref()
            .is_some_and(|m| m.cluster == node.cluster && m.node == node.name);
        if !ours {
            return Err(NodeError::permanent(format!(
                "data directory {} exists but was not created by updraft for node {} of {}: \
                 updraft will not touch it; move it away (or delete it) and the node is rebuilt",
                data.display(),
                node.name,
                node.cluster
            )));
        }
        let version = std::fs::read_to_string(data.join("PG_VERSION")).unwrap_or_default();
        let major: u32 = version.trim().parse().unwrap_or(0);
        if major != 0 && self.install.major != 0 && major != self.install.major {
            return Err(NodeError::permanent(format!(
                "data directory {} holds PostgreSQL {major} data but PostgreSQL {} is installed: \
                 upgrade it with pg_upgrade, or move it away",
                data.display(),
                self.install.major
            )));
        }
        Ok(())
    }

    fn write_marker(&self, node: &NodeConfig) -> Result<(), NodeError> {
        let m = Marker {
            cluster: node.cluster.clone(),
            node: node.name.clone(),
        };
        let text = serde_json::to_string(&m).unwrap_or_default();
        std::fs::write(&node.files.marker, text).map_err(io("write", &node.files.marker))
    }

    /// `initdb` a new primary with updraft's settings and roles' passwords.
    pub async fn initdb(&self, node: &NodeConfig, creds: &Credentials) -> Result<(), NodeError> {
        self.prepare_dir(node)?;
        if node.files.data.exists() {
            return Err(NodeError::permanent(format!(
                "data directory {} already exists: updraft will not initdb over it; move it away",
                node.files.data.display()
            )));
        }
        let pwfile = node.files.dir.join("initdb.pw");
        std::fs::write(&pwfile, format!("{}\n", creds.admin_password))
            .map_err(io("write", &pwfile))?;
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600))
            .map_err(io("protect", &pwfile))?;
        self.own(&pwfile)?;
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(&node.files.data)
            .args([
                "-U",
                ADMIN_ROLE,
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        let result = self
            .run(cmd, "initdb", &node.files.log, Duration::from_secs(120))
            .await;
        let _ = std::fs::remove_file(&pwfile);
        result?;
        let conf = node.files.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(io("read", &conf))?;
        text.push_str(SHARED_SETTINGS);
        std::fs::write(&conf, text).map_err(io("write", &conf))?;
        let hba = node.files.data.join("pg_hba.conf");
        std::fs::write(&hba, HBA).map_err(io("write", &hba))?;
        self.own(&hba)?;
        self.write_marker(node)
    }

    /// A fresh copy of `upstream` (`pg_basebackup`), replacing whatever data the node had.
    pub async fn base_backup(
        &self,
        node: &NodeConfig,
        upstream: &Upstream,
        creds: &Credentials,
    ) -> Result<(), NodeError> {
        self.prepare_dir(node)?;
        if node.files.data.exists() {
            std::fs::remove_dir_all(&node.files.data).map_err(io("remove", &node.files.data))?;
        }
        let mut cmd = self.command("pg_basebackup");
        cmd.arg("-D")
            .arg(&node.files.data)
            .args([
                "-h",
                &upstream.host.to_string(),
                "-p",
                &upstream.port.to_string(),
            ])
            .args(["-U", REPLICATION_ROLE, "-X", "stream", "-c", "fast", "-w"])
            .args(["-S", &node.slot])
            .env("PGPASSWORD", &creds.replication_password)
            .env("PGCONNECT_TIMEOUT", "5");
        self.run(
            cmd,
            "pg_basebackup",
            &node.files.log,
            Duration::from_secs(600),
        )
        .await?;
        self.write_marker(node)
    }

    /// `pg_rewind` onto `upstream` (which must have had a `CHECKPOINT` since its promotion).
    pub async fn rewind(
        &self,
        node: &NodeConfig,
        upstream: &Upstream,
        creds: &Credentials,
    ) -> Result<(), NodeError> {
        self.check_ownership(node)?;
        // pg_rewind first runs crash recovery in single-user mode, which refuses standby mode:
        // the signal files come back with `configure`.
        for signal in ["standby.signal", "recovery.signal"] {
            let _ = std::fs::remove_file(node.files.data.join(signal));
        }
        let mut cmd = self.command("pg_rewind");
        cmd.arg("-D")
            .arg(&node.files.data)
            .arg(format!(
                "--source-server=host={} port={} user={ADMIN_ROLE} dbname=postgres connect_timeout=5",
                upstream.host, upstream.port
            ))
            .env("PGPASSWORD", &creds.admin_password);
        self.run(cmd, "pg_rewind", &node.files.log, Duration::from_secs(300))
            .await?;
        self.write_marker(node)
    }

    /// Writes the node's replication settings and signal files for its next start: a standby
    /// of `upstream`, or the primary (`None`).
    pub fn configure(
        &self,
        node: &NodeConfig,
        upstream: Option<&Upstream>,
        creds: &Credentials,
    ) -> Result<(), NodeError> {
        let data = &node.files.data;
        let mut auto = String::from(
            "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n",
        );
        auto.push_str("synchronous_standby_names = ''\n");
        let signal = data.join("standby.signal");
        match upstream {
            Some(u) => {
                auto.push_str(&format!(
                    "primary_conninfo = '{}'\nprimary_slot_name = '{}'\n",
                    conninfo(u, &node.name, creds).replace('\'', "''"),
                    node.slot
                ));
                std::fs::write(&signal, "").map_err(io("write", &signal))?;
                self.own(&signal)?;
            }
            None => {
                if signal.exists() {
                    std::fs::remove_file(&signal).map_err(io("remove", &signal))?;
                }
            }
        }
        let _ = std::fs::remove_file(data.join("recovery.signal"));
        let path = data.join("postgresql.auto.conf");
        std::fs::write(&path, auto).map_err(io("write", &path))?;
        self.own(&path)?;
        let hba = data.join("pg_hba.conf");
        std::fs::write(&hba, HBA).map_err(io("write", &hba))?;
        self.own(&hba)
    }

    /// Starts the server in its own process group; `wake` is called when it exits.
    pub fn start(
        &self,
        node: &NodeConfig,
        wake: impl Fn() + Send + 'static,
    ) -> Result<ServerProcess, NodeError> {
        self.check_ownership(node)?;
        let file = open_log(&node.files.log)?;
        let err = file.try_clone().map_err(io("open", &node.files.log))?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(&node.files.data)
            .args(["-c", &format!("port={}", node.port)])
            .args(["-c", &format!("listen_addresses={}", node.host)])
            .args(["-c", &format!("cluster_name={}", node.name)])
            .stdout(file)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd
            .spawn()
            .map_err(|e| NodeError::new(format!("cannot start postgres for {}: {e}", node.name)))?;
        let pid = child.id().unwrap_or(0);
        // Recorded at once, so that a crash of updraft from now on adopts it.
        let start_time = super::adopt::write_record(node, pid).map_or(0, |r| r.start_time);
        let exit = Arc::new(Mutex::new(None));
        let slot = exit.clone();
        tokio::spawn(async move {
            let detail = match child.wait().await {
                Ok(status) => describe(status),
                Err(e) => format!("could not be waited for: {e}"),
            };
            if let Ok(mut e) = slot.lock() {
                *e = Some(detail);
            }
            wake();
        });
        Ok(ServerProcess {
            pid,
            start_time,
            adopted: false,
            exit,
        })
    }
}

/// `primary_conninfo` for a standby of `upstream`.
pub fn conninfo(upstream: &Upstream, application_name: &str, creds: &Credentials) -> String {
    format!(
        "host={} port={} user={REPLICATION_ROLE} password={} application_name={application_name} connect_timeout=2",
        upstream.host, upstream.port, creds.replication_password
    )
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => {
            let name = Signal::try_from(sig).map(|s| s.as_str()).unwrap_or("?");
            format!("was killed by signal {sig} ({name})")
        }
        _ => "exited".into(),
    }
}

fn open_log(path: &Path) -> Result<std::fs::File, NodeError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io("open", path))
}

/// SIGKILLs a postmaster and everything it started, as a host crash would: its process group
/// (`pid` leads it) and each child's own group — PostgreSQL's children call `setsid()`, so
/// the postmaster's group holds the postmaster alone, and a backend, WAL sender or WAL writer
/// would otherwise outlive it until it notices the postmaster's death. The children are listed
/// before the postmaster dies (after, they belong to init).
pub fn kill_group(pid: u32) {
    if pid <= 1 {
        return;
    }
    let children = children_of(pid);
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    for child in children {
        let _ = killpg(Pid::from_raw(child as i32), Signal::SIGKILL);
        let _ = nix::sys::signal::kill(Pid::from_raw(child as i32), Signal::SIGKILL);
    }
}

/// The processes whose parent is `pid` (from `/proc/<pid>/stat`, field 4).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let (_, rest) = s.rsplit_once(')')?;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// Fast shutdown (SIGINT): sessions end, every WAL record reaches the standbys, then it exits.
/// SIGKILL after `grace`.
pub async fn stop_clean(process: &ServerProcess, grace: Duration) {
    let _ = nix::sys::signal::kill(Pid::from_raw(process.pid as i32), Signal::SIGINT);
    let deadline = tokio::time::Instant::now() + grace;
    while process.exited().is_none() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if process.exited().is_none() {
        kill_group(process.pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[tokio::test]
    async fn kill_group_also_kills_children_in_their_own_sessions() {
        // As a postmaster's children do, the background `sleep` leaves its parent's group.
        let mut parent = std::process::Command::new("/bin/sh")
            .args(["-c", "setsid sleep 30 & sleep 30"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = parent.id();
        let own_group = |c: &u32| compute::procfs::read_stat(*c).is_some_and(|s| s.pgrp == *c);
        let mut children = Vec::new();
        for _ in 0..500 {
            children = children_of(pid);
            if children.len() == 2 && children.iter().any(own_group) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(children.len(), 2, "{children:?}");
        assert!(
            children.iter().any(own_group),
            "one child leads its own group"
        );
        kill_group(pid);
        parent.wait().unwrap();
        let gone = |p: u32| compute::procfs::read_stat(p).is_none_or(|s| !s.is_live());
        for _ in 0..200 {
            if children.iter().all(|&c| gone(c)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            children.iter().all(|&c| gone(c)),
            "{children:?} outlived it"
        );
    }
}
