//! `updraft simulate`: replays a request-rate trace through the configured scaling policies
//! (the same autoscaler code the daemon runs) and two baselines, under simulated time.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use model::{
    Float, InstanceType, PolicyKind, ScalingPolicy, Stack, TargetTracking, Timestamp, TrackedMetric,
};
use scaling::autoscaler::Autoscaler;
use scaling::policy::AlarmShape;
use scaling::replay::{self, GroupSpec, Hpa, InstanceModel, Run, Scaler, Trace};
use serde::Serialize;
use server::clock::Stopwatch;

use crate::EXIT_USAGE;
use crate::up::{ConfigArgs, load};

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The trace: CSV `timestamp,requests` (whole seconds or RFC 3339; requests in the interval
    /// up to the next row). See examples/traces/.
    #[arg(long, value_name = "FILE", required_unless_present = "benchmark")]
    pub trace: Option<PathBuf>,
    /// The configuration whose policies are simulated (default: examples/mylearning).
    #[arg(long = "config", value_name = "FILE.tf")]
    pub config: Option<PathBuf>,
    /// Set a configuration variable (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Where plot.svg and report.json go.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// The auto scaling group to simulate (default: the first with scaling policies).
    #[arg(long)]
    pub group: Option<String>,
    /// Requests per second one instance serves at 100% CPU.
    #[arg(long, default_value_t = 100.0)]
    pub capacity_per_instance: f64,
    /// Seconds from launch to serving.
    #[arg(long, default_value_t = 30)]
    pub boot_time: u64,
    /// Latency above which a second violates the SLO, in milliseconds.
    #[arg(long, default_value_t = 200.0)]
    pub slo_ms: f64,
    /// Latency of an idle instance, in milliseconds.
    #[arg(long, default_value_t = 20.0)]
    pub base_latency_ms: f64,
    /// Alarm shape of updraft's target tracking: `fast` (1 s × 3/3 high, 1 s × 15/15 low),
    /// `aws`, or `high=PERIODxM/N,low=PERIODxM/N[,ratio=R]`.
    #[arg(long, default_value = "fast")]
    pub target_tracking_alarms: String,
    /// Run the benchmark instead: a synthetic day of 1-second ticks peaking at 1,000
    /// instances; prints how long the simulation took (build with --release).
    #[arg(long)]
    pub benchmark: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    trace: String,
    seconds: usize,
    group: &'a GroupSpec,
    model: &'a InstanceModel,
    runs: &'a [Run],
}

fn default_cpu_policy(group: &str) -> ScalingPolicy {
    ScalingPolicy {
        key: "baseline-cpu50".into(),
        name: "baseline-cpu50".into(),
        arn: String::new(),
        group: group.into(),
        enabled: true,
        kind: PolicyKind::TargetTracking(TargetTracking {
            metric: TrackedMetric::AsgAverageCpuUtilization,
            target_value: Float(50.0),
            disable_scale_in: false,
            estimated_instance_warmup: None,
        }),
    }
}

/// The stack with only the group's target-tracking policies (a CPU 50% one if it has none):
/// what the AWS-like baseline runs.
fn tracking_only(stack: &Stack, group: &str) -> Stack {
    let mut s = stack.clone();
    s.metric_alarms.clear();
    s.scheduled_actions.clear();
    s.scaling_policies
        .retain(|_, p| p.group == group && matches!(p.kind, PolicyKind::TargetTracking(_)));
    if s.scaling_policies.is_empty() {
        s.scaling_policies
            .insert("baseline-cpu50".into(), default_cpu_policy(group));
    }
    s
}

fn cpu_target(stack: &Stack, group: &str) -> f64 {
    stack
        .scaling_policies
        .values()
        .filter(|p| p.group == group)
        .find_map(|p| match &p.kind {
            PolicyKind::TargetTracking(tt)
                if tt.metric == TrackedMetric::AsgAverageCpuUtilization =>
            {
                Some(tt.target_value.0)
            }
            _ => None,
        })
        .unwrap_or(50.0)
}

fn describe_policies(stack: &Stack, group: &str) -> Vec<String> {
    stack
        .scaling_policies
        .values()
        .filter(|p| p.group == group)
        .map(|p| match &p.kind {
            PolicyKind::TargetTracking(tt) => format!(
                "{} (target tracking {} = {}{})",
                p.name,
                tt.metric.predefined_name(),
                tt.target_value,
                if tt.disable_scale_in {
                    ", no scale-in"
                } else {
                    ""
                }
            ),
            PolicyKind::Step(s) => format!("{} (step scaling, {} steps)", p.name, s.steps.len()),
            PolicyKind::Simple(s) => {
                format!("{} (simple scaling {:+})", p.name, s.scaling_adjustment)
            }
        })
        .chain(
            stack
                .scheduled_actions
                .values()
                .filter(|s| s.group == group)
                .map(|s| {
                    format!(
                        "{} (scheduled {})",
                        s.name,
                        s.recurrence.as_deref().unwrap_or("once")
                    )
                }),
        )
        .collect()
}

pub fn run(args: &SimulateArgs) -> ExitCode {
    let shape = match AlarmShape::parse(&args.target_tracking_alarms) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --target-tracking-alarms {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if args.capacity_per_instance <= 0.0 || args.slo_ms <= 0.0 {
        eprintln!("error: --capacity-per-instance and --slo-ms must be greater than 0");
        return ExitCode::from(EXIT_USAGE);
    }
    if args.benchmark {
        return benchmark(args, shape);
    }
    let config_args = ConfigArgs {
        config: args.config.clone(),
        vars: args.vars.clone(),
    };
    let (loaded, label) = match load(&config_args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let stack = loaded.stack;
    let Some(trace_path) = &args.trace else {
        eprintln!("error: --trace FILE is required");
        return ExitCode::from(EXIT_USAGE);
    };
    let text = match std::fs::read_to_string(trace_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", trace_path.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let trace = match replay::trace::parse(&text) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}:{e}", trace_path.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let group = match args.group.as_deref() {
        Some(name) => stack.auto_scaling_group(name),
        None => stack
            .auto_scaling_groups
            .values()
            .find(|g| stack.scaling_policies.values().any(|p| p.group == g.key))
            .or_else(|| stack.auto_scaling_groups.values().next()),
    };
    let Some(group) = group else {
        eprintln!(
            "error: {label} has no auto scaling group{}",
            args.group
                .as_deref()
                .map(|g| format!(" named `{g}`"))
                .unwrap_or_default()
        );
        return ExitCode::from(EXIT_USAGE);
    };
    let price = stack
        .launch_template_of(group)
        .and_then(|t| InstanceType::lookup(&t.instance_type))
        .map_or(0.0, |t| t.price_per_hour);
    let model = InstanceModel {
        capacity: args.capacity_per_instance,
        boot_secs: args.boot_time,
        price_per_hour: price,
        base_latency_ms: args.base_latency_ms,
        slo_ms: args.slo_ms,
    };
    let resource_label = stack.scaling_policies.values().find_map(|p| match &p.kind {
        PolicyKind::TargetTracking(TargetTracking {
            metric: TrackedMetric::AlbRequestCountPerTarget { resource_label },
            ..
        }) if p.group == group.key => Some(resource_label.clone()),
        _ => None,
    });
    let spec = GroupSpec {
        key: group.key.clone(),
        name: group.name.clone(),
        min: group.min_size,
        max: group.max_size,
        desired: group.initial_desired(),
        default_cooldown: group.default_cooldown,
        default_instance_warmup: group.default_instance_warmup,
        resource_label,
    };
    let t0 = Timestamp::from_secs(trace.start);
    let mut own = stack.clone();
    let policies = describe_policies(&stack, &group.key);
    if policies.is_empty() {
        own.scaling_policies
            .insert("baseline-cpu50".into(), default_cpu_policy(&group.key));
    }
    let runs = vec![
        replay::run(
            "updraft (config policies)",
            &trace,
            &spec,
            &model,
            Scaler::Policies(Box::new(Autoscaler::new(&own, shape, t0))),
        ),
        replay::run(
            "AWS-like target tracking",
            &trace,
            &spec,
            &model,
            Scaler::Policies(Box::new(Autoscaler::new(
                &tracking_only(&stack, &group.key),
                AlarmShape::AWS,
                t0,
            ))),
        ),
        replay::run(
            "Kubernetes HPA-like",
            &trace,
            &spec,
            &model,
            Scaler::Hpa(Hpa::new(cpu_target(&stack, &group.key))),
        ),
    ];
    let peak = trace.rate.iter().copied().fold(0.0, f64::max);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trace {} ({} s, peak {:.0} requests/s); group {} (min {}, max {}, desired {}) from {label}",
        trace_path.display(),
        trace.rate.len(),
        peak,
        spec.name,
        spec.min,
        spec.max,
        spec.desired
    );
    let _ = writeln!(
        out,
        "instance model: {} requests/s per instance at 100% CPU, boot {} s, ${}/h, SLO {} ms (idle latency {} ms)",
        model.capacity, model.boot_secs, model.price_per_hour, model.slo_ms, model.base_latency_ms
    );
    let _ = writeln!(out, "runs:");
    let _ = writeln!(
        out,
        "  updraft (config policies): {}; target-tracking alarms: high {} s × {}/{}, low {} s × {}/{} at {:.0}% of target",
        if policies.is_empty() {
            "no policy in the config, so a CPU 50% target tracking policy".to_string()
        } else {
            policies.join(", ")
        },
        shape.high.period,
        shape.high.datapoints_to_alarm,
        shape.high.evaluation_periods,
        shape.low.period,
        shape.low.datapoints_to_alarm,
        shape.low.evaluation_periods,
        shape.low_ratio * 100.0
    );
    let _ = writeln!(
        out,
        "  AWS-like target tracking: the same target-tracking policies with 1-minute metrics, 3-of-3 high and 15-of-15 low alarms (low at 70% of target)"
    );
    let _ = writeln!(
        out,
        "  Kubernetes HPA-like: every 15 s, ceil(ready × CPU / {:.0}%), tolerance 0.1, scale-up ≤ max(100%, 4), 5-minute scale-down stabilisation",
        cpu_target(&stack, &group.key)
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<28} {:>8} {:>10} {:>9} {:>7} {:>9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "run",
        "SLO-min",
        "inst-hours",
        "cost $",
        "actions",
        "1st act",
        "θU %",
        "θO %",
        "τU %",
        "τO %",
        "υ %",
        "υ′ %"
    );
    for r in &runs {
        let s = &r.summary;
        let e = &s.elasticity;
        let _ = writeln!(
            out,
            "{:<28} {:>8} {:>10.2} {:>9.4} {:>7} {:>9} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>6.2} {:>6.2}",
            r.label,
            s.slo_violation_minutes,
            s.instance_hours,
            s.cost,
            s.scaling_actions,
            s.first_action_secs.map_or("-".into(), |t| format!("{t} s")),
            e.under_provisioning_accuracy,
            e.over_provisioning_accuracy,
            e.under_provisioning_timeshare,
            e.over_provisioning_timeshare,
            e.instability,
            e.instability_prime
        );
    }
    let _ = writeln!(
        out,
        "\nθU/θO: average under/over-provisioning relative to demand; τU/τO: share of time under/over-provisioned; υ/υ′: share of seconds supply and demand move in different directions (SPEC RG elasticity metrics). Demand = ⌈rate / capacity per instance⌉ instances."
    );
    print!("{out}");
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot create {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    let svg = replay::svg::plot(
        &format!("updraft simulate: {}", trace_path.display()),
        &runs,
        &model,
    );
    let report = Report {
        trace: trace_path.display().to_string(),
        seconds: trace.rate.len(),
        group: &spec,
        model: &model,
        runs: &runs,
    };
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    for (name, body) in [("plot.svg", svg), ("report.json", json + "\n")] {
        let path = args.out.join(name);
        if let Err(e) = std::fs::write(&path, body) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

/// A day of one-second ticks whose demand peaks at 1,000 instances.
fn benchmark(args: &SimulateArgs, shape: AlarmShape) -> ExitCode {
    let capacity = args.capacity_per_instance;
    let rate: Vec<f64> = (0..86_400)
        .map(|t| {
            let phase = (f64::from(t) / 86_400.0) * std::f64::consts::TAU;
            // 10 % to 100 % of 1,000 instances at 50 % CPU, with a fast ripple.
            let base = 0.55 - 0.45 * phase.cos();
            let ripple = 0.02 * (f64::from(t) / 97.0).sin();
            (base + ripple).max(0.05) * 1_000.0 * capacity * 0.5
        })
        .collect();
    let trace = Trace {
        start: 1_800_000_000,
        rate,
    };
    let spec = GroupSpec {
        key: "web".into(),
        name: "web".into(),
        min: 10,
        max: 2_000,
        desired: 50,
        default_cooldown: Duration::from_secs(300),
        default_instance_warmup: Some(Duration::from_secs(30)),
        resource_label: None,
    };
    let model = InstanceModel {
        capacity,
        boot_secs: args.boot_time,
        price_per_hour: 0.0104,
        base_latency_ms: args.base_latency_ms,
        slo_ms: args.slo_ms,
    };
    let mut stack = Stack::default();
    stack.scaling_policies.insert(
        "cpu".into(),
        ScalingPolicy {
            key: "cpu".into(),
            ..default_cpu_policy("web")
        },
    );
    let mut g = model_group();
    g.max_size = 2_000;
    stack.auto_scaling_groups.insert("web".into(), g);
    let t0 = Timestamp::from_secs(trace.start);
    let mut timings = Vec::new();
    for (label, scaler) in [
        (
            "updraft target tracking (fast alarms)",
            Scaler::Policies(Box::new(Autoscaler::new(&stack, shape, t0))),
        ),
        (
            "AWS-like target tracking",
            Scaler::Policies(Box::new(Autoscaler::new(&stack, AlarmShape::AWS, t0))),
        ),
        ("Kubernetes HPA-like", Scaler::Hpa(Hpa::new(50.0))),
    ] {
        let watch = Stopwatch::start();
        let r = replay::run(label, &trace, &spec, &model, scaler);
        let took = watch.elapsed();
        timings.push((
            label,
            took,
            r.summary.peak_instances,
            r.summary.scaling_actions,
        ));
    }
    println!(
        "benchmark: one day = 86,400 one-second ticks, demand peaking at 1,000 instances ({} build)",
        if cfg!(debug_assertions) {
            "debug — use --release for the real figure"
        } else {
            "release"
        }
    );
    let base = timings.last().map_or(1.0, |t| t.1.as_secs_f64().max(1e-9));
    for (label, took, peak, actions) in &timings {
        println!(
            "  {label:<40} {:>7.3} s   peak {peak} instances, {actions} scaling actions, {:.2}× the HPA-like loop's time",
            took.as_secs_f64(),
            took.as_secs_f64() / base
        );
    }
    ExitCode::SUCCESS
}

fn model_group() -> model::AutoScalingGroup {
    model::AutoScalingGroup {
        key: "web".into(),
        name: "web".into(),
        min_size: 10,
        max_size: 2_000,
        desired_capacity: Some(50),
        subnets: vec![],
        target_groups: vec![],
        launch_template: model::LaunchTemplateRef {
            template: "web".into(),
            version: model::LaunchTemplateVersion::Latest,
        },
        health_check_type: model::HealthCheckType::Ec2,
        health_check_grace_period: Duration::ZERO,
        default_cooldown: Duration::from_secs(300),
        default_instance_warmup: Some(Duration::from_secs(30)),
        termination_policies: vec![],
        protect_from_scale_in: false,
        max_instance_lifetime: None,
        suspended_processes: vec![],
        initial_lifecycle_hooks: vec![],
        warm_pool: None,
        instance_refresh: None,
    }
}
