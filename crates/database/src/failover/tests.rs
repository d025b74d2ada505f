//! The failover rules on simulated time: a tiny world that plays the shell's part (processes,
//! probes, completions) so that whole failovers run in microseconds.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use model::{AvailabilityZone, Timestamp};

use super::*;
use crate::cluster::{ReplicaSpec, Role, Timing};

fn zone(l: &str) -> AvailabilityZone {
    AvailabilityZone::new(format!("us-east-1{l}"))
}

fn spec(multi_az: bool, replicas: usize) -> ClusterSpec {
    ClusterSpec {
        identifier: "main".into(),
        key: "main".into(),
        multi_az,
        primary_zone: zone("a"),
        zones: vec![zone("a"), zone("b"), zone("c")],
        replicas: (0..replicas)
            .map(|i| ReplicaSpec {
                key: format!("replica{i}"),
                identifier: format!("main-replica-{i}"),
                zone: zone("c"),
            })
            .collect(),
        port: 5432,
        db_name: Some("app".into()),
        username: "app".into(),
        password: "correct-horse".into(),
        max_replica_lag: 1024,
        zone_blocks: Default::default(),
        timing: Timing::default(),
    }
}

/// The simulated shell: nodes with a WAL position, a process and an upstream.
struct World {
    spec: ClusterSpec,
    state: ClusterState,
    obs: Observed,
    now: Timestamp,
    /// Per node: (running, writable, wal position, upstream).
    sim: BTreeMap<String, SimNode>,
    pending: Vec<Completion>,
    log: Vec<Action>,
    events: Vec<EventDraft>,
    sync_standby: Option<String>,
}

#[derive(Clone, Default)]
struct SimNode {
    running: bool,
    writable: bool,
    lsn: u64,
    upstream: Option<String>,
    /// Answers health queries.
    responsive: bool,
}

impl World {
    fn new(spec: ClusterSpec) -> World {
        let mut obs = Observed::default();
        for (i, z) in ["a", "b", "c"].iter().enumerate() {
            obs.free_hosts
                .insert(zone(z), Ipv4Addr::new(127, 0, i as u8 + 1, 254));
        }
        World {
            state: ClusterState::new(&spec.identifier),
            spec,
            obs,
            now: Timestamp::from_secs(1_000_000),
            sim: BTreeMap::new(),
            pending: Vec::new(),
            log: Vec::new(),
            events: Vec::new(),
            sync_standby: None,
        }
    }

    /// Observe, decide, act (instantly), advance 100 ms.
    fn tick(&mut self) -> Decision {
        self.observe();
        self.obs.completed = std::mem::take(&mut self.pending);
        let d = decide(&self.spec, &self.state, &self.obs, self.now);
        self.obs.request = None;
        self.state = d.state.clone();
        for a in &d.actions {
            self.act(a);
        }
        self.log.extend(d.actions.iter().cloned());
        self.events.extend(d.events.iter().cloned());
        self.now = self.now + Duration::from_millis(100);
        // Free addresses move on as nodes take them.
        let taken: Vec<Ipv4Addr> = self.state.nodes.iter().map(|n| n.host).collect();
        for host in self.obs.free_hosts.values_mut() {
            while taken.contains(host) {
                *host = Ipv4Addr::from(u32::from(*host) - 1);
            }
        }
        d
    }

    fn run(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.tick();
        }
    }

    fn observe(&mut self) {
        let primary_lsn = self
            .sim
            .values()
            .filter(|n| n.running && n.writable)
            .map(|n| n.lsn)
            .max();
        let names: Vec<String> = self.sim.keys().cloned().collect();
        for name in names {
            let n = self.sim[&name].clone();
            let o = self.obs.nodes.entry(name.clone()).or_default();
            if !n.running {
                if o.process == ProcessState::Running {
                    o.process = ProcessState::Exited {
                        at: self.now,
                        detail: "was killed by signal 9 (SIGKILL)".into(),
                    };
                }
                o.failures += 1;
                o.failing_since.get_or_insert(self.now);
                continue;
            }
            o.process = ProcessState::Running;
            if !n.responsive {
                o.failures += 1;
                o.failing_since.get_or_insert(self.now);
                o.last_error = Some("timed out".into());
                continue;
            }
            o.failures = 0;
            o.failing_since = None;
            let streaming = n
                .upstream
                .as_ref()
                .is_some_and(|u| self.sim.get(u).is_some_and(|u| u.running));
            let replication = if n.writable {
                self.sim
                    .iter()
                    .filter(|(_, s)| s.running && s.upstream.as_deref() == Some(&name))
                    .map(|(k, s)| ReplicaLink {
                        application_name: k.clone(),
                        state: "streaming".into(),
                        sync_state: if self.sync_standby.as_deref() == Some(k) {
                            "sync".into()
                        } else {
                            "async".into()
                        },
                        flush_lsn: Some(Lsn(s.lsn)),
                        replay_lsn: Some(Lsn(s.lsn)),
                        replay_lag_ms: None,
                    })
                    .collect()
            } else {
                vec![]
            };
            o.last_probe = Some(Probe {
                at: self.now,
                in_recovery: !n.writable,
                current_lsn: n.writable.then_some(Lsn(n.lsn)),
                receive_lsn: (!n.writable).then_some(Lsn(n.lsn)),
                replay_lsn: (!n.writable).then_some(Lsn(n.lsn)),
                streaming,
                upstream: n.upstream.clone(),
                replication,
                connections: Some(1),
            });
            let _ = primary_lsn;
        }
    }

    fn act(&mut self, a: &Action) {
        match a {
            Action::Create { node, upstream } => {
                let lsn = upstream.as_ref().map_or(100, |u| self.sim[u].lsn);
                self.sim.insert(
                    node.clone(),
                    SimNode {
                        running: true,
                        writable: upstream.is_none(),
                        lsn,
                        upstream: upstream.clone(),
                        responsive: true,
                    },
                );
                self.pending.push(Completion {
                    node: node.clone(),
                    result: Ok(()),
                });
            }
            Action::Start { node, upstream } => {
                let n = self.sim.entry(node.clone()).or_default();
                n.running = true;
                n.responsive = true;
                n.writable = upstream.is_none();
                n.upstream = upstream.clone();
            }
            Action::Fence { node } | Action::Kill { node } | Action::StopClean { node } => {
                if let Some(n) = self.sim.get_mut(node) {
                    n.running = false;
                }
            }
            Action::Promote { node } => {
                let n = self.sim.get_mut(node).unwrap();
                assert!(n.running, "promoted a dead node");
                n.writable = true;
                n.upstream = None;
                self.sync_standby = None;
            }
            Action::Follow { node, upstream } => {
                self.sim.get_mut(node).unwrap().upstream = Some(upstream.clone());
            }
            Action::SetSync { standby, .. } => self.sync_standby = standby.clone(),
            Action::Rejoin { node, upstream, .. } => {
                let lsn = self.sim[upstream].lsn;
                let n = self.sim.get_mut(node).unwrap();
                *n = SimNode {
                    running: true,
                    writable: false,
                    lsn,
                    upstream: Some(upstream.clone()),
                    responsive: true,
                };
                self.pending.push(Completion {
                    node: node.clone(),
                    result: Ok(()),
                });
            }
            Action::Remove { node } => {
                self.sim.remove(node);
                self.obs.nodes.remove(node);
            }
        }
    }

    /// Commits on the primary: acknowledged once the synchronous standby has them (or at
    /// once without one). Replicas catch up. Returns the acknowledged LSN.
    fn write(&mut self) -> Option<u64> {
        let (pname, p) = self
            .sim
            .iter()
            .find(|(_, n)| n.running && n.writable)
            .map(|(k, n)| (k.clone(), n.clone()))?;
        let lsn = p.lsn + 10;
        self.sim.get_mut(&pname).unwrap().lsn = lsn;
        let followers: Vec<String> = self
            .sim
            .iter()
            .filter(|(_, n)| n.running && n.upstream.as_deref() == Some(&pname))
            .map(|(k, _)| k.clone())
            .collect();
        for f in &followers {
            self.sim.get_mut(f).unwrap().lsn = lsn;
        }
        match &self.sync_standby {
            Some(s) if !followers.contains(s) => None,
            _ => Some(lsn),
        }
    }

    fn primary(&self) -> Option<String> {
        self.state.primary.clone()
    }

    fn node_in(&self, role: Role) -> String {
        self.state
            .nodes
            .iter()
            .find(|n| n.role == role)
            .unwrap()
            .name
            .clone()
    }

    fn kill(&mut self, node: &str) {
        self.sim.get_mut(node).unwrap().running = false;
    }

    fn writable(&self) -> Vec<String> {
        self.sim
            .iter()
            .filter(|(_, n)| n.running && n.writable)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Brings a fresh cluster to steady state: primary, standby, replicas, sync established.
    fn steady(spec: ClusterSpec) -> World {
        let mut w = World::new(spec);
        w.run(12);
        if w.spec.multi_az {
            assert_eq!(w.state.sync.len(), 1, "sync established: {:?}", w.events);
        }
        w
    }
}

#[test]
fn a_cluster_is_created_then_made_synchronous_without_blocking_commits() {
    let mut w = World::new(spec(true, 1));
    let d = w.tick();
    assert_eq!(
        d.actions,
        vec![Action::Create {
            node: "main-1".into(),
            upstream: None
        }]
    );
    assert_eq!(w.state.nodes[0].host, Ipv4Addr::new(127, 0, 1, 254));
    assert!(w.state.writes_blocked.is_some());
    w.tick();
    assert_eq!(w.primary().as_deref(), Some("main-1"));
    assert_eq!(w.state.writes_blocked, None);
    // Standby in another AZ and the replica, from the primary; no synchronous standby
    // before one streams (naming one too early blocks every commit).
    let creates: Vec<_> = w
        .log
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Create {
                    upstream: Some(_),
                    ..
                }
            )
        })
        .collect();
    assert_eq!(creates.len(), 2);
    assert!(!w.log.iter().any(|a| matches!(
        a,
        Action::SetSync {
            standby: Some(_),
            ..
        }
    )));
    let standby = w.node_in(Role::Standby);
    assert_ne!(w.state.node(&standby).unwrap().zone, zone("a"));
    w.run(3);
    assert!(w.log.contains(&Action::SetSync {
        primary: "main-1".into(),
        standby: Some(standby.clone())
    }));
    // In sync only once it is reported sync and has flushed past that point.
    w.run(3);
    assert_eq!(w.state.sync, vec![standby]);
    assert_eq!(w.write(), Some(w.sim["main-1"].lsn));
}

#[test]
fn sigkill_of_the_primary_promotes_the_synchronous_standby_in_one_tick() {
    let mut w = World::steady(spec(true, 1));
    for _ in 0..5 {
        w.write().unwrap();
    }
    let acked = w.sim["main-1"].lsn;
    let standby = w.state.sync[0].clone();
    let replica = w.node_in(Role::Replica);
    w.kill("main-1");
    w.log.clear();
    let d = w.tick();
    assert_eq!(
        d.actions,
        vec![
            Action::Fence {
                node: "main-1".into()
            },
            Action::Promote {
                node: standby.clone()
            },
            Action::Follow {
                node: replica.clone(),
                upstream: standby.clone()
            },
        ]
    );
    assert_eq!(w.primary(), Some(standby.clone()));
    assert!(w.sim[&standby].lsn >= acked, "no acknowledged commit lost");
    assert!(w.state.sync.is_empty());
    let r = routes(&w.spec, &w.state, &w.obs, w.now);
    assert_eq!(r.writer, Some(standby.clone()));
    // The old primary rejoins once the new one answers, and becomes the synchronous standby.
    w.run(4);
    assert!(
        w.log
            .iter()
            .any(|a| matches!(a, Action::Rejoin { node, .. } if node == "main-1"))
    );
    w.run(8);
    assert_eq!(w.state.node("main-1").unwrap().role, Role::Standby);
    assert!(w.state.node("main-1").unwrap().status.is_running());
    assert_eq!(w.state.sync, vec!["main-1".to_string()]);
    assert_eq!(w.writable(), vec![standby]);
}

#[test]
fn twenty_failovers_never_promote_a_node_that_misses_an_acknowledged_commit() {
    let mut w = World::steady(spec(true, 1));
    let mut acked = 0;
    for round in 0..20 {
        for _ in 0..3 {
            if let Some(l) = w.write() {
                acked = l;
            }
        }
        let p = w.primary().unwrap();
        w.kill(&p);
        w.tick();
        let newp = w
            .primary()
            .unwrap_or_else(|| panic!("round {round}: no promotion: {:?}", w.state.writes_blocked));
        assert_ne!(newp, p);
        assert!(
            w.sim[&newp].lsn >= acked,
            "round {round}: lost acknowledged WAL"
        );
        assert_eq!(w.writable().len(), 1, "round {round}: one writable node");
        w.run(20);
        assert_eq!(
            w.state.sync.len(),
            1,
            "round {round}: redundancy rebuilt: {:?}",
            w.state
        );
    }
    assert_eq!(w.state.promotions, 20);
}

#[test]
fn without_a_caught_up_standby_the_old_primary_is_restarted_not_replaced() {
    let mut w = World::new(spec(true, 0));
    w.run(3);
    // The standby exists but is not synchronous yet.
    assert!(w.state.sync.is_empty());
    w.kill("main-1");
    w.log.clear();
    w.tick();
    assert!(
        !w.log.iter().any(|a| matches!(a, Action::Promote { .. })),
        "{:?}",
        w.log
    );
    assert!(w.log.contains(&Action::Start {
        node: "main-1".into(),
        upstream: None
    }));
    assert_eq!(w.primary().as_deref(), Some("main-1"));
    assert!(
        w.events
            .iter()
            .any(|e| e.message.contains("restarting main-1 in place"))
    );
}

#[test]
fn with_the_standby_gone_too_writes_stay_refused_and_say_why() {
    let mut w = World::steady(spec(true, 0));
    let standby = w.state.sync[0].clone();
    let standby_zone = w.state.node(&standby).unwrap().zone.clone();
    w.obs.zones_down = BTreeSet::from([zone("a"), standby_zone]);
    w.tick();
    w.run(5);
    assert_eq!(w.primary(), None);
    let why = w.state.writes_blocked.clone().unwrap();
    assert!(why.starts_with("no safe promotion"), "{why}");
    assert!(w.writable().is_empty());
    let r = routes(&w.spec, &w.state, &w.obs, w.now);
    assert_eq!(r.writer, None);
    assert_eq!(r.refusal, why);
    // When the primary's AZ comes back, the old primary (which has every commit) returns.
    w.obs.zones_down.remove(&zone("a"));
    w.run(25);
    assert_eq!(w.primary().as_deref(), Some("main-1"));
}

#[test]
fn any_k_of_n_needs_n_minus_k_plus_one_answers_and_takes_the_most_advanced() {
    let mut w = World::steady(spec(true, 1));
    let a = w.state.sync[0].clone();
    let b = w.node_in(Role::Replica);
    // As if the primary ran `ANY 1 (a, b)`: each commit is on a or on b.
    w.state.sync = vec![a.clone(), b.clone()];
    w.state.sync_quorum = 1;
    w.sim.get_mut(&b).unwrap().lsn += 50; // b acknowledged the latest commits
    w.sim.get_mut(&b).unwrap().responsive = false; // …and is silent
    w.obs.zones_down.insert(zone("a")); // the primary cannot simply come back
    w.tick();
    w.tick();
    assert_eq!(w.primary(), None, "one answer of two is not enough");
    assert!(!w.log.iter().any(|x| matches!(x, Action::Promote { .. })));
    assert!(w.state.writes_blocked.as_deref().unwrap().contains(&b));
    // b answers: the most advanced one is promoted, not the designated standby.
    w.sim.get_mut(&b).unwrap().responsive = true;
    w.tick();
    assert_eq!(w.primary(), Some(b));
}

#[test]
fn a_hung_primary_is_fenced_after_the_detection_timeout_not_before() {
    let mut w = World::steady(spec(true, 0));
    w.sim.get_mut("main-1").unwrap().responsive = false;
    w.log.clear();
    // Its standby still streams from it: the full timeout applies.
    for _ in 0..9 {
        w.tick();
        assert_eq!(w.primary().as_deref(), Some("main-1"));
    }
    w.run(3);
    let standby = w
        .state
        .nodes
        .iter()
        .find(|n| n.name != "main-1")
        .unwrap()
        .name
        .clone();
    assert_eq!(w.primary(), Some(standby));
    assert!(w.log.contains(&Action::Fence {
        node: "main-1".into()
    }));
    assert_eq!(w.writable().len(), 1);
}

#[test]
fn a_node_that_comes_back_writable_is_fenced() {
    let mut w = World::steady(spec(true, 1));
    let replica = w.node_in(Role::Replica);
    // Someone starts the replica without standby.signal.
    let n = w.sim.get_mut(&replica).unwrap();
    n.writable = true;
    n.upstream = None;
    w.log.clear();
    w.run(2);
    assert!(w.log.contains(&Action::Fence {
        node: replica.clone()
    }));
    assert!(
        w.events
            .iter()
            .any(|e| e.message.contains("split brain prevented"))
    );
    assert_eq!(w.writable(), vec!["main-1".to_string()]);
}

#[test]
fn a_lost_standby_leaves_sync_before_commits_stop_waiting_for_it() {
    let mut w = World::steady(spec(true, 1));
    let standby = w.state.sync[0].clone();
    w.kill(&standby);
    let d = w.tick();
    assert!(d.state.sync.is_empty());
    assert!(d.actions.contains(&Action::SetSync {
        primary: "main-1".into(),
        standby: None
    }));
    // The primary now fails with nobody known to hold its commits: no promotion.
    w.kill("main-1");
    w.log.clear();
    w.tick();
    assert!(!w.log.iter().any(|a| matches!(a, Action::Promote { .. })));
}

#[test]
fn a_replica_stands_in_as_synchronous_standby_then_hands_back() {
    let mut w = World::steady(spec(true, 1));
    let standby = w.state.sync[0].clone();
    let replica = w.node_in(Role::Replica);
    w.kill(&standby);
    w.state
        .nodes
        .iter_mut()
        .find(|n| n.name == standby)
        .unwrap()
        .restarts = 3; // slow restart
    w.run(6);
    assert_eq!(w.state.sync, vec![replica]);
    w.run(200);
    assert_eq!(w.state.sync, vec![standby]);
}

#[test]
fn an_az_outage_of_the_primary_fails_over_and_replaces_the_standby_elsewhere() {
    let mut w = World::steady(spec(true, 0));
    let standby = w.state.sync[0].clone();
    w.obs.zones_down.insert(zone("a"));
    w.tick();
    assert_eq!(w.primary(), Some(standby.clone()));
    assert!(!w.sim["main-1"].running);
    w.run(40);
    // main-1 (now the standby role) was in the dead AZ: a new standby in the third AZ.
    assert!(w.state.node("main-1").is_none(), "{:?}", w.state.nodes);
    let new = w.node_in(Role::Standby);
    let used: BTreeSet<_> = w.state.nodes.iter().map(|n| n.zone.clone()).collect();
    assert!(!used.contains(&zone("a")));
    assert_eq!(w.state.sync, vec![new]);
}

#[test]
fn switchover_stops_the_primary_cleanly_and_promotes_the_standby() {
    let mut w = World::steady(spec(true, 0));
    let standby = w.state.sync[0].clone();
    w.obs.request = Some(Request::Switchover);
    let d = w.tick();
    assert_eq!(
        d.actions[..2],
        [
            Action::StopClean {
                node: "main-1".into()
            },
            Action::Promote {
                node: standby.clone()
            }
        ]
    );
    w.run(20);
    assert_eq!(w.state.sync, vec!["main-1".to_string()]);
    assert_eq!(w.primary(), Some(standby));
}

#[test]
fn the_reader_endpoint_leaves_out_lagging_and_dead_replicas() {
    let mut w = World::steady(spec(true, 1));
    let standby = w.state.sync[0].clone();
    let replica = w.node_in(Role::Replica);
    let r = routes(&w.spec, &w.state, &w.obs, w.now);
    let mut want = vec![standby.clone(), replica.clone()];
    want.sort();
    assert_eq!(r.readers, want);
    // The replica stops applying: 2 KiB behind is over the 1 KiB bound.
    w.sim.get_mut(&replica).unwrap().upstream = None;
    w.sim.get_mut("main-1").unwrap().lsn += 2048;
    w.sim.get_mut(&standby).unwrap().lsn += 2048;
    w.observe();
    let r = routes(&w.spec, &w.state, &w.obs, w.now);
    assert_eq!(r.readers, vec![standby.clone()]);
    // Every replica gone: reads go to the primary.
    w.kill(&standby);
    w.kill(&replica);
    w.tick();
    let r = routes(&w.spec, &w.state, &w.obs, w.now);
    assert_eq!(r.readers, vec!["main-1".to_string()]);
}

#[test]
fn a_single_az_primary_is_restarted_in_place() {
    let mut w = World::steady(spec(false, 1));
    w.kill("main-1");
    w.log.clear();
    w.tick();
    assert!(w.log.contains(&Action::Start {
        node: "main-1".into(),
        upstream: None
    }));
    assert!(!w.log.iter().any(|a| matches!(a, Action::Promote { .. })));
}

#[test]
fn a_standby_that_cannot_catch_up_is_recloned() {
    let mut w = World::steady(spec(true, 1));
    let replica = w.node_in(Role::Replica);
    w.observe();
    w.obs.nodes.get_mut(&replica).unwrap().fault = Some((
        crate::faults::FaultKind::WalRemoved,
        "requested WAL segment has already been removed".into(),
    ));
    let d = decide(&w.spec, &w.state, &w.obs, w.now);
    assert_eq!(
        d.actions[0],
        Action::Kill {
            node: replica.clone()
        }
    );
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::Rejoin { node, clone: true, .. } if *node == replica))
    );
    assert!(matches!(
        d.state.node(&replica).unwrap().status,
        NodeStatus::Rejoining { .. }
    ));
}

#[test]
fn failed_probes_from_before_a_start_do_not_count_as_a_loss() {
    let mut w = World::steady(spec(true, 0));
    w.observe();
    // main-1 was just (re)started; its probes failed while it was starting.
    w.state.node_mut("main-1").unwrap().status = NodeStatus::Running { since: w.now };
    let o = w.obs.nodes.get_mut("main-1").unwrap();
    o.failures = 50;
    o.failing_since = Some(w.now - Duration::from_secs(10));
    let d = decide(&w.spec, &w.state, &w.obs, w.now);
    assert!(
        !d.actions.iter().any(|a| matches!(a, Action::Fence { .. })),
        "{:?}",
        d.actions
    );
    // Still failing a second later: now it is lost.
    let later = w.now + Duration::from_millis(1100);
    let d = decide(&w.spec, &w.state, &w.obs, later);
    assert!(d.actions.contains(&Action::Fence {
        node: "main-1".into()
    }));
}

#[test]
fn a_primary_that_keeps_crashing_is_restarted_with_backoff() {
    let mut w = World::new(spec(false, 0));
    w.run(3);
    let mut starts = 0;
    for _ in 0..100 {
        w.kill("main-1");
        w.log.clear();
        w.tick();
        starts += w
            .log
            .iter()
            .filter(|a| matches!(a, Action::Start { .. }))
            .count();
    }
    // 10 s of crashing: restarts at 0 s, 4 s (2 s × 2), then the next backoff is 8 s.
    assert!((2..=4).contains(&starts), "{starts} restarts in 10 s");
}

#[test]
fn a_synchronous_standby_request_that_is_never_reported_is_retried() {
    let mut w = World::new(spec(true, 0));
    w.run(3);
    // The primary never hears of it (the ALTER SYSTEM was lost).
    let pending = w.state.sync_pending.clone().expect("requested");
    w.sync_standby = None;
    for _ in 0..60 {
        w.tick();
        w.sync_standby = None;
    }
    let again = w
        .log
        .iter()
        .filter(|a| matches!(a, Action::SetSync { standby: Some(s), .. } if *s == pending.node))
        .count();
    assert!(again >= 2, "requested {again} times");
    assert!(w.state.sync.is_empty());
}

#[test]
fn a_restarted_replica_reads_only_after_it_answers_again() {
    let mut w = World::steady(spec(true, 1));
    let replica = w.node_in(Role::Replica);
    w.observe();
    // Restarted just now: its last good probe is from before.
    w.state.node_mut(&replica).unwrap().status = NodeStatus::Running { since: w.now };
    let r = routes(&w.spec, &w.state, &w.obs, w.now);
    assert!(!r.readers.contains(&replica), "{:?}", r.readers);
    w.now = w.now + Duration::from_millis(100);
    w.observe();
    let r = routes(&w.spec, &w.state, &w.obs, w.now);
    assert!(r.readers.contains(&replica));
}
