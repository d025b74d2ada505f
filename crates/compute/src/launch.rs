//! What an instance is started with: its files, its environment and its command line.
//!
//! An instance is `/bin/sh <user-data file>` in its own process group, with a clean environment:
//! only a few harmless variables are inherited from updraft (not its secrets or `RUST_LOG`), then
//! the instance's own (`UPDRAFT_INSTANCE_ID`, `UPDRAFT_AZ`, `HOST`, `PORT`), then the caller's.
//! With cgroups, a tiny wrapper shell first writes its own pid into each group and then `exec`s
//! the user data, so the instance is limited from its first instruction (children inherit it).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::LaunchRequest;
use crate::cgroup::CgroupPaths;

/// Variables passed through from updraft's own environment when set.
pub const INHERITED: &[&str] = &["HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME"];

/// `PATH` when updraft's own is unset.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Files of one instance, all under `<state_dir>/instances/<id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFiles {
    pub dir: PathBuf,
    pub user_data: PathBuf,
    /// stdout and stderr, interleaved as written.
    pub log: PathBuf,
}

impl InstanceFiles {
    pub fn new(state_dir: &Path, id: &model::InstanceId) -> InstanceFiles {
        let dir = state_dir.join("instances").join(id.as_str());
        InstanceFiles {
            user_data: dir.join("user-data.sh"),
            log: dir.join("console.log"),
            dir,
        }
    }
}

/// The environment of an instance, in order (later entries win): inherited allowlist, `PATH`
/// with `exe_dir` first, the instance's own variables, then `req.env`.
pub fn environment(
    req: &LaunchRequest,
    exe_dir: Option<&Path>,
    inherited: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = INHERITED
        .iter()
        .filter_map(|k| Some((k.to_string(), inherited(k)?)))
        .collect();
    let path = inherited("PATH").unwrap_or_else(|| DEFAULT_PATH.to_owned());
    let path = match exe_dir {
        Some(dir) => format!("{}:{path}", dir.display()),
        None => path,
    };
    env.push(("PATH".into(), path));
    env.push(("UPDRAFT_INSTANCE_ID".into(), req.id.to_string()));
    env.push(("UPDRAFT_AZ".into(), req.availability_zone.to_string()));
    env.push(("HOST".into(), req.host.to_string()));
    env.push(("PORT".into(), req.port.to_string()));
    env.extend(req.env.iter().cloned());
    env
}

/// Arguments to `/bin/sh` that run `user_data`, joining `cgroup` first when there is one.
pub fn shell_args(cgroup: Option<&CgroupPaths>, user_data: &Path) -> Vec<OsString> {
    let Some(cgroup) = cgroup else {
        return vec![user_data.as_os_str().to_owned()];
    };
    let mut script = String::new();
    for dir in cgroup.dirs() {
        let procs = dir.join("cgroup.procs");
        script.push_str(&format!(
            "echo $$ > {} && ",
            quote(&procs.to_string_lossy())
        ));
    }
    script.push_str(&format!(
        "exec /bin/sh {}",
        quote(&user_data.to_string_lossy())
    ));
    vec!["-c".into(), script.into()]
}

/// Single-quotes `s` for `/bin/sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn request() -> LaunchRequest {
        LaunchRequest {
            id: model::InstanceId::from_bits(7),
            availability_zone: model::AvailabilityZone::new("us-east-1b"),
            host: Ipv4Addr::new(127, 0, 2, 5),
            port: 8080,
            user_data: "exit 0".into(),
            instance_type: model::InstanceType::lookup("t3.micro").unwrap(),
            env: vec![("PORT".into(), "9000".into()), ("DB".into(), "x".into())],
        }
    }

    #[test]
    fn environment_is_an_allowlist_then_ours_then_the_callers() {
        let inherited = |k: &str| match k {
            "HOME" => Some("/root".to_owned()),
            "PATH" => Some("/bin".to_owned()),
            "SECRET" => Some("hunter2".to_owned()),
            _ => None,
        };
        let env = environment(&request(), Some(Path::new("/opt/updraft")), inherited);
        let get = |k: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("HOME"), Some("/root"));
        assert_eq!(get("SECRET"), None);
        assert_eq!(get("PATH"), Some("/opt/updraft:/bin"));
        assert_eq!(get("UPDRAFT_INSTANCE_ID"), Some("i-00000000000000007"));
        assert_eq!(get("UPDRAFT_AZ"), Some("us-east-1b"));
        assert_eq!(get("HOST"), Some("127.0.2.5"));
        assert_eq!(get("PORT"), Some("9000"), "the caller's env wins");
        assert_eq!(get("DB"), Some("x"));
        let bare = environment(&request(), None, |_| None);
        assert!(bare.contains(&("PATH".into(), DEFAULT_PATH.into())));
    }

    #[test]
    fn the_wrapper_joins_every_group_then_execs_the_user_data() {
        let files =
            InstanceFiles::new(Path::new("/var/lib/it's"), &model::InstanceId::from_bits(1));
        assert_eq!(
            files.log,
            PathBuf::from("/var/lib/it's/instances/i-00000000000000001/console.log")
        );
        assert_eq!(
            shell_args(None, &files.user_data),
            vec![OsString::from(&files.user_data)]
        );
        let cg = CgroupPaths::V1 {
            cpu: "/cg/cpu/u/s/i".into(),
            cpuacct: Some("/cg/cpu/u/s/i".into()),
            memory: "/cg/memory/u/s/i".into(),
            freezer: None,
        };
        let args = shell_args(Some(&cg), &files.user_data);
        assert_eq!(args[0], "-c");
        assert_eq!(
            args[1],
            "echo $$ > '/cg/cpu/u/s/i/cgroup.procs' && echo $$ > '/cg/memory/u/s/i/cgroup.procs' \
             && exec /bin/sh '/var/lib/it'\\''s/instances/i-00000000000000001/user-data.sh'"
        );
    }
}
