//! Addresses for new instances: each instance gets its own address in its subnet's loopback
//! block, so every instance can listen on the target group's port just as EC2 instances do.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use ipnet::Ipv4Net;

/// The first address of `block` (in [`model::network::instance_addresses`] order) that no live
/// instance uses and where `probe` says `port` is free. `None` when the block is full.
pub fn allocate(
    block: Ipv4Net,
    port: u16,
    in_use: &HashSet<Ipv4Addr>,
    probe: impl Fn(SocketAddr) -> bool,
) -> Option<Ipv4Addr> {
    model::network::instance_addresses(block)
        .filter(|ip| !in_use.contains(ip))
        .find(|ip| probe(SocketAddr::from((*ip, port))))
}

/// Whether a TCP listener could bind `addr` right now (another stack, or a process updraft did
/// not start, may hold it).
pub fn port_is_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_used_and_busy_addresses() {
        let block: Ipv4Net = "127.0.3.0/24".parse().unwrap();
        let used: HashSet<_> = [Ipv4Addr::new(127, 0, 3, 2)].into();
        let busy = Ipv4Addr::new(127, 0, 3, 3);
        let got = allocate(block, 8080, &used, |a| a.ip() != std::net::IpAddr::V4(busy));
        assert_eq!(got, Some(Ipv4Addr::new(127, 0, 3, 4)));
        assert_eq!(allocate(block, 8080, &used, |_| false), None);
    }

    #[test]
    fn probes_real_sockets() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(!port_is_free(held.local_addr().unwrap()));
        drop(held);
    }
}
