//! Human-readable rendering of the daemon's views.

use std::fmt::Write;

use model::LifecycleState;
use server::store::Activity;
use server::views::StackStatus;

pub fn status(s: &StackStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Stack {} ({}), updraft pid {}, state in {}",
        s.config, s.region, s.daemon_pid, s.state_dir
    );
    let _ = writeln!(out, "Instance limits: {}", s.limits);
    for lb in &s.load_balancers {
        let _ = writeln!(
            out,
            "\nLoad balancer {} ({}) in {}",
            lb.name,
            lb.load_balancer_type,
            lb.availability_zones.join(", ")
        );
        for l in &lb.listeners {
            let _ = writeln!(
                out,
                "  listener {:<12} {:<5} http://{}/ → {}",
                l.key,
                l.protocol,
                l.address,
                l.forwards_to.join(", ")
            );
            if let Some(t) = s.traffic.listeners.iter().find(|t| t.listener == l.key) {
                let _ = writeln!(
                    out,
                    "    RequestCount {}, HTTPCode_ELB_5XX_Count {}, ActiveConnectionCount {} ({} parked idle)",
                    t.requests, t.elb_5xx, t.active_connections, t.parked_connections
                );
            }
        }
    }
    for tg in &s.target_groups {
        let _ = writeln!(
            out,
            "\nTarget group {} ({}:{})",
            tg.name, tg.protocol, tg.port
        );
        if let Some(t) = s
            .traffic
            .target_groups
            .iter()
            .find(|t| t.target_group == tg.key)
        {
            let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
            let _ = writeln!(
                out,
                "  RequestCount {}, HTTPCode_Target_5XX_Count {}, HTTPCode_ELB_5XX_Count {}, TargetResponseTime p50 {} p99 {}",
                t.requests,
                t.target_5xx,
                t.elb_5xx,
                ms(t.p50_ms),
                ms(t.p99_ms)
            );
        }
        if tg.targets.is_empty() {
            let _ = writeln!(out, "  no registered targets");
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<12} {:<21} {:<21} {:<10} {:>8}  REASON",
            "AZ", "TARGET", "ADDRESS", "STATE", "INFLIGHT"
        );
        let mut targets: Vec<_> = tg.targets.iter().collect();
        targets.sort_by(|a, b| (&a.availability_zone, &a.id).cmp(&(&b.availability_zone, &b.id)));
        for t in targets {
            let reason = match (&t.reason, &t.description) {
                (Some(r), Some(d)) => format!("{r}: {d}"),
                (Some(r), None) => r.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<12} {:<21} {:<21} {:<10} {:>8}  {}",
                t.availability_zone.as_deref().unwrap_or("-"),
                t.id,
                t.address,
                t.state.as_str(),
                t.in_flight,
                reason
            );
        }
    }
    for db in &s.databases {
        out.push('\n');
        out.push_str(&crate::db::render_cluster(db));
    }
    for g in &s.auto_scaling_groups {
        let _ = writeln!(
            out,
            "\nAuto scaling group {}: desired {} (min {}, max {}) over {}",
            g.name,
            g.desired_capacity,
            g.min_size,
            g.max_size,
            g.availability_zones.join(", ")
        );
        if !g.instances.is_empty() {
            let _ = writeln!(
                out,
                "  {:<12} {:<21} {:<19} {:<10} {:<21} {:<10} {:>8}  NOTE",
                "AZ", "INSTANCE", "LIFECYCLE", "HEALTH", "ADDRESS", "TYPE", "PID"
            );
        }
        // Group instances first, then the warm pool; by zone within each.
        let mut instances: Vec<_> = g.instances.iter().collect();
        instances.sort_by(|a, b| {
            (a.lifecycle.is_warmed(), &a.availability_zone, &a.id).cmp(&(
                b.lifecycle.is_warmed(),
                &b.availability_zone,
                &b.id,
            ))
        });
        for i in instances {
            let mut notes = Vec::new();
            if i.protected_from_scale_in {
                notes.push("protected".to_owned());
            }
            if g.warming.contains(&i.id) {
                notes.push("warming up".to_owned());
            }
            if let Some(w) = &i.waiting_for {
                notes.push(format!("waits for {w}"));
            }
            let _ = writeln!(
                out,
                "  {:<12} {:<21} {:<19} {:<10} {:<21} {:<10} {:>8}  {}",
                i.availability_zone,
                i.id.as_str(),
                i.lifecycle.as_str(),
                i.target_health.map_or("-", |h| h.as_str()),
                i.address,
                i.instance_type,
                i.pid.map_or_else(|| "-".into(), |p| p.to_string()),
                notes.join("; ")
            );
        }
        let per_zone: Vec<String> = g
            .availability_zones
            .iter()
            .map(|z| {
                let n = g
                    .instances
                    .iter()
                    .filter(|i| &i.availability_zone == z && i.lifecycle.counts_toward_capacity())
                    .count();
                format!("{z}: {n}")
            })
            .collect();
        let _ = writeln!(out, "  per AZ: {}", per_zone.join(", "));
        if let Some(p) = &g.warm_pool {
            let warm: Vec<String> = LifecycleState::ALL
                .iter()
                .filter(|l| l.is_warmed())
                .map(|l| (l, g.count(*l)))
                .filter(|(_, n)| *n > 0)
                .map(|(l, n)| format!("{n} {l}"))
                .collect();
            let _ = writeln!(
                out,
                "  warm pool: {} instances {} (min {}, prepared capacity {}{}): {}",
                p.size,
                p.pool_state,
                p.min_size,
                p.max_group_prepared_capacity
                    .map_or_else(|| "max_size".into(), |n| n.to_string()),
                if p.reuse_on_scale_in {
                    ", reused on scale-in"
                } else {
                    ""
                },
                if warm.is_empty() {
                    "empty".into()
                } else {
                    warm.join(", ")
                }
            );
        }
        if !g.lifecycle_hooks.is_empty() {
            let _ = writeln!(out, "  lifecycle hooks: {}", g.lifecycle_hooks.join(", "));
        }
        if !g.suspended_processes.is_empty() {
            let _ = writeln!(out, "  suspended: {}", g.suspended_processes.join(", "));
        }
        if let Some(r) = &g.instance_refresh {
            let _ = writeln!(out, "  instance refresh: {}", scaling::refresh::summary(r));
        }
        if let Some(w) = &g.waiting {
            let _ = writeln!(out, "  waiting: {w}");
        }
        if let Some(f) = &g.last_failure {
            let _ = writeln!(
                out,
                "  last failed launch: {} at {}: {}",
                f.instance, f.at, f.reason
            );
            for line in &f.log_tail {
                let _ = writeln!(out, "    | {line}");
            }
        }
        if !g.recent_activities.is_empty() {
            let _ = writeln!(out, "  recent activities (newest first):");
            for a in &g.recent_activities {
                let _ = writeln!(
                    out,
                    "    {}  {:<10}  {}",
                    a.start_time,
                    format!("{:?}", a.status),
                    a.description
                );
            }
        }
    }
    if !s.recorded.is_empty() {
        let _ = writeln!(out, "\nRecorded, not simulated: {}", s.recorded.join(", "));
    }
    out
}

pub fn activities(list: &[Activity]) -> String {
    let mut out = String::new();
    if list.is_empty() {
        out.push_str("no activities yet\n");
    }
    for a in list {
        let _ = writeln!(
            out,
            "{}  {:?}  {}\n  Cause: {}",
            a.start_time, a.status, a.description, a.cause
        );
        if let Some(m) = &a.status_message {
            let _ = writeln!(out, "  Status: {m}");
        }
        if let Some(end) = a.end_time {
            let _ = writeln!(
                out,
                "  Ended: {end}  Duration: {:.1} s",
                end.since(a.start_time).as_secs_f64()
            );
        }
    }
    out
}
