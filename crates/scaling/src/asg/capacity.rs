//! Step 4 of a decision: bring the group to its capacity target — desired capacity, plus one
//! while a rebalancing launch is in flight, plus the surge an instance refresh allows.
//!
//! Below the target, warm pool instances go first (they are booted, so they serve sooner),
//! then new launches into the emptiest zone, slowed down while launches keep failing. Above
//! it, instances are drained (or returned to the warm pool with `reuse_on_scale_in`), chosen by
//! AZ balance and the termination policies; protected instances are never chosen.

use std::collections::BTreeMap;

use model::{AvailabilityZone, LifecycleState, ScalingProcess};

use super::{Action, Ctx, InstanceView};
use crate::cause;
use crate::placement::{SubnetSlot, choose_subnet};
use crate::termination::{Candidate, select};

pub(super) fn step(ctx: &mut Ctx<'_>, refresh_surge: u32) {
    let staying = ctx.staying();
    let current = staying.len() as u32;
    let desired = ctx.next.desired_capacity;
    let target = desired + u32::from(ctx.next.rebalance.is_some()) + refresh_surge;
    if current < target {
        scale_out(ctx, &staying, current, target);
    } else if current > target {
        scale_in(ctx, &staying, current, target);
    }
}

fn scale_out(ctx: &mut Ctx<'_>, staying: &[&InstanceView], current: u32, target: u32) {
    let desired = ctx.next.desired_capacity;
    let prefix = ctx.take_prefix();
    let mut need = target - current;
    if ctx.spec.suspended(ScalingProcess::Launch) {
        ctx.short = need;
        ctx.wait("the Launch process is suspended");
        return;
    }
    let base_cause = if ctx.next.active_refresh().is_some() {
        cause::refresh_launch(ctx.now)
    } else if ctx.next.rebalance.is_some() && current >= desired {
        cause::rebalance_launch(ctx.now)
    } else {
        cause::capacity_increase(ctx.now, current, target)
    };
    let cause_for = |ctx: &mut Ctx<'_>| {
        if ctx.unhealthy_replaced > 0 {
            ctx.unhealthy_replaced -= 1;
            format!("{prefix}{}", cause::unhealthy_replacement(ctx.now))
        } else {
            format!("{prefix}{base_cause}")
        }
    };

    // Warm pool first: booted instances, in zones that keep the group balanced.
    let mut zones = zone_counts(staying);
    while need > 0 {
        let Some(warm) = pick_warm(ctx, &zones) else {
            break;
        };
        let cause = cause_for(ctx);
        *zones.entry(warm.availability_zone.clone()).or_default() += 1;
        ctx.from_pool.insert(warm.id.clone());
        ctx.actions.push(Action::LeaveWarmPool {
            id: warm.id.clone(),
            cause,
        });
        need -= 1;
    }
    if need == 0 {
        return;
    }

    // Then new launches, held back while launches keep failing.
    let mut budget = need;
    if ctx.next.launch_failures > 0 {
        let retry_at = ctx.next.next_launch_at().unwrap_or(ctx.now);
        let launching = staying.iter().any(|i| {
            matches!(
                i.lifecycle,
                LifecycleState::Pending | LifecycleState::PendingWait
            )
        });
        if ctx.now < retry_at {
            budget = 0;
            ctx.wait(format!(
                "{} consecutive launches failed; next attempt in {} s",
                ctx.next.launch_failures,
                retry_at.since(ctx.now).as_secs().max(1)
            ));
        } else if launching {
            budget = 0;
            ctx.wait("probing with one launch while launches are failing");
        } else {
            budget = 1;
        }
    }
    let slots = plan_launches(ctx, staying, budget, false);
    if slots.len() < budget as usize {
        ctx.wait("no availability zone of the group can take a launch now");
    }
    ctx.short = need - slots.len() as u32;
    for slot in slots {
        let cause = cause_for(ctx);
        ctx.launched.push((slot.availability_zone.clone(), false));
        ctx.actions.push(Action::Launch {
            subnet: slot.subnet.clone(),
            availability_zone: slot.availability_zone.clone(),
            cause,
            warm_pool: false,
        });
    }
    if ctx.short > 0 && !prefix.is_empty() {
        // Keep the user's reason for the launches that come after the wait.
        ctx.next.desired_cause = Some(prefix.trim_end().to_owned());
    }
}

/// A warm instance that is ready (`Warmed:Stopped` or `Warmed:Running`) in one of the zones
/// with the fewest group instances; the current launch template version first.
fn pick_warm<'a>(
    ctx: &Ctx<'a>,
    zones: &BTreeMap<AvailabilityZone, u32>,
) -> Option<&'a InstanceView> {
    let enabled: Vec<&AvailabilityZone> = ctx
        .observed
        .subnets
        .iter()
        .map(|s| &s.availability_zone)
        .filter(|z| !ctx.observed.impaired_zones.contains(z))
        .collect();
    let count = |z: &AvailabilityZone| zones.get(z).copied().unwrap_or(0);
    let fewest = enabled.iter().map(|z| count(z)).min()?;
    // A refresh must not bring back the configuration it is replacing.
    let refreshing = ctx.next.active_refresh().is_some();
    ctx.pool()
        .into_iter()
        .filter(|i| {
            !refreshing || i.launch_template_version == ctx.observed.current_template_version
        })
        .filter(|i| {
            matches!(
                i.lifecycle,
                LifecycleState::WarmedStopped | LifecycleState::WarmedRunning
            ) && i.is_running()
                && enabled.contains(&&i.availability_zone)
                && count(&i.availability_zone) == fewest
        })
        .min_by_key(|i| {
            (
                i.launch_template_version != ctx.observed.current_template_version,
                i.lifecycle != LifecycleState::WarmedRunning,
                i.launched_at,
                i.id.clone(),
            )
        })
}

fn scale_in(ctx: &mut Ctx<'_>, staying: &[&InstanceView], current: u32, target: u32) {
    let prefix = ctx.take_prefix();
    if ctx.spec.suspended(ScalingProcess::Terminate) {
        ctx.wait("the Terminate process is suspended");
        return;
    }
    let reuse = ctx
        .spec
        .warm_pool
        .as_ref()
        .is_some_and(|p| p.reuse_on_scale_in);
    let mut candidates: Vec<Candidate> = staying.iter().map(|i| candidate(ctx, i)).collect();
    for _ in target..current {
        let Some(id) = select(
            &candidates,
            &ctx.spec.termination_policies,
            ctx.observed.current_template_version,
            ctx.now,
        ) else {
            ctx.wait(
                "Could not scale to desired capacity because all remaining instances are \
                 protected from scale-in.",
            );
            break;
        };
        candidates.retain(|c| c.id != id);
        let cause = format!(
            "{prefix}{}",
            cause::capacity_decrease(ctx.now, current, target, &id)
        );
        ctx.leave(&id);
        ctx.actions.push(Action::Deregister {
            id,
            cause,
            to_warm_pool: reuse,
        });
    }
}

pub(crate) fn candidate(ctx: &Ctx<'_>, i: &InstanceView) -> Candidate {
    Candidate {
        id: i.id.clone(),
        availability_zone: i.availability_zone.clone(),
        launched_at: i.launched_at,
        launch_template_version: i.launch_template_version,
        protected_from_scale_in: i.protected_from_scale_in,
        zone_enabled: ctx.zone_enabled(&i.availability_zone),
    }
}

pub(super) fn zone_counts(instances: &[&InstanceView]) -> BTreeMap<AvailabilityZone, u32> {
    let mut by_zone = BTreeMap::new();
    for i in instances {
        *by_zone.entry(i.availability_zone.clone()).or_default() += 1;
    }
    by_zone
}

/// Instances per zone without copying zone names (decisions run every tick; this is the
/// cheap form for the common "is anything to do?" checks).
pub(super) struct ZoneCounts<'a>(Vec<(&'a AvailabilityZone, u32)>);

impl<'a> ZoneCounts<'a> {
    pub fn of(instances: &[&'a InstanceView]) -> Self {
        let mut v: Vec<(&'a AvailabilityZone, u32)> = Vec::with_capacity(4);
        for i in instances {
            match v.iter_mut().find(|(z, _)| *z == &i.availability_zone) {
                Some((_, n)) => *n += 1,
                None => v.push((&i.availability_zone, 1)),
            }
        }
        ZoneCounts(v)
    }

    pub fn get(&self, zone: &AvailabilityZone) -> u32 {
        self.0
            .iter()
            .find(|(z, _)| *z == zone)
            .map_or(0, |(_, n)| *n)
    }
}

/// Subnets for `budget` launches: each into the zone (then subnet) with the fewest of
/// `members` plus the launches planned before it (group launches only, or — for the warm
/// pool, which is spread with the group so that its instances sit where the group's next
/// launches will go — every launch).
pub(super) fn plan_launches<'a>(
    ctx: &Ctx<'a>,
    members: &[&InstanceView],
    budget: u32,
    warm_pool: bool,
) -> Vec<&'a SubnetSlot> {
    let mut by_zone = zone_counts(members);
    let mut by_subnet: BTreeMap<String, u32> = BTreeMap::new();
    for i in members {
        *by_subnet.entry(i.subnet.clone()).or_default() += 1;
    }
    for (zone, pool) in &ctx.launched {
        if warm_pool || !*pool {
            *by_zone.entry(zone.clone()).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for _ in 0..budget {
        let Some(slot) = choose_subnet(
            ctx.observed.subnets,
            &by_zone,
            &by_subnet,
            ctx.observed.impaired_zones,
        ) else {
            break;
        };
        *by_zone.entry(slot.availability_zone.clone()).or_default() += 1;
        *by_subnet.entry(slot.subnet.clone()).or_default() += 1;
        out.push(slot);
    }
    out
}
