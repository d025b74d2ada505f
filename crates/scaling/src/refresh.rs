//! Instance refresh (`StartInstanceRefresh`, strategy `Rolling`): replace a group's instances
//! with ones from the current launch template, a batch at a time.
//!
//! At its first step a refresh fixes the instances it will replace: every InService or
//! launching instance — or, with `skip_matching`, those not on the current launch template
//! version — minus protected ones unless `scale_in_protected_instances = "Refresh"`. Then each
//! decision:
//! - counts **healthy capacity**: InService instances proven healthy and past the refresh's
//!   instance warmup;
//! - keeps it at or above `min_healthy_percentage` of desired capacity (rounded up): it drains
//!   as many outdated instances as healthy capacity allows above that floor, and, when the
//!   floor leaves no room (min 100%), one at a time once nothing is in progress;
//! - with `max_healthy_percentage` above 100 the group may grow by the difference first
//!   (launch before terminate): that surge is returned to the capacity step;
//! - pauses at each of `checkpoint_percentages` for `checkpoint_delay`;
//! - replaces warm pool instances on an old version last (terminated; the pool refills);
//! - fails when no progress is made for an hour (after the warmup), like AWS.
//!
//! `Cancelling` lets replacements in progress finish, then ends as `Cancelled`.

use std::time::Duration;

use model::{
    AutoScalingGroup, InstanceId, ProtectedInstances, RefreshPreferences, ScalingProcess, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::asg::{Action, Ctx, GroupState, InstanceView};
use crate::cause;
use crate::termination::select_among;

/// Refreshes kept in a group's history.
pub const HISTORY: usize = 10;
/// A refresh that makes no progress for this long (after its warmup) fails.
pub const STALL: Duration = Duration::from_secs(3600);

/// AWS's `InstanceRefreshStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefreshStatus {
    Pending,
    InProgress,
    Successful,
    Failed,
    Cancelling,
    Cancelled,
}

impl RefreshStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshStatus::Pending => "Pending",
            RefreshStatus::InProgress => "InProgress",
            RefreshStatus::Successful => "Successful",
            RefreshStatus::Failed => "Failed",
            RefreshStatus::Cancelling => "Cancelling",
            RefreshStatus::Cancelled => "Cancelled",
        }
    }
}

/// One instance refresh, as `DescribeInstanceRefreshes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRefresh {
    pub instance_refresh_id: String,
    pub status: RefreshStatus,
    pub status_reason: Option<String>,
    pub start_time: Timestamp,
    pub end_time: Option<Timestamp>,
    pub percentage_complete: u32,
    /// Instances still to replace.
    pub instances_to_update: u32,
    pub preferences: RefreshPreferences,
    /// Why it started ("a user request", "launch template web changed to version 3").
    pub cause: String,
    /// The launch template version it replaces instances with.
    pub target_version: u32,
    /// The instances it replaces (fixed at its first step; emptied when a newer refresh starts).
    pub to_replace: Vec<InstanceId>,
    /// How many instances it set out to replace.
    #[serde(default)]
    pub instances_total: u32,
    pub last_progress_at: Timestamp,
    /// Checkpoints reached so far.
    pub checkpoints_reached: Vec<u32>,
    /// Paused at a checkpoint until then.
    pub checkpoint_until: Option<Timestamp>,
    /// Since when it waits for protected instances (`scale_in_protected_instances = "Wait"`).
    pub waiting_for_protected_since: Option<Timestamp>,
}

impl InstanceRefresh {
    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            RefreshStatus::Pending | RefreshStatus::InProgress | RefreshStatus::Cancelling
        )
    }
}

/// Why a refresh cannot be started or cancelled (AWS's error texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error(
        "An Instance Refresh is already in progress and blocks the execution of this Instance \
         Refresh ({id}); cancel it with `updraft refresh cancel {group}` first"
    )]
    InProgress { id: String, group: String },
    #[error("No in progress or pending Instance Refresh found for Auto Scaling group {group}")]
    NoneActive { group: String },
    #[error("{0}")]
    Invalid(String),
}

/// `StartInstanceRefresh`: a new refresh in `Pending`; refused while one is active.
pub fn start(
    spec: &AutoScalingGroup,
    state: &GroupState,
    preferences: RefreshPreferences,
    target_version: u32,
    cause: String,
    now: Timestamp,
) -> Result<(GroupState, String), RefreshError> {
    if let Some(active) = state.active_refresh() {
        return Err(RefreshError::InProgress {
            id: active.instance_refresh_id.clone(),
            group: spec.name.clone(),
        });
    }
    if let Some(v) = preferences.validate("").into_iter().next() {
        return Err(RefreshError::Invalid(format!(
            "{}: {}{}",
            v.attribute,
            v.message,
            v.hint.map(|h| format!(" ({h})")).unwrap_or_default()
        )));
    }
    let id = refresh_id(&spec.name, now, state.instance_refreshes.len());
    let mut next = state.clone();
    // Older refreshes keep their figures, not their instance lists (the state is copied every
    // decision).
    for old in &mut next.instance_refreshes {
        old.to_replace = Vec::new();
    }
    next.instance_refreshes.push(InstanceRefresh {
        instance_refresh_id: id.clone(),
        status: RefreshStatus::Pending,
        status_reason: None,
        start_time: now,
        end_time: None,
        percentage_complete: 0,
        instances_to_update: 0,
        preferences,
        cause,
        target_version,
        to_replace: Vec::new(),
        instances_total: 0,
        last_progress_at: now,
        checkpoints_reached: Vec::new(),
        checkpoint_until: None,
        waiting_for_protected_since: None,
    });
    let excess = next.instance_refreshes.len().saturating_sub(HISTORY);
    next.instance_refreshes.drain(..excess);
    Ok((next, id))
}

/// `CancelInstanceRefresh`: the active refresh goes to `Cancelling`.
pub fn cancel(
    spec: &AutoScalingGroup,
    state: &GroupState,
    now: Timestamp,
) -> Result<(GroupState, String), RefreshError> {
    let mut next = state.clone();
    let Some(r) = next.instance_refreshes.last_mut().filter(|r| r.is_active()) else {
        return Err(RefreshError::NoneActive {
            group: spec.name.clone(),
        });
    };
    if r.status != RefreshStatus::Cancelling {
        r.status = RefreshStatus::Cancelling;
        r.status_reason = Some(format!("Cancelled at {now} by a user request."));
    }
    let id = r.instance_refresh_id.clone();
    Ok((next, id))
}

/// Whether applying `new` over `old` starts a refresh: the group has an `instance_refresh`
/// block and its launch template (or version) changed, or an attribute named in `triggers`
/// did. Returns the cause.
pub fn triggered_by_apply(
    old: &AutoScalingGroup,
    new: &AutoScalingGroup,
    old_version: u32,
    new_version: u32,
    now: Timestamp,
) -> Option<String> {
    let block = new.instance_refresh.as_ref()?;
    if old.launch_template != new.launch_template || old_version != new_version {
        return Some(format!(
            "At {now} a configuration change set the launch template of the group to {} \
             version {new_version}.",
            new.launch_template.template
        ));
    }
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return None;
    };
    let changed: Vec<&String> = block
        .triggers
        .iter()
        .filter(|t| {
            model::instance_refresh::trigger_field(t)
                .filter(|f| !f.is_empty())
                .is_some_and(|f| a.get(f) != b.get(f))
        })
        .collect();
    (!changed.is_empty()).then(|| {
        format!(
            "At {now} a configuration change of {} started an instance refresh (triggers).",
            changed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// A UUID-shaped id derived from the group, the time and a counter (pure, unique per group).
fn refresh_id(group: &str, now: Timestamp, n: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in group
        .bytes()
        .chain(now.as_millis().to_le_bytes())
        .chain((n as u64).to_le_bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let l = h.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h as u16 & 0xfff,
        (l >> 48) as u16 & 0xfff,
        l & 0xffff_ffff_ffff
    )
}

/// The refresh part of a decision; returns the surge above desired capacity it allows.
pub(crate) fn step(ctx: &mut Ctx<'_>) -> u32 {
    let Some(mut r) = ctx.next.active_refresh().cloned() else {
        return 0;
    };
    if ctx.spec.suspended(ScalingProcess::InstanceRefresh) {
        ctx.wait("the InstanceRefresh process is suspended");
        return 0;
    }
    let now = ctx.now;
    let warmup = r.preferences.effective_warmup(ctx.spec);
    let staying = ctx.staying();
    let desired = ctx.next.desired_capacity;
    let settled =
        staying.len() as u32 >= desired && staying.iter().all(|i| ctx.healthy_ready(i, warmup));
    let current_version = ctx.observed.current_template_version;

    if r.status == RefreshStatus::Pending {
        r.to_replace = staying
            .iter()
            .filter(|i| !ctx.from_pool.contains(&i.id))
            .filter(|i| {
                !r.preferences.skip_matching || i.launch_template_version != current_version
            })
            .filter(|i| {
                r.preferences.scale_in_protected_instances != ProtectedInstances::Ignore
                    || !i.protected_from_scale_in
            })
            .map(|i| i.id.clone())
            .collect();
        r.instances_total = r.to_replace.len() as u32;
        r.target_version = current_version;
        r.status = RefreshStatus::InProgress;
        r.last_progress_at = now;
    }

    if r.preferences.scale_in_protected_instances == ProtectedInstances::Ignore {
        // Protected since the refresh started: left alone, like those protected before.
        r.to_replace.retain(|id| {
            !staying
                .iter()
                .any(|i| &i.id == id && i.protected_from_scale_in)
        });
    }
    let remaining: Vec<&InstanceView> = staying
        .iter()
        .copied()
        .filter(|i| r.to_replace.contains(&i.id) && !ctx.from_pool.contains(&i.id))
        .collect();
    let total = r.instances_total;
    let done = total - remaining.len() as u32;
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    if remaining.len() as u32 != r.instances_to_update {
        r.last_progress_at = now;
    }
    r.percentage_complete = if remaining.is_empty() && !settled {
        pct.min(99)
    } else {
        pct
    };
    r.instances_to_update = remaining.len() as u32;

    let mut surge = 0;
    if r.status == RefreshStatus::Cancelling {
        if settled {
            r.status = RefreshStatus::Cancelled;
            r.end_time = Some(now);
        }
    } else if remaining.is_empty() {
        // InService instances are done; warm pool instances on an old version go last.
        let outdated: Vec<_> = ctx
            .pool()
            .into_iter()
            .filter(|i| i.launch_template_version != r.target_version)
            .collect();
        for i in &outdated {
            ctx.actions.push(Action::Terminate {
                id: i.id.clone(),
                cause: cause::warm_pool_outdated(now, &i.id),
                failed_launch: None,
            });
        }
        for i in outdated {
            ctx.leave(&i.id);
        }
        if settled {
            r.status = RefreshStatus::Successful;
            r.status_reason = None;
            r.percentage_complete = 100;
            r.end_time = Some(now);
        } else {
            r.status_reason = Some("Waiting for the last replacements to warm up.".into());
        }
    } else if let Some(until) = r.checkpoint_until.filter(|u| now < *u) {
        r.status_reason = Some(format!(
            "Paused at checkpoint {}% until {until}.",
            r.checkpoints_reached.last().copied().unwrap_or(0)
        ));
        r.last_progress_at = now;
    } else {
        surge = replace_batch(ctx, &mut r, &remaining, &staying, warmup, settled);
    }

    if r.is_active() && now.since(r.last_progress_at) >= STALL + warmup {
        r.status = RefreshStatus::Failed;
        r.status_reason = Some(format!(
            "The instance refresh made no progress for {} minutes: {}",
            (STALL + warmup).as_secs() / 60,
            r.status_reason
                .clone()
                .unwrap_or_else(|| { "replacement instances did not become healthy".into() })
        ));
        r.end_time = Some(now);
        surge = 0;
    }
    if let Some(last) = ctx.next.instance_refreshes.last_mut() {
        *last = r;
    }
    surge
}

/// Drains the next batch of outdated instances; returns the surge allowed above desired.
fn replace_batch(
    ctx: &mut Ctx<'_>,
    r: &mut InstanceRefresh,
    remaining: &[&InstanceView],
    staying: &[&InstanceView],
    warmup: Duration,
    settled: bool,
) -> u32 {
    let now = ctx.now;
    let desired = ctx.next.desired_capacity;
    // Checkpoint reached? Only once the replacements so far have settled.
    if let Some(&cp) = r
        .preferences
        .checkpoint_percentages
        .iter()
        .find(|p| !r.checkpoints_reached.contains(p))
        && r.percentage_complete >= cp
        && settled
    {
        r.checkpoints_reached.push(cp);
        let delay = r
            .preferences
            .checkpoint_delay
            .unwrap_or(model::instance_refresh::DEFAULT_CHECKPOINT_DELAY);
        r.checkpoint_until = Some(now + delay);
        r.status_reason = Some(format!("Paused at checkpoint {cp}% until {}.", now + delay));
        return 0;
    }
    let protected_policy = r.preferences.scale_in_protected_instances;
    let candidates: Vec<&InstanceView> = remaining
        .iter()
        .copied()
        .filter(|i| protected_policy == ProtectedInstances::Refresh || !i.protected_from_scale_in)
        .collect();
    if candidates.is_empty() {
        // Only protected instances are left (policy Wait): give it an hour, then fail.
        let since = *r.waiting_for_protected_since.get_or_insert(now);
        r.status_reason = Some(format!(
            "Waiting for {} instance(s) protected from scale in (since {since}); remove their \
             protection with `updraft unprotect`.",
            remaining.len()
        ));
        if now.since(since) >= STALL {
            r.status = RefreshStatus::Failed;
            r.end_time = Some(now);
        }
        r.last_progress_at = now;
        return 0;
    }
    r.waiting_for_protected_since = None;
    let floor = (desired * r.preferences.min_healthy_percentage).div_ceil(100);
    let ceiling = (desired * r.preferences.max_healthy_percentage / 100).max(desired);
    let ready = staying
        .iter()
        .filter(|i| ctx.healthy_ready(i, warmup))
        .count() as u32;
    let mut allowed = ready.saturating_sub(floor);
    if allowed == 0 && ceiling == desired && settled {
        allowed = 1; // min_healthy_percentage 100 without room above: one at a time
    }
    r.status_reason = (allowed == 0).then(|| {
        format!(
            "Waiting for replacements to become healthy and warm up ({ready} of {floor} healthy \
             instances needed)."
        )
    });
    let mut pool: Vec<_> = candidates
        .iter()
        .map(|i| {
            let mut c = crate::asg::capacity_candidate(ctx, i);
            c.protected_from_scale_in = false;
            c
        })
        .collect();
    // The other instances count toward their zones' sizes, so victims come from the zones
    // the group has most of.
    let others: Vec<_> = staying
        .iter()
        .filter(|i| !candidates.iter().any(|c| c.id == i.id))
        .map(|i| i.availability_zone.clone())
        .collect();
    let mut drained = 0;
    for _ in 0..allowed.min(candidates.len() as u32) {
        let Some(id) = select_among(
            &pool,
            &others,
            &ctx.spec.termination_policies,
            r.target_version,
            now,
        ) else {
            break;
        };
        pool.retain(|c| c.id != id);
        ctx.actions.push(Action::Deregister {
            cause: cause::refresh_terminate(now, &id),
            id: id.clone(),
            to_warm_pool: false,
        });
        ctx.leave(&id);
        r.last_progress_at = now;
        drained += 1;
    }
    // Room above desired for replacements launched before the instances they replace.
    (ceiling - desired).min(remaining.len() as u32 - drained)
}

/// Where the refresh stands, for status lines: "InProgress 40% (3 to go)".
pub fn summary(r: &InstanceRefresh) -> String {
    let mut s = format!(
        "{} {} {}% ({} to update)",
        r.instance_refresh_id,
        r.status.as_str(),
        r.percentage_complete,
        r.instances_to_update
    );
    if let Some(reason) = &r.status_reason {
        s.push_str(": ");
        s.push_str(reason);
    }
    s
}

#[cfg(test)]
mod tests;
