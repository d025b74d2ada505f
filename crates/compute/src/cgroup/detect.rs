//! Finding out which cgroup version this host lets updraft use, and where.
//!
//! Two inputs decide it: `/proc/self/mountinfo` (which hierarchies are mounted where) and
//! `/proc/self/cgroup` (which group this process is in, per hierarchy). Parsing them is pure; then
//! [`detect`] probes by creating updraft's base group, because only trying tells "root on a
//! read-write cgroupfs" apart from "not root", "read-only" or "controllers not delegated".
//!
//! Groups are created below this process's *own* group in each hierarchy, never next to it: in a
//! container or a systemd unit that is the part of the tree delegated to us, and it keeps the
//! instances inside any limit the host set on updraft itself.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{LimitSupport, SUPERVISOR_LEAF, write};

/// One cgroup mount: where it is, which part of the hierarchy it shows, and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    pub mount_point: PathBuf,
    /// The group shown at the mount point (`/` unless a container bind-mounted a subtree).
    pub root: String,
    /// `None` for cgroup v2; the controllers (`cpu`, `memory`, …) of a v1 hierarchy.
    pub v1_controllers: Option<Vec<String>>,
}

/// Cgroup mounts listed in `/proc/self/mountinfo`.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (root, mount_point) = (unescape(left.get(3)?), unescape(left.get(4)?));
            let v1_controllers = match *right.first()? {
                "cgroup2" => None,
                "cgroup" => Some(
                    right
                        .get(2)?
                        .split(',')
                        .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                        .map(str::to_owned)
                        .collect(),
                ),
                _ => return None,
            };
            Some(CgroupMount {
                mount_point: PathBuf::from(mount_point),
                root,
                v1_controllers,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let s = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(s, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's group in the hierarchy that has `controller` (`""` = the v2 hierarchy), from
/// `/proc/self/cgroup` lines `id:controllers:path`.
pub fn own_group(self_cgroup: &str, controller: &str) -> Option<String> {
    self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controller.is_empty() {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == controller)
        };
        matches.then(|| path.to_owned())
    })
}

/// The directory of our own group under `mount`: the mount point plus our path with the mount's
/// root removed. A group named [`SUPERVISOR_LEAF`] is one we moved ourselves into (cgroup v2, see
/// `enable_v2`); its parent is the group we were started in.
pub fn own_dir(mount: &CgroupMount, group: &str) -> PathBuf {
    let rel = group.strip_prefix(mount.root.as_str()).unwrap_or(group);
    let rel = rel.trim_start_matches('/');
    let dir = mount.mount_point.join(rel);
    if dir.file_name().is_some_and(|n| n == SUPERVISOR_LEAF) {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

fn v1_mount<'a>(mounts: &'a [CgroupMount], controller: &str) -> Option<&'a CgroupMount> {
    mounts.iter().find(|m| {
        m.v1_controllers
            .as_ref()
            .is_some_and(|cs| cs.iter().any(|c| c == controller))
    })
}

/// Detects cgroup support on this host, creating updraft's base groups if it can.
pub fn detect() -> LimitSupport {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let self_cgroup = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    detect_from(&parse_mountinfo(&mountinfo), &self_cgroup)
}

/// [`detect`] on given inputs; the probing still touches the paths they name.
pub fn detect_from(mounts: &[CgroupMount], self_cgroup: &str) -> LimitSupport {
    let mut why_not = Vec::new();

    let v2 = mounts.iter().find(|m| m.v1_controllers.is_none());
    match (v2, own_group(self_cgroup, "")) {
        (Some(mount), Some(group)) => {
            let own = own_dir(mount, &group);
            let controllers =
                fs::read_to_string(own.join("cgroup.controllers")).unwrap_or_default();
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            if has("cpu") && has("memory") {
                match enable_v2(&own) {
                    Ok(base) => return LimitSupport::V2 { base },
                    Err(e) => why_not.push(e),
                }
            } else {
                why_not.push(format!(
                    "cgroup v2 at {} offers no cpu and memory controllers to {} (it has: `{}`)",
                    mount.mount_point.display(),
                    own.display(),
                    controllers.trim()
                ));
            }
        }
        _ => why_not.push("no cgroup v2 hierarchy is mounted".to_owned()),
    }

    let dir_for = |controller: &str| -> Option<PathBuf> {
        let mount = v1_mount(mounts, controller)?;
        Some(own_dir(mount, &own_group(self_cgroup, controller)?))
    };
    match (dir_for("cpu"), dir_for("memory")) {
        (Some(cpu), Some(memory)) => {
            let cpuacct = dir_for("cpuacct");
            let bases = (
                cpu.join("updraft"),
                cpuacct.map(|d| d.join("updraft")),
                memory.join("updraft"),
            );
            // The freezer is optional: without it warm pool instances are stopped with SIGSTOP.
            let freezer = dir_for("freezer")
                .map(|d| d.join("updraft"))
                .filter(|d| fs::create_dir_all(d).is_ok() && d.join("freezer.state").exists());
            match create_v1_bases(&bases.0, bases.1.as_deref(), &bases.2) {
                Ok(()) => {
                    return LimitSupport::V1 {
                        cpu: bases.0,
                        cpuacct: bases.1,
                        memory: bases.2,
                        freezer,
                    };
                }
                Err(e) => why_not.push(e),
            }
        }
        _ => why_not.push("no cgroup v1 cpu and memory hierarchies are mounted".to_owned()),
    }

    LimitSupport::Unavailable {
        reason: why_not.join("; "),
    }
}

fn create_v1_bases(cpu: &Path, cpuacct: Option<&Path>, memory: &Path) -> Result<(), String> {
    for dir in [Some(cpu), cpuacct, Some(memory)].into_iter().flatten() {
        fs::create_dir_all(dir).map_err(|e| cannot_create(dir, &e))?;
    }
    for file in [
        cpu.join("cpu.cfs_quota_us"),
        memory.join("memory.limit_in_bytes"),
    ] {
        if !file.exists() {
            return Err(format!(
                "cgroup v1: {} is missing, so this kernel cannot enforce that limit",
                file.display()
            ));
        }
    }
    Ok(())
}

/// Makes `<own>/updraft` a group whose children get the cpu and memory controllers.
///
/// cgroup v2 lets a group hand controllers down only while it holds no processes itself (the root
/// group excepted). When updraft was started in a group of its own (a systemd unit with
/// `Delegate=yes`, a container), that group holds updraft, so we move updraft into a leaf
/// `<own>/updraft-supervisor` first, as systemd asks of delegated services.
fn enable_v2(own: &Path) -> Result<PathBuf, String> {
    let subtree = own.join("cgroup.subtree_control");
    if let Err(first) = write(&subtree, "+cpu +memory") {
        if first.kind() != io::ErrorKind::ResourceBusy {
            return Err(cannot_delegate(own, &first));
        }
        let leaf = own.join(SUPERVISOR_LEAF);
        fs::create_dir_all(&leaf).map_err(|e| cannot_create(&leaf, &e))?;
        write(&leaf.join("cgroup.procs"), &std::process::id().to_string())
            .map_err(|e| cannot_delegate(own, &e))?;
        write(&subtree, "+cpu +memory").map_err(|e| {
            format!(
                "{} (other processes share updraft's cgroup {}; start updraft in a cgroup of \
                 its own, e.g. `systemd-run --scope -p Delegate=yes updraft …`)",
                cannot_delegate(own, &e),
                own.display()
            )
        })?;
    }
    let base = own.join("updraft");
    fs::create_dir_all(&base).map_err(|e| cannot_create(&base, &e))?;
    write(&base.join("cgroup.subtree_control"), "+cpu +memory")
        .map_err(|e| cannot_delegate(&base, &e))?;
    Ok(base)
}

fn cannot_create(dir: &Path, e: &io::Error) -> String {
    let fix = match e.kind() {
        io::ErrorKind::PermissionDenied => {
            "run updraft as root, or give its user a delegated cgroup"
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            "the cgroup filesystem is read-only here; in a container, run it with a writable \
             cgroup namespace (e.g. `docker run --cgroupns=private --privileged`)"
        }
        _ => "check that the cgroup filesystem is mounted read-write",
    };
    format!("cannot create {}: {e}; {fix}", dir.display())
}

fn cannot_delegate(dir: &Path, e: &io::Error) -> String {
    format!(
        "cgroup v2: cannot enable cpu and memory for the children of {}: {e}",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
25 30 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
27 25 0:25 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
28 25 0:26 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
29 25 0:27 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
30 25 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
31 25 0:29 / /mnt/with\\040space rw - cgroup cgroup rw,pids
";

    const SELF_CGROUP: &str = "\
9:name=systemd:/
4:memory:/docker/abc/process_api/77
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn mountinfo_lists_v1_controllers_and_the_v2_mount() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 6, "tmpfs is not a cgroup mount");
        assert_eq!(m[0].mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(m[0].v1_controllers, None);
        assert_eq!(m[1].v1_controllers, Some(vec!["cpu".to_owned()]));
        assert_eq!(m[3].root, "/docker/abc");
        assert_eq!(m[4].v1_controllers, Some(vec!["xattr".to_owned()]));
        assert_eq!(m[5].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(
            v1_mount(&m, "memory").unwrap().mount_point,
            PathBuf::from("/sys/fs/cgroup/memory")
        );
        assert!(v1_mount(&m, "blkio").is_none());
    }

    #[test]
    fn own_groups_come_from_proc_self_cgroup_with_the_mount_root_removed() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(own_group(SELF_CGROUP, "").as_deref(), Some("/"));
        assert_eq!(own_group(SELF_CGROUP, "cpu").as_deref(), Some("/"));
        assert_eq!(
            own_group("2:cpu,cpuacct:/a\n", "cpuacct").as_deref(),
            Some("/a")
        );
        let memory = own_group(SELF_CGROUP, "memory").unwrap();
        assert_eq!(
            own_dir(&m[3], &memory),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/77")
        );
        assert_eq!(own_dir(&m[1], "/"), PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(
            own_dir(&m[0], "/system.slice/u.service/updraft-supervisor"),
            PathBuf::from("/sys/fs/cgroup/unified/system.slice/u.service")
        );
    }

    #[test]
    fn nothing_mounted_is_unavailable_with_both_reasons() {
        match detect_from(&[], "") {
            LimitSupport::Unavailable { reason } => {
                assert!(reason.contains("no cgroup v2"), "{reason}");
                assert!(reason.contains("no cgroup v1"), "{reason}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[test]
    fn v2_without_controllers_falls_through_and_says_what_it_found() {
        let dir = std::env::temp_dir().join(format!("updraft-detect-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("cgroup.controllers"), "pids\n").unwrap();
        let mounts = [CgroupMount {
            mount_point: dir.clone(),
            root: "/".into(),
            v1_controllers: None,
        }];
        let support = detect_from(&mounts, "0::/\n");
        fs::remove_dir_all(&dir).unwrap();
        match support {
            LimitSupport::Unavailable { reason } => {
                assert!(reason.contains("offers no cpu and memory"), "{reason}");
                assert!(reason.contains("`pids`"), "{reason}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
