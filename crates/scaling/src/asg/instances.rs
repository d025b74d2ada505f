//! Step 1 of a decision: each instance's own transitions — process deaths (EC2 health),
//! lifecycle hooks, draining, the warm pool's boot-then-stop, ELB health replacement.

use model::{
    HealthCheckType, LifecycleActionResult, LifecycleState, LifecycleTransition, ScalingProcess,
    TargetHealthState,
};

use super::{Action, BOOT_PROOF, Ctx, InstanceView, ProcessState};
use crate::cause;
use crate::lifecycle::{self, LifecycleAction, Outcome};

pub(super) fn step(ctx: &mut Ctx<'_>) {
    let mut unhealthy: Vec<&InstanceView> = Vec::new();
    for inst in ctx.instances() {
        match (inst.lifecycle, &inst.process) {
            (LifecycleState::Terminated, _) => {}
            (LifecycleState::Terminating, _) => drained(ctx, inst),
            (LifecycleState::TerminatingWait, process) => {
                let reason = match (
                    process,
                    lifecycle::outcome(&live_actions(ctx, inst), ctx.now),
                ) {
                    (ProcessState::Exited { detail }, _) => {
                        format!("its process ended while waiting ({detail})")
                    }
                    (_, Outcome::Proceed { reason, .. }) => reason,
                    (_, Outcome::Waiting { .. }) => continue,
                };
                ctx.actions.push(Action::Terminate {
                    id: inst.id.clone(),
                    cause: cause::terminate_hooks_done(ctx.now, &reason),
                    failed_launch: None,
                });
                ctx.leave(&inst.id);
            }
            (_, ProcessState::Exited { detail }) => exited(ctx, inst, detail),
            (LifecycleState::Pending, ProcessState::Running) => {
                if !ctx.wait_for_hooks(
                    &inst.id,
                    LifecycleTransition::InstanceLaunching,
                    LifecycleState::PendingWait,
                ) {
                    ctx.actions.push(Action::PutInService {
                        id: inst.id.clone(),
                    });
                }
            }
            (LifecycleState::PendingWait, ProcessState::Running) => {
                match lifecycle::outcome(&live_actions(ctx, inst), ctx.now) {
                    Outcome::Waiting { .. } => {}
                    Outcome::Proceed {
                        result: LifecycleActionResult::Continue,
                        ..
                    } => ctx.actions.push(Action::PutInService {
                        id: inst.id.clone(),
                    }),
                    Outcome::Proceed { reason, .. } => abandon(ctx, inst, &reason),
                }
            }
            (LifecycleState::InService, ProcessState::Running) => {
                if elb_unhealthy(ctx, inst) {
                    unhealthy.push(inst);
                }
            }
            (LifecycleState::WarmedPending, ProcessState::Running) => {
                let Some(pool) = &ctx.spec.warm_pool else {
                    continue; // the warm pool step terminates it
                };
                let waiting = ctx.wait_for_hooks(
                    &inst.id,
                    LifecycleTransition::InstanceLaunching,
                    LifecycleState::WarmedPendingWait,
                );
                if !waiting && (inst.booted || ctx.now.since(inst.launched_at) >= BOOT_PROOF) {
                    ctx.actions.push(Action::EnterWarmPool {
                        id: inst.id.clone(),
                        state: settled_state(pool.pool_state),
                    });
                }
            }
            (LifecycleState::WarmedPendingWait, ProcessState::Running) => {
                let Some(pool) = &ctx.spec.warm_pool else {
                    continue;
                };
                match lifecycle::outcome(&live_actions(ctx, inst), ctx.now) {
                    Outcome::Waiting { .. } => {}
                    Outcome::Proceed {
                        result: LifecycleActionResult::Continue,
                        ..
                    } => ctx.actions.push(Action::EnterWarmPool {
                        id: inst.id.clone(),
                        state: settled_state(pool.pool_state),
                    }),
                    Outcome::Proceed { reason, .. } => abandon(ctx, inst, &reason),
                }
            }
            (LifecycleState::WarmedStopped | LifecycleState::WarmedRunning, _) => {
                // The pool state changed in the configuration: stop or start the instance.
                if let Some(pool) = &ctx.spec.warm_pool {
                    let want = settled_state(pool.pool_state);
                    if want != inst.lifecycle {
                        ctx.actions.push(Action::EnterWarmPool {
                            id: inst.id.clone(),
                            state: want,
                        });
                    }
                }
            }
        }
    }
    replace_unhealthy(ctx, unhealthy);
}

/// The instance's lifecycle actions, with those of hooks deleted since they started completed
/// as AWS's `DeleteLifecycleHook` completes them: ABANDON for a launch, CONTINUE for a
/// termination.
fn live_actions(ctx: &Ctx<'_>, inst: &InstanceView) -> Vec<LifecycleAction> {
    let mut actions = inst.lifecycle_actions.clone();
    for a in &mut actions {
        let exists = ctx
            .observed
            .lifecycle_hooks
            .iter()
            .any(|h| h.name == a.hook && h.lifecycle_transition == a.transition);
        if !exists && a.result.is_none() {
            a.result = Some(match a.transition {
                LifecycleTransition::InstanceLaunching => LifecycleActionResult::Abandon,
                LifecycleTransition::InstanceTerminating => LifecycleActionResult::Continue,
            });
        }
    }
    actions
}

fn settled_state(pool_state: model::WarmPoolState) -> LifecycleState {
    if pool_state.frozen() {
        LifecycleState::WarmedStopped
    } else {
        LifecycleState::WarmedRunning
    }
}

/// A Terminating instance whose draining is over moves on: back to the warm pool, into
/// `Terminating:Wait` for the termination hooks, or out.
fn drained(ctx: &mut Ctx<'_>, inst: &InstanceView) {
    let exited = matches!(inst.process, ProcessState::Exited { .. });
    let done = inst.in_flight == 0
        || exited
        || inst
            .terminating_at
            .is_none_or(|at| ctx.now.since(at) >= ctx.observed.deregistration_delay);
    if !done {
        return;
    }
    ctx.leave(&inst.id);
    if inst.to_warm_pool && !exited && ctx.spec.warm_pool.is_some() {
        ctx.actions.push(Action::ReturnToWarmPool {
            id: inst.id.clone(),
        });
        return;
    }
    if !exited
        && ctx.wait_for_hooks(
            &inst.id,
            LifecycleTransition::InstanceTerminating,
            LifecycleState::TerminatingWait,
        )
    {
        return;
    }
    ctx.actions.push(Action::Terminate {
        id: inst.id.clone(),
        cause: "Draining finished.".into(),
        failed_launch: None,
    });
}

/// The process is gone: the instance is terminated now (EC2 health check, even inside the
/// grace period). If it never proved itself, that was a failed launch.
fn exited(ctx: &mut Ctx<'_>, inst: &InstanceView, detail: &str) {
    let proven = if inst.lifecycle.is_warmed() {
        inst.booted || inst.lifecycle != LifecycleState::WarmedPending
    } else {
        ctx.launch_succeeded(inst)
    };
    let failed_launch = (!proven).then(|| cause::launch_failed(detail));
    if failed_launch.is_some() {
        ctx.next.record_launch_failure(ctx.now);
    }
    if inst.lifecycle.counts_toward_capacity() {
        ctx.unhealthy_replaced += 1;
    }
    ctx.actions.push(Action::Terminate {
        id: inst.id.clone(),
        cause: cause::ec2_unhealthy(ctx.now, detail),
        failed_launch,
    });
    ctx.leave(&inst.id);
}

/// A launch lifecycle action ended with ABANDON: the instance is terminated (and replaced),
/// and counts as a failed launch, so a hook that keeps abandoning slows launches down.
fn abandon(ctx: &mut Ctx<'_>, inst: &InstanceView, reason: &str) {
    ctx.next.record_launch_failure(ctx.now);
    ctx.actions.push(Action::Terminate {
        id: inst.id.clone(),
        cause: format!(
            "At {} an instance was terminated because {reason}.",
            ctx.now
        ),
        failed_launch: Some(cause::launch_abandoned(reason)),
    });
    ctx.leave(&inst.id);
}

fn elb_unhealthy(ctx: &Ctx<'_>, inst: &InstanceView) -> bool {
    ctx.spec.health_check_type == HealthCheckType::Elb
        && !ctx.spec.suspended(ScalingProcess::HealthCheck)
        && ctx.observed.has_target_groups
        && inst.target_health == Some(TargetHealthState::Unhealthy)
        && inst
            .in_service_at
            .is_some_and(|at| ctx.now.since(at) >= ctx.spec.health_check_grace_period)
}

/// ELB-unhealthy instances are replaced (deregistered, then terminated; a replacement
/// launches), at most 10% of desired capacity at a time (at least one), counting replacements
/// still launching — AWS's way of not taking a whole group down on a bad health check.
fn replace_unhealthy(ctx: &mut Ctx<'_>, mut unhealthy: Vec<&InstanceView>) {
    if unhealthy.is_empty() {
        return;
    }
    if ctx.spec.suspended(ScalingProcess::ReplaceUnhealthy)
        || ctx.spec.suspended(ScalingProcess::Terminate)
    {
        ctx.wait(format!(
            "{} unhealthy instance(s) not replaced: the ReplaceUnhealthy or Terminate process is \
             suspended",
            unhealthy.len()
        ));
        return;
    }
    let batch = (ctx.next.desired_capacity / 10).max(1) as usize;
    let launching = ctx
        .staying()
        .iter()
        .filter(|i| {
            matches!(
                i.lifecycle,
                LifecycleState::Pending | LifecycleState::PendingWait
            )
        })
        .count();
    let allowed = batch.saturating_sub(launching);
    unhealthy.sort_by_key(|i| (i.in_service_at, i.id.clone()));
    if unhealthy.len() > allowed {
        ctx.wait(format!(
            "{} unhealthy instance(s) wait: at most {batch} are replaced at a time",
            unhealthy.len() - allowed
        ));
    }
    for inst in unhealthy.into_iter().take(allowed) {
        ctx.unhealthy_replaced += 1;
        ctx.actions.push(Action::Deregister {
            id: inst.id.clone(),
            cause: cause::elb_unhealthy(ctx.now),
            to_warm_pool: false,
        });
        ctx.leave(&inst.id);
    }
}
