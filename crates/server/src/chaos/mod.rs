//! Failure drills (`updraft chaos …`): what a drill is, how it is checked before anything is
//! touched, and — in [`progress`] — how it advances and what its report says. All pure: the
//! controller (`controller::drills`) gathers the observation and carries out the actions.
//!
//! | drill | what it does | undone by |
//! |---|---|---|
//! | `kill-instance` | SIGKILL one instance (random InService one, or by id) | nothing to undo: the ASG replaces it |
//! | `stop-az` | AWS FIS "AZ power interruption": SIGKILL every instance in the zone; launches there fail with `InsufficientInstanceCapacity` for the duration | the zone takes launches again; the group rebalances |
//! | `latency` / `errors` | a fault on the path from the balancer to a target group (optionally one zone's targets) | removing the fault (the data plane also drops it by itself when its duration is over) |
//! | `partition-az` | nftables drops every packet between the zone's loopback blocks and the rest | deleting the drill's nftables table |
//!
//! Invariants:
//! - a drill is validated whole against the running stack before anything changes: a bad AZ,
//!   group, target group or instance id is one clear error and the stack is untouched;
//! - every drill is bounded: `deadline` is fixed when it starts; the controller ends it then at
//!   the latest, and a daemon restarted after a crash ends (and undoes) a drill whose deadline
//!   has passed;
//! - the database workstream adds its drills as further [`DrillSpec`] variants, and hooks the
//!   zone outage through `Controller::zone_power_off` / `zone_power_on` (see `controller::drills`).

pub mod netfilter;
pub mod progress;

use std::time::Duration;

use model::{AvailabilityZone, InstanceId, LifecycleState, Stack, Timestamp};
use serde::{Deserialize, Serialize};

pub use progress::{DrillAction, GroupObservation, Observation, ObservedInstance, advance};

/// The longest fault a drill may inject.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// How long a drill keeps watching for recovery after its fault ends (or after the kill).
pub const SETTLE_LIMIT: Duration = Duration::from_secs(120);

/// What to break, and for how long. Durations are in milliseconds on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "drill", rename_all = "kebab-case")]
pub enum DrillSpec {
    /// SIGKILL one instance: `instance` by id, or a random InService one (of `group`, if set).
    KillInstance {
        #[serde(default)]
        group: Option<String>,
        #[serde(default)]
        instance: Option<String>,
    },
    /// Power interruption of a whole availability zone for `duration_ms`.
    StopAz {
        availability_zone: String,
        duration_ms: u64,
    },
    /// Delay `percent` % of the requests forwarded to `target_group`.
    Latency {
        target_group: String,
        #[serde(default)]
        availability_zone: Option<String>,
        delay_ms: u64,
        #[serde(default)]
        jitter_ms: u64,
        percent: f64,
        duration_ms: u64,
    },
    /// Break `percent` % of the requests forwarded to `target_group`: a connection reset (the
    /// balancer answers 502 unless its retry succeeds) or, with `status`, a target 5xx.
    Errors {
        target_group: String,
        #[serde(default)]
        availability_zone: Option<String>,
        percent: f64,
        #[serde(default)]
        status: Option<u16>,
        duration_ms: u64,
    },
    /// Cut the zone off the network (nftables, root only) for `duration_ms`.
    PartitionAz {
        availability_zone: String,
        duration_ms: u64,
    },
}

impl DrillSpec {
    /// The name users type: `kill-instance`, `stop-az`, …
    pub fn name(&self) -> &'static str {
        match self {
            DrillSpec::KillInstance { .. } => "kill-instance",
            DrillSpec::StopAz { .. } => "stop-az",
            DrillSpec::Latency { .. } => "latency",
            DrillSpec::Errors { .. } => "errors",
            DrillSpec::PartitionAz { .. } => "partition-az",
        }
    }

    /// How long the fault lasts (`None` for a one-shot kill).
    pub fn duration(&self) -> Option<Duration> {
        match self {
            DrillSpec::KillInstance { .. } => None,
            DrillSpec::StopAz { duration_ms, .. }
            | DrillSpec::Latency { duration_ms, .. }
            | DrillSpec::Errors { duration_ms, .. }
            | DrillSpec::PartitionAz { duration_ms, .. } => {
                Some(Duration::from_millis(*duration_ms))
            }
        }
    }

    /// The zone the drill takes down or cuts off, if it is a zone drill.
    pub fn zone(&self) -> Option<AvailabilityZone> {
        match self {
            DrillSpec::StopAz {
                availability_zone, ..
            }
            | DrillSpec::PartitionAz {
                availability_zone, ..
            } => Some(AvailabilityZone::new(availability_zone.clone())),
            _ => None,
        }
    }

    /// One line saying what the drill does.
    pub fn describe(&self) -> String {
        let d = |ms: &u64| model::time::format_duration(Duration::from_millis(*ms));
        let zone = |z: &Option<String>| z.as_ref().map(|z| format!(" in {z}")).unwrap_or_default();
        match self {
            DrillSpec::KillInstance { group, instance } => match (instance, group) {
                (Some(id), _) => format!("SIGKILL instance {id}"),
                (None, Some(g)) => format!("SIGKILL a random InService instance of group {g}"),
                (None, None) => "SIGKILL a random InService instance".into(),
            },
            DrillSpec::StopAz {
                availability_zone,
                duration_ms,
            } => format!(
                "power interruption of {availability_zone} for {}: its instances stop, launches there fail",
                d(duration_ms)
            ),
            DrillSpec::Latency {
                target_group,
                availability_zone,
                delay_ms,
                jitter_ms,
                percent,
                duration_ms,
            } => format!(
                "+{}{} latency on {percent}% of requests to target group {target_group}{} for {}",
                d(delay_ms),
                if *jitter_ms > 0 {
                    format!(" (±{})", d(jitter_ms))
                } else {
                    String::new()
                },
                zone(availability_zone),
                d(duration_ms)
            ),
            DrillSpec::Errors {
                target_group,
                availability_zone,
                percent,
                status,
                duration_ms,
            } => format!(
                "{} on {percent}% of requests to target group {target_group}{} for {}",
                match status {
                    Some(s) => format!("HTTP {s} from the target"),
                    None => "connection resets".into(),
                },
                zone(availability_zone),
                d(duration_ms)
            ),
            DrillSpec::PartitionAz {
                availability_zone,
                duration_ms,
            } => format!(
                "network partition of {availability_zone} for {}",
                d(duration_ms)
            ),
        }
    }
}

/// Where a drill is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// The fault is in place.
    Active,
    /// The fault has been undone; watching the stack settle (rebalance, recover).
    Settling,
    Finished,
}

/// A line of a drill's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillEvent {
    pub at: Timestamp,
    pub message: String,
}

/// What the stack looked like when the drill started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// Healthy InService instances, per group key.
    pub healthy: Vec<(String, u32)>,
    pub counters: Vec<proxy::TargetGroupCounters>,
}

/// One drill, from start to report. Persisted in the store, so that a restarted daemon can end
/// (and undo) a drill whose time is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drill {
    pub id: String,
    pub spec: DrillSpec,
    pub phase: Phase,
    pub started_at: Timestamp,
    /// When the fault ends (duration drills).
    pub fault_until: Option<Timestamp>,
    /// The drill ends by then at the latest.
    pub deadline: Timestamp,
    pub baseline: Baseline,
    /// Instances the drill killed.
    pub victims: Vec<InstanceId>,
    pub detected_at: Option<Timestamp>,
    pub recovered_at: Option<Timestamp>,
    /// When the fault was undone.
    pub restored_at: Option<Timestamp>,
    /// When the stack was back in shape after the fault (rebalanced, all healthy).
    pub settled_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// Why it ended: "completed", "stopped early by the user", …
    pub ended_by: Option<String>,
    /// Counters when the drill ended (or the latest reading while it runs).
    pub counters: Vec<proxy::TargetGroupCounters>,
    pub events: Vec<DrillEvent>,
}

impl Drill {
    /// A drill starting at `now`; `victims` are the instances it kills right away.
    pub fn start(
        id: String,
        spec: DrillSpec,
        baseline: Baseline,
        victims: Vec<InstanceId>,
        now: Timestamp,
    ) -> Drill {
        let fault_until = spec.duration().map(|d| now + d);
        let deadline = fault_until.unwrap_or(now) + SETTLE_LIMIT;
        let counters = baseline.counters.clone();
        Drill {
            id,
            events: vec![DrillEvent {
                at: now,
                message: format!("started: {}", spec.describe()),
            }],
            spec,
            phase: Phase::Active,
            started_at: now,
            fault_until,
            deadline,
            baseline,
            victims,
            detected_at: None,
            recovered_at: None,
            restored_at: None,
            settled_at: None,
            ended_at: None,
            ended_by: None,
            counters,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    pub(crate) fn log(&mut self, at: Timestamp, message: impl Into<String>) {
        self.events.push(DrillEvent {
            at,
            message: message.into(),
        });
    }

    /// The report: the numbers users ask for, computed from the record.
    pub fn report(&self) -> DrillReport {
        let since = |t: Option<Timestamp>| t.map(|t| t.since(self.started_at).as_millis() as u64);
        let (mut requests, mut failed, mut elb_5xx, mut target_5xx, mut injected) = (0, 0, 0, 0, 0);
        for now in &self.counters {
            let before = self
                .baseline
                .counters
                .iter()
                .find(|b| b.target_group == now.target_group)
                .cloned()
                .unwrap_or_default();
            let d = now.since(&before);
            requests += d.requests;
            failed += d.failed();
            elb_5xx += d.elb_5xx();
            target_5xx += d.target_5xx;
            injected += d.faults_injected;
        }
        DrillReport {
            drill: self.spec.name().into(),
            id: self.id.clone(),
            description: self.spec.describe(),
            phase: self.phase,
            started_at: self.started_at,
            ended_at: self.ended_at,
            ended_by: self.ended_by.clone(),
            time_to_detect_ms: since(self.detected_at),
            time_to_recover_ms: since(self.recovered_at),
            fault_ms: self
                .restored_at
                .or(self.fault_until)
                .map(|t| t.since(self.started_at).as_millis() as u64),
            time_to_settle_after_restore_ms: match (self.restored_at, self.settled_at) {
                (Some(r), Some(s)) => Some(s.since(r).as_millis() as u64),
                _ => None,
            },
            requests,
            failed,
            elb_5xx,
            target_5xx,
            faults_injected: injected,
            failed_percent: if requests == 0 {
                0.0
            } else {
                failed as f64 * 100.0 / requests as f64
            },
            victims: self.victims.iter().map(|v| v.to_string()).collect(),
            events: self.events.clone(),
        }
    }
}

/// A drill's report: time to detect, time to recover, and the requests the balancer saw fail
/// while it lasted (from the balancer's own counters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    pub drill: String,
    pub id: String,
    pub description: String,
    pub phase: Phase,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub ended_by: Option<String>,
    pub time_to_detect_ms: Option<u64>,
    pub time_to_recover_ms: Option<u64>,
    /// How long the fault was in place.
    pub fault_ms: Option<u64>,
    /// From undoing the fault to the stack being back in shape (rebalanced, all healthy).
    pub time_to_settle_after_restore_ms: Option<u64>,
    pub requests: u64,
    pub failed: u64,
    pub elb_5xx: u64,
    pub target_5xx: u64,
    pub faults_injected: u64,
    pub failed_percent: f64,
    pub victims: Vec<String>,
    pub events: Vec<DrillEvent>,
}

/// `POST /v1/drills` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillRequest {
    pub spec: DrillSpec,
}

/// What a drill needs to know of an instance to choose victims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: InstanceId,
    pub group: String,
    /// The group's AWS name.
    pub group_name: String,
    pub availability_zone: AvailabilityZone,
    pub lifecycle: LifecycleState,
}

/// Checks a drill against the running stack and the drills already running, and picks the
/// instances it kills. `pick` chooses one of `n` (random in the shell, fixed in tests). Nothing
/// has changed when this returns an error.
pub fn plan(
    spec: &DrillSpec,
    stack: &Stack,
    instances: &[Candidate],
    running: &[&Drill],
    pick: impl FnOnce(usize) -> usize,
) -> Result<Vec<InstanceId>, String> {
    if let Some(d) = spec.duration() {
        if d.is_zero() {
            return Err("the duration must be longer than 0s; e.g. --duration 30s".into());
        }
        if d > MAX_DURATION {
            return Err(format!(
                "a drill lasts at most {}; asked for {}",
                model::time::format_duration(MAX_DURATION),
                model::time::format_duration(d)
            ));
        }
    }
    let zones = stack_zones(stack);
    let check_zone = |z: &str| {
        if zones.iter().any(|known| known.as_str() == z) {
            Ok(())
        } else {
            Err(format!(
                "availability zone `{z}` is not in this stack; its zones are: {}",
                zones
                    .iter()
                    .map(|z| z.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    let check_percent = |p: f64| {
        if p.is_finite() && p > 0.0 && p <= 100.0 {
            Ok(())
        } else {
            Err(format!(
                "--percent must be above 0 and at most 100; got {p}"
            ))
        }
    };
    let check_target_group = |name: &str| {
        stack
            .target_groups
            .values()
            .find(|tg| tg.name == name || tg.key == name)
            .map(|_| ())
            .ok_or_else(|| {
                let names: Vec<_> = stack
                    .target_groups
                    .values()
                    .map(|t| t.name.as_str())
                    .collect();
                format!(
                    "no target group named `{name}` in this stack; target groups: {}",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                )
            })
    };
    match spec {
        DrillSpec::KillInstance { group, instance } => {
            if let Some(g) = group
                && stack.auto_scaling_group(g).is_none()
            {
                let names: Vec<_> = stack
                    .auto_scaling_groups
                    .values()
                    .map(|g| g.name.as_str())
                    .collect();
                return Err(format!(
                    "no auto scaling group named `{g}` in this stack; groups: {}",
                    names.join(", ")
                ));
            }
            let group_key = group
                .as_ref()
                .and_then(|g| stack.auto_scaling_group(g))
                .map(|g| g.key.clone());
            if let Some(id) = instance {
                let found = instances
                    .iter()
                    .find(|c| c.id.as_str() == id && c.lifecycle != LifecycleState::Terminated)
                    .ok_or_else(|| {
                        format!(
                            "no running instance `{id}` in this stack; see `updraft status` for instance ids"
                        )
                    })?;
                if group_key.as_ref().is_some_and(|g| *g != found.group) {
                    return Err(format!(
                        "instance `{id}` belongs to group {}, not {}",
                        found.group_name,
                        group.as_deref().unwrap_or_default()
                    ));
                }
                return Ok(vec![found.id.clone()]);
            }
            let pool: Vec<&Candidate> = instances
                .iter()
                .filter(|c| c.lifecycle == LifecycleState::InService)
                .filter(|c| group_key.as_ref().is_none_or(|g| *g == c.group))
                .collect();
            if pool.is_empty() {
                return Err(
                    "no InService instance to kill; wait until `updraft status` shows one".into(),
                );
            }
            let i = pick(pool.len()).min(pool.len() - 1);
            Ok(vec![pool[i].id.clone()])
        }
        DrillSpec::StopAz {
            availability_zone, ..
        }
        | DrillSpec::PartitionAz {
            availability_zone, ..
        } => {
            check_zone(availability_zone)?;
            if let Some(other) = running.iter().find(|d| {
                d.spec.zone().as_ref().map(|z| z.as_str()) == Some(availability_zone.as_str())
            }) {
                return Err(format!(
                    "{availability_zone} is already in drill {} ({}); wait for it to end or stop it with `updraft chaos stop {}`",
                    other.id,
                    other.spec.name(),
                    other.id
                ));
            }
            if matches!(spec, DrillSpec::StopAz { .. }) {
                Ok(instances
                    .iter()
                    .filter(|c| {
                        c.availability_zone.as_str() == availability_zone
                            && c.lifecycle != LifecycleState::Terminated
                    })
                    .map(|c| c.id.clone())
                    .collect())
            } else {
                Ok(vec![])
            }
        }
        DrillSpec::Latency {
            target_group,
            availability_zone,
            percent,
            delay_ms,
            ..
        } => {
            check_target_group(target_group)?;
            if let Some(z) = availability_zone {
                check_zone(z)?;
            }
            check_percent(*percent)?;
            if *delay_ms == 0 {
                return Err("--delay must be longer than 0ms; e.g. --delay 200ms".into());
            }
            Ok(vec![])
        }
        DrillSpec::Errors {
            target_group,
            availability_zone,
            percent,
            status,
            ..
        } => {
            check_target_group(target_group)?;
            if let Some(z) = availability_zone {
                check_zone(z)?;
            }
            check_percent(*percent)?;
            if let Some(s) = status
                && !(500..=599).contains(s)
            {
                return Err(format!(
                    "--status must be a server error (500–599); got {s}"
                ));
            }
            Ok(vec![])
        }
    }
}

/// The stack's availability zones, in the order its subnets list them.
pub fn stack_zones(stack: &Stack) -> Vec<AvailabilityZone> {
    let mut zones: Vec<AvailabilityZone> = Vec::new();
    for s in stack.subnets.values() {
        if !zones.contains(&s.availability_zone) {
            zones.push(s.availability_zone.clone());
        }
    }
    zones.sort();
    zones
}

#[cfg(test)]
mod tests;
