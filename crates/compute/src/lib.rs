//! Instance providers: instances as real processes, limited by cgroups where the host allows.
//!
//! An instance of an auto scaling group is a process group started from its launch template's
//! user data (`/bin/sh <user-data>`), bound to its own loopback address, with its instance type
//! enforced as a CPU quota and a memory limit (cgroup v2 or v1). Its stdout and stderr go to one
//! log file under `<state_dir>/instances/<id>/`.
//!
//! What this crate is not: it decides nothing. Which instances to launch or terminate is
//! `scaling`'s business; persisting [`InstanceProcess`] records (for crash adoption) is
//! `server`'s. It never reads the wall clock: timeouts use tokio's clock.
//!
//! Invariants:
//! - instances outlive updraft (they are never killed on drop) and are re-found by
//!   [`ProcessProvider::adopt`] from their (pid, start time) record;
//! - terminate and kill act on the whole process group (and cgroup), never on the leader only;
//! - when limits cannot be enforced, that is said once, with the reason and the fix, and
//!   instances run unlimited rather than not at all.

pub mod cgroup;
pub mod launch;
mod log;
pub mod procfs;
mod provider;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use cgroup::{CgroupError, CgroupPaths, LimitSupport, Limits};
pub use log::tail_log;
pub use provider::{ProcessProvider, Stopped};

/// How the process provider runs instances on this host.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    /// Instances go under `state_dir/instances/<id>/` (user data and console log).
    pub state_dir: PathBuf,
    /// Cgroup scope, e.g. the stack id: groups are `…/updraft/<scope>/<instance-id>`.
    pub scope: String,
    /// Local millicores one AWS vCPU is worth (default 80: a dozen 2-vCPU t3.micro fit on a
    /// 2-core machine).
    pub millicores_per_vcpu: u32,
    /// Multiplies the instance type's memory (1.0 = as AWS sizes it).
    pub memory_scale: f64,
}

impl ProviderConfig {
    pub const DEFAULT_MILLICORES_PER_VCPU: u32 = 80;

    /// Defaults for everything but where state lives and the scope.
    pub fn new(state_dir: impl Into<PathBuf>, scope: impl Into<String>) -> ProviderConfig {
        ProviderConfig {
            state_dir: state_dir.into(),
            scope: scope.into(),
            millicores_per_vcpu: Self::DEFAULT_MILLICORES_PER_VCPU,
            memory_scale: 1.0,
        }
    }
}

/// Everything needed to start one instance.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    pub id: model::InstanceId,
    pub availability_zone: model::AvailabilityZone,
    /// The instance's own loopback address (`HOST`).
    pub host: Ipv4Addr,
    pub port: u16,
    /// The launch template's user data, already base64-decoded: a `/bin/sh` script.
    pub user_data: String,
    pub instance_type: model::InstanceType,
    /// Extra environment, applied last (it overrides `PORT`, `PATH`, …).
    pub env: Vec<(String, String)>,
}

/// A launched instance, as recorded for status, terminate and crash adoption.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InstanceProcess {
    pub id: model::InstanceId,
    /// The process group leader; the group id is the same number.
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat` (clock ticks after boot): with `pid`, names the process.
    pub start_time: u64,
    pub log_path: PathBuf,
    pub cgroup: Option<CgroupPaths>,
}

/// What became of an instance's group leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessStatus {
    Running,
    /// Exited with `code`, or was killed by `signal`.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// Not running, and not spawned in this run of updraft, so its exit status is unknown.
    Gone,
}

/// Why an instance could not be launched.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "cannot prepare {path} for instance {id}: {source}; check that the state directory \
         exists and is writable"
    )]
    StateDir {
        id: model::InstanceId,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("cannot start /bin/sh for instance {id}: {source}; check that /bin/sh exists")]
    Spawn {
        id: model::InstanceId,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "instance {id} (pid {pid}) was started but its /proc entry could not be read; \
         is /proc mounted?"
    )]
    Vanished { id: model::InstanceId, pid: u32 },
}

/// Why an instance could not be stopped (completely).
#[derive(Debug, thiserror::Error)]
pub enum TerminateError {
    #[error(
        "cannot signal instance {id} (process group {pid}): {source}; updraft needs the same user as the instance, or root"
    )]
    Signal {
        id: model::InstanceId,
        pid: u32,
        #[source]
        source: nix::Error,
    },
    #[error(
        "instance {id} (process group {pid}) still has processes after SIGKILL; they may be \
         stuck in the kernel (see `ps -o pid,stat,wchan,cmd -g {pid}`)"
    )]
    StillRunning { id: model::InstanceId, pid: u32 },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}
