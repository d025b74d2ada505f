//! The routing table requests are served from: a [`Snapshot`] compiled against the live
//! per-target runtime state, published as one immutable value behind an `ArcSwap`.
//!
//! Invariants:
//! - a `Routing` is never mutated after it is published, except for its round robin counters
//!   (atomics) and the targets' runtime atomics it points to;
//! - draining targets are absent from the groups' candidate lists, so they get no new requests,
//!   while their `TargetRuntime` (and in-flight count) lives on in `reports`;
//! - everything a report needs is here, so reading health never waits for `apply`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use model::{
    Action, Algorithm, AvailabilityZone, ProtocolVersion, Redirect, Stickiness, TargetHealth,
    TargetHealthReason, TargetHealthState,
};

use crate::HeaderView;
use crate::TargetHealthReport;
use crate::access_log::AccessLog;
use crate::balance;
use crate::rules::{RequestFacts, RuleSet};
use crate::snapshot::{ListenerConfig, Snapshot};
use crate::sticky::{self, StickinessKey, TokenTable};
use crate::target::TargetRuntime;

/// One published routing table.
#[derive(Debug, Default)]
pub(crate) struct Routing {
    pub(crate) listeners: HashMap<String, ListenerRoute>,
    /// Bound addresses, in snapshot order.
    pub(crate) listener_addrs: Vec<(String, SocketAddr)>,
    /// Every registered target of every target group, in snapshot order.
    pub(crate) targets: Vec<TargetEntry>,
    /// Metric dimensions: listener key → `LoadBalancer`.
    pub(crate) listener_load_balancer: HashMap<String, String>,
    /// Metric dimensions: (target group key, `TargetGroup`, the `LoadBalancer`s routing to it).
    pub(crate) group_dimensions: Vec<(String, String, Vec<String>)>,
}

/// What a listener does with a request: its rules, compiled, then its default action.
#[derive(Debug)]
pub(crate) struct ListenerRoute {
    /// Value of `X-Forwarded-Proto`.
    pub(crate) scheme: &'static str,
    /// The load balancer's idle timeout.
    pub(crate) idle_timeout: Duration,
    pub(crate) rules: RuleSet,
    /// The action and priority of each rule, in the order given to `RuleSet::compile`.
    pub(crate) actions: Vec<(RouteAction, u32)>,
    pub(crate) default_action: RouteAction,
    /// `LoadBalancer` dimension (`app/<name>/<id>`), for access logs.
    pub(crate) load_balancer: String,
    pub(crate) access_log: Option<Arc<AccessLog>>,
    /// Every action forwards (if at all) to HTTP/1.1 target groups, so the HTTP/1.1 fast path
    /// ([`crate::h1`]) can serve the listener's HTTP/1.1 requests.
    pub(crate) http1_only: bool,
}

impl ListenerRoute {
    /// The action for a request, and the matched rule's priority: the first matching rule's,
    /// else the default action (priority 0, as ALB logs it).
    pub(crate) fn action(&self, facts: &RequestFacts<'_>) -> (&RouteAction, u32) {
        match self.rules.first_match(facts) {
            Some(i) => (&self.actions[i].0, self.actions[i].1),
            None => (&self.default_action, 0),
        }
    }
}

/// A compiled action.
#[derive(Debug)]
pub(crate) enum RouteAction {
    Forward(Forward),
    Redirect(Redirect),
    FixedResponse(FixedResponse),
}

impl RouteAction {
    /// Whether the action never forwards to an HTTP/2 or gRPC target group.
    fn is_http1_only(&self) -> bool {
        match self {
            RouteAction::Forward(f) => f
                .groups
                .iter()
                .all(|g| g.protocol_version == ProtocolVersion::Http1),
            RouteAction::Redirect(_) | RouteAction::FixedResponse(_) => true,
        }
    }
}

/// A fixed response, ready to send.
#[derive(Debug)]
pub(crate) struct FixedResponse {
    pub(crate) status: StatusCode,
    pub(crate) content_type: HeaderValue,
    pub(crate) body: Bytes,
}

/// A forward action over one or several weighted target groups.
#[derive(Debug)]
pub(crate) struct Forward {
    groups: Vec<Arc<GroupRoute>>,
    weights: Vec<u16>,
    /// One cycle of smooth weighted round robin over `groups`.
    schedule: Vec<usize>,
    next: AtomicUsize,
    /// Target group stickiness: cookie max-age and the groups' tokens.
    stickiness: Option<(u64, TokenTable)>,
}

/// The target group a forward chose, and the cookie to set if stickiness chose it anew.
pub(crate) struct GroupChoice<'a> {
    pub(crate) group: &'a Arc<GroupRoute>,
    pub(crate) set_cookie: Option<HeaderValue>,
}

impl Forward {
    /// The target group for the next request (honouring an `AWSALBTG` cookie when the action
    /// is sticky); `None` when every weight is 0.
    pub(crate) fn pick_group(&self, headers: HeaderView<'_>) -> Option<GroupChoice<'_>> {
        if let Some((max_age, tokens)) = &self.stickiness {
            if let Some(i) = sticky::find_cookie(headers, sticky::GROUP_COOKIE)
                .and_then(|c| tokens.lookup(c))
                .filter(|&i| self.weights[i] > 0)
            {
                return Some(GroupChoice {
                    group: &self.groups[i],
                    set_cookie: None,
                });
            }
            let i = self.scheduled()?;
            return Some(GroupChoice {
                group: &self.groups[i],
                set_cookie: Some(sticky::set_cookie(
                    sticky::GROUP_COOKIE,
                    tokens.value(i),
                    *max_age,
                )),
            });
        }
        let i = self.scheduled()?;
        Some(GroupChoice {
            group: &self.groups[i],
            set_cookie: None,
        })
    }

    fn scheduled(&self) -> Option<usize> {
        if self.groups.len() == 1 {
            return Some(0);
        }
        if self.schedule.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Some(self.schedule[n % self.schedule.len()])
    }
}

/// A target group's candidates for new requests.
#[derive(Debug)]
pub(crate) struct GroupRoute {
    /// The target group's key.
    pub(crate) key: String,
    pub(crate) arn: Arc<str>,
    /// Registered, non-draining targets.
    targets: Vec<Arc<TargetRuntime>>,
    /// With checks disabled every target counts as healthy (ALB reports them `unavailable` and
    /// routes to them).
    checks_enabled: bool,
    algorithm: Algorithm,
    slow_start: Duration,
    /// HTTP/1.1 or HTTP/2 (and gRPC) to targets.
    pub(crate) protocol_version: ProtocolVersion,
    stickiness: Option<TargetStickiness>,
    next: AtomicUsize,
}

/// Target stickiness of a group, compiled.
#[derive(Debug)]
struct TargetStickiness {
    /// `None` for `lb_cookie`; the application's cookie name for `app_cookie`.
    app_cookie: Option<String>,
    max_age: u64,
    tokens: TokenTable,
}

/// The target chosen for a request, and how to keep the client on it.
pub(crate) struct TargetChoice {
    pub(crate) target: Arc<TargetRuntime>,
    pub(crate) stick: Option<Stick>,
}

/// A stickiness cookie to set on the response.
#[derive(Debug, Clone)]
pub(crate) struct Stick {
    /// Only set it if the response sets this application cookie (`app_cookie`).
    pub(crate) when_app_sets: Option<String>,
    pub(crate) cookie: HeaderValue,
}

/// What balancing reads about the candidates, at one instant.
struct View<'a> {
    group: &'a GroupRoute,
    exclude: Option<&'a Arc<TargetRuntime>>,
    now_ms: u64,
}

impl balance::Candidates for View<'_> {
    fn len(&self) -> usize {
        self.group.targets.len()
    }

    fn allowed(&self, i: usize) -> bool {
        self.exclude
            .is_none_or(|x| !Arc::ptr_eq(x, &self.group.targets[i]))
    }

    fn preferred(&self, i: usize) -> bool {
        let t = &self.group.targets[i];
        (!self.group.checks_enabled || t.is_healthy()) && !t.is_ejected(self.now_ms)
    }

    fn in_flight(&self, i: usize) -> u64 {
        self.group.targets[i].in_flight()
    }

    fn weight(&self, i: usize) -> f64 {
        if self.group.slow_start.is_zero() {
            return 1.0;
        }
        match self.group.targets[i].healthy_for(self.now_ms) {
            Some(d) => balance::slow_start_weight(d, self.group.slow_start),
            None => 1.0,
        }
    }
}

impl GroupRoute {
    /// The target for a request: the sticky one if the request names a routable one, else
    /// one chosen by the group's algorithm (failing open when none is healthy). `exclude` is a
    /// target that just failed (used by the safe retry).
    pub(crate) fn pick(
        &self,
        headers: HeaderView<'_>,
        exclude: Option<&Arc<TargetRuntime>>,
        now_ms: u64,
    ) -> Option<TargetChoice> {
        let view = View {
            group: self,
            exclude,
            now_ms,
        };
        if let Some(st) = &self.stickiness
            && exclude.is_none()
        {
            let named = match &st.app_cookie {
                None => sticky::find_cookie(headers, sticky::LB_COOKIE),
                Some(app) => sticky::find_cookie(headers, app)
                    .and_then(|_| sticky::find_cookie(headers, sticky::APP_COOKIE)),
            };
            use balance::Candidates;
            if let Some(i) = named.and_then(|c| st.tokens.lookup(c))
                && view.preferred(i)
            {
                // ALB refreshes the cookie's expiry on every response.
                return Some(TargetChoice {
                    target: Arc::clone(&self.targets[i]),
                    stick: Some(self.stick(st, i)),
                });
            }
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let random = if self.algorithm == Algorithm::RoundRobin && self.slow_start.is_zero() {
            0
        } else {
            rand::random()
        };
        let i = balance::pick(self.algorithm, &view, n, random)?;
        Some(TargetChoice {
            target: Arc::clone(&self.targets[i]),
            stick: self.stickiness.as_ref().map(|st| self.stick(st, i)),
        })
    }

    fn stick(&self, st: &TargetStickiness, i: usize) -> Stick {
        let name = if st.app_cookie.is_some() {
            sticky::APP_COOKIE
        } else {
            sticky::LB_COOKIE
        };
        Stick {
            when_app_sets: st.app_cookie.clone(),
            cookie: sticky::set_cookie(name, st.tokens.value(i), st.max_age),
        }
    }
}

/// Why a target is not being health-checked, if it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activity {
    /// Health-checked; reports the machine's verdict.
    Checked,
    Draining,
    /// Its target group receives no traffic from any listener.
    Unused,
    /// Health checks are disabled for its target group.
    ChecksDisabled,
}

impl Activity {
    pub(crate) fn of(used: bool, checks_enabled: bool, draining: bool) -> Activity {
        if draining {
            Activity::Draining
        } else if !used {
            Activity::Unused
        } else if !checks_enabled {
            Activity::ChecksDisabled
        } else {
            Activity::Checked
        }
    }
}

/// One registered target, for reports.
#[derive(Debug)]
pub(crate) struct TargetEntry {
    pub(crate) runtime: Arc<TargetRuntime>,
    pub(crate) availability_zone: Option<AvailabilityZone>,
    pub(crate) activity: Activity,
}

impl TargetEntry {
    pub(crate) fn report(&self) -> TargetHealthReport {
        let r = &self.runtime;
        TargetHealthReport {
            target_group: r.target_group.clone(),
            target_id: r.id.clone(),
            addr: r.addr,
            availability_zone: self.availability_zone.clone(),
            health: reported_health(self.activity, r),
            in_flight: r.in_flight(),
        }
    }
}

fn reported_health(activity: Activity, runtime: &TargetRuntime) -> TargetHealth {
    let (state, reason, description) = match activity {
        Activity::Checked => return runtime.checked_health(),
        Activity::Draining => (
            TargetHealthState::Draining,
            Some(TargetHealthReason::DeregistrationInProgress),
            "Target deregistration is in progress",
        ),
        // The model has no reason code for ALB's `Target.NotInUse` yet; the description says it.
        Activity::Unused => (
            TargetHealthState::Unused,
            None,
            "Target group is not configured to receive traffic from the load balancer",
        ),
        Activity::ChecksDisabled => (
            TargetHealthState::Unavailable,
            Some(TargetHealthReason::HealthCheckDisabled),
            "Health checks disabled",
        ),
    };
    TargetHealth {
        state,
        reason,
        description: Some(description.into()),
    }
}

/// Compiles a validated snapshot. `runtime` returns the live state of (group key, target id);
/// `local_addr` the bound address of a listener key.
pub(crate) fn compile(
    snapshot: &Snapshot,
    key: &StickinessKey,
    access_log: impl Fn(&ListenerConfig) -> Option<Arc<AccessLog>>,
    runtime: impl Fn(&str, &str) -> Arc<TargetRuntime>,
    local_addr: impl Fn(&ListenerConfig) -> SocketAddr,
) -> Routing {
    let used = snapshot.used_target_groups();
    let mut groups = HashMap::new();
    let mut targets = Vec::new();
    for tg in &snapshot.target_groups {
        let spec = &tg.spec;
        let group_key = spec.key.as_str();
        let checks_enabled = spec.health_check.enabled;
        let mut candidates = Vec::new();
        for t in &tg.targets {
            let rt = runtime(group_key, &t.id);
            if !t.draining {
                candidates.push(Arc::clone(&rt));
            }
            targets.push(TargetEntry {
                runtime: rt,
                availability_zone: t.availability_zone.clone(),
                activity: Activity::of(used.contains(group_key), checks_enabled, t.draining),
            });
        }
        let stickiness = spec.stickiness.as_ref().map(|st| {
            let (kind, app_cookie) = match st {
                Stickiness::LbCookie { .. } => ("lb_cookie", None),
                Stickiness::AppCookie { cookie_name, .. } => {
                    ("app_cookie", Some(cookie_name.clone()))
                }
            };
            TargetStickiness {
                app_cookie,
                max_age: st.duration().as_secs(),
                tokens: TokenTable::new(
                    candidates.iter().map(|t| key.token(kind, group_key, &t.id)),
                ),
            }
        });
        let route = GroupRoute {
            key: group_key.to_owned(),
            arn: Arc::from(spec.arn.as_str()),
            targets: candidates,
            checks_enabled,
            algorithm: spec.algorithm,
            slow_start: spec.slow_start,
            protocol_version: spec.protocol_version,
            stickiness,
            next: AtomicUsize::new(0),
        };
        groups.insert(group_key, Arc::new(route));
    }
    let action = |a: &Action| compile_action(a, &groups, key);
    let mut listeners = HashMap::new();
    let mut listener_addrs = Vec::new();
    for l in &snapshot.listeners {
        let scheme = match l.protocol {
            model::Protocol::Https | model::Protocol::Tls => "https",
            _ => "http",
        };
        let route = ListenerRoute {
            scheme,
            idle_timeout: l.idle_timeout,
            rules: RuleSet::compile(&l.rules),
            actions: l
                .rules
                .iter()
                .map(|r| (action(&r.action), r.priority))
                .collect(),
            default_action: action(&l.default_action),
            load_balancer: l.load_balancer_arn_suffix.clone(),
            access_log: access_log(l),
            http1_only: false,
        };
        let route = ListenerRoute {
            http1_only: std::iter::once(&route.default_action)
                .chain(route.actions.iter().map(|(a, _)| a))
                .all(RouteAction::is_http1_only),
            ..route
        };
        listeners.insert(l.key.clone(), route);
        listener_addrs.push((l.key.clone(), local_addr(l)));
    }
    let listener_load_balancer = snapshot
        .listeners
        .iter()
        .map(|l| (l.key.clone(), l.load_balancer_arn_suffix.clone()))
        .collect();
    let group_dimensions = snapshot
        .target_groups
        .iter()
        .map(|tg| {
            let key = tg.spec.key.as_str();
            let dimension = tg
                .spec
                .arn
                .rsplit_once(':')
                .map_or_else(|| format!("targetgroup/{key}"), |(_, s)| s.to_owned());
            let mut lbs: Vec<String> = snapshot
                .listeners
                .iter()
                .filter(|l| {
                    l.actions()
                        .any(|a| a.target_groups().iter().any(|w| w.target_group == key))
                })
                .map(|l| l.load_balancer_arn_suffix.clone())
                .collect();
            lbs.sort();
            lbs.dedup();
            (key.to_owned(), dimension, lbs)
        })
        .collect();
    Routing {
        listeners,
        listener_addrs,
        targets,
        listener_load_balancer,
        group_dimensions,
    }
}

fn compile_action(
    action: &Action,
    groups: &HashMap<&str, Arc<GroupRoute>>,
    key: &StickinessKey,
) -> RouteAction {
    match action {
        Action::Forward {
            target_groups,
            stickiness,
        } => {
            // `validate` guarantees every named group exists; a missing one is simply skipped.
            let (routes, weights): (Vec<_>, Vec<_>) = target_groups
                .iter()
                .filter_map(|w| Some((Arc::clone(groups.get(w.target_group.as_str())?), w.weight)))
                .unzip();
            let stickiness = stickiness.filter(|_| routes.len() > 1).map(|d| {
                let tokens = TokenTable::new(
                    routes
                        .iter()
                        .map(|g: &Arc<GroupRoute>| key.token("target_group", &g.key, "")),
                );
                (d.as_secs(), tokens)
            });
            RouteAction::Forward(Forward {
                schedule: balance::smooth_weighted_schedule(&weights),
                groups: routes,
                weights,
                next: AtomicUsize::new(0),
                stickiness,
            })
        }
        Action::Redirect(r) => RouteAction::Redirect(r.clone()),
        Action::FixedResponse(f) => RouteAction::FixedResponse(FixedResponse {
            status: StatusCode::from_u16(f.status_code).unwrap_or(StatusCode::OK),
            content_type: HeaderValue::from_str(&f.content_type)
                .unwrap_or(HeaderValue::from_static("text/plain")),
            body: Bytes::from(f.message_body.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{CheckOutcome, Thresholds};
    use crate::snapshot::fixtures::{group, listener};
    use http::HeaderMap;

    fn compiled(snapshot: &Snapshot) -> (Routing, HashMap<String, Arc<TargetRuntime>>) {
        let mut rts = HashMap::new();
        for tg in &snapshot.target_groups {
            for t in &tg.targets {
                let rt = TargetRuntime::new(&tg.spec.key, &t.id, t.addr);
                rts.insert(t.id.clone(), rt);
            }
        }
        let key = StickinessKey::new([3; 32]);
        let routing = compile(
            snapshot,
            &key,
            |_| None,
            |_, id| Arc::clone(&rts[id]),
            |l| l.bind,
        );
        (routing, rts)
    }

    fn forward_of(routing: &Routing) -> &Forward {
        match &routing.listeners["web"].default_action {
            RouteAction::Forward(f) => f,
            other => panic!("{other:?}"),
        }
    }

    fn pick(fwd: &Forward, cookies: Option<&str>) -> Arc<TargetRuntime> {
        let mut h = HeaderMap::new();
        if let Some(c) = cookies {
            h.insert(http::header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        let g = fwd.pick_group((&h).into()).unwrap().group;
        g.pick((&h).into(), None, 0).unwrap().target
    }

    fn pass(rt: &TargetRuntime) {
        let t = Thresholds {
            healthy: 2,
            unhealthy: 2,
        };
        rt.record(&CheckOutcome::Passed, t);
    }

    #[test]
    fn routes_to_healthy_non_draining_targets_and_reports_all() {
        let mut s = Snapshot {
            listeners: vec![listener("web", "127.0.0.1:8080", &[("app", 1)])],
            target_groups: vec![
                group(
                    "app",
                    &[
                        ("a", "127.0.0.1:1"),
                        ("b", "127.0.0.1:2"),
                        ("c", "127.0.0.1:3"),
                    ],
                ),
                group("idle", &[("d", "127.0.0.1:4")]),
            ],
            faults: vec![],
        };
        s.target_groups[0].targets[2].draining = true;
        let (routing, rts) = compiled(&s);
        pass(&rts["a"]);
        pass(&rts["c"]);
        let fwd = forward_of(&routing);
        let picked: Vec<_> = (0..4).map(|_| pick(fwd, None).id.clone()).collect();
        // c is healthy but draining; b is initial and a is healthy, so only a.
        assert_eq!(picked, vec!["a", "a", "a", "a"]);
        let states: Vec<_> = routing
            .targets
            .iter()
            .map(|t| t.report().health.state)
            .collect();
        use TargetHealthState::*;
        assert_eq!(states, vec![Healthy, Initial, Draining, Unused]);
        assert_eq!(
            routing.listener_addrs,
            vec![("web".into(), "127.0.0.1:8080".parse().unwrap())]
        );
    }

    #[test]
    fn retry_pick_excludes_the_failed_target() {
        let s = Snapshot {
            listeners: vec![listener("web", "127.0.0.1:8080", &[("app", 1)])],
            target_groups: vec![group("app", &[("a", "127.0.0.1:1"), ("b", "127.0.0.1:2")])],
            faults: vec![],
        };
        let (routing, rts) = compiled(&s);
        let g = forward_of(&routing)
            .pick_group((&HeaderMap::new()).into())
            .unwrap()
            .group;
        for _ in 0..4 {
            let picked = g
                .pick((&HeaderMap::new()).into(), Some(&rts["a"]), 0)
                .unwrap();
            assert_eq!(picked.target.id, "b");
        }
    }

    #[test]
    fn weighted_groups_and_disabled_checks() {
        let mut s = Snapshot {
            listeners: vec![listener(
                "web",
                "127.0.0.1:8080",
                &[("blue", 3), ("green", 1)],
            )],
            target_groups: vec![
                group("blue", &[("b1", "127.0.0.1:1")]),
                group("green", &[("g1", "127.0.0.1:2")]),
            ],
            faults: vec![],
        };
        s.target_groups[1].spec.health_check.enabled = false;
        let (routing, _) = compiled(&s);
        let fwd = forward_of(&routing);
        let picked: Vec<_> = (0..8).map(|_| pick(fwd, None).id.clone()).collect();
        assert_eq!(picked.iter().filter(|id| *id == "b1").count(), 6);
        let green = routing.targets[1].report();
        assert_eq!(green.health.state, TargetHealthState::Unavailable);
        assert_eq!(
            green.health.reason,
            Some(TargetHealthReason::HealthCheckDisabled)
        );
    }
}

#[cfg(test)]
mod stickiness_tests {
    use std::time::Duration;

    use http::header::{COOKIE, HeaderValue};
    use model::WeightedTargetGroup;

    use super::*;
    use crate::health::{CheckOutcome, Thresholds};
    use crate::snapshot::fixtures::{group, listener};
    use http::HeaderMap;

    const T: Thresholds = Thresholds {
        healthy: 2,
        unhealthy: 2,
    };

    struct Fixture {
        rts: HashMap<String, Arc<TargetRuntime>>,
        key: StickinessKey,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                rts: HashMap::new(),
                key: StickinessKey::new([9; 32]),
            }
        }

        /// Compiles, creating (healthy) runtimes for targets seen for the first time.
        fn compile(&mut self, s: &Snapshot) -> Routing {
            for tg in &s.target_groups {
                for t in &tg.targets {
                    self.rts.entry(t.id.clone()).or_insert_with(|| {
                        let rt = TargetRuntime::new(&tg.spec.key, &t.id, t.addr);
                        rt.record(&CheckOutcome::Passed, T);
                        rt
                    });
                }
            }
            compile(
                s,
                &self.key,
                |_| None,
                |_, id| Arc::clone(&self.rts[id]),
                |l| l.bind,
            )
        }
    }

    fn targets(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("t{i}"), format!("127.0.0.1:{}", 1000 + i)))
            .collect()
    }

    fn snapshot(n: usize, stickiness: Option<Stickiness>) -> Snapshot {
        let t = targets(n);
        let refs: Vec<(&str, &str)> = t.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let mut g = group("app", &refs);
        g.spec.stickiness = stickiness;
        Snapshot {
            listeners: vec![listener("web", "127.0.0.1:8080", &[("app", 1)])],
            target_groups: vec![g],
            faults: vec![],
        }
    }

    fn forward(r: &Routing) -> &Forward {
        match &r.listeners["web"].default_action {
            RouteAction::Forward(f) => f,
            other => panic!("{other:?}"),
        }
    }

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    /// The cookie value a `Set-Cookie: NAME=VALUE; …` carries.
    fn value(set_cookie: &HeaderValue) -> String {
        let s = set_cookie.to_str().unwrap();
        s.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn lb_cookie_survives_scale_out_and_moves_off_a_gone_target() {
        let lb = Some(Stickiness::LbCookie {
            duration: Duration::from_secs(60),
        });
        let mut f = Fixture::new();
        let r = f.compile(&snapshot(3, lb.clone()));
        // 30 clients, each gets a cookie naming its target.
        let clients: Vec<(String, String)> = (0..30)
            .map(|_| {
                let g = forward(&r)
                    .pick_group((&HeaderMap::new()).into())
                    .unwrap()
                    .group;
                let c = g.pick((&HeaderMap::new()).into(), None, 0).unwrap();
                (value(&c.stick.unwrap().cookie), c.target.id.clone())
            })
            .collect();
        // Scale out from 3 to 10 targets: everyone stays where they were.
        let r = f.compile(&snapshot(10, lb.clone()));
        for (cookie, target) in &clients {
            let h = headers(cookie);
            let g = forward(&r).pick_group((&h).into()).unwrap().group;
            assert_eq!(&g.pick((&h).into(), None, 0).unwrap().target.id, target);
        }
        // A forged or foreign cookie is ignored: plain round robin.
        let h = headers("AWSALB=00112233445566778899aabbccddeeff");
        let g = forward(&r).pick_group((&h).into()).unwrap().group;
        assert!(g.pick((&h).into(), None, 0).is_some());
        // Scale in to 1: the clients of t1 and t2 move to t0 and get a new cookie.
        let r = f.compile(&snapshot(1, lb));
        let (cookie, _) = clients.iter().find(|(_, t)| t == "t2").unwrap();
        let h = headers(cookie);
        let g = forward(&r).pick_group((&h).into()).unwrap().group;
        let c = g.pick((&h).into(), None, 0).unwrap();
        assert_eq!(c.target.id, "t0");
        assert_ne!(&value(&c.stick.unwrap().cookie), cookie);
    }

    #[test]
    fn an_unhealthy_sticky_target_is_left() {
        let lb = Some(Stickiness::LbCookie {
            duration: Duration::from_secs(60),
        });
        let mut f = Fixture::new();
        let r = f.compile(&snapshot(2, lb));
        let g = forward(&r)
            .pick_group((&HeaderMap::new()).into())
            .unwrap()
            .group;
        let c = g.pick((&HeaderMap::new()).into(), None, 0).unwrap();
        let cookie = value(&c.stick.unwrap().cookie);
        c.target.record(&CheckOutcome::Timeout, T);
        c.target.record(&CheckOutcome::Timeout, T);
        let h = headers(&cookie);
        let again = g.pick((&h).into(), None, 0).unwrap();
        assert_ne!(again.target.id, c.target.id);
    }

    #[test]
    fn app_cookie_sticks_only_while_the_application_cookie_is_sent() {
        let app = Some(Stickiness::AppCookie {
            cookie_name: "session".into(),
            duration: Duration::from_secs(60),
        });
        let mut f = Fixture::new();
        let r = f.compile(&snapshot(3, app));
        let g = forward(&r)
            .pick_group((&HeaderMap::new()).into())
            .unwrap()
            .group;
        let c = g.pick((&HeaderMap::new()).into(), None, 0).unwrap();
        let stick = c.stick.unwrap();
        assert_eq!(stick.when_app_sets.as_deref(), Some("session"));
        let alb = value(&stick.cookie);
        assert!(alb.starts_with("AWSALBAPP-0="));
        let with_session = headers(&format!("session=abc; {alb}"));
        for _ in 0..5 {
            assert_eq!(
                g.pick((&with_session).into(), None, 0).unwrap().target.id,
                c.target.id
            );
        }
        // Without the application's cookie, the request is balanced anew.
        let without = headers(&alb);
        let ids: Vec<_> = (0..3)
            .map(|_| {
                g.pick((&without).into(), None, 0)
                    .unwrap()
                    .target
                    .id
                    .clone()
            })
            .collect();
        assert!(ids.iter().any(|id| id != &c.target.id), "{ids:?}");
    }

    #[test]
    fn group_stickiness_keeps_a_client_on_its_target_group() {
        let mut f = Fixture::new();
        let mut s = Snapshot {
            listeners: vec![listener(
                "web",
                "127.0.0.1:8080",
                &[("blue", 1), ("green", 1)],
            )],
            target_groups: vec![
                group("blue", &[("b1", "127.0.0.1:1")]),
                group("green", &[("g1", "127.0.0.1:2")]),
            ],
            faults: vec![],
        };
        s.listeners[0].default_action = Action::Forward {
            target_groups: vec![
                WeightedTargetGroup {
                    target_group: "blue".into(),
                    weight: 1,
                },
                WeightedTargetGroup {
                    target_group: "green".into(),
                    weight: 1,
                },
            ],
            stickiness: Some(Duration::from_secs(300)),
        };
        let r = f.compile(&s);
        let first = forward(&r).pick_group((&HeaderMap::new()).into()).unwrap();
        let key = first.group.key.clone();
        let cookie = value(first.set_cookie.as_ref().unwrap());
        assert!(cookie.starts_with("AWSALBTG="));
        let h = headers(&cookie);
        for _ in 0..6 {
            let again = forward(&r).pick_group((&h).into()).unwrap();
            assert_eq!(again.group.key, key);
            assert!(again.set_cookie.is_none());
        }
        // Weight 0 now: the cookie no longer holds.
        let other = if key == "blue" { "green" } else { "blue" };
        s.listeners[0].default_action = Action::Forward {
            target_groups: vec![
                WeightedTargetGroup {
                    target_group: key.clone(),
                    weight: 0,
                },
                WeightedTargetGroup {
                    target_group: other.into(),
                    weight: 1,
                },
            ],
            stickiness: Some(Duration::from_secs(300)),
        };
        let r = f.compile(&s);
        assert_eq!(
            forward(&r).pick_group((&h).into()).unwrap().group.key,
            other
        );
    }
}
