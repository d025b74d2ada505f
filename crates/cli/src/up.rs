//! `updraft up` and `updraft validate`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use model::{LifecycleState, TargetHealthState};
use server::views::StackStatus;
use server::{Daemon, DaemonOptions, StartError};

use crate::{EXIT_USAGE, paths};

/// Which configuration to load.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// A .tf file or a directory of .tf files (default: the bundled examples/mylearning).
    pub config: Option<PathBuf>,
    /// Set a variable, as Terraform's `-var 'name=value'` (repeatable; `TF_VAR_name`
    /// environment variables work too).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Address the load balancers' listeners bind to. Use 0.0.0.0 to serve other machines.
    #[arg(long, default_value = "127.0.0.1", env = "UPDRAFT_BIND")]
    pub bind: IpAddr,
    /// Local CPU one AWS vCPU is worth, in millicores (80 = 8% of a core, so a dozen 2-vCPU
    /// t3.micro instances fit on 2 cores).
    #[arg(long, default_value_t = 80, value_name = "MILLICORES")]
    pub cpu_per_vcpu: u32,
    /// When updraft runs as root: the unprivileged user PostgreSQL servers run as (Debian's
    /// postgresql package creates `postgres`). It must be able to search every directory
    /// above the state directory.
    #[arg(long, default_value = "postgres", env = "UPDRAFT_POSTGRES_USER")]
    pub postgres_user: String,
    /// Log format on stderr.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// The alarms target-tracking policies create: `fast` (1-second datapoints, 3 of 3 above
    /// the target to scale out, 15 of 15 below 90% of it to scale in), `aws` (AWS's 1-minute,
    /// 3-of-3 / 15-of-15 shape), or `high=PERIODxM/N,low=PERIODxM/N[,ratio=R]`.
    #[arg(long, default_value = "fast", env = "UPDRAFT_TARGET_TRACKING_ALARMS", value_parser = parse_shape)]
    pub target_tracking_alarms: scaling::policy::AlarmShape,
}

fn parse_shape(s: &str) -> Result<scaling::policy::AlarmShape, String> {
    scaling::policy::AlarmShape::parse(s)
}

pub fn validate(args: &ConfigArgs) -> ExitCode {
    match load(args) {
        Ok((loaded, label)) => {
            let s = &loaded.stack;
            println!(
                "{label} is valid: {} subnets in {} AZs, {} load balancers, {} listeners, {} target groups, {} launch templates, {} auto scaling groups, {} scaling policies, {} scheduled actions, {} alarms, {} databases ({} read replicas), {} resources recorded but not simulated",
                s.subnets.len(),
                s.zones().len(),
                s.load_balancers.len(),
                s.listeners.len(),
                s.target_groups.len(),
                s.launch_templates.len(),
                s.auto_scaling_groups.len(),
                s.scaling_policies.len(),
                s.scheduled_actions.len(),
                s.metric_alarms.len(),
                s.db_primaries().count(),
                s.db_instances.len() - s.db_primaries().count(),
                s.recorded.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

pub async fn plan(args: &ConfigArgs, state_dir: &Path) -> ExitCode {
    let (loaded, label) = match load(args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    crate::remote(state_dir, |c| async move {
        let mut desired = loaded.stack;
        let current = c.stack().await?;
        config::carry_launch_template_versions(&current, &mut desired);
        print!("{}", config::plan(&current, &desired));
        eprintln!("(compared {label} with the running stack; `updraft apply` makes these changes)");
        Ok(())
    })
    .await
}

pub async fn apply(args: &ConfigArgs, state_dir: &Path) -> ExitCode {
    let (loaded, label) = match load(args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    crate::remote(state_dir, |c| async move {
        let plan = c.apply(&loaded, &label).await?;
        print!("{plan}");
        if !plan.is_empty() {
            println!("Apply complete.");
        }
        Ok(())
    })
    .await
}

pub async fn up(args: UpArgs, state_dir: &Path) -> ExitCode {
    init_logging(&args.log_format);
    let (loaded, label) = match load(&args.config) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut options = DaemonOptions::new(state_dir);
    options.bind_host = args.bind;
    options.millicores_per_vcpu = args.cpu_per_vcpu;
    options.database.postgres_user = Some(args.postgres_user.clone());
    options.target_tracking_alarms = args.target_tracking_alarms;
    let daemon = match Daemon::start(loaded, label.clone(), options).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                StartError::Listener { .. } | StartError::AlreadyRunning { .. } => {
                    ExitCode::from(EXIT_USAGE)
                }
                _ => ExitCode::FAILURE,
            };
        }
    };
    for (listener, addr) in daemon.listener_addrs() {
        eprintln!("listener {listener}: http://{addr}/");
    }
    eprintln!(
        "stack {label} is starting; `updraft status` shows it, Ctrl-C or `updraft down` stops it"
    );
    let progress = tokio::spawn(report_progress(daemon.handle()));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => eprintln!("interrupted: stopping the stack"),
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {
            eprintln!("terminated: stopping the stack");
        }
        _ = daemon.shutdown_requested() => eprintln!("`updraft down` requested: stopping the stack"),
    }
    progress.abort();
    daemon.shutdown().await;
    eprintln!("stack stopped; no instance is left running");
    ExitCode::SUCCESS
}

/// Loads the configuration named by `args`, printing every error.
pub(crate) fn load(args: &ConfigArgs) -> Result<(config::Loaded, String), ExitCode> {
    let path = match &args.config {
        Some(p) => p.clone(),
        None => paths::default_config().map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        })?,
    };
    let mut vars: BTreeMap<String, String> = std::env::vars()
        .filter_map(|(k, v)| k.strip_prefix("TF_VAR_").map(|n| (n.to_owned(), v)))
        .collect();
    for v in &args.vars {
        match v.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                vars.insert(name.to_owned(), value.to_owned());
            }
            _ => {
                eprintln!(
                    "error: -var `{v}` is not NAME=VALUE; write e.g. -var 'listener_port=8080'"
                );
                return Err(ExitCode::from(EXIT_USAGE));
            }
        }
    }
    let label = paths::display(&path);
    match config::load(&path, &vars) {
        Ok(loaded) => Ok((loaded, label)),
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("nothing was started.");
            Err(ExitCode::from(EXIT_USAGE))
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hyper=warn,hyper_util=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if format == "json" {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}

/// Prints one line whenever a group's numbers change, and a "ready" line once every group has
/// its desired capacity InService and healthy.
async fn report_progress(handle: server::controller::ControllerHandle) {
    let mut last = String::new();
    let mut ready_said = false;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Some(status) = handle.status().await else {
            return;
        };
        let line = summary(&status);
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        let ready = is_ready(&status);
        if ready && !ready_said {
            let urls: Vec<String> = status
                .load_balancers
                .iter()
                .flat_map(|lb| {
                    lb.listeners
                        .iter()
                        .map(|l| format!("http://{}/", l.address))
                })
                .collect();
            eprintln!("ready: {}", urls.join(" "));
        }
        ready_said = ready;
    }
}

fn summary(status: &StackStatus) -> String {
    status
        .auto_scaling_groups
        .iter()
        .map(|g| {
            let healthy = g
                .instances
                .iter()
                .filter(|i| i.target_health == Some(TargetHealthState::Healthy))
                .count();
            let mut line = format!(
                "{}: desired {}, {} Pending, {} InService ({} healthy), {} Terminating",
                g.name,
                g.desired_capacity,
                g.count(LifecycleState::Pending) + g.count(LifecycleState::PendingWait),
                g.count(LifecycleState::InService),
                healthy,
                g.count(LifecycleState::Terminating) + g.count(LifecycleState::TerminatingWait),
            );
            let waiting =
                g.count(LifecycleState::PendingWait) + g.count(LifecycleState::TerminatingWait);
            if waiting > 0 {
                line.push_str(&format!(" ({waiting} held by lifecycle hooks)"));
            }
            if g.warm_pool.is_some() {
                let warm = g
                    .instances
                    .iter()
                    .filter(|i| i.lifecycle.is_warmed())
                    .count();
                line.push_str(&format!(", {warm} in the warm pool"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn is_ready(status: &StackStatus) -> bool {
    status.auto_scaling_groups.iter().all(|g| {
        let healthy = g
            .instances
            .iter()
            .filter(|i| {
                i.lifecycle == LifecycleState::InService
                    && (i.target_health == Some(TargetHealthState::Healthy)
                        || i.target_health.is_none())
            })
            .count();
        healthy as u32 >= g.desired_capacity
    })
}
