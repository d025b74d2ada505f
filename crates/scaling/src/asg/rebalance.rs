//! Step 5 of a decision: Availability Zone rebalancing, launch before terminate.
//!
//! Launch placement and scale-in selection keep a group balanced, but zones drift apart when a
//! zone could not take launches for a while (an outage), when protected instances pile up in
//! one zone, or when the group's subnets change. A settled group (at desired capacity, nothing
//! launching or waiting, no refresh) whose fullest zone has two more instances than its
//! emptiest usable zone — or that still has an instance in a zone it no longer uses — launches
//! one instance into the emptiest zone first. Once that instance is InService and proven, one
//! instance of the fullest zone (or of the abandoned zone) is drained. The group is above
//! desired by one while this happens, never above `max_size` + max(1, 10% of `max_size`).

use model::{LifecycleState, ScalingProcess};

use super::capacity::{ZoneCounts, candidate, plan_launches};
use super::{Action, Ctx, Rebalance};
use crate::cause;
use crate::termination::select;

pub(super) fn step(ctx: &mut Ctx<'_>) {
    if ctx.spec.suspended(ScalingProcess::AZRebalance)
        || ctx.spec.suspended(ScalingProcess::Launch)
        || ctx.spec.suspended(ScalingProcess::Terminate)
        || ctx.next.active_refresh().is_some()
    {
        ctx.next.rebalance = None;
        return;
    }
    let staying = ctx.staying();
    let current = staying.len() as u32;
    let desired = ctx.next.desired_capacity;
    let settled = staying.iter().all(|i| {
        i.lifecycle == LifecycleState::InService && i.is_running() && ctx.launch_succeeded(i)
    }) && !ctx.actions.iter().any(|a| {
        matches!(
            a,
            Action::Launch {
                warm_pool: false,
                ..
            }
        )
    });

    if let Some(r) = ctx.next.rebalance.clone() {
        if current <= desired || !settled {
            return; // the extra instance is still on its way (or being replaced)
        }
        let candidates: Vec<_> = staying.iter().map(|i| candidate(ctx, i)).collect();
        let Some(victim) = select(
            &candidates,
            &ctx.spec.termination_policies,
            ctx.observed.current_template_version,
            ctx.now,
        ) else {
            ctx.next.rebalance = None;
            return;
        };
        ctx.actions.push(Action::Deregister {
            cause: cause::rebalance_terminate(ctx.now, &r.zones, current, desired, &victim),
            id: victim.clone(),
            to_warm_pool: false,
        });
        ctx.leave(&victim);
        ctx.next.rebalance = None;
        return;
    }

    if current != desired || !settled || ctx.waiting.is_some() {
        return;
    }
    let ceiling = ctx.spec.max_size + (ctx.spec.max_size / 10).max(1);
    if current + 1 > ceiling {
        return;
    }
    let counts = ZoneCounts::of(&staying);
    let count = |z: &model::AvailabilityZone| counts.get(z);
    let Some(emptiest) = ctx
        .observed
        .subnets
        .iter()
        .map(|s| &s.availability_zone)
        .filter(|z| !ctx.observed.impaired_zones.contains(z))
        .map(count)
        .min()
    else {
        return;
    };
    // Instances rebalancing could move: unprotected ones in a zone the group no longer uses,
    // or in a zone two above the emptiest usable one.
    let movable: Vec<&super::InstanceView> = staying
        .iter()
        .copied()
        .filter(|i| {
            !i.protected_from_scale_in
                && (count(&i.availability_zone) >= emptiest + 2
                    || !ctx.zone_enabled(&i.availability_zone))
        })
        .collect();
    if movable.is_empty() {
        return;
    }
    let mut zones: Vec<String> = movable
        .iter()
        .map(|i| i.availability_zone.to_string())
        .collect();
    zones.sort();
    zones.dedup();
    let Some(slot) = plan_launches(ctx, &staying, 1, false).into_iter().next() else {
        return;
    };
    ctx.launched.push((slot.availability_zone.clone(), false));
    ctx.actions.push(Action::Launch {
        subnet: slot.subnet.clone(),
        availability_zone: slot.availability_zone.clone(),
        cause: cause::rebalance_launch(ctx.now),
        warm_pool: false,
    });
    ctx.next.rebalance = Some(Rebalance {
        desired,
        started_at: ctx.now,
        zones: zones.join(" "),
    });
}
