//! Step 2 of a decision: `max_instance_lifetime`. An instance InService longer than the
//! lifetime is replaced — terminate first, then launch, as AWS does by default — one at a time
//! while the group is settled (at desired capacity, every instance proven healthy and past
//! `default_instance_warmup`), or up to 10% of the group at once when instances have been
//! overdue for more than an hour (AWS: "if the lifetime doesn't provide enough time to replace
//! each instance individually … up to 10% of the current capacity"). Protected instances are
//! left alone, as AWS suggests protection for holding an instance back.

use std::time::Duration;

use model::{LifecycleState, ScalingProcess};

use super::{Action, Ctx, InstanceView};
use crate::cause;

/// Overdue this long, instances are replaced several at a time.
const BEHIND: Duration = Duration::from_secs(3600);

pub(super) fn step(ctx: &mut Ctx<'_>) {
    let Some(lifetime) = ctx.spec.max_instance_lifetime else {
        return;
    };
    if ctx.spec.suspended(ScalingProcess::Terminate)
        || ctx.spec.suspended(ScalingProcess::Launch)
        || ctx.next.active_refresh().is_some()
    {
        return;
    }
    let mut expired: Vec<&InstanceView> = ctx
        .instances()
        .iter()
        .filter(|i| {
            i.lifecycle == LifecycleState::InService
                && !i.protected_from_scale_in
                && !ctx.leaving.contains(&i.id)
                && ctx.now.since(i.launched_at) >= lifetime
        })
        .collect();
    if expired.is_empty() {
        return;
    }
    let staying = ctx.staying();
    expired.sort_by_key(|i| (i.launched_at, i.id.clone()));
    // A replacement in progress: not yet proven healthy and warmed up.
    let warmup = ctx.spec.default_instance_warmup.unwrap_or_default();
    let launching = staying
        .iter()
        .filter(|i| !ctx.healthy_ready(i, warmup))
        .count();
    let at_capacity = staying.len() as u32 >= ctx.next.desired_capacity;
    let overdue = ctx.now.since(expired[0].launched_at) >= lifetime + BEHIND;
    let batch = match (overdue, at_capacity && launching == 0) {
        (true, _) => (staying.len() / 10).max(1).saturating_sub(launching),
        (false, true) => 1,
        (false, false) => 0,
    };
    for inst in expired.into_iter().take(batch) {
        ctx.actions.push(Action::Deregister {
            id: inst.id.clone(),
            cause: cause::lifetime_terminate(ctx.now, &inst.id),
            to_warm_pool: false,
        });
        ctx.leave(&inst.id);
    }
}
