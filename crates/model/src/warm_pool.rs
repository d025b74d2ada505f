//! `warm_pool`: pre-initialised instances kept beside a group, so that scale-out takes a booted
//! instance instead of launching a cold one. A `Stopped` warm instance is a booted process that
//! is frozen (cgroup freezer, or SIGSTOP where there is none); a `Running` one keeps running
//! without being registered with a load balancer.

use serde::{Deserialize, Serialize};

/// `pool_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WarmPoolState {
    /// Booted, then frozen: uses memory, no CPU.
    Stopped,
    /// Booted and running, not registered.
    Running,
    /// Accepted as written; run like `Stopped` (a frozen process is what hibernation would
    /// give, and AWS itself falls back to Stopped when hibernation is not possible).
    Hibernated,
}

impl WarmPoolState {
    pub const NAMES: [&'static str; 3] = ["Stopped", "Running", "Hibernated"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Stopped" => Some(WarmPoolState::Stopped),
            "Running" => Some(WarmPoolState::Running),
            "Hibernated" => Some(WarmPoolState::Hibernated),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WarmPoolState::Stopped => "Stopped",
            WarmPoolState::Running => "Running",
            WarmPoolState::Hibernated => "Hibernated",
        }
    }

    /// Whether pool instances are frozen (Stopped and Hibernated are).
    pub fn frozen(self) -> bool {
        !matches!(self, WarmPoolState::Running)
    }
}

/// The `warm_pool` block of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmPool {
    pub pool_state: WarmPoolState,
    /// `min_size`: the pool never holds fewer (default 0).
    pub min_size: u32,
    /// `max_group_prepared_capacity`: instances in the group and the pool together; `None`
    /// (Terraform's `-1`, the default) means the group's `max_size`.
    pub max_group_prepared_capacity: Option<u32>,
    /// `instance_reuse_policy { reuse_on_scale_in }`: scale-in returns instances to the pool
    /// instead of terminating them (default false).
    pub reuse_on_scale_in: bool,
}

impl WarmPool {
    /// How many instances the pool should hold for a group at `desired` capacity: the prepared
    /// capacity (`max_group_prepared_capacity`, else `max_size`) minus desired, but at least
    /// `min_size`.
    pub fn target_size(&self, desired: u32, max_size: u32) -> u32 {
        let prepared = self.max_group_prepared_capacity.unwrap_or(max_size);
        prepared.saturating_sub(desired).max(self.min_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(min: u32, prepared: Option<u32>) -> WarmPool {
        WarmPool {
            pool_state: WarmPoolState::Stopped,
            min_size: min,
            max_group_prepared_capacity: prepared,
            reuse_on_scale_in: false,
        }
    }

    #[test]
    fn size_is_prepared_minus_desired_but_at_least_min_size() {
        // AWS's examples: max 10, desired 3 → 7; prepared 5 → 2; desired above prepared → min.
        assert_eq!(pool(0, None).target_size(3, 10), 7);
        assert_eq!(pool(0, Some(5)).target_size(3, 10), 2);
        assert_eq!(pool(1, Some(5)).target_size(8, 10), 1);
        assert_eq!(pool(0, None).target_size(10, 10), 0);
    }
}
