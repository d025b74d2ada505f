//! The rules of [`super::decide`], one method each, applied in order to a working copy of the
//! state.

use model::{AvailabilityZone, Timestamp};

use super::{
    Action, EventDraft, EventKind, NodeObservation, Observed, ProcessState, Request, backoff_over,
};
use crate::cluster::{
    ClusterSpec, ClusterState, FailoverRecord, NodeRecord, NodeStatus, Role, SyncPending,
};
use crate::lsn::Lsn;

/// How long a requested synchronous standby may take to be reported `sync`.
const SYNC_PENDING_TIMEOUT_MS: u64 = 5_000;

pub(super) struct Tick<'a> {
    pub spec: &'a ClusterSpec,
    pub obs: &'a Observed,
    pub now: Timestamp,
    pub next: ClusterState,
    pub actions: Vec<Action>,
    pub events: Vec<EventDraft>,
}

impl Tick<'_> {
    fn event(&mut self, kind: EventKind, node: Option<&str>, message: String) {
        self.events.push(EventDraft {
            kind,
            node: node.map(str::to_owned),
            message,
        });
    }

    fn observation(&self, node: &str) -> Option<&NodeObservation> {
        self.obs.nodes.get(node)
    }

    fn zone_down(&self, zone: &AvailabilityZone) -> bool {
        self.obs.zones_down.contains(zone)
    }

    fn set_status(&mut self, node: &str, status: NodeStatus) {
        if let Some(n) = self.next.node_mut(node) {
            n.status = status;
        }
    }

    /// A probe taken after `since` that is still fresh.
    fn fresh_probe(&self, node: &str, since: Option<Timestamp>) -> Option<&super::Probe> {
        let o = self.observation(node)?;
        let p = o.last_probe.as_ref()?;
        let recent = self.now.since(p.at) <= self.spec.timing.probe_fresh;
        let after = since.is_none_or(|s| p.at > s);
        (recent && after && o.failures == 0 && o.process == ProcessState::Running).then_some(p)
    }

    /// The primary, when it is running and answers as a primary.
    fn healthy_primary(&self) -> Option<String> {
        let p = self.next.primary_node()?;
        if !p.status.is_running() {
            return None;
        }
        let probe = self.fresh_probe(&p.name, None)?;
        (!probe.in_recovery).then(|| p.name.clone())
    }

    /// Rule 0: long actions that finished.
    pub fn apply_completions(&mut self) {
        for c in &self.obs.completed {
            let Some(node) = self.next.node(&c.node).cloned() else {
                continue;
            };
            if !node.status.is_busy() {
                continue;
            }
            let creating = matches!(node.status, NodeStatus::Creating { .. });
            match &c.result {
                Ok(()) => {
                    self.set_status(&c.node, NodeStatus::Running { since: self.now });
                    if creating && node.role == Role::Primary && self.next.primary.is_none() {
                        self.next.primary = Some(c.node.clone());
                        self.next.writes_blocked = None;
                        self.event(
                            EventKind::Writes,
                            Some(&c.node),
                            format!(
                                "{} is the primary: the writer endpoint accepts connections",
                                c.node
                            ),
                        );
                    }
                    let what = if creating {
                        "created"
                    } else {
                        "rejoined as a standby"
                    };
                    let kind = if creating {
                        EventKind::Node
                    } else {
                        EventKind::Rejoin
                    };
                    self.event(kind, Some(&c.node), format!("{} {what}", c.node));
                }
                Err(e) => {
                    let status = if e.permanent {
                        NodeStatus::Failed {
                            since: self.now,
                            reason: e.message.clone(),
                        }
                    } else {
                        NodeStatus::Down {
                            since: self.now,
                            reason: e.message.clone(),
                            clone: true,
                        }
                    };
                    if let Some(n) = self.next.node_mut(&c.node) {
                        n.restarts += 1;
                    }
                    self.set_status(&c.node, status);
                    let what = if creating {
                        "could not be created"
                    } else {
                        "could not rejoin"
                    };
                    self.event(
                        EventKind::Failure,
                        Some(&c.node),
                        format!("{} {what}: {}", c.node, e.message),
                    );
                }
            }
        }
    }

    /// Rule 1: nodes in a zone that is down go down with it.
    pub fn zone_outages(&mut self) {
        let nodes = self.next.nodes.clone();
        for n in nodes {
            if !self.zone_down(&n.zone) || self.next.primary.as_deref() == Some(&n.name) {
                continue;
            }
            let running = self
                .observation(&n.name)
                .is_some_and(|o| o.process == ProcessState::Running);
            let already =
                matches!(&n.status, NodeStatus::Down { reason, .. } if reason.starts_with("AZ "));
            if running
                || (!already
                    && !matches!(
                        n.status,
                        NodeStatus::Fenced { .. } | NodeStatus::Failed { .. }
                    ))
            {
                if running {
                    self.actions.push(Action::Kill {
                        node: n.name.clone(),
                    });
                }
                if !already
                    && !matches!(
                        n.status,
                        NodeStatus::Fenced { .. } | NodeStatus::Failed { .. }
                    )
                {
                    let reason = format!("AZ {} is down", n.zone);
                    self.event(
                        EventKind::Failure,
                        Some(&n.name),
                        format!("{}: {reason}", n.name),
                    );
                    self.set_status(
                        &n.name,
                        NodeStatus::Down {
                            since: self.now,
                            reason,
                            clone: false,
                        },
                    );
                }
            }
        }
    }

    /// A non-primary node whose process exited goes Down (the primary is rule 2's).
    pub fn notice_exits(&mut self) {
        let nodes = self.next.nodes.clone();
        for n in nodes {
            if self.next.primary.as_deref() == Some(&n.name) || !n.status.is_running() {
                continue;
            }
            let Some(o) = self.observation(&n.name) else {
                continue;
            };
            let detail = match &o.process {
                ProcessState::Running => {
                    // Running, but its log says streaming cannot resume: re-clone it.
                    match &o.fault {
                        Some((kind, line)) if kind.needs_clone() => {
                            let reason = format!("{}: {line}", kind.describe());
                            self.actions.push(Action::Kill {
                                node: n.name.clone(),
                            });
                            self.event(
                                EventKind::Failure,
                                Some(&n.name),
                                format!("{}: {reason}", n.name),
                            );
                            self.set_status(
                                &n.name,
                                NodeStatus::Down {
                                    since: self.now,
                                    reason,
                                    clone: true,
                                },
                            );
                        }
                        _ => {
                            // Ran long enough: forget earlier restarts.
                            if let NodeStatus::Running { since } = n.status
                                && n.restarts > 0
                                && self.now.since(since) >= self.spec.timing.restart_backoff * 4
                                && let Some(m) = self.next.node_mut(&n.name)
                            {
                                m.restarts = 0;
                            }
                        }
                    }
                    continue;
                }
                ProcessState::Exited { detail, .. } => detail.clone(),
                ProcessState::NotRunning => "its server is not running".to_owned(),
            };
            let (reason, clone) = match &o.fault {
                Some((kind, line)) => (
                    format!("{detail}; {}: {line}", kind.describe()),
                    kind.needs_clone(),
                ),
                None => (detail, false),
            };
            self.event(
                EventKind::Failure,
                Some(&n.name),
                format!("{} stopped: {reason}", n.name),
            );
            self.set_status(
                &n.name,
                NodeStatus::Down {
                    since: self.now,
                    reason,
                    clone,
                },
            );
            if self
                .next
                .sync_pending
                .as_ref()
                .is_some_and(|p| p.node == n.name)
            {
                self.next.sync_pending = None;
            }
        }
    }

    /// Rule 2: is the primary lost? Then fence it and close the writer.
    pub fn primary_loss(&mut self) {
        let Some(p) = self.next.primary_node().cloned() else {
            return;
        };
        if !p.status.is_running() {
            return;
        }
        let t = self.spec.timing;
        let o = self.observation(&p.name).cloned().unwrap_or_default();
        // Failures from before it was (re)started as the primary do not count.
        let running_since = match p.status {
            NodeStatus::Running { since } => since,
            _ => self.now,
        };
        let streak = o
            .failing_since
            .map(|s| self.now.since(s.max(running_since)))
            .unwrap_or_default();
        let replicated = self.next.nodes.iter().any(|n| {
            n.name != p.name
                && self
                    .observation(&n.name)
                    .and_then(|o| o.last_probe.as_ref())
                    .is_some_and(|probe| {
                        probe.streaming && self.now.since(probe.at) <= t.probe_fresh
                    })
        });
        let (reason, started) = if self.zone_down(&p.zone) {
            (format!("AZ {} is down", p.zone), self.now)
        } else {
            match &o.process {
                ProcessState::Exited { at, detail } => (format!("its server {detail}"), *at),
                ProcessState::NotRunning => ("its server is not running".into(), self.now),
                ProcessState::Running
                    if o.failures >= t.probe_failures && streak >= t.detect_timeout =>
                {
                    (
                        format!(
                            "{} health checks failed over {} ms: {}",
                            o.failures,
                            streak.as_millis(),
                            o.last_error.as_deref().unwrap_or("no answer")
                        ),
                        self.now,
                    )
                }
                ProcessState::Running
                    if o.failures >= 2
                        && streak >= t.detect_timeout_unreplicated
                        && !replicated =>
                {
                    (
                        format!(
                            "{} health checks failed over {} ms and no standby receives its WAL: {}",
                            o.failures,
                            streak.as_millis(),
                            o.last_error.as_deref().unwrap_or("no answer")
                        ),
                        self.now,
                    )
                }
                ProcessState::Running => {
                    // Alive and well, but in recovery: an interrupted promotion. Finish it.
                    if let Some(probe) = self.fresh_probe(&p.name, None)
                        && probe.in_recovery
                    {
                        self.actions.push(Action::Promote {
                            node: p.name.clone(),
                        });
                        self.event(
                            EventKind::Promotion,
                            Some(&p.name),
                            format!(
                                "{} is the primary but still in recovery: promoting it",
                                p.name
                            ),
                        );
                    }
                    return;
                }
            }
        };
        self.event(
            EventKind::Failure,
            Some(&p.name),
            format!("primary {} lost: {reason}", p.name),
        );
        self.fence(&p.name, &format!("primary lost: {reason}"));
        self.next.primary = None;
        self.next.writes_blocked = Some(format!(
            "failover in progress: primary {} lost ({reason})",
            p.name
        ));
        self.next.failover = Some(FailoverRecord {
            started,
            lost: p.name.clone(),
            reason,
            promoted: None,
            manual: false,
        });
    }

    fn fence(&mut self, node: &str, reason: &str) {
        self.actions.push(Action::Fence {
            node: node.to_owned(),
        });
        self.set_status(
            node,
            NodeStatus::Fenced {
                since: self.now,
                reason: reason.to_owned(),
            },
        );
        self.event(
            EventKind::Fence,
            Some(node),
            format!("{node} fenced: it can only come back as a standby"),
        );
    }

    /// `updraft db failover`: stop the primary cleanly, then promote through rule 3.
    pub fn switchover(&mut self) {
        if self.obs.request != Some(Request::Switchover) {
            return;
        }
        let Some(p) = self.healthy_primary() else {
            self.event(
                EventKind::Switchover,
                None,
                "switchover refused: there is no healthy primary".into(),
            );
            return;
        };
        let eligible = self.responders();
        if eligible.len() < self.needed() || self.next.sync.is_empty() {
            self.event(
                EventKind::Switchover,
                None,
                format!(
                    "switchover refused: no standby is known to hold every acknowledged commit ({})",
                    self.sync_description()
                ),
            );
            return;
        }
        self.event(
            EventKind::Switchover,
            Some(&p),
            format!("switchover requested: stopping {p} cleanly so that its last WAL reaches the standby"),
        );
        self.actions.push(Action::StopClean { node: p.clone() });
        self.set_status(
            &p,
            NodeStatus::Fenced {
                since: self.now,
                reason: "switchover".into(),
            },
        );
        self.next.primary = None;
        self.next.writes_blocked = Some(format!("switchover in progress from {p}"));
        self.next.failover = Some(FailoverRecord {
            started: self.now,
            lost: p,
            reason: "switchover".into(),
            promoted: None,
            manual: true,
        });
    }

    /// Members of `sync` that answer as healthy standbys now.
    fn responders(&self) -> Vec<(String, Option<Lsn>)> {
        self.next
            .sync
            .iter()
            .filter_map(|m| {
                let n = self.next.node(m)?;
                if !n.status.is_running() || self.zone_down(&n.zone) {
                    return None;
                }
                let p = self.fresh_probe(m, None)?;
                p.in_recovery.then(|| (m.clone(), p.wal_position()))
            })
            .collect()
    }

    /// `N − k + 1`.
    fn needed(&self) -> usize {
        let n = self.next.sync.len();
        let k = (self.next.sync_quorum as usize).clamp(1, n.max(1));
        n + 1 - k
    }

    fn sync_description(&self) -> String {
        if self.next.sync.is_empty() {
            return "no synchronous standby is attached".into();
        }
        self.next
            .sync
            .iter()
            .map(|m| {
                let why = match self.next.node(m) {
                    None => "gone".to_owned(),
                    Some(n) if self.zone_down(&n.zone) => format!("AZ {} is down", n.zone),
                    Some(n) if !n.status.is_running() => n
                        .status
                        .reason()
                        .map_or_else(|| n.status.name().to_owned(), str::to_owned),
                    Some(_) => match self.observation(m) {
                        Some(o) if o.failures > 0 => format!(
                            "not answering: {}",
                            o.last_error.as_deref().unwrap_or("no answer")
                        ),
                        _ => "not answering".into(),
                    },
                };
                format!("synchronous standby {m}: {why}")
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Rule 3: no primary: promote a standby that holds every acknowledged commit, or wait.
    pub fn promote_or_wait(&mut self) {
        if self.next.primary.is_some() || self.next.nodes.is_empty() {
            return;
        }
        // The first primary is still being created.
        if self
            .next
            .nodes
            .iter()
            .any(|n| n.role == Role::Primary && matches!(n.status, NodeStatus::Creating { .. }))
        {
            return;
        }
        let responders = self.responders();
        if !self.next.sync.is_empty() && responders.len() >= self.needed() {
            let pick = responders
                .iter()
                .max_by_key(|(name, lsn)| {
                    let standby = self
                        .next
                        .node(name)
                        .is_some_and(|n| n.role == Role::Standby);
                    (*lsn, standby, std::cmp::Reverse(name.clone()))
                })
                .map(|(name, lsn)| (name.clone(), *lsn))
                .expect("responders is not empty");
            self.promote(&pick.0, pick.1);
            return;
        }
        let why = format!("no safe promotion: {}", self.sync_description());
        // The last primary alone holds every acknowledged commit: bring it back if it can be.
        let old = self
            .next
            .nodes
            .iter()
            .find(|n| n.role == Role::Primary)
            .cloned();
        if let Some(old) = old
            && !self.zone_down(&old.zone)
            && matches!(
                old.status,
                NodeStatus::Fenced { .. } | NodeStatus::Down { clone: false, .. }
            )
            && backoff_over(&old.status, old.restarts, self.spec, self.now)
            && self.next.failover.as_ref().is_none_or(|f| !f.manual)
        {
            let reason = old.status.reason().unwrap_or_default().to_owned();
            if !reason.contains("disk full") || old.restarts < 8 {
                self.event(
                    EventKind::Node,
                    Some(&old.name),
                    format!(
                        "restarting {} in place as the primary: {why}; it holds every acknowledged commit",
                        old.name
                    ),
                );
                self.actions.push(Action::Start {
                    node: old.name.clone(),
                    upstream: None,
                });
                if let Some(n) = self.next.node_mut(&old.name) {
                    n.restarts += 1;
                    n.status = NodeStatus::Running { since: self.now };
                }
                self.next.primary = Some(old.name.clone());
                self.next.writes_blocked = None;
                self.next.failover = None;
                return;
            }
        }
        if self.next.writes_blocked.as_deref() != Some(&why) {
            self.event(EventKind::Writes, None, format!("writes refused: {why}"));
            self.next.writes_blocked = Some(why);
        }
    }

    fn promote(&mut self, node: &str, lsn: Option<Lsn>) {
        let at = lsn.map_or_else(|| "unknown LSN".to_owned(), |l| format!("LSN {l}"));
        self.event(
            EventKind::Promotion,
            Some(node),
            format!("promoting {node}: the synchronous standby, it holds every acknowledged commit ({at})"),
        );
        self.actions.push(Action::Promote {
            node: node.to_owned(),
        });
        // The former primary becomes what it was before: a read replica stays one, a node of
        // the Multi-AZ pair becomes its standby.
        for n in &mut self.next.nodes {
            if n.role == Role::Primary {
                n.role = if n.replica_of.is_some() {
                    Role::Replica
                } else {
                    Role::Standby
                };
            }
        }
        let standby_zone = self.next.node(node).map(|n| n.zone.clone());
        if let Some(n) = self.next.node_mut(node) {
            n.role = Role::Primary;
        }
        let _ = standby_zone;
        self.next.primary = Some(node.to_owned());
        self.next.promotions += 1;
        // Nobody is known to hold the new primary's commits until a standby catches up.
        self.next.sync.clear();
        self.next.sync_pending = None;
        self.next.writes_blocked = None;
        if let Some(f) = &mut self.next.failover {
            f.promoted = Some(node.to_owned());
        }
        let followers: Vec<String> = self
            .next
            .nodes
            .iter()
            .filter(|n| n.name != node && n.status.is_running())
            .map(|n| n.name.clone())
            .collect();
        for f in followers {
            self.actions.push(Action::Follow {
                node: f,
                upstream: node.to_owned(),
            });
        }
    }

    /// Rule 4: only the primary may be writable.
    pub fn split_brain_guard(&mut self) {
        let nodes = self.next.nodes.clone();
        for n in nodes {
            if self.next.primary.as_deref() == Some(&n.name) || n.status.is_busy() {
                continue;
            }
            let since = match &n.status {
                NodeStatus::Running { since }
                | NodeStatus::Down { since, .. }
                | NodeStatus::Fenced { since, .. }
                | NodeStatus::Failed { since, .. } => *since,
                _ => continue,
            };
            if let Some(p) = self.fresh_probe(&n.name, Some(since))
                && !p.in_recovery
            {
                self.event(
                    EventKind::Failure,
                    Some(&n.name),
                    format!("{} answers as a writable primary but is not the primary: split brain prevented", n.name),
                );
                self.fence(&n.name, "came back writable without being the primary");
            }
        }
    }

    /// Rule 5: bring fenced and crashed nodes back as standbys.
    pub fn repair(&mut self) {
        let Some(primary) = self.healthy_primary() else {
            return;
        };
        let nodes = self.next.nodes.clone();
        for n in nodes {
            if n.name == primary || self.zone_down(&n.zone) {
                continue;
            }
            match &n.status {
                NodeStatus::Fenced { .. } => {
                    self.event(
                        EventKind::Rejoin,
                        Some(&n.name),
                        format!("{} rejoins as a standby of {primary} (pg_rewind)", n.name),
                    );
                    self.actions.push(Action::Rejoin {
                        node: n.name.clone(),
                        upstream: primary.clone(),
                        clone: false,
                    });
                    self.set_status(&n.name, NodeStatus::Rejoining { since: self.now });
                }
                NodeStatus::Down { clone: true, .. } => {
                    if !backoff_over(&n.status, n.restarts.saturating_sub(1), self.spec, self.now) {
                        continue;
                    }
                    self.event(
                        EventKind::Rejoin,
                        Some(&n.name),
                        format!("{} is re-cloned from {primary} (base backup)", n.name),
                    );
                    self.actions.push(Action::Rejoin {
                        node: n.name.clone(),
                        upstream: primary.clone(),
                        clone: true,
                    });
                    self.set_status(&n.name, NodeStatus::Rejoining { since: self.now });
                }
                NodeStatus::Down { clone: false, .. } => {
                    if !backoff_over(&n.status, n.restarts, self.spec, self.now) {
                        continue;
                    }
                    self.event(
                        EventKind::Node,
                        Some(&n.name),
                        format!("restarting {} as a standby of {primary}", n.name),
                    );
                    self.actions.push(Action::Start {
                        node: n.name.clone(),
                        upstream: Some(primary.clone()),
                    });
                    if let Some(m) = self.next.node_mut(&n.name) {
                        m.restarts += 1;
                        m.status = NodeStatus::Running { since: self.now };
                    }
                }
                _ => {}
            }
        }
    }

    /// Rule 6: create the primary, the Multi-AZ standby and the replicas, and replace a
    /// standby whose AZ is down.
    pub fn topology(&mut self) {
        if self.next.nodes.is_empty() {
            let zone = self.spec.primary_zone.clone();
            if self.zone_down(&zone) {
                self.block_creation(format!("AZ {zone} (the primary's) is down"));
                return;
            }
            self.create(Role::Primary, zone, None, None);
            return;
        }
        let Some(primary) = self.healthy_primary() else {
            return;
        };
        let primary_zone = self
            .next
            .node(&primary)
            .map(|n| n.zone.clone())
            .expect("primary exists");
        if self.spec.multi_az {
            let standby = self
                .next
                .nodes
                .iter()
                .find(|n| n.role == Role::Standby)
                .cloned();
            let gone_since = standby.as_ref().and_then(|s| match &s.status {
                NodeStatus::Down { since, .. } | NodeStatus::Fenced { since, .. }
                    if self.zone_down(&s.zone) =>
                {
                    Some(*since)
                }
                NodeStatus::Failed { since, .. } => Some(*since),
                _ => None,
            });
            let replace =
                gone_since.is_some_and(|s| self.now.since(s) >= self.spec.timing.replace_after);
            if standby.is_none() || replace {
                let used: Vec<AvailabilityZone> =
                    self.next.nodes.iter().map(|n| n.zone.clone()).collect();
                let zone = self
                    .spec
                    .zones
                    .iter()
                    .filter(|z| **z != primary_zone && !self.zone_down(z))
                    .min_by_key(|z| used.iter().filter(|u| u == z).count())
                    .cloned();
                if let Some(zone) = zone {
                    if let Some(old) = standby.filter(|_| replace) {
                        self.event(
                            EventKind::Node,
                            Some(&old.name),
                            format!(
                                "{} is replaced by a new standby in {zone}: {}",
                                old.name,
                                old.status.reason().unwrap_or("it is unavailable")
                            ),
                        );
                        self.actions.push(Action::Remove {
                            node: old.name.clone(),
                        });
                        self.next.nodes.retain(|n| n.name != old.name);
                        self.next.sync.retain(|m| *m != old.name);
                    }
                    self.create(Role::Standby, zone, Some(primary.clone()), None);
                }
            }
        }
        for r in self.spec.replicas.clone() {
            if self
                .next
                .nodes
                .iter()
                .any(|n| n.replica_of.as_deref() == Some(&r.key))
            {
                continue;
            }
            if self.zone_down(&r.zone) {
                continue;
            }
            self.create(
                Role::Replica,
                r.zone.clone(),
                Some(primary.clone()),
                Some(r.key.clone()),
            );
        }
    }

    fn block_creation(&mut self, why: String) {
        let why = format!("the cluster cannot be created: {why}");
        if self.next.writes_blocked.as_deref() != Some(&why) {
            self.event(EventKind::Writes, None, why.clone());
            self.next.writes_blocked = Some(why);
        }
    }

    fn create(
        &mut self,
        role: Role,
        zone: AvailabilityZone,
        upstream: Option<String>,
        replica_of: Option<String>,
    ) {
        let Some(host) = self.obs.free_hosts.get(&zone).copied() else {
            self.event(
                EventKind::Failure,
                None,
                format!("no free address in {zone} for a new {} node", role.as_str()),
            );
            return;
        };
        if self.next.nodes.iter().any(|n| n.host == host) {
            return;
        }
        let name = match &replica_of {
            Some(key) => self
                .spec
                .replicas
                .iter()
                .find(|r| &r.key == key)
                .map(|r| r.identifier.clone())
                .unwrap_or_else(|| key.clone()),
            None => {
                let n = self.next.next_node;
                self.next.next_node += 1;
                format!("{}-{n}", self.spec.identifier)
            }
        };
        let what = match (&role, &upstream) {
            (Role::Primary, _) => "the primary (initdb)".to_owned(),
            (_, Some(u)) => format!("a {} (base backup from {u})", role.as_str()),
            (_, None) => role.as_str().to_owned(),
        };
        self.event(
            EventKind::Node,
            Some(&name),
            format!(
                "creating {name} in {zone} at {host}:{}: {what}",
                self.spec.port
            ),
        );
        self.next.nodes.push(NodeRecord {
            name: name.clone(),
            zone,
            host,
            role,
            replica_of,
            status: NodeStatus::Creating { since: self.now },
            restarts: 0,
        });
        self.actions.push(Action::Create {
            node: name,
            upstream,
        });
    }

    /// Rule 7: keep exactly the standbys that hold every acknowledged commit in `sync`.
    pub fn synchronous_replication(&mut self) {
        if !self.spec.multi_az {
            return;
        }
        let Some(primary) = self.healthy_primary() else {
            return;
        };
        let Some(pprobe) = self.fresh_probe(&primary, None).cloned() else {
            return;
        };
        let link = |name: &str| {
            pprobe
                .replication
                .iter()
                .find(|l| l.application_name == name)
                .cloned()
        };
        let streaming = |name: &str| link(name).is_some_and(|l| l.state == "streaming");
        let grace = self.spec.timing.sync_detach_grace;

        // A member that is gone: stop naming it (and promising it) before commits stop
        // waiting for it.
        let members = self.next.sync.clone();
        for m in members {
            let node = self.next.node(&m).cloned();
            let o = self.observation(&m).cloned().unwrap_or_default();
            let detached = match &node {
                None => true,
                Some(n) if !n.status.is_running() => true,
                Some(_) => {
                    o.process != ProcessState::Running
                        || o.failing_since.is_some_and(|s| self.now.since(s) >= grace)
                        || (!streaming(&m)
                            && o.last_probe
                                .as_ref()
                                .is_some_and(|p| !p.streaming && p.at > pprobe.at - grace))
                }
            };
            if detached {
                self.next.sync.retain(|x| *x != m);
                self.actions.push(Action::SetSync {
                    primary: primary.clone(),
                    standby: None,
                });
                self.event(
                    EventKind::Sync,
                    Some(&m),
                    format!(
                        "synchronous standby {m} detached: commits are acknowledged by {primary} alone until a standby catches up, and no failover is possible until then"
                    ),
                );
            }
        }

        if let Some(pending) = self.next.sync_pending.clone() {
            let l = link(&pending.node);
            // Not reported `sync` in time (the request may not have reached the primary), or
            // not catching up: start over.
            let waited = self.now.since(pending.requested_at).as_millis() as u64;
            let gone = (pending.since.is_none() && waited > SYNC_PENDING_TIMEOUT_MS)
                || waited > 6 * SYNC_PENDING_TIMEOUT_MS
                || (!streaming(&pending.node) && waited > SYNC_PENDING_TIMEOUT_MS);
            let still_running = self
                .next
                .node(&pending.node)
                .is_some_and(|n| n.status.is_running());
            if gone || !still_running {
                self.next.sync_pending = None;
                self.actions.push(Action::SetSync {
                    primary: primary.clone(),
                    standby: None,
                });
                return;
            }
            match (pending.since, l) {
                (None, Some(l)) if l.sync_state == "sync" => {
                    if let Some(p) = self.next.sync_pending.as_mut() {
                        p.since = pprobe.current_lsn;
                    }
                }
                (Some(since), Some(l)) if l.flush_lsn.is_some_and(|f| f >= since) => {
                    self.next.sync = vec![pending.node.clone()];
                    self.next.sync_pending = None;
                    self.event(
                        EventKind::Sync,
                        Some(&pending.node),
                        format!(
                            "{} is the synchronous standby: every acknowledged commit is on {primary} and {}",
                            pending.node, pending.node
                        ),
                    );
                }
                _ => {}
            }
            return;
        }

        let pzone = self.next.node(&primary).map(|n| n.zone.clone());
        // Prefer the Multi-AZ standby over a replica standing in for it.
        if let Some(m) = self.next.sync.first().cloned()
            && self.next.node(&m).is_some_and(|n| n.role == Role::Replica)
        {
            let standby_ready = self.next.nodes.iter().any(|n| {
                n.role == Role::Standby
                    && n.status.is_running()
                    && streaming(&n.name)
                    && link(&n.name).and_then(|l| l.flush_lsn) >= pprobe.current_lsn
            });
            if standby_ready {
                self.next.sync.clear();
                self.actions.push(Action::SetSync {
                    primary: primary.clone(),
                    standby: None,
                });
            } else {
                return;
            }
        }
        if !self.next.sync.is_empty() {
            return;
        }
        let candidate = self
            .next
            .nodes
            .iter()
            .filter(|n| n.name != primary && n.status.is_running() && streaming(&n.name))
            .max_by_key(|n| {
                (
                    n.role == Role::Standby,
                    Some(&n.zone) != pzone.as_ref(),
                    std::cmp::Reverse(n.name.clone()),
                )
            })
            .map(|n| n.name.clone());
        if let Some(c) = candidate {
            self.next.sync_pending = Some(SyncPending {
                node: c.clone(),
                requested_at: self.now,
                since: None,
            });
            self.actions.push(Action::SetSync {
                primary,
                standby: Some(c),
            });
        }
    }

    /// Writes are open when the primary is; a finished failover is reported once.
    pub fn settle(&mut self) {
        // A primary that has run well for a while starts its restart backoff afresh.
        if let Some(p) = self.healthy_primary()
            && let Some(n) = self.next.node_mut(&p)
            && let NodeStatus::Running { since } = n.status
            && n.restarts > 0
            && self.now.since(since) >= self.spec.timing.restart_backoff * 4
        {
            n.restarts = 0;
        }
        if let Some(p) = self.healthy_primary()
            && self.next.writes_blocked.take().is_some()
        {
            {
                self.event(
                    EventKind::Writes,
                    Some(&p),
                    format!("writes accepted again: {p} is the primary"),
                );
            }
        }
        // The actions of one tick go out in a safe order: fencing before promoting, promoting
        // before following, and a new synchronous standby last.
        self.actions.sort_by_key(|a| match a {
            Action::Kill { .. } | Action::Fence { .. } | Action::StopClean { .. } => 0,
            Action::Promote { .. } => 1,
            Action::Follow { .. } => 2,
            Action::SetSync { standby: None, .. } => 3,
            Action::Start { .. } | Action::Remove { .. } => 4,
            Action::Rejoin { .. } | Action::Create { .. } => 5,
            Action::SetSync {
                standby: Some(_), ..
            } => 6,
        });
        self.actions.dedup();
    }
}
