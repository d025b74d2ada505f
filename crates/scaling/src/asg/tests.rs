//! `decide` on simulated time: a tiny fleet model applies the actions, and the tests check
//! what AWS would do.

use std::time::Duration;

use model::{
    AutoScalingGroup, AvailabilityZone, HealthCheckType, InstanceId, LaunchTemplateRef,
    LaunchTemplateVersion, LifecycleState, TargetHealthState, TerminationPolicy, Timestamp,
};

use super::*;
use crate::placement::SubnetSlot;

fn spec(min: u32, max: u32, desired: u32) -> AutoScalingGroup {
    AutoScalingGroup {
        key: "web".into(),
        name: "web".into(),
        min_size: min,
        max_size: max,
        desired_capacity: Some(desired),
        subnets: vec!["a".into(), "b".into(), "c".into()],
        target_groups: vec!["web".into()],
        launch_template: LaunchTemplateRef {
            template: "web".into(),
            version: LaunchTemplateVersion::Latest,
        },
        health_check_type: HealthCheckType::Elb,
        health_check_grace_period: Duration::from_secs(30),
        default_cooldown: Duration::from_secs(300),
        default_instance_warmup: None,
        termination_policies: vec![TerminationPolicy::Default],
        protect_from_scale_in: false,
    }
}

fn slots() -> Vec<SubnetSlot> {
    ["a", "b", "c"]
        .iter()
        .map(|z| SubnetSlot {
            subnet: (*z).into(),
            availability_zone: AvailabilityZone::new(format!("us-east-1{z}")),
        })
        .collect()
}

/// A fake fleet: launched processes run and turn healthy `boot` after launch, unless the
/// fleet is set to make every launch fail.
struct Fleet {
    spec: AutoScalingGroup,
    state: GroupState,
    instances: Vec<InstanceView>,
    next_id: u128,
    boot: Duration,
    launches_fail: bool,
    launches: u32,
    now: Timestamp,
    impaired: Vec<AvailabilityZone>,
}

impl Fleet {
    fn new(spec: AutoScalingGroup) -> Self {
        let state = GroupState::new(&spec);
        Fleet {
            spec,
            state,
            instances: vec![],
            next_id: 1,
            boot: Duration::from_secs(2),
            launches_fail: false,
            launches: 0,
            now: Timestamp::from_secs(1_800_000_000),
            impaired: vec![],
        }
    }

    fn step(&mut self) -> Decision {
        let slots = slots();
        let observed = Observed {
            instances: &self.instances,
            subnets: &slots,
            impaired_zones: &self.impaired,
            current_template_version: 1,
            deregistration_delay: Duration::from_secs(300),
            has_target_groups: true,
        };
        let d = decide(&self.spec, &self.state, observed, self.now);
        self.apply(&d);
        d
    }

    fn apply(&mut self, d: &Decision) {
        self.state = d.state.clone();
        for a in &d.actions {
            match a {
                Action::Launch {
                    subnet,
                    availability_zone,
                    ..
                } => {
                    self.launches += 1;
                    let id = InstanceId::from_bits(self.next_id);
                    self.next_id += 1;
                    self.instances.push(InstanceView {
                        id,
                        availability_zone: availability_zone.clone(),
                        subnet: subnet.clone(),
                        lifecycle: LifecycleState::Pending,
                        launched_at: self.now,
                        in_service_at: None,
                        terminating_at: None,
                        launch_template_version: 1,
                        protected_from_scale_in: false,
                        process: if self.launches_fail {
                            ProcessState::Exited {
                                detail: "exited with code 1".into(),
                            }
                        } else {
                            ProcessState::Running
                        },
                        target_health: None,
                        ever_healthy: false,
                        in_flight: 0,
                    });
                }
                Action::PutInService { id } => {
                    let now = self.now;
                    let i = self.get(id);
                    i.lifecycle = LifecycleState::InService;
                    i.in_service_at = Some(now);
                    i.target_health = Some(TargetHealthState::Initial);
                }
                Action::Deregister { id, .. } => {
                    let now = self.now;
                    let i = self.get(id);
                    i.lifecycle = LifecycleState::Terminating;
                    i.terminating_at = Some(now);
                    i.target_health = Some(TargetHealthState::Draining);
                }
                Action::Terminate { id, .. } => {
                    self.get(id).lifecycle = LifecycleState::Terminated;
                }
            }
        }
        // Health checks: an InService instance turns healthy once booted.
        let (now, boot) = (self.now, self.boot);
        for i in &mut self.instances {
            if i.lifecycle == LifecycleState::InService
                && i.process == ProcessState::Running
                && now.since(i.launched_at) >= boot
                && i.target_health == Some(TargetHealthState::Initial)
            {
                i.target_health = Some(TargetHealthState::Healthy);
                i.ever_healthy = true;
            }
        }
        self.instances
            .retain(|i| i.lifecycle != LifecycleState::Terminated);
    }

    fn get(&mut self, id: &InstanceId) -> &mut InstanceView {
        self.instances.iter_mut().find(|i| &i.id == id).unwrap()
    }

    fn run(&mut self, secs: u64) {
        for _ in 0..secs {
            self.step();
            self.now = self.now + Duration::from_secs(1);
        }
    }

    fn counted(&self) -> Vec<&InstanceView> {
        self.instances
            .iter()
            .filter(|i| i.lifecycle.counts_toward_capacity())
            .collect()
    }

    fn healthy(&self) -> usize {
        self.instances
            .iter()
            .filter(|i| i.target_health == Some(TargetHealthState::Healthy))
            .count()
    }

    fn per_zone(&self) -> Vec<usize> {
        ["a", "b", "c"]
            .iter()
            .map(|z| self.counted().iter().filter(|i| i.subnet == *z).count())
            .collect()
    }
}

#[test]
fn launches_to_desired_balanced_over_zones_then_goes_in_service() {
    let mut f = Fleet::new(spec(3, 12, 3));
    let first = f.step();
    let zones: Vec<_> = first
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { subnet, cause, .. } => {
                assert!(
                    cause.contains("increasing the capacity from 0 to 3"),
                    "{cause}"
                );
                Some(subnet.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(zones, vec!["a", "b", "c"]);
    f.run(5);
    assert_eq!(f.healthy(), 3);
    assert!(
        f.counted()
            .iter()
            .all(|i| i.lifecycle == LifecycleState::InService)
    );
    // Steady state: nothing more to do.
    assert!(f.step().actions.is_empty());
}

#[test]
fn a_dead_process_is_replaced_in_the_same_decision() {
    let mut f = Fleet::new(spec(3, 12, 3));
    f.run(5);
    let victim = f.instances[1].id.clone();
    f.get(&victim).process = ProcessState::Exited {
        detail: "killed by signal 9".into(),
    };
    let d = f.step();
    assert!(d.actions.iter().any(|a| matches!(a,
        Action::Terminate { id, failed_launch: None, cause } if *id == victim && cause.contains("EC2 instance status check"))));
    let launched: Vec<_> = d
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { subnet, .. } => Some(subnet.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        launched,
        vec!["b".to_string()],
        "replacement goes to the emptied zone"
    );
    assert_eq!(
        d.state.launch_failures, 0,
        "a healthy instance dying is not a failed launch"
    );
    f.run(5);
    assert_eq!(f.healthy(), 3);
}

#[test]
fn elb_unhealthy_is_replaced_only_after_the_grace_period() {
    let mut f = Fleet::new(spec(3, 12, 3));
    f.run(5);
    let victim = f.instances[0].id.clone();
    f.get(&victim).target_health = Some(TargetHealthState::Unhealthy);
    // InService since ~t0; grace is 30 s, so nothing happens yet.
    let d = f.step();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    f.now = f.now + Duration::from_secs(30);
    let d = f.step();
    assert!(d.actions.iter().any(|a| matches!(a,
        Action::Deregister { id, cause } if *id == victim && cause.contains("ELB system health check"))));
    assert_eq!(
        d.actions
            .iter()
            .filter(|a| matches!(a, Action::Launch { .. }))
            .count(),
        1
    );
}

#[test]
fn ec2_health_type_ignores_target_health() {
    let mut s = spec(1, 3, 1);
    s.health_check_type = HealthCheckType::Ec2;
    let mut f = Fleet::new(s);
    f.run(5);
    let id = f.instances[0].id.clone();
    f.get(&id).target_health = Some(TargetHealthState::Unhealthy);
    f.now = f.now + Duration::from_secs(3600);
    assert!(f.step().actions.is_empty());
}

#[test]
fn failing_launches_back_off_instead_of_spinning() {
    let mut f = Fleet::new(spec(3, 12, 3));
    f.launches_fail = true;
    f.run(300);
    // Without backoff 3 launches a second would be 900; with it, a handful of probes.
    assert!(
        f.launches <= 12,
        "launched {} times in 5 minutes",
        f.launches
    );
    assert!(
        f.launches >= 4,
        "it must keep retrying, launched {}",
        f.launches
    );
    let d = f.step();
    assert!(d.waiting.unwrap().contains("consecutive launches failed"));
    // The script gets fixed: the next probe succeeds and the group fills up.
    f.launches_fail = false;
    f.run(200);
    assert_eq!(f.healthy(), 3);
    assert_eq!(f.state.launch_failures, 0);
}

#[test]
fn failed_launch_is_reported_with_its_reason() {
    let mut f = Fleet::new(spec(1, 1, 1));
    f.launches_fail = true;
    f.step();
    let d = f.step();
    let failed = d.actions.iter().find_map(|a| match a {
        Action::Terminate { failed_launch, .. } => failed_launch.clone(),
        _ => None,
    });
    assert_eq!(
        failed.unwrap(),
        "Instance failed to start: exited with code 1"
    );
    assert_eq!(d.state.launch_failures, 1);
}

#[test]
fn scale_out_and_in_keep_zones_balanced_and_drain_before_terminating() {
    let mut f = Fleet::new(spec(3, 12, 3));
    f.run(5);
    f.state = set_desired_capacity(&f.spec, &f.state, 7, f.now).unwrap();
    let d = f.step();
    let cause = d
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Launch { cause, .. } => Some(cause.clone()),
            _ => None,
        })
        .unwrap();
    assert!(cause.starts_with("At "), "{cause}");
    assert!(cause.contains("a user request explicitly set group desired capacity changing the desired capacity from 3 to 7"));
    f.run(5);
    assert_eq!(f.healthy(), 7);
    let zones = f.per_zone();
    assert!(
        zones.iter().max().unwrap() - zones.iter().min().unwrap() <= 1,
        "{zones:?}"
    );

    f.state = set_desired_capacity(&f.spec, &f.state, 4, f.now).unwrap();
    // Requests are in flight everywhere: deregistered instances wait for them.
    for i in &mut f.instances {
        i.in_flight = 1;
    }
    let d = f.step();
    let deregistered = d
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Deregister { .. }))
        .count();
    assert_eq!(deregistered, 3);
    assert_eq!(f.counted().len(), 4);
    let zones = f.per_zone();
    assert!(
        zones.iter().max().unwrap() - zones.iter().min().unwrap() <= 1,
        "{zones:?}"
    );
    let d = f.step();
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::Terminate { .. })),
        "draining instances with requests in flight are not terminated"
    );
    for i in &mut f.instances {
        i.in_flight = 0;
    }
    let d = f.step();
    assert_eq!(
        d.actions
            .iter()
            .filter(|a| matches!(a, Action::Terminate { .. }))
            .count(),
        3
    );
}

#[test]
fn draining_ends_at_the_deregistration_delay() {
    let mut f = Fleet::new(spec(1, 3, 2));
    f.run(5);
    f.state = set_desired_capacity(&f.spec, &f.state, 1, f.now).unwrap();
    for i in &mut f.instances {
        i.in_flight = 5;
    }
    f.step();
    f.now = f.now + Duration::from_secs(299);
    assert!(f.step().actions.is_empty());
    f.now = f.now + Duration::from_secs(1);
    assert!(matches!(f.step().actions[..], [Action::Terminate { .. }]));
}

#[test]
fn set_desired_capacity_checks_bounds_like_aws() {
    let s = spec(3, 12, 3);
    let st = GroupState::new(&s);
    let err = set_desired_capacity(&s, &st, 13, Timestamp::EPOCH).unwrap_err();
    assert_eq!(
        err.to_string(),
        "New SetDesiredCapacity value 13 is above max value 12 for the AutoScalingGroup."
    );
    assert!(set_desired_capacity(&s, &st, 2, Timestamp::EPOCH).is_err());
    assert_eq!(
        set_desired_capacity(&s, &st, 5, Timestamp::EPOCH)
            .unwrap()
            .desired_capacity,
        5
    );
}

#[test]
fn respec_clamps_desired_into_new_bounds() {
    let old = spec(3, 12, 3);
    let mut st = GroupState::new(&old);
    st.desired_capacity = 10;
    let mut new = old.clone();
    new.max_size = 6;
    assert_eq!(
        respec(&old, &new, &st, Timestamp::EPOCH).desired_capacity,
        6
    );
    let mut new = old.clone();
    new.desired_capacity = Some(4);
    assert_eq!(
        respec(&old, &new, &st, Timestamp::EPOCH).desired_capacity,
        4
    );
    // Unchanged config keeps a desired capacity set at runtime.
    assert_eq!(
        respec(&old, &old, &st, Timestamp::EPOCH).desired_capacity,
        10
    );
}

#[test]
fn a_day_of_random_capacity_changes_keeps_the_invariants() {
    // A deterministic pseudo-random walk of desired capacity and instance deaths over a day.
    let mut f = Fleet::new(spec(2, 12, 3));
    let mut seed: u64 = 0x5eed;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for tick in 0..86_400u64 {
        if tick % 600 == 0 {
            let d = 2 + (rand() % 11) as u32;
            f.state = set_desired_capacity(&f.spec, &f.state, d, f.now).unwrap();
        }
        if tick % 997 == 0 && !f.instances.is_empty() {
            let n = (rand() as usize) % f.instances.len();
            f.instances[n].process = ProcessState::Exited {
                detail: "killed".into(),
            };
        }
        if tick % 7 == 0 {
            for i in &mut f.instances {
                i.in_flight = rand() % 2;
            }
        }
        f.step();
        let desired = f.state.desired_capacity;
        assert!((2..=12).contains(&desired));
        assert!(f.counted().len() as u32 <= desired, "never above desired");
        f.now = f.now + Duration::from_secs(1);
        if tick % 600 == 599 {
            // Ten minutes after a change the group has converged and is balanced.
            assert_eq!(f.counted().len() as u32, desired, "tick {tick}");
            let zones = f.per_zone();
            assert!(
                zones.iter().max().unwrap() - zones.iter().min().unwrap() <= 1,
                "{zones:?}"
            );
        }
    }
}

#[test]
fn an_az_outage_moves_capacity_to_the_other_zones_then_rebalances_when_it_recovers() {
    let mut f = Fleet::new(spec(1, 6, 6));
    f.run(10);
    assert_eq!(f.per_zone(), vec![2, 2, 2]);
    // Zone a loses power: its instances die, and it takes no launches.
    let a = AvailabilityZone::new("us-east-1a");
    f.impaired = vec![a.clone()];
    for i in &mut f.instances {
        if i.availability_zone == a {
            i.process = ProcessState::Exited {
                detail: "killed".into(),
            };
        }
    }
    f.run(10);
    assert_eq!(
        f.per_zone(),
        vec![0, 3, 3],
        "replacements go to b and c only"
    );
    assert_eq!(f.healthy(), 6);
    // Balanced over the zones it may use: no rebalancing while a is down.
    f.run(30);
    assert_eq!(f.per_zone(), vec![0, 3, 3]);
    // Power back: launch in a first, then terminate in the fullest zone, one at a time.
    f.impaired.clear();
    let mut peak = 0;
    for _ in 0..400 {
        f.step();
        peak = peak.max(f.counted().len());
        assert!(f.healthy() >= 6, "capacity never dips while rebalancing");
        f.now = f.now + Duration::from_secs(1);
    }
    assert_eq!(f.per_zone(), vec![2, 2, 2]);
    assert_eq!(
        peak, 7,
        "launch before terminate: at most one above desired"
    );
    assert_eq!(f.healthy(), 6);
}
