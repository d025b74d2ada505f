//! Lifecycle actions: what a lifecycle hook holds an instance for, and how it ends.
//!
//! When an instance reaches a hooked transition, every hook of that transition starts a
//! [`LifecycleAction`] (AWS runs a transition's hooks together). The instance waits in
//! `Pending:Wait`, `Warmed:Pending:Wait` or `Terminating:Wait` until each action is completed
//! (`updraft lifecycle complete`, AWS's `CompleteLifecycleAction`), or its heartbeat timeout
//! passes without a heartbeat (`updraft lifecycle heartbeat` restarts it), or the global
//! timeout — 100 heartbeat timeouts, at most 48 hours — passes. A timed-out action takes the
//! hook's default result. One ABANDON decides for all.

use std::time::Duration;

use model::{
    InstanceId, LifecycleActionResult, LifecycleHook, LifecycleState, LifecycleTransition,
    Timestamp,
};
use serde::{Deserialize, Serialize};

/// One hook's action on one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleAction {
    pub hook: String,
    pub transition: LifecycleTransition,
    pub started_at: Timestamp,
    /// The start, or the last heartbeat.
    pub heartbeat_at: Timestamp,
    pub heartbeat_timeout: Duration,
    pub global_timeout: Duration,
    pub default_result: LifecycleActionResult,
    /// Set when someone completes the action.
    pub result: Option<LifecycleActionResult>,
    pub notification_metadata: Option<String>,
}

impl LifecycleAction {
    /// The action `hook` starts at `now`.
    pub fn start(hook: &LifecycleHook, now: Timestamp) -> Self {
        LifecycleAction {
            hook: hook.name.clone(),
            transition: hook.lifecycle_transition,
            started_at: now,
            heartbeat_at: now,
            heartbeat_timeout: hook.heartbeat_timeout,
            global_timeout: hook.global_timeout(),
            default_result: hook.default_result,
            result: None,
            notification_metadata: hook.notification_metadata.clone(),
        }
    }

    /// When the action times out if nothing more happens.
    pub fn timeout_at(&self) -> Timestamp {
        (self.heartbeat_at + self.heartbeat_timeout).min(self.started_at + self.global_timeout)
    }
}

/// Where a set of actions stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still waiting; the earliest timeout.
    Waiting { until: Timestamp },
    /// Every action is decided (or one abandoned): go on with `result`; `reason` says why, in
    /// words for the activity history.
    Proceed {
        result: LifecycleActionResult,
        reason: String,
    },
}

/// The outcome of an instance's actions at `now`.
pub fn outcome(actions: &[LifecycleAction], now: Timestamp) -> Outcome {
    let mut until: Option<Timestamp> = None;
    let mut reasons = Vec::new();
    let mut abandoned = None;
    for a in actions {
        let (result, how) = match a.result {
            Some(r) => (r, format!("completed with {} result", r.as_str())),
            None if now >= a.timeout_at() => {
                let which = if a.timeout_at() < a.heartbeat_at + a.heartbeat_timeout {
                    "global timeout"
                } else {
                    "heartbeat timeout"
                };
                (
                    a.default_result,
                    format!(
                        "reached its {which}, so the default result {} applied",
                        a.default_result.as_str()
                    ),
                )
            }
            None => {
                until = Some(until.map_or(a.timeout_at(), |u| u.min(a.timeout_at())));
                continue;
            }
        };
        let text = format!("lifecycle hook {} {how}", a.hook);
        if result == LifecycleActionResult::Abandon && abandoned.is_none() {
            abandoned = Some(text.clone());
        }
        reasons.push(text);
    }
    if let Some(reason) = abandoned {
        return Outcome::Proceed {
            result: LifecycleActionResult::Abandon,
            reason,
        };
    }
    match until {
        Some(until) => Outcome::Waiting { until },
        None => Outcome::Proceed {
            result: LifecycleActionResult::Continue,
            reason: reasons.join("; "),
        },
    }
}

/// Why a `complete` or `heartbeat` call is refused (AWS's `ValidationError` texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error(
        "No active Lifecycle Action found with instance ID {instance}: it is {state}, not \
         waiting for a lifecycle hook"
    )]
    NotWaiting {
        instance: InstanceId,
        state: LifecycleState,
    },
    #[error(
        "No active Lifecycle Action found with instance ID {instance} for lifecycle hook \
         {hook}; it waits for: {waiting}"
    )]
    NoSuchAction {
        instance: InstanceId,
        hook: String,
        waiting: String,
    },
}

/// `CompleteLifecycleAction`: records `result` for `hook`'s action on an instance in a wait
/// state. Completing an action that is already complete is refused, as on AWS.
pub fn complete(
    instance: &InstanceId,
    state: LifecycleState,
    actions: &mut [LifecycleAction],
    hook: &str,
    result: LifecycleActionResult,
) -> Result<(), LifecycleError> {
    let a = active(instance, state, actions, hook)?;
    a.result = Some(result);
    Ok(())
}

/// `RecordLifecycleActionHeartbeat`: restarts the heartbeat timeout of `hook`'s action.
/// Returns when the action now times out.
pub fn heartbeat(
    instance: &InstanceId,
    state: LifecycleState,
    actions: &mut [LifecycleAction],
    hook: &str,
    now: Timestamp,
) -> Result<Timestamp, LifecycleError> {
    let a = active(instance, state, actions, hook)?;
    a.heartbeat_at = now;
    Ok(a.timeout_at())
}

fn active<'a>(
    instance: &InstanceId,
    state: LifecycleState,
    actions: &'a mut [LifecycleAction],
    hook: &str,
) -> Result<&'a mut LifecycleAction, LifecycleError> {
    if !state.is_wait() {
        return Err(LifecycleError::NotWaiting {
            instance: instance.clone(),
            state,
        });
    }
    let waiting: Vec<String> = actions
        .iter()
        .filter(|a| a.result.is_none())
        .map(|a| a.hook.clone())
        .collect();
    actions
        .iter_mut()
        .find(|a| a.hook == hook && a.result.is_none())
        .ok_or_else(|| LifecycleError::NoSuchAction {
            instance: instance.clone(),
            hook: hook.to_owned(),
            waiting: if waiting.is_empty() {
                "nothing".into()
            } else {
                waiting.join(", ")
            },
        })
}

/// The hooks of `transition` among `hooks`.
pub fn hooks_for(
    hooks: &[LifecycleHook],
    transition: LifecycleTransition,
) -> impl Iterator<Item = &LifecycleHook> {
    hooks
        .iter()
        .filter(move |h| h.lifecycle_transition == transition)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(name: &str, timeout: u64, default: LifecycleActionResult) -> LifecycleHook {
        LifecycleHook {
            name: name.into(),
            lifecycle_transition: LifecycleTransition::InstanceLaunching,
            heartbeat_timeout: Duration::from_secs(timeout),
            default_result: default,
            notification_metadata: None,
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn waits_until_the_heartbeat_timeout_then_takes_the_default_result() {
        let a = [LifecycleAction::start(
            &hook("boot", 60, LifecycleActionResult::Abandon),
            at(0),
        )];
        assert_eq!(outcome(&a, at(59)), Outcome::Waiting { until: at(60) });
        match outcome(&a, at(60)) {
            Outcome::Proceed { result, reason } => {
                assert_eq!(result, LifecycleActionResult::Abandon);
                assert!(reason.contains("heartbeat timeout"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_heartbeat_restarts_the_timeout_until_the_global_timeout() {
        // AWS's example: a heartbeat at 30 min of a 60-min hook makes the wait 90 min.
        let id = InstanceId::from_bits(1);
        let mut a = vec![LifecycleAction::start(
            &hook("boot", 3600, LifecycleActionResult::Continue),
            at(0),
        )];
        let until = heartbeat(&id, LifecycleState::PendingWait, &mut a, "boot", at(1800)).unwrap();
        assert_eq!(until, at(5400));
        // Heartbeats cannot extend past 100 × the timeout (here capped at 48 h).
        heartbeat(
            &id,
            LifecycleState::PendingWait,
            &mut a,
            "boot",
            at(172_000),
        )
        .unwrap();
        assert_eq!(a[0].timeout_at(), at(172_800));
        match outcome(&a, at(172_800)) {
            Outcome::Proceed { reason, .. } => assert!(reason.contains("global timeout")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_hook_must_continue_and_one_abandon_decides() {
        let id = InstanceId::from_bits(1);
        let mut a = vec![
            LifecycleAction::start(&hook("a", 60, LifecycleActionResult::Continue), at(0)),
            LifecycleAction::start(&hook("b", 600, LifecycleActionResult::Continue), at(0)),
        ];
        let c = LifecycleActionResult::Continue;
        complete(&id, LifecycleState::PendingWait, &mut a, "a", c).unwrap();
        assert_eq!(outcome(&a, at(1)), Outcome::Waiting { until: at(600) });
        let err = complete(&id, LifecycleState::PendingWait, &mut a, "a", c).unwrap_err();
        assert!(err.to_string().contains("it waits for: b"), "{err}");
        complete(&id, LifecycleState::PendingWait, &mut a, "b", c).unwrap();
        assert!(matches!(
            outcome(&a, at(2)),
            Outcome::Proceed {
                result: LifecycleActionResult::Continue,
                ..
            }
        ));

        let mut a = vec![
            LifecycleAction::start(&hook("a", 60, LifecycleActionResult::Continue), at(0)),
            LifecycleAction::start(&hook("b", 600, LifecycleActionResult::Continue), at(0)),
        ];
        let ab = LifecycleActionResult::Abandon;
        complete(&id, LifecycleState::PendingWait, &mut a, "b", ab).unwrap();
        assert!(matches!(
            outcome(&a, at(1)),
            Outcome::Proceed {
                result: LifecycleActionResult::Abandon,
                ..
            }
        ));
    }

    #[test]
    fn only_waiting_instances_take_completions() {
        let id = InstanceId::from_bits(7);
        let err = complete(
            &id,
            LifecycleState::InService,
            &mut [],
            "boot",
            LifecycleActionResult::Continue,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "No active Lifecycle Action found with instance ID {id}: it is InService, not \
                 waiting for a lifecycle hook"
            )
        );
    }
}
