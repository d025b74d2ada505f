//! Finding PostgreSQL's server binaries and the unprivileged user that runs them.
//!
//! PostgreSQL refuses to run as root, and should not run as the user that runs updraft either
//! when that is root. So when updraft runs as root the servers run as the `postgres` user that
//! Debian's package creates (or `--postgres-user`); otherwise as updraft's own user. That user
//! needs to traverse every directory above the state directory (the `x` bit) and owns the
//! cluster directories updraft creates for it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Where Debian, Ubuntu and the PGDG packages put the server binaries.
const LIB_DIRS: &[&str] = &[
    "/usr/lib/postgresql",
    "/usr/local/pgsql/bin",
    "/usr/pgsql-15/bin",
];

/// The programs updraft runs.
pub const PROGRAMS: &[&str] = &[
    "initdb",
    "postgres",
    "pg_basebackup",
    "pg_rewind",
    "pg_controldata",
];

/// A usable PostgreSQL installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    pub bin_dir: PathBuf,
    /// Major version (`15`).
    pub major: u32,
    /// Who runs the servers.
    pub user: OsUser,
}

/// An operating-system user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Whether updraft must switch to it (it runs as root).
    pub switch: bool,
}

/// Why PostgreSQL cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error(
        "PostgreSQL's server programs are not installed (looked for initdb in {looked}): install \
         Debian's `postgresql` package (`apt-get install postgresql`), or set \
         UPDRAFT_POSTGRES_BIN to the directory that holds initdb and postgres"
    )]
    Missing { looked: String },
    #[error(
        "{dir} lacks {program}: the PostgreSQL installation is incomplete; reinstall the \
         `postgresql` package"
    )]
    Incomplete { dir: String, program: String },
    #[error(
        "updraft runs as root, and PostgreSQL refuses to: there is no `{user}` user to run it \
         as. Install Debian's `postgresql` package (it creates one), create the user \
         (`useradd --system {user}`), or name another with --postgres-user"
    )]
    NoUser { user: String },
    #[error(
        "the `{user}` user cannot reach {path}: {dir} is not searchable by it (mode {mode:o}). \
         PostgreSQL's data lives under the state directory, so every directory above it must \
         be searchable: `chmod o+x {dir}`, or pick a --state-dir elsewhere (e.g. under /var/tmp)"
    )]
    Unreachable {
        user: String,
        path: String,
        dir: String,
        mode: u32,
    },
}

impl Installation {
    /// Finds the newest installed major version (or `override_dir`), and the user to run it.
    pub fn find(override_dir: Option<&Path>, os_user: &str) -> Result<Installation, InstallError> {
        let bin_dir = match override_dir {
            Some(dir) => dir.to_path_buf(),
            None => find_bin_dir().ok_or_else(|| InstallError::Missing {
                looked:
                    "/usr/lib/postgresql/*/bin, /usr/local/pgsql/bin, /usr/pgsql-15/bin and PATH"
                        .into(),
            })?,
        };
        for p in PROGRAMS {
            if !bin_dir.join(p).is_file() {
                return Err(if *p == "initdb" {
                    InstallError::Missing {
                        looked: bin_dir.display().to_string(),
                    }
                } else {
                    InstallError::Incomplete {
                        dir: bin_dir.display().to_string(),
                        program: (*p).to_owned(),
                    }
                });
            }
        }
        let major = major_of(&bin_dir).unwrap_or(0);
        let user = run_as(os_user)?;
        Ok(Installation {
            bin_dir,
            major,
            user,
        })
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// Checks that the servers' user can reach `path` (a directory updraft will create).
    pub fn check_reachable(&self, path: &Path) -> Result<(), InstallError> {
        if !self.user.switch {
            return Ok(());
        }
        for dir in path.ancestors().skip(1) {
            let Ok(meta) = std::fs::metadata(dir) else {
                continue;
            };
            let mode = meta.mode();
            let ok = if meta.uid() == self.user.uid {
                mode & 0o100 != 0
            } else if meta.gid() == self.user.gid {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            };
            if !ok {
                return Err(InstallError::Unreachable {
                    user: self.user.name.clone(),
                    path: path.display().to_string(),
                    dir: dir.display().to_string(),
                    mode: mode & 0o7777,
                });
            }
        }
        Ok(())
    }
}

/// `/usr/lib/postgresql/<newest>/bin`, else the directory of `initdb` on PATH.
fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("UPDRAFT_POSTGRES_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(LIB_DIRS[0])
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    for dir in &LIB_DIRS[1..] {
        if Path::new(dir).join("initdb").is_file() {
            return Some(PathBuf::from(dir));
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("initdb").is_file())
}

/// The major version from the directory name (`…/15/bin`).
fn major_of(bin: &Path) -> Option<u32> {
    bin.parent()?.file_name()?.to_str()?.parse().ok()
}

/// The user the servers run as: `os_user` when updraft is root, else updraft's own.
pub fn run_as(os_user: &str) -> Result<OsUser, InstallError> {
    let me = nix::unistd::geteuid();
    if !me.is_root() {
        let name = nix::unistd::User::from_uid(me)
            .ok()
            .flatten()
            .map_or_else(|| me.to_string(), |u| u.name);
        return Ok(OsUser {
            name,
            uid: me.as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            switch: false,
        });
    }
    match nix::unistd::User::from_name(os_user) {
        Ok(Some(u)) if !u.uid.is_root() => Ok(OsUser {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            switch: true,
        }),
        _ => Err(InstallError::NoUser {
            user: os_user.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_installation_names_the_package() {
        let e = Installation::find(Some(Path::new("/nonexistent/bin")), "postgres").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("apt-get install postgresql"), "{text}");
    }

    #[test]
    fn versions_come_from_the_directory() {
        assert_eq!(major_of(Path::new("/usr/lib/postgresql/15/bin")), Some(15));
        assert_eq!(major_of(Path::new("/opt/bin")), None);
    }
}
