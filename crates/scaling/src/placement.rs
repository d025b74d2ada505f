//! Where to launch: AWS launches into the enabled availability zone with the fewest instances,
//! and when that zone cannot take a launch it tries another ("balanced-best-effort").

use std::collections::BTreeMap;

use model::AvailabilityZone;

/// One subnet a group may launch into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetSlot {
    pub subnet: String,
    pub availability_zone: AvailabilityZone,
}

/// Chooses the subnet for the next launch.
///
/// `counts` holds the instances already counted per zone (including launches planned earlier in
/// the same decision). Zones in `impaired` are skipped. Ties go to the zone listed first in the
/// group's subnets, and within a zone to the subnet with fewer instances, then the first listed,
/// so the choice is deterministic.
pub fn choose_subnet<'a>(
    slots: &'a [SubnetSlot],
    counts_by_zone: &BTreeMap<AvailabilityZone, u32>,
    counts_by_subnet: &BTreeMap<String, u32>,
    impaired: &[AvailabilityZone],
) -> Option<&'a SubnetSlot> {
    let count_zone = |z: &AvailabilityZone| counts_by_zone.get(z).copied().unwrap_or(0);
    let count_subnet = |s: &str| counts_by_subnet.get(s).copied().unwrap_or(0);
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| !impaired.contains(&s.availability_zone))
        .min_by_key(|(i, s)| {
            (
                count_zone(&s.availability_zone),
                count_subnet(&s.subnet),
                *i,
            )
        })
        .map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots() -> Vec<SubnetSlot> {
        ["a", "b", "c"]
            .iter()
            .map(|z| SubnetSlot {
                subnet: format!("sub-{z}"),
                availability_zone: AvailabilityZone::new(format!("us-east-1{z}")),
            })
            .collect()
    }

    #[test]
    fn fills_the_emptiest_zone_first_in_listed_order() {
        let s = slots();
        let mut zones = BTreeMap::new();
        let subnets = BTreeMap::new();
        assert_eq!(
            choose_subnet(&s, &zones, &subnets, &[]).unwrap().subnet,
            "sub-a"
        );
        zones.insert(AvailabilityZone::new("us-east-1a"), 1);
        assert_eq!(
            choose_subnet(&s, &zones, &subnets, &[]).unwrap().subnet,
            "sub-b"
        );
        zones.insert(AvailabilityZone::new("us-east-1b"), 1);
        zones.insert(AvailabilityZone::new("us-east-1c"), 1);
        assert_eq!(
            choose_subnet(&s, &zones, &subnets, &[]).unwrap().subnet,
            "sub-a"
        );
    }

    #[test]
    fn skips_impaired_zones() {
        let s = slots();
        let impaired = [AvailabilityZone::new("us-east-1a")];
        let chosen = choose_subnet(&s, &BTreeMap::new(), &BTreeMap::new(), &impaired).unwrap();
        assert_eq!(chosen.subnet, "sub-b");
        let all: Vec<_> = s.iter().map(|s| s.availability_zone.clone()).collect();
        assert!(choose_subnet(&s, &BTreeMap::new(), &BTreeMap::new(), &all).is_none());
    }
}
