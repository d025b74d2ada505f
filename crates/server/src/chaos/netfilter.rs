//! `partition-az` with nftables: one table per drill that drops every packet between the zone's
//! loopback blocks and any other address, in both directions (traffic inside the zone still
//! flows, as inside a partitioned AZ).
//!
//! Why nftables on the host and not a network namespace per AZ: with the loopback-per-AZ design
//! every instance lives in the host's network namespace and listens on a `127.0.z.0/24` address
//! of its `lo`. A namespace has its own `lo`, and the kernel never routes 127.0.0.0/8 between
//! interfaces (such packets are martians; `route_localnet` only relaxes this for
//! `ip route`-forwarded packets on one host, not across veth pairs into another namespace's
//! `lo`). Moving an AZ into a namespace would mean giving its instances non-loopback addresses
//! on veth pairs and launching them inside the namespace — a different compute model. Filtering
//! the zone's blocks in the host namespace cuts exactly the same paths (balancer → targets,
//! health checks, instance → other zones) and leaves everything else on the machine alone.
//!
//! The ruleset text is built here (pure); [`apply`] and [`delete`] run `nft`.

use std::process::Stdio;

use ipnet::Ipv4Net;
use tokio::io::AsyncWriteExt;

/// Prefix of every table updraft creates; followed by the stack scope and the drill id.
pub const TABLE_PREFIX: &str = "updraft_";

/// The table name of `drill` in the stack `scope` (letters, digits and `_` only).
pub fn table_name(scope: &str, drill: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    format!("{TABLE_PREFIX}{}_{}", clean(scope), clean(drill))
}

/// The nftables script that partitions `blocks` off: created atomically with `nft -f -`.
pub fn ruleset(table: &str, blocks: &[Ipv4Net]) -> String {
    let set = blocks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    // Output sees every locally generated packet, loopback included; input catches the rest.
    format!(
        "table inet {table} {{
  set zone {{ type ipv4_addr; flags interval; elements = {{ {set} }} }}
  chain output {{
    type filter hook output priority -10; policy accept;
    ip saddr @zone ip daddr @zone accept
    ip daddr @zone drop
    ip saddr @zone drop
  }}
  chain input {{
    type filter hook input priority -10; policy accept;
    ip saddr @zone ip daddr @zone accept
    ip daddr @zone drop
    ip saddr @zone drop
  }}
}}
"
    )
}

/// Whether this host can run `partition-az`: root, and an `nft` that works.
pub async fn available() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("partition-az needs root (it installs nftables rules); run updraft as root, or use stop-az / errors / latency instead".into());
    }
    let out = tokio::process::Command::new("nft")
        .args(["list", "tables"])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            format!("partition-az needs the `nft` command (Debian package nftables): {e}")
        })?;
    if !out.status.success() {
        return Err(format!(
            "nftables does not work here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Installs the partition.
pub async fn apply(table: &str, blocks: &[Ipv4Net]) -> Result<(), String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(ruleset(table, blocks).as_bytes())
            .await
            .map_err(|e| format!("cannot feed nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("nft failed: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft refused the partition: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes a partition; a table that is already gone is fine.
pub async fn delete(table: &str) -> Result<(), String> {
    let out = tokio::process::Command::new("nft")
        .args(["delete", "table", "inet", table])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run nft: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || stderr.contains("No such file") {
        Ok(())
    } else {
        Err(format!(
            "nft could not delete table {table}: {}",
            stderr.trim()
        ))
    }
}

/// Tables of stack `scope` that exist now (to remove the ones no drill owns after a crash).
pub async fn tables_of(scope: &str) -> Vec<String> {
    let prefix = table_name(scope, "");
    let Ok(out) = tokio::process::Command::new("nft")
        .args(["list", "tables"])
        .stdin(Stdio::null())
        .output()
        .await
    else {
        return vec![];
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("table inet "))
        .filter(|t| t.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_nft_identifiers() {
        assert_eq!(
            table_name("stack-0a1b2c3d", "drill-9f"),
            "updraft_stack_0a1b2c3d_drill_9f"
        );
    }

    #[test]
    fn the_ruleset_drops_both_directions_but_keeps_the_zone_talking_to_itself() {
        let r = ruleset(
            "updraft_x_d1",
            &[
                "127.0.1.0/24".parse().unwrap(),
                "127.9.1.0/24".parse().unwrap(),
            ],
        );
        assert!(r.starts_with("table inet updraft_x_d1 {"));
        assert!(r.contains("elements = { 127.0.1.0/24, 127.9.1.0/24 }"));
        assert_eq!(r.matches("ip daddr @zone drop").count(), 2);
        assert_eq!(r.matches("ip saddr @zone drop").count(), 2);
        let accept = r.find("ip saddr @zone ip daddr @zone accept").unwrap();
        assert!(accept < r.find("ip daddr @zone drop").unwrap());
    }
}
