//! Which instance to terminate on scale-in.
//!
//! AWS's order:
//! 0. instances in a zone the group no longer uses go first (they are what AZ rebalancing
//!    would remove anyway);
//! 1. availability-zone balance: the zone with the most instances that has at least one
//!    instance not protected from scale-in (protected instances count toward the zone's size
//!    but are never chosen); when zones tie, all of them (the policies then choose across the
//!    balanced zones);
//! 2. the group's termination policies in list order, each narrowing the candidates, then
//!    `Default`, which is:
//!    a. allocation strategy (one instance type, no Spot here: keeps everyone),
//!    b. outdated configuration: another launch template, then the oldest version of the
//!    current one,
//!    c. the instance closest to its next billing hour,
//!    d. random. "Random" is a hash of the candidates and `now`, so that a decision replays
//!    exactly from its inputs.

use std::collections::BTreeMap;

use model::{AvailabilityZone, InstanceId, TerminationPolicy, Timestamp};

/// The `launch_template_version` of an instance launched from another launch template than
/// the group's current one (the group was switched to a different template resource): template
/// versions start at 1, so it ranks first among outdated instances and never matches.
pub const OTHER_TEMPLATE: u32 = 0;

/// What termination needs to know about one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: InstanceId,
    pub availability_zone: AvailabilityZone,
    pub launched_at: Timestamp,
    pub launch_template_version: u32,
    pub protected_from_scale_in: bool,
    /// Whether the instance's zone is still one of the group's.
    pub zone_enabled: bool,
}

/// Picks one instance to terminate, or `None` when every candidate is protected.
pub fn select(
    candidates: &[Candidate],
    policies: &[TerminationPolicy],
    current_template_version: u32,
    now: Timestamp,
) -> Option<InstanceId> {
    select_among(candidates, &[], policies, current_template_version, now)
}

/// [`select`] when only some of a group's instances may go (an instance refresh replaces only
/// outdated ones): zone sizes count `others` too, so the choice still balances the group.
pub fn select_among(
    candidates: &[Candidate],
    others: &[AvailabilityZone],
    policies: &[TerminationPolicy],
    current_template_version: u32,
    now: Timestamp,
) -> Option<InstanceId> {
    let unprotected: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.protected_from_scale_in)
        .collect();
    if unprotected.is_empty() {
        return None;
    }
    // 0. Zones the group no longer uses.
    let outside: Vec<&Candidate> = unprotected
        .iter()
        .copied()
        .filter(|c| !c.zone_enabled)
        .collect();
    let unprotected = if outside.is_empty() {
        unprotected
    } else {
        outside
    };
    // 1. AZ balance: the zones with the most instances (protected ones count toward a zone's
    //    size) among zones that have an unprotected instance. When several zones tie, the
    //    policies choose across all of them, as AWS applies them "across all AZs if they are
    //    balanced".
    let mut per_zone: BTreeMap<&AvailabilityZone, usize> = BTreeMap::new();
    for zone in candidates
        .iter()
        .map(|c| &c.availability_zone)
        .chain(others)
    {
        *per_zone.entry(zone).or_default() += 1;
    }
    let most = unprotected
        .iter()
        .map(|c| per_zone[&c.availability_zone])
        .max()?;
    let mut pool: Vec<&Candidate> = unprotected
        .into_iter()
        .filter(|c| per_zone[&c.availability_zone] == most)
        .collect();

    // 2. Policies in order; Default is always applied last.
    let default = [TerminationPolicy::Default];
    for policy in policies.iter().chain(default.iter()) {
        pool = narrow(pool, *policy, current_template_version, now);
        if pool.len() == 1 {
            break;
        }
    }
    random(&pool, now).map(|c| c.id.clone())
}

/// AWS's final tie-break is random; here it is a hash of the candidates' ids and `now`, so
/// ties spread over instances without making the decision depend on anything but its inputs.
fn random<'a>(pool: &[&'a Candidate], now: Timestamp) -> Option<&'a Candidate> {
    pool.iter()
        .copied()
        .min_by_key(|c| mix(fnv(c.id.as_str()) ^ now.as_millis() as u64))
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn narrow(
    pool: Vec<&Candidate>,
    policy: TerminationPolicy,
    current_version: u32,
    now: Timestamp,
) -> Vec<&Candidate> {
    let keep_min = |key: &dyn Fn(&Candidate) -> i64| {
        let best = pool.iter().map(|c| key(c)).min().unwrap_or(0);
        pool.iter()
            .copied()
            .filter(|c| key(c) == best)
            .collect::<Vec<_>>()
    };
    match policy {
        // One instance type, no Spot, no launch configurations: nothing to tell apart.
        TerminationPolicy::AllocationStrategy | TerminationPolicy::OldestLaunchConfiguration => {
            pool
        }
        TerminationPolicy::OldestInstance => keep_min(&|c| c.launched_at.as_millis()),
        TerminationPolicy::NewestInstance => keep_min(&|c| -c.launched_at.as_millis()),
        TerminationPolicy::OldestLaunchTemplate => keep_min(&|c| outdated_rank(c, current_version)),
        TerminationPolicy::ClosestToNextInstanceHour => keep_min(&|c| millis_to_next_hour(c, now)),
        TerminationPolicy::Default => {
            let pool = keep_min(&|c| outdated_rank(c, current_version));
            let best = pool
                .iter()
                .map(|c| millis_to_next_hour(c, now))
                .min()
                .unwrap_or(0);
            pool.into_iter()
                .filter(|c| millis_to_next_hour(c, now) == best)
                .collect()
        }
    }
}

/// Instances from another template ([`OTHER_TEMPLATE`], 0) rank first, then older versions
/// of the current template by version number; the current version ranks last.
fn outdated_rank(c: &Candidate, current_version: u32) -> i64 {
    if c.launch_template_version == current_version {
        i64::MAX
    } else {
        i64::from(c.launch_template_version)
    }
}

fn millis_to_next_hour(c: &Candidate, now: Timestamp) -> i64 {
    let age = now.as_millis() - c.launched_at.as_millis();
    3_600_000 - age.rem_euclid(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: u128, zone: &str, launched_s: i64, version: u32) -> Candidate {
        Candidate {
            id: InstanceId::from_bits(id),
            availability_zone: AvailabilityZone::new(zone),
            launched_at: Timestamp::from_secs(launched_s),
            launch_template_version: version,
            protected_from_scale_in: false,
            zone_enabled: true,
        }
    }

    #[test]
    fn az_balance_comes_first() {
        let pool = [c(1, "a", 0, 1), c(2, "b", 0, 1), c(3, "b", 10, 1)];
        let now = Timestamp::from_secs(100);
        let chosen = select(&pool, &[TerminationPolicy::Default], 1, now).unwrap();
        assert!(chosen == pool[1].id || chosen == pool[2].id);
    }

    #[test]
    fn default_prefers_outdated_template_then_closest_to_next_hour() {
        let now = Timestamp::from_secs(3500);
        let pool = [c(1, "a", 0, 1), c(2, "a", 3000, 2), c(3, "a", 100, 2)];
        assert_eq!(select(&pool, &[], 2, now).unwrap(), pool[0].id);
        // All current: i-1 is gone; instance launched at 0 s is 100 s from its hour.
        let pool = [c(2, "a", 3000, 2), c(3, "a", 0, 2)];
        assert_eq!(select(&pool, &[], 2, now).unwrap(), pool[1].id);
    }

    #[test]
    fn oldest_and_newest_policies() {
        let now = Timestamp::from_secs(10_000);
        let pool = [c(1, "a", 50, 1), c(2, "a", 10, 1), c(3, "a", 90, 1)];
        let oldest = select(&pool, &[TerminationPolicy::OldestInstance], 1, now);
        let newest = select(&pool, &[TerminationPolicy::NewestInstance], 1, now);
        assert_eq!(oldest.unwrap(), pool[1].id);
        assert_eq!(newest.unwrap(), pool[2].id);
    }

    #[test]
    fn balanced_zones_let_the_policy_choose_across_them() {
        let now = Timestamp::from_secs(10_000);
        // One instance per zone: OldestInstance takes the oldest whichever its zone.
        let pool = [c(1, "a", 90, 1), c(2, "b", 10, 1), c(3, "c", 50, 1)];
        let oldest = select(&pool, &[TerminationPolicy::OldestInstance], 1, now);
        assert_eq!(oldest.unwrap(), pool[1].id);
        let newest = select(&pool, &[TerminationPolicy::NewestInstance], 1, now);
        assert_eq!(newest.unwrap(), pool[0].id);
        // Unbalanced: the fuller zone wins even over an older instance elsewhere.
        let pool = [c(1, "a", 90, 1), c(2, "a", 80, 1), c(3, "b", 10, 1)];
        let oldest = select(&pool, &[TerminationPolicy::OldestInstance], 1, now);
        assert_eq!(oldest.unwrap(), pool[1].id);
    }

    #[test]
    fn oldest_launch_template_takes_the_oldest_version_first() {
        let now = Timestamp::from_secs(10_000);
        // Versions 3 (current), 1 and 2: version 1 goes, then 2, then the current ones by
        // the Default tie-breaks (closest to the next billing hour).
        let pool = [
            c(1, "a", 100, 3),
            c(2, "a", 900, 2),
            c(3, "a", 500, 1),
            c(4, "a", 0, 3),
        ];
        let p = [TerminationPolicy::OldestLaunchTemplate];
        assert_eq!(select(&pool, &p, 3, now).unwrap(), pool[2].id);
        assert_eq!(select(&pool[..2], &p, 3, now).unwrap(), pool[1].id);
        let current = [pool[0].clone(), pool[3].clone()];
        // At 10,000 s, i-1 is 9,900 s old (900 s to its next hour), i-4 10,000 s (800 s):
        // i-4 is closer.
        assert_eq!(select(&current, &p, 3, now).unwrap(), pool[3].id);
    }

    #[test]
    fn instances_from_another_template_go_before_old_versions() {
        let now = Timestamp::from_secs(10_000);
        let pool = [
            c(1, "a", 100, 1),
            c(2, "a", 900, OTHER_TEMPLATE),
            c(3, "a", 0, 2),
        ];
        for p in [&[][..], &[TerminationPolicy::OldestLaunchTemplate][..]] {
            assert_eq!(select(&pool, p, 2, now).unwrap(), pool[1].id);
        }
    }

    #[test]
    fn closest_to_next_instance_hour_comes_before_the_template_when_listed_first() {
        let now = Timestamp::from_secs(3_500);
        // i-1 (outdated) is 3,400 s old: 200 s to its hour; i-2 (current) is 3,500 s old:
        // 100 s to its hour.
        let pool = [c(1, "a", 100, 1), c(2, "a", 0, 2)];
        let closest = [TerminationPolicy::ClosestToNextInstanceHour];
        assert_eq!(select(&pool, &closest, 2, now).unwrap(), pool[1].id);
        // Default alone looks at the template first.
        assert_eq!(select(&pool, &[], 2, now).unwrap(), pool[0].id);
        // Listed order matters: the template first, then the hour.
        let both = [
            TerminationPolicy::OldestLaunchTemplate,
            TerminationPolicy::ClosestToNextInstanceHour,
        ];
        assert_eq!(select(&pool, &both, 2, now).unwrap(), pool[0].id);
    }

    #[test]
    fn remaining_ties_are_broken_by_a_replayable_hash() {
        // Same launch second, same version, same billing minute: a tie.
        let pool: Vec<_> = (1..=6).map(|i| c(i, "a", 0, 1)).collect();
        let picks: std::collections::BTreeSet<_> = (0..50)
            .map(|s| select(&pool, &[], 1, Timestamp::from_secs(s)).unwrap())
            .collect();
        assert!(picks.len() > 1, "ties always went to {picks:?}");
        let now = Timestamp::from_secs(7);
        assert_eq!(select(&pool, &[], 1, now), select(&pool, &[], 1, now));
    }

    #[test]
    fn instances_outside_the_groups_zones_go_first() {
        let mut pool = [c(1, "a", 0, 1), c(2, "a", 0, 1), c(3, "z", 500, 1)];
        pool[2].zone_enabled = false;
        let now = Timestamp::from_secs(1000);
        assert_eq!(select(&pool, &[], 1, now).unwrap(), pool[2].id);
    }

    #[test]
    fn allocation_strategy_and_launch_configuration_policies_are_accepted_no_ops() {
        let now = Timestamp::from_secs(3500);
        let pool = [c(1, "a", 0, 1), c(2, "a", 3000, 1)];
        let policies = [
            TerminationPolicy::AllocationStrategy,
            TerminationPolicy::OldestLaunchConfiguration,
        ];
        // Falls through to Default: closest to the next billing hour.
        assert_eq!(select(&pool, &policies, 1, now).unwrap(), pool[0].id);
    }

    #[test]
    fn protected_instances_are_never_chosen() {
        let mut pool = [c(1, "a", 0, 1), c(2, "b", 0, 1)];
        pool[0].protected_from_scale_in = true;
        assert_eq!(select(&pool, &[], 1, Timestamp::EPOCH).unwrap(), pool[1].id);
        pool[1].protected_from_scale_in = true;
        assert_eq!(select(&pool, &[], 1, Timestamp::EPOCH), None);
    }
}
