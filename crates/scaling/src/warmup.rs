//! Instance warmup: the time after an instance enters InService before it counts as capacity.
//!
//! AWS's rules, the same for target tracking and step scaling:
//! - a warming instance is **excluded from the group's aggregated metrics** (and so is an
//!   instance still Pending, or held by a launch lifecycle hook);
//! - warming instances **count toward desired capacity**, so a policy that keeps breaching does
//!   not add capacity twice for the same load;
//! - **scale-in by a policy is blocked** while any instance warms up (a user's
//!   `SetDesiredCapacity` is not).
//!
//! [`view`] is what the metrics side needs: which instances contribute to group averages and
//! which are warming. [`crate::asg::set_desired_by_policy`] applies the scale-in block.

use std::time::Duration;

use model::{AutoScalingGroup, InstanceId, LifecycleState, Timestamp};
use serde::{Deserialize, Serialize};

use crate::asg::InstanceView;

/// The warmup a policy works with: the policy's `estimated_instance_warmup`, else the group's
/// `default_instance_warmup`, else its `default_cooldown` (AWS's order of precedence).
pub fn effective(spec: &AutoScalingGroup, policy_estimated: Option<Duration>) -> Duration {
    policy_estimated
        .or(spec.default_instance_warmup)
        .unwrap_or(spec.default_cooldown)
}

/// Whether an instance is still warming up at `now`: launching (Pending, Pending:Wait), or
/// InService for less than `warmup`.
pub fn is_warming(inst: &InstanceView, warmup: Duration, now: Timestamp) -> bool {
    match inst.lifecycle {
        LifecycleState::Pending | LifecycleState::PendingWait => true,
        LifecycleState::InService => inst.in_service_at.is_none_or(|at| now < at + warmup),
        _ => false,
    }
}

/// When a warming instance stops warming (None for an instance still launching).
pub fn warm_at(inst: &InstanceView, warmup: Duration) -> Option<Timestamp> {
    match inst.lifecycle {
        LifecycleState::InService => inst.in_service_at.map(|at| at + warmup),
        _ => None,
    }
}

/// The group seen through warmup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmupView {
    /// InService and warmed up: their metrics make the group's averages.
    pub contributing: Vec<InstanceId>,
    /// Launching or warming: counted toward desired capacity, excluded from metrics.
    pub warming: Vec<InstanceId>,
    /// When the last currently warming InService instance finishes (None if none, or if some
    /// are still launching and so have no end yet).
    pub warm_at: Option<Timestamp>,
}

impl WarmupView {
    pub fn is_warming(&self) -> bool {
        !self.warming.is_empty()
    }
}

/// Splits a group's instances into contributing and warming ones.
pub fn view(instances: &[InstanceView], warmup: Duration, now: Timestamp) -> WarmupView {
    let mut v = WarmupView::default();
    let mut launching = false;
    for i in instances {
        if is_warming(i, warmup, now) {
            v.warming.push(i.id.clone());
            match warm_at(i, warmup) {
                Some(at) => v.warm_at = Some(v.warm_at.map_or(at, |w| w.max(at))),
                None => launching = true,
            }
        } else if i.lifecycle == LifecycleState::InService {
            v.contributing.push(i.id.clone());
        }
    }
    if launching {
        v.warm_at = None;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::AvailabilityZone;

    fn inst(bits: u128, lifecycle: LifecycleState, in_service_s: Option<i64>) -> InstanceView {
        let mut i = InstanceView::new(
            InstanceId::from_bits(bits),
            AvailabilityZone::new("us-east-1a"),
            "a",
            lifecycle,
            Timestamp::from_secs(0),
            1,
        );
        i.in_service_at = in_service_s.map(Timestamp::from_secs);
        i
    }

    #[test]
    fn warming_instances_are_excluded_from_metrics_until_warmup_ends() {
        let all = [
            inst(1, LifecycleState::InService, Some(0)),
            inst(2, LifecycleState::InService, Some(100)),
            inst(3, LifecycleState::PendingWait, None),
            inst(4, LifecycleState::WarmedStopped, None),
        ];
        let w = Duration::from_secs(60);
        let v = view(&all, w, Timestamp::from_secs(120));
        assert_eq!(v.contributing, vec![InstanceId::from_bits(1)]);
        assert_eq!(
            v.warming,
            vec![InstanceId::from_bits(2), InstanceId::from_bits(3)]
        );
        assert_eq!(v.warm_at, None, "instance 3 is still launching");
        let v = view(&all[..2], w, Timestamp::from_secs(120));
        assert_eq!(v.warm_at, Some(Timestamp::from_secs(160)));
        let v = view(&all[..2], w, Timestamp::from_secs(160));
        assert!(!v.is_warming());
        assert_eq!(v.contributing.len(), 2);
    }

    #[test]
    fn precedence_is_policy_then_group_then_cooldown() {
        let mut spec = crate::asg::tests_support::spec(1, 3, 1);
        assert_eq!(effective(&spec, None), Duration::from_secs(300));
        spec.default_instance_warmup = Some(Duration::from_secs(30));
        assert_eq!(effective(&spec, None), Duration::from_secs(30));
        assert_eq!(
            effective(&spec, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
    }
}
