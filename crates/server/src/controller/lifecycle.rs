//! Carrying out the lifecycle side of decisions — lifecycle hook waits, the warm pool's stop
//! (freeze), start (thaw), entry and return — and the commands users send about instances:
//! `CompleteLifecycleAction`, `RecordLifecycleActionHeartbeat`, `SetInstanceProtection`.

use model::{InstanceId, LifecycleActionResult, LifecycleState, Timestamp};
use scaling::LifecycleAction;
use serde::{Deserialize, Serialize};

use super::Controller;
use crate::store::{ActivityStatus, StoreError};

/// Most instance ids one `SetInstanceProtection` call takes (AWS's limit).
pub const MAX_PROTECTION_IDS: usize = 50;

/// What a lifecycle command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleActionAnswer {
    pub instance: InstanceId,
    pub hook: String,
    /// Where the instance is now.
    pub lifecycle: LifecycleState,
    /// For a heartbeat: when the action now times out.
    pub timeout_at: Option<Timestamp>,
}

impl Controller {
    pub(super) fn wait_for_lifecycle_actions(
        &mut self,
        id: &InstanceId,
        state: LifecycleState,
        actions: Vec<LifecycleAction>,
    ) -> Result<bool, StoreError> {
        let Some(r) = self.instances.get_mut(id) else {
            return Ok(false);
        };
        let hooks: Vec<String> = actions.iter().map(|a| a.hook.clone()).collect();
        let until = actions.iter().map(LifecycleAction::timeout_at).min();
        r.lifecycle = state;
        r.lifecycle_actions = actions;
        let r = r.clone();
        self.persist(&r)?;
        if let Some(activity) = self.store.open_activity(id)? {
            let note = format!(
                "{state}: waiting for lifecycle hook {} (complete it with `updraft lifecycle \
                 complete {} {} {id} --result CONTINUE`){}",
                hooks.join(", "),
                self.groups
                    .get(&r.group)
                    .map_or(r.group.as_str(), |g| g.spec.name.as_str()),
                hooks[0],
                until
                    .map(|t| format!("; times out at {t}"))
                    .unwrap_or_default()
            );
            self.store.note_activity(activity, Some(&note))?;
        }
        tracing::info!(instance = %id, group = %r.group, lifecycle = %state, hooks = %hooks.join(","), "waiting for lifecycle hooks");
        // Leaving Terminating for Terminating:Wait takes the instance out of its target groups.
        Ok(state == LifecycleState::TerminatingWait)
    }

    /// A booted warm pool instance settles: frozen (`Warmed:Stopped`) or running.
    pub(super) async fn enter_warm_pool(
        &mut self,
        id: &InstanceId,
        state: LifecycleState,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(process) = self.instances.get(id).and_then(|r| r.process.clone()) else {
            return Ok(());
        };
        let stopped = if state == LifecycleState::WarmedStopped {
            match self.provider.freeze(&process).await {
                Ok(how) => Some(how),
                Err(e) => {
                    tracing::warn!(instance = %id, error = %e, "could not stop the warm pool instance; it keeps running");
                    None
                }
            }
        } else {
            if let Err(e) = self.provider.thaw(&process) {
                tracing::warn!(instance = %id, error = %e, "could not start the warm pool instance");
            }
            None
        };
        let Some(r) = self.instances.get_mut(id) else {
            return Ok(());
        };
        r.lifecycle = if state == LifecycleState::WarmedStopped && stopped.is_none() {
            LifecycleState::WarmedRunning
        } else {
            state
        };
        r.lifecycle_actions.clear();
        let r = r.clone();
        self.persist(&r)?;
        if let Some(activity) = self.store.open_activity(id)? {
            self.store
                .finish_activity(activity, ActivityStatus::Successful, None, now)?;
        }
        tracing::info!(instance = %id, group = %r.group, lifecycle = %r.lifecycle, how = ?stopped, "instance in the warm pool");
        Ok(())
    }

    /// A warm pool instance joins the group: thawed, Pending, protected as the group says.
    pub(super) fn leave_warm_pool(
        &mut self,
        group: &str,
        id: &InstanceId,
        cause: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let protect = self
            .groups
            .get(group)
            .is_some_and(|g| g.spec.protect_from_scale_in);
        let Some(r) = self.instances.get_mut(id) else {
            return Ok(());
        };
        if let Some(process) = &r.process
            && let Err(e) = self.provider.thaw(process)
        {
            tracing::warn!(instance = %id, error = %e, "could not thaw the warm pool instance");
        }
        r.lifecycle = LifecycleState::Pending;
        r.protected_from_scale_in = protect;
        r.lifecycle_actions.clear();
        let r = r.clone();
        self.persist(&r)?;
        self.store.start_activity(
            group,
            Some(id),
            &format!("Launching a new EC2 instance from warm pool: {id}"),
            cause,
            now,
        )?;
        tracing::info!(instance = %id, group, az = %r.availability_zone, "instance taken from the warm pool (Pending)");
        Ok(())
    }

    /// A drained instance goes back to the warm pool (`Warmed:Pending`), where it is stopped.
    pub(super) fn return_to_warm_pool(
        &mut self,
        id: &InstanceId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(r) = self.instances.get_mut(id) else {
            return Ok(());
        };
        r.lifecycle = LifecycleState::WarmedPending;
        r.in_service_at = None;
        r.terminating_at = None;
        r.to_warm_pool = false;
        r.protected_from_scale_in = false;
        r.booted = true;
        let r = r.clone();
        self.persist(&r)?;
        if let Some(activity) = self.store.open_activity(id)? {
            self.store
                .finish_activity(activity, ActivityStatus::Successful, None, now)?;
        }
        tracing::info!(instance = %id, group = %r.group, "instance returned to the warm pool");
        Ok(())
    }

    /// `CompleteLifecycleAction` (result given) or `RecordLifecycleActionHeartbeat` (none).
    pub(super) fn lifecycle_action(
        &mut self,
        group: &str,
        hook: &str,
        instance: &str,
        result: Option<LifecycleActionResult>,
    ) -> Result<LifecycleActionAnswer, String> {
        let key = self
            .find_group(group)
            .ok_or_else(|| self.no_such_group(group))?;
        let spec = self.groups[&key].spec.clone();
        let hooks = self.stack.lifecycle_hooks_of(&spec);
        if !hooks.iter().any(|h| h.name == hook) {
            let names: Vec<_> = hooks.iter().map(|h| h.name.as_str()).collect();
            return Err(format!(
                "No Lifecycle Hook named {hook} found for group {}; its hooks: {}",
                spec.name,
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ));
        }
        let id: InstanceId = instance
            .parse()
            .map_err(|_| format!("`{instance}` is not an instance id (i-…)"))?;
        let now = self.clock.now();
        let r = self
            .instances
            .get_mut(&id)
            .filter(|r| r.group == key)
            .ok_or_else(|| format!("instance {id} is not in group {}", spec.name))?;
        let timeout_at = match result {
            Some(result) => {
                scaling::lifecycle::complete(
                    &id,
                    r.lifecycle,
                    &mut r.lifecycle_actions,
                    hook,
                    result,
                )
                .map_err(|e| e.to_string())?;
                None
            }
            None => Some(
                scaling::lifecycle::heartbeat(
                    &id,
                    r.lifecycle,
                    &mut r.lifecycle_actions,
                    hook,
                    now,
                )
                .map_err(|e| e.to_string())?,
            ),
        };
        let r = r.clone();
        self.persist(&r).map_err(|e| e.to_string())?;
        match result {
            Some(result) => {
                tracing::info!(instance = %id, group = %spec.name, hook, result = result.as_str(), "lifecycle action completed")
            }
            None => {
                tracing::info!(instance = %id, group = %spec.name, hook, "lifecycle action heartbeat")
            }
        }
        Ok(LifecycleActionAnswer {
            instance: id,
            hook: hook.to_owned(),
            lifecycle: r.lifecycle,
            timeout_at,
        })
    }

    /// `SetInstanceProtection`: protect (or not) instances of a group from scale-in.
    pub(super) fn set_instance_protection(
        &mut self,
        group: &str,
        instances: &[String],
        protected: bool,
    ) -> Result<Vec<InstanceId>, String> {
        let key = self
            .find_group(group)
            .ok_or_else(|| self.no_such_group(group))?;
        let name = self.groups[&key].spec.name.clone();
        if instances.is_empty() || instances.len() > MAX_PROTECTION_IDS {
            return Err(format!(
                "give 1 to {MAX_PROTECTION_IDS} instance ids (AWS's limit per call), got {}",
                instances.len()
            ));
        }
        // Check them all first: nothing half-applies.
        let mut ids = Vec::new();
        for text in instances {
            let id: InstanceId = text
                .parse()
                .map_err(|_| format!("`{text}` is not an instance id (i-…)"))?;
            let r = self
                .instances
                .get(&id)
                .filter(|r| r.group == key)
                .ok_or_else(|| format!("instance {id} is not in group {name}"))?;
            if r.lifecycle.is_warmed() {
                return Err(format!(
                    "instance {id} is in the warm pool ({}); protection applies to instances in \
                     the group",
                    r.lifecycle
                ));
            }
            if !r.lifecycle.counts_toward_capacity() {
                return Err(format!("instance {id} is {}", r.lifecycle));
            }
            ids.push(id);
        }
        for id in &ids {
            if let Some(r) = self.instances.get_mut(id) {
                r.protected_from_scale_in = protected;
                let r = r.clone();
                self.persist(&r).map_err(|e| e.to_string())?;
            }
        }
        tracing::info!(group = %name, instances = ids.len(), protected, "instance protection set");
        Ok(ids)
    }
}
