//! Cgroups: the CPU quota and memory limit an instance type stands for, enforced by the kernel.
//!
//! Layout: `<base>/<scope>/<instance-id>` where `<base>` is `<own group>/updraft` in each
//! hierarchy (see [`detect`]) and `<scope>` is chosen by the caller (the stack id), so two stacks
//! on one host never share a group. v1 needs a group per hierarchy (`cpu`, `cpuacct` when it is
//! mounted apart, `memory`); v2 has one group with `cpu.max` and `memory.max`.
//!
//! What this module is not: it does not put processes into groups. A process joins its group by
//! writing its own pid to `cgroup.procs` before it `exec`s the user data (see `launch`), because
//! `unsafe` `pre_exec` is forbidden in this workspace.

pub mod detect;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use model::InstanceType;

/// The leaf updraft moves itself into under cgroup v2 so that its own group may delegate.
pub const SUPERVISOR_LEAF: &str = "updraft-supervisor";

/// The CFS period for CPU quotas: 100 ms, the kernel default.
pub const CPU_PERIOD_US: u64 = 100_000;

/// What this host lets updraft enforce, decided once when the provider starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitSupport {
    /// cgroup v1: base groups (`…/updraft`) per hierarchy. `cpuacct` is `None` when that
    /// controller is not mounted at all, and equals `cpu` when the two are mounted together.
    V1 {
        cpu: PathBuf,
        cpuacct: Option<PathBuf>,
        memory: PathBuf,
        /// The `freezer` hierarchy's base group, when it is mounted and writable: warm pool
        /// instances are stopped with it. `None`: they are stopped with SIGSTOP.
        freezer: Option<PathBuf>,
    },
    /// cgroup v2: the base group, whose children get the cpu and memory controllers (every
    /// v2 group can be frozen with `cgroup.freeze`).
    V2 { base: PathBuf },
    /// Instances run without limits; `reason` says why and what would enable them.
    Unavailable { reason: String },
}

/// The groups one instance lives in; recorded with the instance so a later run can find them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum CgroupPaths {
    V1 {
        cpu: PathBuf,
        cpuacct: Option<PathBuf>,
        memory: PathBuf,
        #[serde(default)]
        freezer: Option<PathBuf>,
    },
    V2 {
        dir: PathBuf,
    },
}

/// The numbers written into an instance's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU time allowed per [`CPU_PERIOD_US`], in microseconds.
    pub cpu_quota_us: u64,
    pub memory_bytes: u64,
}

impl Limits {
    /// The limits of `instance_type`: `vcpus × millicores_per_vcpu` of local CPU (at least the
    /// kernel's 1 ms minimum quota) and `memory_mib × memory_scale`, page-aligned, at least 16 MiB
    /// so a shell can start at all.
    pub fn for_type(
        instance_type: &InstanceType,
        millicores_per_vcpu: u32,
        memory_scale: f64,
    ) -> Limits {
        let millicores = u64::from(instance_type.local_millicores(millicores_per_vcpu));
        let cpu_quota_us = (millicores * CPU_PERIOD_US / 1000).max(1000);
        let bytes = (instance_type.memory_mib as f64 * memory_scale * 1024.0 * 1024.0) as u64;
        let memory_bytes = (bytes / 4096 * 4096).max(16 << 20);
        Limits {
            cpu_quota_us,
            memory_bytes,
        }
    }
}

/// Why an instance's group could not be set up or removed.
#[derive(Debug, thiserror::Error)]
#[error("cgroup {path}: {source}; check that updraft still runs as root on a writable cgroupfs")]
pub struct CgroupError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Writes a cgroup control file (a plain `write`: cgroupfs ignores truncation).
pub fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value)
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `<base>/<scope>/<id>` in every hierarchy and writes `limits` into it.
pub fn create(
    support: &LimitSupport,
    scope: &str,
    id: &str,
    limits: Limits,
) -> Result<Option<CgroupPaths>, CgroupError> {
    let paths = match support {
        LimitSupport::Unavailable { .. } => return Ok(None),
        LimitSupport::V1 {
            cpu,
            cpuacct,
            memory,
            freezer,
        } => CgroupPaths::V1 {
            cpu: cpu.join(scope).join(id),
            cpuacct: cpuacct.as_ref().map(|d| d.join(scope).join(id)),
            memory: memory.join(scope).join(id),
            freezer: freezer.as_ref().map(|d| d.join(scope).join(id)),
        },
        LimitSupport::V2 { base } => {
            let scope_dir = base.join(scope);
            fs::create_dir_all(&scope_dir).map_err(at(&scope_dir))?;
            let subtree = scope_dir.join("cgroup.subtree_control");
            write(&subtree, "+cpu +memory").map_err(at(&subtree))?;
            CgroupPaths::V2 {
                dir: scope_dir.join(id),
            }
        }
    };
    let result = configure(&paths, limits);
    if result.is_err() {
        // Nothing half-applied: a group without its limits must not be used.
        let _ = remove(&paths);
    }
    result.map(|()| Some(paths))
}

fn configure(paths: &CgroupPaths, limits: Limits) -> Result<(), CgroupError> {
    for dir in paths.dirs() {
        // Once more if terminating the scope's last instance removed the scope group meanwhile.
        fs::create_dir_all(dir)
            .or_else(|_| fs::create_dir_all(dir))
            .map_err(at(dir))?;
    }
    let files: Vec<(PathBuf, String)> = match paths {
        CgroupPaths::V1 { cpu, memory, .. } => vec![
            (cpu.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string()),
            (
                cpu.join("cpu.cfs_quota_us"),
                limits.cpu_quota_us.to_string(),
            ),
            (
                memory.join("memory.limit_in_bytes"),
                limits.memory_bytes.to_string(),
            ),
        ],
        CgroupPaths::V2 { dir } => vec![
            (
                dir.join("cpu.max"),
                format!("{} {CPU_PERIOD_US}", limits.cpu_quota_us),
            ),
            (dir.join("memory.max"), limits.memory_bytes.to_string()),
        ],
    };
    for (file, value) in files {
        write(&file, &value).map_err(at(&file))?;
    }
    Ok(())
}

impl CgroupPaths {
    /// Every distinct directory of this instance (a process must join each of them).
    pub fn dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = match self {
            CgroupPaths::V1 {
                cpu,
                cpuacct,
                memory,
                freezer,
            } => [
                Some(cpu.as_path()),
                cpuacct.as_deref(),
                Some(memory.as_path()),
                freezer.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect(),
            CgroupPaths::V2 { dir } => vec![dir.as_path()],
        };
        dirs.dedup();
        dirs
    }

    /// Where this instance can be frozen as a group: (control file, frozen value, thawed value).
    /// `None` when only signals can stop it (v1 without a freezer hierarchy).
    pub fn freezer(&self) -> Option<(PathBuf, &'static str, &'static str)> {
        match self {
            CgroupPaths::V1 { freezer, .. } => freezer
                .as_ref()
                .map(|d| (d.join("freezer.state"), "FROZEN", "THAWED")),
            CgroupPaths::V2 { dir } => Some((dir.join("cgroup.freeze"), "1", "0")),
        }
    }

    /// Whether the kernel reports the group frozen (not just freezing).
    pub fn is_frozen(&self) -> bool {
        match self {
            CgroupPaths::V1 { freezer, .. } => freezer.as_ref().is_some_and(|d| {
                fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
            }),
            CgroupPaths::V2 { dir } => fs::read_to_string(dir.join("cgroup.events"))
                .is_ok_and(|s| s.lines().any(|l| l.trim() == "frozen 1")),
        }
    }

    /// CPU time used by every process that ever ran in the group.
    pub fn cpu_usage(&self) -> Option<Duration> {
        match self {
            CgroupPaths::V1 { cpuacct, .. } => {
                let ns = fs::read_to_string(cpuacct.as_ref()?.join("cpuacct.usage")).ok()?;
                Some(Duration::from_nanos(ns.trim().parse().ok()?))
            }
            CgroupPaths::V2 { dir } => {
                let stat = fs::read_to_string(dir.join("cpu.stat")).ok()?;
                let usec = stat.lines().find_map(|l| l.strip_prefix("usage_usec "))?;
                Some(Duration::from_micros(usec.trim().parse().ok()?))
            }
        }
    }

    /// Pids currently in the group (any hierarchy), including ones that left its process group.
    pub fn procs(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .dirs()
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<_>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

/// Removes the instance's groups, then its scope groups if they are now empty. A group that
/// still has processes cannot be removed (`EBUSY`); that is returned so the caller can retry.
pub fn remove(paths: &CgroupPaths) -> Result<(), CgroupError> {
    for dir in paths.dirs() {
        match fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(at(dir)(e)),
        }
        // Best effort: another instance of the scope may still be there, or be starting.
        if let Some(scope) = dir.parent() {
            let _ = fs::remove_dir(scope);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_instance_type_and_the_scale() {
        let micro = InstanceType::lookup("t3.micro").unwrap();
        let l = Limits::for_type(&micro, 80, 1.0);
        assert_eq!(
            l.cpu_quota_us, 16_000,
            "2 vCPU × 80 millicores = 16% of a period"
        );
        assert_eq!(l.memory_bytes, 1 << 30);
        let half = Limits::for_type(&micro, 80, 0.5);
        assert_eq!(half.memory_bytes, 512 << 20);
        let tiny = Limits::for_type(&InstanceType::lookup("t2.nano").unwrap(), 1, 0.0001);
        assert_eq!(
            tiny.cpu_quota_us, 1000,
            "never below the kernel's 1 ms minimum"
        );
        assert_eq!(tiny.memory_bytes, 16 << 20);
    }

    #[test]
    fn dirs_deduplicate_comounted_cpu_and_cpuacct() {
        let p = CgroupPaths::V1 {
            cpu: "/c/cpu,cpuacct/x".into(),
            cpuacct: Some("/c/cpu,cpuacct/x".into()),
            memory: "/c/memory/x".into(),
            freezer: None,
        };
        assert_eq!(p.dirs().len(), 2);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"version\":\"v1\""), "{json}");
        assert_eq!(serde_json::from_str::<CgroupPaths>(&json).unwrap(), p);
        // Records written before the freezer existed still read.
        let old = r#"{"version":"v1","cpu":"/a","cpuacct":null,"memory":"/b"}"#;
        assert!(matches!(
            serde_json::from_str::<CgroupPaths>(old).unwrap(),
            CgroupPaths::V1 { freezer: None, .. }
        ));
    }

    #[test]
    fn unavailable_creates_nothing() {
        let support = LimitSupport::Unavailable {
            reason: "test".into(),
        };
        let limits = Limits {
            cpu_quota_us: 1000,
            memory_bytes: 1 << 24,
        };
        assert_eq!(create(&support, "s", "i-1", limits).unwrap(), None);
    }

    /// On a plain directory the control files are ordinary files, which checks what is written
    /// where; the kernel's own behaviour is covered by the integration tests.
    #[test]
    fn v2_groups_get_cpu_max_and_memory_max() {
        let base = std::env::temp_dir().join(format!("updraft-cg-v2-{}", std::process::id()));
        let support = LimitSupport::V2 { base: base.clone() };
        let limits = Limits {
            cpu_quota_us: 5000,
            memory_bytes: 1 << 26,
        };
        let paths = create(&support, "stack", "i-00000001", limits)
            .unwrap()
            .unwrap();
        let dir = base.join("stack/i-00000001");
        assert_eq!(paths, CgroupPaths::V2 { dir: dir.clone() });
        assert_eq!(
            fs::read_to_string(dir.join("cpu.max")).unwrap(),
            "5000 100000"
        );
        assert_eq!(
            fs::read_to_string(dir.join("memory.max")).unwrap(),
            (1u64 << 26).to_string()
        );
        assert_eq!(
            fs::read_to_string(base.join("stack/cgroup.subtree_control")).unwrap(),
            "+cpu +memory"
        );
        fs::write(dir.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        assert_eq!(paths.cpu_usage(), Some(Duration::from_micros(1500)));
        fs::write(dir.join("cgroup.procs"), "12\n7\n").unwrap();
        assert_eq!(paths.procs(), vec![7, 12]);
        fs::remove_dir_all(&base).unwrap();
    }
}
