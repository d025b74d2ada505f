//! AZ rebalancing (AWS's `AZRebalance` process): when a group is at its desired capacity but
//! its zones are out of balance by more than one instance — typically after a zone outage, when
//! replacements went to the surviving zones — it launches one instance in the emptiest zone
//! first; the scale-in that follows (one above desired) then terminates one in the fullest zone,
//! because termination balances zones first. Launch-before-terminate keeps capacity up the
//! whole time, as on AWS.

use std::collections::BTreeMap;

use model::{AvailabilityZone, LifecycleState, Timestamp};

use crate::asg::{InstanceView, Observed};
use crate::placement::{SubnetSlot, choose_subnet};

/// The subnet to launch into to rebalance the group, if it needs it and is calm enough: every
/// instance InService, no launch failing.
pub fn launch<'a>(
    instances: &[InstanceView],
    observed: &Observed<'a>,
    launch_failures: u32,
) -> Option<&'a SubnetSlot> {
    if launch_failures > 0
        || instances.is_empty()
        || instances
            .iter()
            .any(|i| i.lifecycle != LifecycleState::InService)
    {
        return None;
    }
    let mut by_zone: BTreeMap<AvailabilityZone, u32> = observed
        .subnets
        .iter()
        .filter(|s| !observed.impaired_zones.contains(&s.availability_zone))
        .map(|s| (s.availability_zone.clone(), 0))
        .collect();
    let mut by_subnet: BTreeMap<String, u32> = BTreeMap::new();
    for i in instances {
        if let Some(n) = by_zone.get_mut(&i.availability_zone) {
            *n += 1;
        }
        *by_subnet.entry(i.subnet.clone()).or_default() += 1;
    }
    let max = by_zone.values().copied().max()?;
    let min = by_zone.values().copied().min()?;
    if max - min <= 1 {
        return None;
    }
    choose_subnet(
        observed.subnets,
        &by_zone,
        &by_subnet,
        observed.impaired_zones,
    )
}

/// The activity cause of a rebalancing launch, in AWS's words.
pub fn cause(now: Timestamp, zones: &[&AvailabilityZone]) -> String {
    let names: Vec<&str> = zones.iter().map(|z| z.as_str()).collect();
    format!(
        "At {now} instances were launched to balance instances in zones {} with other zones \
         resulting in more than desired number of instances in the group.",
        names.join(" ")
    )
}
