//! The cluster's files beside its nodes: `cluster.json` (the state: written atomically before
//! every action), `events.jsonl` (append-only), `credentials.json` (updraft's roles, 0600).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::DbEvent;
use crate::cluster::ClusterState;
use crate::postgres::Credentials;

pub fn load_state(dir: &Path, identifier: &str) -> Result<ClusterState, String> {
    let path = dir.join("cluster.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} cannot be read ({e}): it was written by another version of updraft or damaged; move it away to start the cluster afresh",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClusterState::new(identifier)),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Write-then-rename, with the file synced first: a crash leaves the old or the new state.
pub fn save_state(dir: &Path, state: &ClusterState) -> std::io::Result<()> {
    let tmp = dir.join("cluster.json.tmp");
    let text = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, dir.join("cluster.json"))
}

pub fn append_event(dir: &Path, e: &DbEvent) {
    let Ok(mut line) = serde_json::to_string(e) else {
        return;
    };
    line.push('\n');
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("events.jsonl"))
    {
        let _ = f.write_all(line.as_bytes());
    }
}

pub fn load_events(dir: &Path, limit: usize) -> Vec<DbEvent> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
    let all: Vec<DbEvent> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    all[all.len().saturating_sub(limit)..].to_vec()
}

/// updraft's role passwords for this cluster, created once.
pub fn credentials(dir: &Path) -> Result<Credentials, String> {
    let path = dir.join("credentials.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is damaged ({e}); move the cluster directory away",
                path.display()
            )
        });
    }
    let creds = Credentials::generate();
    let text = serde_json::to_string(&creds).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot protect {}: {e}", path.display()))?;
    Ok(creds)
}
