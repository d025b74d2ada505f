//! A simulated group: [`Fleet`] runs the real [`crate::decide`] on simulated time and applies
//! its actions to a small instance model — instances boot for [`InstanceModel::boot`] before
//! they pass a health check, warm pool instances start serving [`InstanceModel::warm_start`]
//! after they leave the pool — the way the controller applies them to real processes. Tests use
//! it to check what AWS would do; simulators (a day of seeded chaos, trace replays) use it to
//! run a group for hours in milliseconds.
//!
//! [`SplitMix64`] is the deterministic random source simulations use, so a seed replays the same
//! run on every platform and version.

use std::collections::BTreeMap;
use std::time::Duration;

use model::{
    AutoScalingGroup, AvailabilityZone, InstanceId, LifecycleHook, LifecycleState,
    TargetHealthState, Timestamp,
};

use crate::asg::{Action, Decision, GroupState, InstanceView, Observed, ProcessState, decide};
use crate::placement::SubnetSlot;

/// How simulated instances behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceModel {
    /// From launch until the application serves (and passes its first health check).
    pub boot: Duration,
    /// From leaving the warm pool until it serves again (it booted before it was frozen).
    pub warm_start: Duration,
}

impl Default for InstanceModel {
    fn default() -> Self {
        InstanceModel {
            boot: Duration::from_secs(2),
            warm_start: Duration::ZERO,
        }
    }
}

/// What a fleet did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetStats {
    pub launches: u32,
    pub warm_pool_launches: u32,
    pub warm_starts: u32,
    pub terminations: u32,
    pub deregistrations: u32,
}

/// A group and its simulated instances.
pub struct Fleet {
    pub spec: AutoScalingGroup,
    pub state: GroupState,
    pub instances: Vec<InstanceView>,
    pub subnets: Vec<SubnetSlot>,
    pub impaired_zones: Vec<AvailabilityZone>,
    pub lifecycle_hooks: Vec<LifecycleHook>,
    pub template_version: u32,
    pub deregistration_delay: Duration,
    pub has_target_groups: bool,
    pub model: InstanceModel,
    /// Every new launch dies at once (a broken user data script).
    pub launches_fail: bool,
    pub now: Timestamp,
    pub stats: FleetStats,
    /// When each instance's application serves.
    ready_at: BTreeMap<InstanceId, Timestamp>,
    next_id: u128,
}

impl Fleet {
    /// A fleet over `subnets` (one per zone if you like), starting at a fixed date.
    pub fn new(spec: AutoScalingGroup, subnets: Vec<SubnetSlot>) -> Fleet {
        let state = GroupState::new(&spec);
        Fleet {
            spec,
            state,
            instances: Vec::new(),
            subnets,
            impaired_zones: Vec::new(),
            lifecycle_hooks: Vec::new(),
            template_version: 1,
            deregistration_delay: Duration::from_secs(300),
            has_target_groups: true,
            model: InstanceModel::default(),
            launches_fail: false,
            now: Timestamp::from_secs(1_800_000_000),
            stats: FleetStats::default(),
            ready_at: BTreeMap::new(),
            next_id: 1,
        }
    }

    /// Subnets `a`, `b`, `c`… in zones `us-east-1a`, `us-east-1b`, …
    pub fn zones(letters: &str) -> Vec<SubnetSlot> {
        letters
            .chars()
            .map(|z| SubnetSlot {
                subnet: z.to_string(),
                availability_zone: AvailabilityZone::new(format!("us-east-1{z}")),
            })
            .collect()
    }

    /// One decision at the current time, applied.
    pub fn step(&mut self) -> Decision {
        let observed = Observed {
            instances: &self.instances,
            subnets: &self.subnets,
            impaired_zones: &self.impaired_zones,
            current_template_version: self.template_version,
            deregistration_delay: self.deregistration_delay,
            has_target_groups: self.has_target_groups,
            lifecycle_hooks: &self.lifecycle_hooks,
        };
        let d = decide(&self.spec, &self.state, observed, self.now);
        self.apply(&d);
        d
    }

    /// `secs` decisions, one second apart.
    pub fn run(&mut self, secs: u64) {
        for _ in 0..secs {
            self.step();
            self.advance(Duration::from_secs(1));
        }
    }

    /// Moves time on and lets the health checks see it.
    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.check_health();
    }

    /// Carries out a decision the way the controller does.
    pub fn apply(&mut self, d: &Decision) {
        self.state = d.state.clone();
        let now = self.now;
        for a in &d.actions {
            match a {
                Action::Launch {
                    subnet,
                    availability_zone,
                    warm_pool,
                    ..
                } => {
                    let id = InstanceId::from_bits(self.next_id);
                    self.next_id += 1;
                    if *warm_pool {
                        self.stats.warm_pool_launches += 1;
                    } else {
                        self.stats.launches += 1;
                    }
                    let lifecycle = if *warm_pool {
                        LifecycleState::WarmedPending
                    } else {
                        LifecycleState::Pending
                    };
                    let mut i = InstanceView::new(
                        id.clone(),
                        availability_zone.clone(),
                        subnet.clone(),
                        lifecycle,
                        now,
                        self.template_version,
                    );
                    i.protected_from_scale_in = self.spec.protect_from_scale_in && !warm_pool;
                    if self.launches_fail {
                        i.process = ProcessState::Exited {
                            detail: "exited with code 1".into(),
                        };
                    }
                    self.ready_at.insert(id, now + self.model.boot);
                    self.instances.push(i);
                }
                Action::WaitForLifecycleActions { id, state, actions } => {
                    if let Some(i) = self.get_mut(id) {
                        i.lifecycle = *state;
                        i.lifecycle_actions = actions.clone();
                        if *state == LifecycleState::TerminatingWait {
                            i.target_health = None;
                        }
                    }
                }
                Action::PutInService { id } => {
                    if let Some(i) = self.get_mut(id) {
                        i.lifecycle = LifecycleState::InService;
                        i.in_service_at = Some(now);
                        i.target_health = Some(TargetHealthState::Initial);
                        i.lifecycle_actions.clear();
                    }
                }
                Action::Deregister {
                    id, to_warm_pool, ..
                } => {
                    self.stats.deregistrations += 1;
                    if let Some(i) = self.get_mut(id) {
                        i.lifecycle = LifecycleState::Terminating;
                        i.terminating_at = Some(now);
                        i.target_health = Some(TargetHealthState::Draining);
                        i.to_warm_pool = *to_warm_pool;
                        i.lifecycle_actions.clear();
                    }
                }
                Action::Terminate { id, .. } => {
                    self.stats.terminations += 1;
                    if let Some(i) = self.get_mut(id) {
                        i.lifecycle = LifecycleState::Terminated;
                    }
                }
                Action::EnterWarmPool { id, state } => {
                    if let Some(i) = self.get_mut(id) {
                        i.lifecycle = *state;
                        i.lifecycle_actions.clear();
                    }
                }
                Action::LeaveWarmPool { id, .. } => {
                    self.stats.warm_starts += 1;
                    let ready = now + self.model.warm_start;
                    let protect = self.spec.protect_from_scale_in;
                    if let Some(i) = self.get_mut(id) {
                        i.lifecycle = LifecycleState::Pending;
                        i.protected_from_scale_in = protect;
                        let id = i.id.clone();
                        self.ready_at.insert(id, ready);
                    }
                }
                Action::ReturnToWarmPool { id } => {
                    if let Some(i) = self.get_mut(id) {
                        i.lifecycle = LifecycleState::WarmedPending;
                        i.to_warm_pool = false;
                        i.in_service_at = None;
                        i.terminating_at = None;
                        i.target_health = None;
                        i.in_flight = 0;
                        i.protected_from_scale_in = false;
                    }
                }
            }
        }
        let gone: Vec<InstanceId> = self
            .instances
            .iter()
            .filter(|i| i.lifecycle == LifecycleState::Terminated)
            .map(|i| i.id.clone())
            .collect();
        for id in gone {
            self.ready_at.remove(&id);
        }
        self.instances
            .retain(|i| i.lifecycle != LifecycleState::Terminated);
        self.check_health();
    }

    /// Booted instances accept connections; registered ones pass their health check.
    fn check_health(&mut self) {
        let now = self.now;
        for i in &mut self.instances {
            let waiting_for_check = i.lifecycle == LifecycleState::InService
                && i.target_health == Some(TargetHealthState::Initial);
            if i.booted && !waiting_for_check {
                continue;
            }
            let ready = self.ready_at.get(&i.id).is_some_and(|at| now >= *at);
            if !ready || !i.is_running() {
                continue;
            }
            i.booted = true;
            if i.lifecycle == LifecycleState::InService
                && i.target_health == Some(TargetHealthState::Initial)
            {
                i.target_health = Some(TargetHealthState::Healthy);
                i.ever_healthy = true;
            }
        }
    }

    pub fn get_mut(&mut self, id: &InstanceId) -> Option<&mut InstanceView> {
        self.instances.iter_mut().find(|i| &i.id == id)
    }

    /// Kills an instance's process (SIGKILL).
    pub fn kill(&mut self, id: &InstanceId) {
        if let Some(i) = self.get_mut(id) {
            i.process = ProcessState::Exited {
                detail: "killed by signal 9 (SIGKILL)".into(),
            };
        }
    }

    /// Instances that count toward capacity.
    pub fn counted(&self) -> Vec<&InstanceView> {
        self.instances
            .iter()
            .filter(|i| i.lifecycle.counts_toward_capacity())
            .collect()
    }

    /// Warm pool instances.
    pub fn pool(&self) -> Vec<&InstanceView> {
        self.instances
            .iter()
            .filter(|i| i.lifecycle.is_warmed())
            .collect()
    }

    pub fn in_state(&self, state: LifecycleState) -> Vec<&InstanceView> {
        self.instances
            .iter()
            .filter(|i| i.lifecycle == state)
            .collect()
    }

    /// Registered instances a target group reports healthy.
    pub fn healthy(&self) -> usize {
        self.instances
            .iter()
            .filter(|i| {
                i.lifecycle == LifecycleState::InService
                    && i.target_health == Some(TargetHealthState::Healthy)
            })
            .count()
    }

    /// Counted instances per subnet, in subnet order.
    pub fn per_zone(&self) -> Vec<usize> {
        self.subnets
            .iter()
            .map(|s| {
                self.counted()
                    .iter()
                    .filter(|i| i.availability_zone == s.availability_zone)
                    .count()
            })
            .collect()
    }
}

/// SplitMix64: a tiny, well-mixed, deterministic generator (Steele, Lea, Flood 2014). Seeds
/// replay identically everywhere, which a library RNG does not promise across versions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

#[cfg(test)]
mod day;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_the_reference_sequence() {
        // First outputs for seed 0 from the reference implementation.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }
}
