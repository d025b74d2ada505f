//! Faults as events: a node's log fault (disk full, refused credentials, WAL its upstream no
//! longer has, a data directory that is not ours) or its monitor being refused becomes an event
//! when it appears and when it clears, so that `updraft db events` tells the story that
//! `updraft status` shows as a note. Updraft's own replication role being refused (its password
//! changed behind updraft's back) makes the controller set its roles' passwords again on the
//! primary from `credentials.json`.

use std::collections::BTreeMap;

use super::Controller;
use crate::failover::{EventKind, Observed};
use crate::faults::FaultKind;

/// What is wrong with a node now, by kind (its detail changes with every log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reported {
    kind: String,
    detail: String,
    replication_refused: bool,
    /// Last seen: a fault is cleared only once it has been absent for [`CLEAR_AFTER`] (a
    /// WAL receiver that restarts and fails again must not flap).
    seen: model::Timestamp,
}

const CLEAR_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

impl Controller {
    /// Records an event for each fault that appeared or cleared since the last pass.
    pub(super) fn report_faults(&mut self, observed: &Observed) {
        let at = self.now();
        let mut now: BTreeMap<String, Reported> = BTreeMap::new();
        for (name, o) in &observed.nodes {
            let auth = self.monitors.get(name).and_then(|m| m.read().auth_error);
            let reported = match (&o.fault, auth) {
                (Some((kind, line)), _) => Reported {
                    kind: kind.describe().to_owned(),
                    detail: format!("{}: {line}", kind.describe()),
                    replication_refused: *kind == FaultKind::Authentication,
                    seen: at,
                },
                (None, Some(auth)) => Reported {
                    kind: "monitoring refused".into(),
                    detail: auth,
                    replication_refused: false,
                    seen: at,
                },
                (None, None) => continue,
            };
            now.insert(name.clone(), reported);
        }
        let before = std::mem::take(&mut self.reported);
        for (name, r) in &now {
            if before.get(name).is_some_and(|b| b.kind == r.kind) {
                continue;
            }
            self.record(
                EventKind::Failure,
                Some(name.clone()),
                format!("{name}: {}", r.detail),
            );
        }
        let refused: Vec<&String> = now
            .iter()
            .filter(|(name, r)| {
                r.replication_refused && before.get(*name).is_none_or(|b| b.kind != r.kind)
            })
            .map(|(name, _)| name)
            .collect();
        if !refused.is_empty() {
            let primary = self.state.primary.clone().unwrap_or_default();
            self.roles_ensured = false;
            let who = refused
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            self.record(
                EventKind::Node,
                None,
                format!(
                    "updraft's replication role was refused ({who}): setting updraft's roles' passwords on {primary} again from credentials.json"
                ),
            );
        }
        for (name, b) in &before {
            if now.contains_key(name) || self.state.node(name).is_none() {
                continue;
            }
            if at.since(b.seen) < CLEAR_AFTER {
                now.insert(name.clone(), b.clone());
            } else {
                self.record(
                    EventKind::Node,
                    Some(name.clone()),
                    format!("{name}: cleared ({})", b.kind),
                );
            }
        }
        self.reported = now;
    }
}
