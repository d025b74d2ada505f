//! Availability zones and subnets, and how they map onto loopback addresses.
//!
//! An availability zone is a failure domain. By default each AZ owns a loopback block: the AZ
//! whose name ends in `a` gets `127.0.1.0/24`, `b` gets `127.0.2.0/24`, and so on. A subnet whose
//! `cidr_block` is itself inside `127.0.0.0/8` is used as written, so tests (and people running
//! several stacks at once) can pick blocks that do not collide.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// An availability zone name such as `us-east-1a`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AvailabilityZone(pub String);

impl AvailabilityZone {
    pub fn new(name: impl Into<String>) -> Self {
        AvailabilityZone(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 1 for a zone ending in `a`, 2 for `b`, … 26 for `z`; `None` if the name does not end in a
    /// lowercase letter (AZ ids like `use1-az1` end in a digit and have no letter order).
    pub fn letter_index(&self) -> Option<u8> {
        let last = *self.0.as_bytes().last()?;
        last.is_ascii_lowercase().then(|| last - b'a' + 1)
    }

    /// The default loopback block of this zone: `127.0.<letter index>.0/24`.
    pub fn default_loopback_block(&self) -> Option<Ipv4Net> {
        let idx = self.letter_index()?;
        Ipv4Net::new(Ipv4Addr::new(127, 0, idx, 0), 24).ok()
    }
}

impl std::fmt::Display for AvailabilityZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `aws_subnet`: a slice of one availability zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// Terraform resource name (the block label).
    pub name: String,
    /// The subnet id other resources refer to (`aws_subnet.a.id`).
    pub id: String,
    pub availability_zone: AvailabilityZone,
    /// The block as written in the config (may be a VPC range such as `10.0.1.0/24`).
    pub cidr_block: Ipv4Net,
    /// Where instances of this subnet really live: `cidr_block` itself if it is a loopback
    /// range, otherwise the zone's default loopback block.
    pub loopback_block: Ipv4Net,
}

/// Chooses the loopback block for a subnet (see the module docs). `None` when the zone has no
/// letter suffix and the CIDR is not loopback: the caller reports that as a config error.
pub fn loopback_block_for(az: &AvailabilityZone, cidr: Ipv4Net) -> Option<Ipv4Net> {
    if cidr.addr().is_loopback() && cidr.prefix_len() >= 8 {
        Some(cidr.trunc())
    } else {
        az.default_loopback_block()
    }
}

/// Host addresses of a loopback block that instances may use, in allocation order. Skips the
/// network address, `.1` (kept free for the stack's own listeners) and the broadcast address.
pub fn instance_addresses(block: Ipv4Net) -> impl Iterator<Item = Ipv4Addr> {
    block.hosts().filter(|ip| ip.octets()[3] != 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_map_to_loopback_blocks_by_letter() {
        let a = AvailabilityZone::new("us-east-1a");
        let c = AvailabilityZone::new("eu-west-3c");
        assert_eq!(
            a.default_loopback_block().unwrap().to_string(),
            "127.0.1.0/24"
        );
        assert_eq!(
            c.default_loopback_block().unwrap().to_string(),
            "127.0.3.0/24"
        );
        assert_eq!(AvailabilityZone::new("use1-az1").letter_index(), None);
    }

    #[test]
    fn loopback_cidrs_are_used_as_written() {
        let a = AvailabilityZone::new("us-east-1a");
        let vpc: Ipv4Net = "10.0.1.0/24".parse().unwrap();
        let lo: Ipv4Net = "127.42.7.0/24".parse().unwrap();
        assert_eq!(
            loopback_block_for(&a, vpc).unwrap().to_string(),
            "127.0.1.0/24"
        );
        assert_eq!(loopback_block_for(&a, lo).unwrap(), lo);
    }

    #[test]
    fn instance_addresses_skip_the_listener_address() {
        let block: Ipv4Net = "127.0.2.0/24".parse().unwrap();
        let first: Vec<_> = instance_addresses(block).take(2).collect();
        assert_eq!(
            first,
            vec![Ipv4Addr::new(127, 0, 2, 2), Ipv4Addr::new(127, 0, 2, 3)]
        );
    }
}
