//! A seeded day: 86,400 one-second decisions of one group — diurnal traffic with spikes and
//! steady stretches, a small target-tracking policy on the warmed-up instances, instance
//! deaths, ELB-unhealthy spells, broken launches, an AZ outage, lifecycle hooks answered late or
//! never, scale-in protection, instance refreshes, a warm pool and instances reaching their
//! maximum lifetime — driving the real `decide` and checking AWS's invariants every second:
//!
//! - min ≤ desired ≤ max, and the group above desired only by a rebalancing instance, a
//!   refresh's surge or protected instances, never above max + 10% (at least 1);
//! - AZ balance within one once the group has been quiet for ten minutes;
//! - no scale-in by the policy while an instance warms up;
//! - no flapping on a steady load: no capacity change, scale-in, rebalancing or warm pool churn
//!   once a steady stretch has settled;
//! - the warm pool never above its size; nobody held by a lifecycle hook past its timeout;
//!   every instance refresh ends (and a successful one leaves only current instances).
//!
//! The seed is printed; `UPDRAFT_SIM_SEED=<seed> cargo test -p scaling day -- --nocapture`
//! replays a run, `UPDRAFT_SIM_SEEDS=<n>` runs n fresh seeds.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::time::Duration;

use model::{
    AvailabilityZone, InstanceId, LifecycleActionResult, LifecycleHook, LifecycleState,
    LifecycleTransition, ProtectedInstances, RefreshPreferences, TargetHealthState,
    TerminationPolicy, WarmPool, WarmPoolState,
};

use super::{Fleet, InstanceModel, SplitMix64};
use crate::asg::tests_support::{fleet, spec};
use crate::asg::{Action, set_desired_by_policy};
use crate::lifecycle::{self, Outcome};
use crate::refresh::{self, RefreshStatus};
use crate::warmup;

const DAY: u64 = 86_400;
/// Target utilisation of the simulated target-tracking policy.
const TARGET: f64 = 0.7;
/// Quiet this long before balance and capacity are checked.
const SETTLE: u64 = 600;

/// How a seed configures the group.
struct Setup {
    warm_pool: bool,
    launch_hook: bool,
    terminate_hook: bool,
    lifetime: bool,
}

/// What the hook agent (the user's code answering lifecycle hooks) will do for an action.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Complete(u64, LifecycleActionResult),
    HeartbeatThenComplete(u64),
    Never,
}

struct Day {
    seed: u64,
    rng: SplitMix64,
    f: Fleet,
    tick: u64,
    /// Load in instances' worth at 100% utilisation.
    demand: f64,
    steady: Vec<(u64, u64)>,
    /// Last time something disturbed the group (chaos, refresh, outage, desired change).
    disturbed_at: u64,
    answers: BTreeMap<(InstanceId, String), Answer>,
    unprotect_at: BTreeMap<InstanceId, u64>,
    unhealthy_until: BTreeMap<InstanceId, u64>,
    outage: Option<(AvailabilityZone, u64)>,
    breaches_high: u32,
    breaches_low: u32,
    events: VecDeque<String>,
    refresh_started: Vec<(String, u64)>,
}

#[test]
fn a_seeded_day_keeps_the_auto_scaling_invariants() {
    let seeds: Vec<u64> = match (
        std::env::var("UPDRAFT_SIM_SEED"),
        std::env::var("UPDRAFT_SIM_SEEDS"),
    ) {
        (Ok(s), _) => vec![s.trim().parse().expect("UPDRAFT_SIM_SEED is a number")],
        (_, Ok(n)) => {
            // Fresh seeds without reading a clock: the hasher's per-process random keys.
            use std::hash::{BuildHasher, RandomState};
            let n: u64 = n.trim().parse().expect("UPDRAFT_SIM_SEEDS is a number");
            let base = RandomState::new().hash_one(0u64);
            (0..n).map(|i| base.wrapping_add(i)).collect()
        }
        // CI runs fixed seeds so that main stays green; explore with UPDRAFT_SIM_SEEDS.
        _ => vec![1, 2, 3],
    };
    for seed in seeds {
        eprintln!(
            "day simulation, seed {seed} (replay: UPDRAFT_SIM_SEED={seed} cargo test -p \
             scaling day -- --nocapture)"
        );
        let summary = Day::new(seed).run();
        eprintln!("  seed {seed}: {summary}");
    }
}

impl Day {
    fn new(seed: u64) -> Day {
        let mut rng = SplitMix64::new(seed);
        let setup = Setup {
            warm_pool: rng.chance(0.5),
            launch_hook: rng.chance(0.5),
            terminate_hook: rng.chance(0.3),
            lifetime: rng.chance(0.5),
        };
        let mut s = spec(2, 12, 3);
        s.default_instance_warmup = Some(Duration::from_secs(60));
        s.termination_policies = match rng.below(4) {
            0 => vec![TerminationPolicy::Default],
            1 => vec![
                TerminationPolicy::OldestInstance,
                TerminationPolicy::Default,
            ],
            2 => vec![TerminationPolicy::NewestInstance],
            _ => vec![
                TerminationPolicy::OldestLaunchTemplate,
                TerminationPolicy::ClosestToNextInstanceHour,
            ],
        };
        if setup.warm_pool {
            s.warm_pool = Some(WarmPool {
                pool_state: if rng.chance(0.7) {
                    WarmPoolState::Stopped
                } else {
                    WarmPoolState::Running
                },
                min_size: rng.below(3) as u32,
                max_group_prepared_capacity: rng.chance(0.5).then_some(8),
                reuse_on_scale_in: rng.chance(0.5),
            });
        }
        if setup.lifetime {
            s.max_instance_lifetime = Some(Duration::from_secs(86_400));
        }
        let mut f = fleet(s);
        f.model = InstanceModel {
            boot: Duration::from_secs(5 + rng.below(40)),
            warm_start: Duration::from_secs(rng.below(3)),
        };
        f.deregistration_delay = Duration::from_secs(30);
        let hook = |name: &str, t, rng: &mut SplitMix64| LifecycleHook {
            name: name.into(),
            lifecycle_transition: t,
            heartbeat_timeout: Duration::from_secs(30 + rng.below(90)),
            default_result: if rng.chance(0.5) {
                LifecycleActionResult::Continue
            } else {
                LifecycleActionResult::Abandon
            },
            notification_metadata: None,
        };
        if setup.launch_hook {
            f.lifecycle_hooks.push(hook(
                "boot",
                LifecycleTransition::InstanceLaunching,
                &mut rng,
            ));
        }
        if setup.terminate_hook {
            f.lifecycle_hooks.push(hook(
                "flush",
                LifecycleTransition::InstanceTerminating,
                &mut rng,
            ));
        }
        // Four steady stretches of 45 minutes at random times of the day.
        let steady = (0..4)
            .map(|i| {
                let start = i * 21_600 + 3_600 + rng.below(14_000);
                (start, start + 2_700)
            })
            .collect();
        Day {
            seed,
            rng,
            f,
            tick: 0,
            demand: 2.0,
            steady,
            disturbed_at: 0,
            answers: BTreeMap::new(),
            unprotect_at: BTreeMap::new(),
            unhealthy_until: BTreeMap::new(),
            outage: None,
            breaches_high: 0,
            breaches_low: 0,
            events: VecDeque::new(),
            refresh_started: Vec::new(),
        }
    }

    fn in_steady(&self) -> Option<(u64, u64)> {
        self.steady
            .iter()
            .copied()
            .find(|(a, b)| (*a..*b).contains(&self.tick))
    }

    fn event(&mut self, what: String) {
        if self.events.len() == 40 {
            self.events.pop_front();
        }
        self.events.push_back(format!("t={} {what}", self.tick));
    }

    fn fail(&self, what: String) -> ! {
        let mut s = format!(
            "seed {} tick {}: {what}\nreplay: UPDRAFT_SIM_SEED={} cargo test -p scaling day -- \
             --nocapture\ndesired {}, instances:\n",
            self.seed, self.tick, self.seed, self.f.state.desired_capacity
        );
        for i in &self.f.instances {
            let _ = writeln!(
                s,
                "  {} {} {} v{} prot={} health={:?}",
                i.id,
                i.availability_zone,
                i.lifecycle,
                i.launch_template_version,
                i.protected_from_scale_in,
                i.target_health
            );
        }
        let _ = writeln!(s, "last events:");
        for e in &self.events {
            let _ = writeln!(s, "  {e}");
        }
        panic!("{s}");
    }

    fn run(mut self) -> String {
        // Yesterday's instances: the group has been running for a while.
        self.f.run(60);
        let age = Duration::from_secs(self.rng.below(86_000));
        for i in &mut self.f.instances {
            i.launched_at = i.launched_at - age;
        }
        let mut changes = 0u32;
        let mut policy_scale_ins = 0u32;
        while self.tick < DAY {
            self.traffic();
            let steady = self.in_steady();
            if steady.is_none() {
                self.chaos();
            }
            self.answer_hooks();
            changes += self.policy(&mut policy_scale_ins);
            let before = self.f.state.desired_capacity;
            let d = self.f.step();
            self.check(&d, steady, before);
            self.f.advance(Duration::from_secs(1));
            self.tick += 1;
        }
        format!(
            "{} launches ({} into the warm pool, {} warm starts), {} terminations, {} desired \
             changes ({} policy scale-ins), {} refreshes",
            self.f.stats.launches,
            self.f.stats.warm_pool_launches,
            self.f.stats.warm_starts,
            self.f.stats.terminations,
            changes,
            policy_scale_ins,
            self.refresh_started.len()
        )
    }

    /// Diurnal load (2 at night, up to ~9 in the afternoon), noise, spikes; constant in the
    /// steady stretches.
    fn traffic(&mut self) {
        if let Some((start, _)) = self.in_steady() {
            if self.tick == start {
                self.demand = (self.demand * 4.0).round() / 4.0;
                self.event(format!("steady load {:.2}", self.demand));
                // Calm weather: whatever chaos was going on ends now.
                self.f.launches_fail = false;
                self.f.impaired_zones.clear();
                self.outage = None;
                self.disturbed_at = self.tick;
            }
            return;
        }
        let hour = (self.tick as f64) / 3600.0;
        let day = (std::f64::consts::PI * (hour - 6.0) / 12.0).sin().max(0.0);
        let mut d = 2.0 + 7.0 * day;
        if self.tick.is_multiple_of(60) {
            d += (self.rng.below(100) as f64 / 100.0) - 0.5;
        } else {
            d = d.max(self.demand.min(d + 0.5));
        }
        if self.rng.chance(1.0 / 7200.0) {
            d += 3.0;
            self.event("traffic spike".into());
        }
        self.demand = d.clamp(0.5, 11.0);
    }

    /// The policy: target tracking at 70% utilisation over the warmed-up instances, three
    /// breaching 10-second periods to scale out, fifteen to scale in, through the real
    /// `set_desired_by_policy` (which holds scale-in back during warmup).
    fn policy(&mut self, scale_ins: &mut u32) -> u32 {
        if !self.tick.is_multiple_of(10) {
            return 0;
        }
        let w = warmup::effective(&self.f.spec, None);
        let view = warmup::view(&self.f.instances, w, self.f.now);
        let contributing = view.contributing.len();
        if contributing == 0 {
            return 0; // INSUFFICIENT_DATA
        }
        let util = self.demand / contributing as f64;
        let wanted = (self.demand / TARGET).ceil() as u32;
        let desired = self.f.state.desired_capacity;
        if util > TARGET && wanted > desired {
            self.breaches_high += 1;
            self.breaches_low = 0;
        } else if util < TARGET * 0.9 && wanted < desired {
            self.breaches_low += 1;
            self.breaches_high = 0;
        } else {
            self.breaches_high = 0;
            self.breaches_low = 0;
        }
        if self.breaches_high < 3 && self.breaches_low < 15 {
            return 0;
        }
        self.breaches_high = 0;
        self.breaches_low = 0;
        let out = set_desired_by_policy(
            &self.f.spec,
            &self.f.state,
            &self.f.instances,
            w,
            wanted,
            format!("policy wants {wanted}"),
            self.f.now,
        );
        if out.desired < desired {
            // The rule under test: never scale in while anything warms up.
            if view.is_warming() {
                self.fail(format!(
                    "policy scaled in {desired} → {} while {} instances warm up",
                    out.desired,
                    view.warming.len()
                ));
            }
            *scale_ins += 1;
        }
        if out.desired != desired {
            self.event(format!("desired {desired} → {}", out.desired));
            self.disturbed_at = self.tick;
            self.f.state = out.state;
            return 1;
        }
        0
    }

    /// Deaths, unhealthy spells, broken launches, an AZ outage, protection, refreshes.
    fn chaos(&mut self) {
        let t = self.tick;
        // Broken user data for a few minutes, twice a day on average.
        if self.f.launches_fail && self.rng.chance(1.0 / 180.0) {
            self.f.launches_fail = false;
            self.event("launches fixed".into());
            self.disturbed_at = t;
        } else if !self.f.launches_fail && self.rng.chance(2.0 / DAY as f64) {
            self.f.launches_fail = true;
            self.event("launches start failing".into());
            self.disturbed_at = t;
        }
        if self.rng.chance(1.0 / 1200.0) && !self.f.instances.is_empty() {
            let n = self.rng.below(self.f.instances.len() as u64) as usize;
            let id = self.f.instances[n].id.clone();
            self.event(format!("kill {id} ({})", self.f.instances[n].lifecycle));
            self.f.kill(&id);
            self.disturbed_at = t;
        }
        if self.rng.chance(1.0 / 3600.0) {
            let in_service = self.f.in_state(LifecycleState::InService);
            if !in_service.is_empty() {
                let n = self.rng.below(in_service.len() as u64) as usize;
                let id = in_service[n].id.clone();
                self.unhealthy_until.insert(id.clone(), t + 120);
                self.event(format!("{id} turns ELB-unhealthy"));
                self.disturbed_at = t;
            }
        }
        let until = self.unhealthy_until.clone();
        for (id, end) in until {
            match self.f.get_mut(&id) {
                Some(i) if t < end && i.lifecycle == LifecycleState::InService => {
                    i.target_health = Some(TargetHealthState::Unhealthy);
                }
                Some(i) if i.lifecycle == LifecycleState::InService => {
                    i.target_health = Some(TargetHealthState::Healthy);
                    self.unhealthy_until.remove(&id);
                }
                _ => {
                    self.unhealthy_until.remove(&id);
                }
            }
        }
        // An AZ outage: its instances die and it takes no launches for 20 minutes.
        match self.outage.clone() {
            None if self.rng.chance(1.0 / 40_000.0) => {
                let zone = self.f.subnets[self.rng.below(3) as usize]
                    .availability_zone
                    .clone();
                let dead: Vec<_> = self
                    .f
                    .instances
                    .iter()
                    .filter(|i| i.availability_zone == zone)
                    .map(|i| i.id.clone())
                    .collect();
                for id in dead {
                    self.f.kill(&id);
                }
                self.event(format!("AZ outage in {zone}"));
                self.f.impaired_zones = vec![zone.clone()];
                self.outage = Some((zone, t + 1200));
                self.disturbed_at = t;
            }
            Some((zone, end)) if t >= end => {
                self.event(format!("{zone} recovers"));
                self.f.impaired_zones.clear();
                self.outage = None;
                self.disturbed_at = t;
            }
            _ => {}
        }
        // Protect an instance now and then (`updraft protect`), unprotect it later.
        if self.rng.chance(1.0 / 5400.0) {
            let in_service = self.f.in_state(LifecycleState::InService);
            if !in_service.is_empty() {
                let n = self.rng.below(in_service.len() as u64) as usize;
                let id = in_service[n].id.clone();
                let end = t + 600 + self.rng.below(3600);
                self.unprotect_at.insert(id.clone(), end);
                if let Some(i) = self.f.get_mut(&id) {
                    i.protected_from_scale_in = true;
                }
                self.event(format!("protect {id}"));
            }
        }
        let due: Vec<_> = self
            .unprotect_at
            .iter()
            .filter(|(_, end)| **end <= t)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.unprotect_at.remove(&id);
            if let Some(i) = self.f.get_mut(&id) {
                i.protected_from_scale_in = false;
                self.event(format!("unprotect {id}"));
                self.disturbed_at = t;
            }
        }
        // A new launch template version, rolled out by an instance refresh, ~3 times a day.
        if self.rng.chance(3.0 / DAY as f64) && self.f.state.active_refresh().is_none() {
            self.f.template_version += 1;
            let min = 50 + 10 * self.rng.below(6) as u32;
            let max = if self.rng.chance(0.5) {
                100
            } else {
                110 + 10 * self.rng.below(4) as u32
            };
            let prefs = RefreshPreferences {
                min_healthy_percentage: min,
                max_healthy_percentage: max,
                instance_warmup: Some(Duration::from_secs(30)),
                skip_matching: self.rng.chance(0.5),
                checkpoint_percentages: if self.rng.chance(0.3) {
                    vec![50, 100]
                } else {
                    vec![]
                },
                checkpoint_delay: None,
                scale_in_protected_instances: ProtectedInstances::Ignore,
            };
            let version = self.f.template_version;
            match refresh::start(
                &self.f.spec,
                &self.f.state,
                prefs,
                version,
                "sim".into(),
                self.f.now,
            ) {
                Ok((state, id)) => {
                    self.f.state = state;
                    self.event(format!("refresh {id} to v{version} ({min}%..{max}%)"));
                    self.refresh_started.push((id, t));
                    self.disturbed_at = t;
                }
                Err(e) => self.fail(format!("refresh refused: {e}")),
            }
        }
    }

    /// The user's side of lifecycle hooks: most actions are completed after a while, some are
    /// abandoned, some kept alive with heartbeats, some never answered.
    fn answer_hooks(&mut self) {
        let now = self.f.now;
        let t = self.tick;
        if t.is_multiple_of(60) {
            let f = &self.f;
            self.answers.retain(|(id, _), _| {
                f.instances
                    .iter()
                    .any(|i| &i.id == id && i.lifecycle.is_wait())
            });
        }
        let waiting: Vec<(InstanceId, Vec<String>)> = self
            .f
            .instances
            .iter()
            .filter(|i| i.lifecycle.is_wait())
            .map(|i| {
                let hooks = i
                    .lifecycle_actions
                    .iter()
                    .filter(|a| a.result.is_none())
                    .map(|a| a.hook.clone())
                    .collect();
                (i.id.clone(), hooks)
            })
            .collect();
        for (id, hooks) in waiting {
            for hook in hooks {
                let key = (id.clone(), hook.clone());
                let answer = match self.answers.get(&key) {
                    Some(a) => *a,
                    None => {
                        let a = match self.rng.below(10) {
                            0 => Answer::Complete(
                                t + 1 + self.rng.below(20),
                                LifecycleActionResult::Abandon,
                            ),
                            1 => Answer::HeartbeatThenComplete(t + 60 + self.rng.below(120)),
                            2 => Answer::Never,
                            _ => Answer::Complete(
                                t + 1 + self.rng.below(20),
                                LifecycleActionResult::Continue,
                            ),
                        };
                        self.answers.insert(key.clone(), a);
                        a
                    }
                };
                let Some(i) = self.f.get_mut(&id) else {
                    continue;
                };
                let state = i.lifecycle;
                match answer {
                    Answer::Complete(at, result) if t >= at => {
                        lifecycle::complete(&id, state, &mut i.lifecycle_actions, &hook, result)
                            .unwrap_or_else(|e| panic!("complete refused: {e}"));
                    }
                    Answer::HeartbeatThenComplete(at) if t >= at => {
                        lifecycle::complete(
                            &id,
                            state,
                            &mut i.lifecycle_actions,
                            &hook,
                            LifecycleActionResult::Continue,
                        )
                        .unwrap_or_else(|e| panic!("complete refused: {e}"));
                    }
                    Answer::HeartbeatThenComplete(_) if t.is_multiple_of(20) => {
                        lifecycle::heartbeat(&id, state, &mut i.lifecycle_actions, &hook, now)
                            .unwrap_or_else(|e| panic!("heartbeat refused: {e}"));
                    }
                    _ => {}
                }
            }
        }
    }

    fn check(&mut self, d: &crate::asg::Decision, steady: Option<(u64, u64)>, desired_before: u32) {
        let spec = &self.f.spec;
        let desired = self.f.state.desired_capacity;
        if !(spec.min_size..=spec.max_size).contains(&desired) {
            self.fail(format!(
                "desired {desired} outside [{}, {}]",
                spec.min_size, spec.max_size
            ));
        }
        let counted = self.f.counted();
        let protected = counted.iter().filter(|i| i.protected_from_scale_in).count() as u32;
        let surge = self.f.state.active_refresh().map_or(0, |r| {
            (desired * r.preferences.max_healthy_percentage / 100).saturating_sub(desired)
        });
        let rebalancing = u32::from(self.f.state.rebalance.is_some());
        let n = counted.len() as u32;
        if n > desired + rebalancing + surge + protected {
            self.fail(format!(
                "{n} instances for desired {desired} (rebalancing {rebalancing}, surge {surge}, \
                 protected {protected})"
            ));
        }
        let overshoot = spec.max_size + (spec.max_size / 10).max(1);
        if n > overshoot.max(desired + surge + protected) {
            self.fail(format!("{n} instances above max + 10% ({overshoot})"));
        }
        // Warm pool: never above its size (instances returned this tick are trimmed next).
        if let Some(p) = &spec.warm_pool {
            let target = p.target_size(desired, spec.max_size);
            let returned = d
                .actions
                .iter()
                .filter(|a| matches!(a, Action::ReturnToWarmPool { .. }))
                .count() as u32;
            let size = self.f.pool().len() as u32;
            if size > target + returned {
                self.fail(format!("warm pool of {size}, its size is {target}"));
            }
        }
        // Nobody held by a hook past its timeout.
        let now = self.f.now;
        for i in &self.f.instances {
            if i.lifecycle.is_wait()
                && i.is_running()
                && !matches!(
                    lifecycle::outcome(&i.lifecycle_actions, now),
                    Outcome::Waiting { .. }
                )
            {
                self.fail(format!(
                    "{} still {} after its lifecycle actions ended",
                    i.id, i.lifecycle
                ));
            }
        }
        // Refreshes end within three hours; a successful one leaves current instances only.
        if let Some(r) = self.f.state.instance_refreshes.last() {
            if r.is_active() && now.since(r.start_time) > Duration::from_secs(3 * 3600) {
                self.fail(format!(
                    "refresh {} still {:?} after 3 hours",
                    r.instance_refresh_id, r.status
                ));
            }
            if r.status == RefreshStatus::Successful && r.end_time == Some(now) {
                let old: Vec<_> = self
                    .f
                    .counted()
                    .iter()
                    .filter(|i| r.to_replace.contains(&i.id))
                    .map(|i| i.id.clone())
                    .collect();
                if !old.is_empty() {
                    self.fail(format!("refresh succeeded but {old:?} were not replaced"));
                }
                self.event(format!("refresh {} Successful", r.instance_refresh_id));
            }
        }
        for a in &d.actions {
            match a {
                Action::Launch { warm_pool, .. } => {
                    self.event(format!("launch (pool: {warm_pool})"))
                }
                Action::Deregister { id, cause, .. } => {
                    self.event(format!(
                        "deregister {id}: {}",
                        &cause[cause.find(" in ").unwrap_or(0)..]
                            .chars()
                            .take(60)
                            .collect::<String>()
                    ));
                }
                Action::Terminate { id, .. } => self.event(format!("terminate {id}")),
                _ => {}
            }
        }
        // A running refresh disturbs the group; so does an instance still held by a hook.
        if desired != desired_before
            || self.f.state.active_refresh().is_some()
            || self.f.instances.iter().any(|i| i.lifecycle.is_wait())
        {
            self.disturbed_at = self.tick;
        }

        // Quiet for ten minutes: at desired capacity and balanced.
        let quiet = self.tick >= self.disturbed_at + SETTLE
            && self.f.state.active_refresh().is_none()
            && self.outage.is_none()
            && !self.f.launches_fail
            && self.f.instances.iter().all(|i| !i.lifecycle.is_wait());
        if quiet {
            let n = self.f.counted().len() as u32;
            if n < desired {
                self.fail(format!(
                    "quiet for {SETTLE} s yet {n} of {desired} instances"
                ));
            }
            let zones = self.f.per_zone();
            let (max, min) = (*zones.iter().max().unwrap(), *zones.iter().min().unwrap());
            if max > min + 1 && self.movable_in_fullest() {
                self.fail(format!("quiet for {SETTLE} s yet zones are {zones:?}"));
            }
        }
        // Steady load, settled: nothing changes any more.
        if let Some((start, _)) = steady
            && self.tick >= start + SETTLE
            && self.disturbed_at + SETTLE <= self.tick
        {
            // Replacements for a refresh or for age are work, not flapping.
            let work = |cause: &str| {
                cause.contains("maximum instance lifetime") || cause.contains("instance refresh")
            };
            let churn = d.actions.iter().find(|a| match a {
                Action::Deregister { cause, .. } => !work(cause),
                Action::Launch { cause, .. } => {
                    cause.contains("balancing") || cause.contains("warm pool")
                }
                Action::Terminate { cause, .. } => cause.contains("warm pool") && !work(cause),
                _ => false,
            });
            if let Some(a) = churn {
                self.fail(format!("flapping on a steady load: {a:?}"));
            }
            if desired != desired_before {
                self.fail(format!(
                    "desired changed {desired_before} → {desired} on a steady load"
                ));
            }
        }
    }

    /// Whether the fullest zone has an instance rebalancing could move.
    fn movable_in_fullest(&self) -> bool {
        let counted = self.f.counted();
        let zones = self.f.per_zone();
        let max = *zones.iter().max().unwrap();
        self.f
            .subnets
            .iter()
            .zip(&zones)
            .filter(|(_, n)| **n == max)
            .any(|(s, _)| {
                counted.iter().any(|i| {
                    i.availability_zone == s.availability_zone && !i.protected_from_scale_in
                })
            })
    }
}
