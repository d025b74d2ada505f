//! Changes at runtime under load: listeners, rules, target groups and targets come and go, and a
//! target drains, while clients keep sending — and not one request fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http::StatusCode;
use model::{Action, ListenerRule, RuleCondition};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_rules_groups_and_targets_change_under_load_without_a_failed_request() {
    bounded(async {
        let mut backends = Vec::new();
        for n in ["a", "b", "c", "d"] {
            backends.push(Backend::start(n).await);
        }
        let [a, b, c, d] = [&backends[0], &backends[1], &backends[2], &backends[3]];
        let base = single(&[a, b], health_check(100));
        let (plane, lb) = start(base.clone()).await;
        eventually("healthy", || all_healthy(&plane)).await;

        // Load: 4 clients, GETs on / and /api/x, until told to stop.
        let stop = Arc::new(AtomicBool::new(false));
        let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut load = tokio::task::JoinSet::new();
        for i in 0..4 {
            let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
            load.spawn(async move {
                let c = client();
                let path = if i % 2 == 0 { "/" } else { "/api/x" };
                while !stop.load(Ordering::Relaxed) {
                    let answer = get(&c, lb, path).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if answer.status != StatusCode::OK {
                        failed.fetch_add(1, Ordering::Relaxed);
                        eprintln!("failed: {} {}", answer.status, answer.body);
                    }
                }
            });
        }
        let settle = || tokio::time::sleep(Duration::from_millis(150));

        // 1. A second listener, a second target group with target c, and a rule to it.
        let mut s = base.clone();
        s.listeners.push(listener("alt", any_port(), "app"));
        s.target_groups
            .push(group("api", vec![c.target()], health_check(100)));
        s.listeners[0].rules = vec![ListenerRule {
            key: "api".into(),
            arn: String::new(),
            listener: "http".into(),
            priority: 1,
            conditions: vec![RuleCondition::PathPattern {
                values: vec!["/api/*".into()],
            }],
            action: Action::forward("api"),
        }];
        plane.apply(s.clone()).await.unwrap();
        settle().await;
        // 2. Target d joins app; b drains (deregistration: no new requests, in-flight finish).
        s.target_groups[0].targets.push(d.target());
        let mut draining_b = b.target();
        draining_b.draining = true;
        s.target_groups[0].targets[1] = draining_b;
        plane.apply(s.clone()).await.unwrap();
        settle().await;
        // 3. b is gone; the rule goes; api keeps its target for a moment, then goes too.
        s.target_groups[0].targets.remove(1);
        s.listeners[0].rules.clear();
        plane.apply(s.clone()).await.unwrap();
        settle().await;
        s.target_groups.retain(|g| g.spec.key != "api");
        // 4. The second listener goes.
        s.listeners.retain(|l| l.key != "alt");
        plane.apply(s.clone()).await.unwrap();
        settle().await;
        // 5. Back to where it started.
        plane.apply(base.clone()).await.unwrap();
        eventually("a and b healthy again", || all_healthy(&plane)).await;
        settle().await;

        stop.store(true, Ordering::Relaxed);
        while load.join_next().await.is_some() {}
        let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
        eprintln!("{failed} of {sent} requests failed across five applies");
        assert!(sent > 100, "the load barely ran: {sent}");
        assert_eq!(failed, 0);
        assert!(c.hits() > 0, "the rule's target group served");
        plane.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}
