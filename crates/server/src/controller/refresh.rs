//! Instance refresh commands (`StartInstanceRefresh`, `DescribeInstanceRefreshes`,
//! `CancelInstanceRefresh`) and the refresh an apply starts when a group's launch template
//! changes. The refresh itself runs inside `scaling::decide`.

use std::time::Duration;

use model::{ProtectedInstances, RefreshPreferences, Timestamp};
use scaling::{GroupState, InstanceRefresh, RefreshStatus};
use serde::{Deserialize, Serialize};

use super::{Controller, Group};

/// Preferences given with `updraft refresh start`; unset ones come from the group's
/// `instance_refresh.preferences`, else AWS's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshOverrides {
    pub min_healthy_percentage: Option<u32>,
    pub max_healthy_percentage: Option<u32>,
    /// Seconds.
    pub instance_warmup: Option<u64>,
    pub skip_matching: Option<bool>,
    pub checkpoint_percentages: Option<Vec<u32>>,
    /// Seconds.
    pub checkpoint_delay: Option<u64>,
    pub scale_in_protected_instances: Option<ProtectedInstances>,
}

impl RefreshOverrides {
    pub fn apply(&self, mut p: RefreshPreferences) -> RefreshPreferences {
        if let Some(v) = self.min_healthy_percentage {
            p.min_healthy_percentage = v;
        }
        if let Some(v) = self.max_healthy_percentage {
            p.max_healthy_percentage = v;
        }
        if let Some(v) = self.instance_warmup {
            p.instance_warmup = Some(Duration::from_secs(v));
        }
        if let Some(v) = self.skip_matching {
            p.skip_matching = v;
        }
        if let Some(v) = &self.checkpoint_percentages {
            p.checkpoint_percentages = v.clone();
        }
        if let Some(v) = self.checkpoint_delay {
            p.checkpoint_delay = Some(Duration::from_secs(v));
        }
        if let Some(v) = self.scale_in_protected_instances {
            p.scale_in_protected_instances = v;
        }
        p
    }
}

impl Controller {
    pub(super) fn start_instance_refresh(
        &mut self,
        group: &str,
        overrides: &RefreshOverrides,
    ) -> Result<InstanceRefresh, String> {
        let key = self
            .find_group(group)
            .ok_or_else(|| self.no_such_group(group))?;
        let now = self.clock.now();
        let g = &self.groups[&key];
        let base = g
            .spec
            .instance_refresh
            .as_ref()
            .map(|r| r.preferences.clone())
            .unwrap_or_default();
        let version = self
            .stack
            .launch_template_of(&g.spec)
            .map_or(1, |t| t.version);
        let cause = format!("At {now} a user request started an instance refresh.");
        let (state, _) = scaling::refresh::start(
            &g.spec,
            &g.state,
            overrides.apply(base),
            version,
            cause,
            now,
        )
        .map_err(|e| e.to_string())?;
        self.commit_refresh(&key, state)
    }

    pub(super) fn cancel_instance_refresh(
        &mut self,
        group: &str,
    ) -> Result<InstanceRefresh, String> {
        let key = self
            .find_group(group)
            .ok_or_else(|| self.no_such_group(group))?;
        let now = self.clock.now();
        let g = &self.groups[&key];
        let (state, _) =
            scaling::refresh::cancel(&g.spec, &g.state, now).map_err(|e| e.to_string())?;
        self.commit_refresh(&key, state)
    }

    /// A group's refreshes, newest first (`DescribeInstanceRefreshes`).
    pub(super) fn instance_refreshes(&self, group: &str) -> Result<Vec<InstanceRefresh>, String> {
        let key = self
            .find_group(group)
            .ok_or_else(|| self.no_such_group(group))?;
        Ok(self.groups[&key]
            .state
            .instance_refreshes
            .iter()
            .rev()
            .cloned()
            .collect())
    }

    fn commit_refresh(&mut self, key: &str, state: GroupState) -> Result<InstanceRefresh, String> {
        let g = self.groups.get_mut(key).expect("key from find_group");
        g.state = state;
        self.store
            .save_group(&g.spec, &g.state)
            .map_err(|e| e.to_string())?;
        let r = g
            .state
            .instance_refreshes
            .last()
            .cloned()
            .expect("a refresh was just recorded");
        tracing::info!(group = %g.spec.name, refresh = %r.instance_refresh_id, status = r.status.as_str(), "instance refresh");
        Ok(r)
    }
}

/// During an apply: whether the new spec of an existing group starts a refresh (its
/// `instance_refresh` block is there and its launch template changed, or a trigger
/// attribute did). A refresh still running is superseded, as Terraform cancels it and starts
/// a new one. Returns a note for the apply's output.
pub(super) fn on_apply(
    old: &Group,
    new: &mut Group,
    old_version: u32,
    new_version: u32,
    now: Timestamp,
) -> Option<String> {
    let cause =
        scaling::refresh::triggered_by_apply(&old.spec, &new.spec, old_version, new_version, now)?;
    let preferences = new.spec.instance_refresh.as_ref()?.preferences.clone();
    if let Some(r) = new
        .state
        .instance_refreshes
        .last_mut()
        .filter(|r| r.is_active())
    {
        r.status = RefreshStatus::Cancelled;
        r.status_reason = Some(format!("Superseded at {now} by a new instance refresh."));
        r.end_time = Some(now);
    }
    match scaling::refresh::start(&new.spec, &new.state, preferences, new_version, cause, now) {
        Ok((state, id)) => {
            new.state = state;
            Some(format!(
                "Instance refresh {id} started for group {} (launch template version \
                 {new_version}); follow it with `updraft refresh status {}`.",
                new.spec.name, new.spec.name
            ))
        }
        Err(e) => Some(format!(
            "No instance refresh for group {}: {e}",
            new.spec.name
        )),
    }
}
