//! [`ProcessProvider`]: launches instances as process groups, watches, stops and adopts them.
//!
//! Invariants:
//! - every child we spawn is reaped by a task that records its exit, so no zombies remain and
//!   [`ProcessProvider::status`] never blocks;
//! - children are not killed when updraft exits or crashes (`kill_on_drop(false)`): a later run
//!   finds them again with [`ProcessProvider::adopt`];
//! - a process is named by (pid, start time), never by pid alone, so a recycled pid is never
//!   mistaken for an instance and never signalled.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::time::{Instant, sleep};

use crate::cgroup::{self, LimitSupport, Limits};
use crate::launch::{self, InstanceFiles};
use crate::procfs;
use crate::{
    InstanceProcess, LaunchError, LaunchRequest, ProcessStatus, ProviderConfig, TerminateError,
};

/// How often terminate looks whether the group is gone.
const POLL: Duration = Duration::from_millis(20);
/// How long terminate waits for SIGKILLed processes to disappear and their group to empty.
const AFTER_KILL: Duration = Duration::from_secs(5);

/// How [`ProcessProvider::freeze`] stopped an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// With the cgroup freezer.
    Frozen,
    /// With SIGSTOP (no freezer on this host).
    Signalled,
}

/// Exit of each child spawned in this run, keyed by (pid, start time); `None` while it runs.
type Exits = Arc<Mutex<HashMap<(u32, u64), Option<ExitStatus>>>>;

/// Runs instances as local processes, limited by cgroups where the host allows.
pub struct ProcessProvider {
    config: ProviderConfig,
    limits: LimitSupport,
    exits: Exits,
}

impl ProcessProvider {
    /// Detects cgroup support (once) and says clearly when instances will run without limits.
    pub fn new(config: ProviderConfig) -> ProcessProvider {
        let limits = cgroup::detect::detect();
        match &limits {
            LimitSupport::Unavailable { reason } => {
                tracing::warn!("instances will run WITHOUT cpu and memory limits: {reason}")
            }
            other => tracing::info!(?other, "instance limits enforced with cgroups"),
        }
        ProcessProvider::with_limits(config, limits)
    }

    /// A provider that uses `limits` as given (tests, or a host detected once for many stacks).
    pub fn with_limits(mut config: ProviderConfig, limits: LimitSupport) -> ProcessProvider {
        if !(config.memory_scale.is_finite() && config.memory_scale > 0.0) {
            tracing::warn!(
                memory_scale = config.memory_scale,
                "memory_scale must be > 0; using 1.0"
            );
            config.memory_scale = 1.0;
        }
        ProcessProvider {
            config,
            limits,
            exits: Arc::default(),
        }
    }

    pub fn limits(&self) -> &LimitSupport {
        &self.limits
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// Starts the instance's user data under `/bin/sh` in its own process group and cgroup.
    pub async fn launch(&self, req: LaunchRequest) -> Result<InstanceProcess, LaunchError> {
        let files = InstanceFiles::new(&self.config.state_dir, &req.id);
        let state_err = |path: &std::path::Path| {
            let (id, path) = (req.id.clone(), path.to_path_buf());
            move |source| LaunchError::StateDir { id, path, source }
        };
        fs::create_dir_all(&files.dir).map_err(state_err(&files.dir))?;
        fs::write(&files.user_data, &req.user_data).map_err(state_err(&files.user_data))?;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&files.log)
            .map_err(state_err(&files.log))?;

        let limits = Limits::for_type(
            &req.instance_type,
            self.config.millicores_per_vcpu,
            self.config.memory_scale,
        );
        let cgroup = cgroup::create(&self.limits, &self.config.scope, req.id.as_str(), limits)?;
        let header = match &cgroup {
            Some(_) => format!(
                "updraft: launching {} ({}: {} µs cpu per {} µs, {} MiB) in {} at {}:{}\n",
                req.id,
                req.instance_type.name,
                limits.cpu_quota_us,
                cgroup::CPU_PERIOD_US,
                limits.memory_bytes >> 20,
                req.availability_zone,
                req.host,
                req.port
            ),
            None => format!(
                "updraft: launching {} ({}, without limits) in {} at {}:{}\n",
                req.id, req.instance_type.name, req.availability_zone, req.host, req.port
            ),
        };
        let spawned = log
            .write_all(header.as_bytes())
            .and_then(|()| Ok((log.try_clone()?, log.try_clone()?)))
            .map_err(state_err(&files.log))
            .and_then(|(out, err)| {
                let exe_dir = std::env::current_exe()
                    .ok()
                    .and_then(|p| p.parent().map(|d| d.to_path_buf()));
                let env = launch::environment(&req, exe_dir.as_deref(), |k| std::env::var(k).ok());
                tokio::process::Command::new("/bin/sh")
                    .args(launch::shell_args(cgroup.as_ref(), &files.user_data))
                    .env_clear()
                    .envs(env)
                    .current_dir(&files.dir)
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .process_group(0)
                    .kill_on_drop(false)
                    .spawn()
                    .map_err(|source| LaunchError::Spawn {
                        id: req.id.clone(),
                        source,
                    })
            });
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                if let Some(paths) = &cgroup {
                    let _ = cgroup::remove(paths);
                }
                return Err(e);
            }
        };
        // Not yet waited on, so the pid cannot have been reaped and reused: its stat is ours.
        let pid = child.id().unwrap_or(0);
        let Some(stat) = procfs::read_stat(pid).filter(|_| pid > 1) else {
            let _ = child.start_kill();
            return Err(LaunchError::Vanished { id: req.id, pid });
        };
        let key = (pid, stat.start_time);
        self.exits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, None);
        let exits = Arc::clone(&self.exits);
        tokio::spawn(async move {
            let status = child.wait().await;
            let mut exits = exits.lock().unwrap_or_else(|p| p.into_inner());
            match status {
                Ok(status) => exits.insert(key, Some(status)),
                // Waiting can only fail if the child was reaped elsewhere: it is gone either way.
                Err(_) => exits.remove(&key),
            };
        });
        tracing::info!(id = %req.id, pid, "instance launched");
        Ok(InstanceProcess {
            id: req.id,
            pid,
            start_time: stat.start_time,
            log_path: files.log,
            cgroup,
        })
    }

    /// Running / Exited{code, signal} / Gone (for processes we did not spawn in this run). Non-blocking.
    pub fn status(&self, p: &InstanceProcess) -> ProcessStatus {
        use std::os::unix::process::ExitStatusExt;
        let exits = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        match exits.get(&(p.pid, p.start_time)) {
            Some(None) => ProcessStatus::Running,
            Some(Some(status)) => ProcessStatus::Exited {
                code: status.code(),
                signal: status.signal(),
            },
            None if leader_is_live(p) => ProcessStatus::Running,
            None => ProcessStatus::Gone,
        }
    }

    /// Stops every process of the instance where it stands (a warm pool's `Stopped` state): the
    /// cgroup freezer when the instance has one (v2 `cgroup.freeze`, v1 `freezer.state`), else
    /// SIGSTOP to its process group. Returns once the kernel reports the group frozen (or
    /// after at most a second: freezing a group that is busy in the kernel can take a moment).
    pub async fn freeze(&self, p: &InstanceProcess) -> Result<Stopped, TerminateError> {
        if let Some(cgroup) = &p.cgroup
            && let Some((file, frozen, _)) = cgroup.freezer()
        {
            match cgroup::write(&file, frozen) {
                Ok(()) => {
                    let deadline = Instant::now() + Duration::from_secs(1);
                    while !cgroup.is_frozen() && Instant::now() < deadline {
                        sleep(POLL).await;
                    }
                    return Ok(Stopped::Frozen);
                }
                Err(e) => {
                    tracing::warn!(id = %p.id, file = %file.display(), error = %e, "cannot freeze the cgroup; stopping the instance with SIGSTOP instead");
                }
            }
        }
        self.signal_all(p, Signal::SIGSTOP)?;
        Ok(Stopped::Signalled)
    }

    /// Lets a frozen (or SIGSTOPped) instance run again. Idempotent: thawing a running
    /// instance does nothing.
    pub fn thaw(&self, p: &InstanceProcess) -> Result<(), TerminateError> {
        if let Some(cgroup) = &p.cgroup
            && let Some((file, _, thawed)) = cgroup.freezer()
            && let Err(e) = cgroup::write(&file, thawed)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(id = %p.id, file = %file.display(), error = %e, "cannot thaw the cgroup");
        }
        // SIGCONT as well: harmless for a running process, and it resumes one that was
        // stopped with SIGSTOP (no freezer) or by anything else.
        self.signal_all(p, Signal::SIGCONT)
    }

    /// SIGTERM to the process group, then SIGKILL after `grace`; removes the cgroup. Idempotent.
    /// A frozen instance is thawed first, so that it can handle SIGTERM.
    pub async fn terminate(
        &self,
        p: &InstanceProcess,
        grace: Duration,
    ) -> Result<(), TerminateError> {
        self.signal_all(p, Signal::SIGTERM)?;
        if let Err(e) = self.thaw(p) {
            tracing::debug!(id = %p.id, error = %e, "could not thaw before terminating");
        }
        let deadline = Instant::now() + grace;
        while self.has_processes(p) && Instant::now() < deadline {
            sleep(POLL).await;
        }
        if self.has_processes(p) {
            tracing::info!(id = %p.id, ?grace, "instance outlived SIGTERM; sending SIGKILL");
            self.signal_all(p, Signal::SIGKILL)?;
        }
        let deadline = Instant::now() + AFTER_KILL;
        while self.has_processes(p) {
            if Instant::now() >= deadline {
                return Err(TerminateError::StillRunning {
                    id: p.id.clone(),
                    pid: p.pid,
                });
            }
            sleep(POLL).await;
        }
        let Some(paths) = &p.cgroup else {
            return Ok(());
        };
        // The kernel lets a group go a moment after its last process has exited.
        loop {
            match cgroup::remove(paths) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e.into()),
                Err(_) => sleep(POLL).await,
            }
        }
    }

    /// SIGKILL the whole group now (chaos drills, shutdown escalation). The cgroup stays until
    /// [`terminate`](Self::terminate) is called.
    pub fn kill(&self, p: &InstanceProcess) -> Result<(), TerminateError> {
        self.signal_all(p, Signal::SIGKILL)?;
        // A v1-frozen process only dies once thawed.
        let _ = self.thaw(p);
        Ok(())
    }

    /// Re-attach to a process recorded by an earlier run of updraft: Some if that pid still runs
    /// AND its start time (field 22 of /proc/<pid>/stat) matches, else None.
    pub fn adopt(&self, record: &InstanceProcess) -> Option<InstanceProcess> {
        leader_is_live(record).then(|| record.clone())
    }

    /// CPU time used so far (cgroup cpuacct/cpu.stat if available, else /proc/<pid>/stat of the
    /// group leader, which includes its waited-for children).
    pub fn cpu_time(&self, p: &InstanceProcess) -> Option<Duration> {
        if let Some(usage) = p.cgroup.as_ref().and_then(|c| c.cpu_usage()) {
            return Some(usage);
        }
        procfs::read_stat(p.pid)
            .filter(|s| s.start_time == p.start_time)
            .map(|s| s.cpu_time())
    }

    /// Sends `signal` to the instance's process group and to every process in its cgroup (which
    /// catches children that left the group with `setsid`). Processes already gone are fine.
    fn signal_all(&self, p: &InstanceProcess, signal: Signal) -> Result<(), TerminateError> {
        let ignore_gone = |r: nix::Result<()>| match r {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(source) => Err(TerminateError::Signal {
                id: p.id.clone(),
                pid: p.pid,
                source,
            }),
        };
        // pid 0 or 1 would make killpg signal our own group or everything: never from a launch.
        if p.pid > 1 && owns_group(p) {
            ignore_gone(killpg(Pid::from_raw(p.pid as i32), signal))?;
        }
        for pid in p.cgroup.as_ref().map(|c| c.procs()).unwrap_or_default() {
            ignore_gone(kill(Pid::from_raw(pid as i32), signal))?;
        }
        Ok(())
    }

    /// Whether any process of the instance is still alive: the leader, a member of its group, or
    /// anything left in its cgroup.
    fn has_processes(&self, p: &InstanceProcess) -> bool {
        self.status(p) == ProcessStatus::Running
            || (p.pid > 1 && owns_group(p) && !procfs::live_group_members(p.pid).is_empty())
            || p.cgroup.as_ref().is_some_and(|c| !c.procs().is_empty())
    }
}

/// The recorded leader still runs (same pid and start time, not a zombie).
fn leader_is_live(p: &InstanceProcess) -> bool {
    procfs::read_stat(p.pid).is_some_and(|s| s.start_time == p.start_time && s.is_live())
}

/// Whether process group `p.pid` is still the instance's. It is unless the pid now belongs to a
/// different process: while any member of our group lives, the kernel does not hand the pid out
/// again, so a live stranger with that pid means our group is gone and the id may be another's.
fn owns_group(p: &InstanceProcess) -> bool {
    procfs::read_stat(p.pid).is_none_or(|s| s.start_time == p.start_time)
}
