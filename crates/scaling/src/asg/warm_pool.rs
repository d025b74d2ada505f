//! Step 6 of a decision: keep the warm pool at its size — `max_group_prepared_capacity` (or
//! `max_size`) minus desired capacity, at least the pool's `min_size`. The group's own
//! launches come first: the pool is filled only once the group has what it needs. Extra pool
//! instances (after a scale-in returned some, or desired capacity grew) are terminated, chosen
//! by AZ balance and the termination policies. A pool removed from the configuration takes its
//! instances with it.

use model::{LifecycleState, ScalingProcess};

use super::capacity::{candidate, plan_launches};
use super::{Action, Ctx};
use crate::cause;
use crate::termination::select;

pub(super) fn step(ctx: &mut Ctx<'_>) {
    let pool = ctx.pool();
    let Some(spec) = &ctx.spec.warm_pool else {
        for inst in pool {
            ctx.actions.push(Action::Terminate {
                id: inst.id.clone(),
                cause: cause::warm_pool_deleted(ctx.now),
                failed_launch: None,
            });
            ctx.leave(&inst.id);
        }
        return;
    };
    // Instances draining on their way back (or starting to now) count as pool members.
    let returning = ctx
        .instances()
        .iter()
        .filter(|i| i.lifecycle == LifecycleState::Terminating && i.to_warm_pool)
        .count()
        + ctx
            .actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Deregister {
                        to_warm_pool: true,
                        ..
                    }
                )
            })
            .count();
    let returning = returning as u32;
    let size = pool.len() as u32 + returning;
    let target = spec.target_size(ctx.next.desired_capacity, ctx.spec.max_size);

    if size < target {
        if ctx.short > 0
            || ctx.spec.suspended(ScalingProcess::Launch)
            || ctx
                .next
                .next_launch_at()
                .is_some_and(|retry| ctx.now < retry)
        {
            return;
        }
        let mut budget = target - size;
        if ctx.next.launch_failures > 0 {
            let probing = pool
                .iter()
                .any(|i| i.lifecycle == LifecycleState::WarmedPending);
            budget = if probing { 0 } else { 1 };
        }
        // Spread with the group: pool instances wait where the group will launch next.
        let mut prepared = ctx.staying();
        prepared.extend(pool.iter().copied());
        let slots = plan_launches(ctx, &prepared, budget, true);
        for (n, slot) in slots.into_iter().enumerate() {
            ctx.launched.push((slot.availability_zone.clone(), true));
            ctx.actions.push(Action::Launch {
                subnet: slot.subnet.clone(),
                availability_zone: slot.availability_zone.clone(),
                cause: cause::warm_pool_fill(ctx.now, size + n as u32, target),
                warm_pool: true,
            });
        }
    } else if size > target {
        if ctx.spec.suspended(ScalingProcess::Terminate) {
            return;
        }
        let mut candidates: Vec<_> = pool.iter().map(|i| candidate(ctx, i)).collect();
        // Protection is a group thing: warm pool instances are never protected.
        for c in &mut candidates {
            c.protected_from_scale_in = false;
        }
        for n in 0..(size - target).min(pool.len() as u32) {
            let Some(id) = select(
                &candidates,
                &ctx.spec.termination_policies,
                ctx.observed.current_template_version,
                ctx.now,
            ) else {
                break;
            };
            candidates.retain(|c| c.id != id);
            ctx.actions.push(Action::Terminate {
                cause: cause::warm_pool_trim(ctx.now, size - n, size - n - 1, &id),
                id: id.clone(),
                failed_launch: None,
            });
            ctx.leave(&id);
        }
    }
}
