//! `updraft`: self-hosted Elastic Load Balancing, Auto Scaling and Multi-AZ failover.
//!
//! This binary is a thin shell: it parses arguments, loads configuration, runs the daemon in
//! the foreground (`up`) or talks to a running one through its local API (everything else).

mod asg;
mod chaos;
mod db;
mod db_drill;
mod diagram;
mod load;
mod metrics_cmd;
mod paths;
mod render;
mod simulate;
mod stackwatch;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use server::ApiClient;

/// Exit code for bad configuration or arguments (EX_USAGE).
const EXIT_USAGE: u8 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "updraft",
    version,
    about = "Self-hosted Elastic Load Balancing, Auto Scaling and Multi-AZ failover in one binary",
    long_about = "updraft runs the classic scalable, highly available web tier for real on one \
machine — an application load balancer in front of an auto scaling group spread over \
availability zones — configured in Terraform syntax with the AWS provider's resource names.\n\n\
Each availability zone is a loopback block (zone a = 127.0.1.0/24, b = 127.0.2.0/24, …); each \
instance is a real process started from its launch template's user_data, CPU- and \
memory-limited by its instance type through cgroups where the host allows.\n\n\
Start here:\n  updraft up                 bring up examples/mylearning in the foreground\n  \
updraft status             load balancer, target health and instances per AZ\n  \
updraft scale web 5        set the desired capacity of auto scaling group \"web\"\n  \
updraft load URL --rate 200 --duration 30s   load it; p50/p99, errors, capacity\n  \
updraft activities web     what the group did and why, in AWS's words\n  \
updraft down               stop the stack (or press Ctrl-C where `up` runs)"
)]
struct Cli {
    /// Where the stack's state lives (SQLite store, instance logs, daemon.json). Like
    /// Terraform's state, it defaults to a directory in the current working directory.
    #[arg(
        long,
        global = true,
        env = "UPDRAFT_STATE_DIR",
        default_value = ".updraft"
    )]
    state_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Bring a stack up and keep it running in the foreground (Ctrl-C stops it).
    ///
    /// CONFIG is a .tf file or a directory of .tf files; without it, updraft runs the bundled
    /// MyLearning example (examples/mylearning). Invalid configuration starts nothing.
    Up(up::UpArgs),
    /// Stop the running stack: listeners close, every instance is terminated.
    Down,
    /// Show the load balancers, target health per AZ and the auto scaling groups' instances.
    Status {
        /// Print the status as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Set the desired capacity of an auto scaling group (like `aws autoscaling
    /// set-desired-capacity`). It must lie within the group's min and max size.
    Scale {
        /// The group's name (its `name` attribute, or its Terraform resource name).
        group: String,
        /// The new desired capacity.
        desired_capacity: u32,
    },
    /// Show a group's scaling activities, newest first (like `aws autoscaling
    /// describe-scaling-activities`).
    Activities {
        group: String,
        /// How many to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Protect instances from scale-in (like `aws autoscaling set-instance-protection
    /// --protected-from-scale-in`): scale-in, rebalancing and maximum lifetime pass them over;
    /// health checks still replace them.
    Protect {
        group: String,
        /// Instance ids (i-…), up to 50.
        #[arg(required = true)]
        instances: Vec<String>,
    },
    /// Remove scale-in protection from instances (`--no-protected-from-scale-in`).
    Unprotect {
        group: String,
        #[arg(required = true)]
        instances: Vec<String>,
    },
    /// Answer lifecycle hooks: complete an action, or extend it with a heartbeat.
    #[command(subcommand)]
    Lifecycle(asg::LifecycleCommand),
    /// Instance refresh: replace a group's instances with its current launch template.
    #[command(subcommand)]
    Refresh(asg::RefreshCommand),
    /// Show metrics and their statistics (like `aws cloudwatch list-metrics` /
    /// `get-metric-statistics`), with a sparkline: instance and group CPUUtilization, the
    /// AWS/AutoScaling group metrics, the load balancer's target counts.
    ///
    /// Examples: `updraft metrics` lists everything; `updraft metrics CPUUtilization
    /// --dimension AutoScalingGroupName=web --statistic Average --statistic p99`.
    Metrics(metrics_cmd::MetricsArgs),
    /// Show every alarm's state (OK, ALARM, INSUFFICIENT_DATA) and why, including the alarms
    /// target-tracking policies create.
    Alarms {
        /// Print the alarms as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay a request-rate trace through the configuration's scaling policies and two
    /// baselines (AWS-like target tracking, Kubernetes HPA-like) under simulated time; report
    /// SLO-violation minutes, instance-hours, cost, scaling actions and the SPEC RG elasticity
    /// metrics; write plot.svg and report.json.
    ///
    /// Example: `updraft simulate --trace examples/traces/step.csv --out /tmp/sim`.
    Simulate(simulate::SimulateArgs),
    /// Check a configuration without starting anything (like `terraform validate`).
    Validate(up::ConfigArgs),
    /// Show what `apply` would change in the running stack (like `terraform plan`).
    Plan(up::ConfigArgs),
    /// Apply a changed configuration to the running stack without restarting it (like
    /// `terraform apply`): new listeners bind, target groups and rules change atomically,
    /// groups are resized, removed groups drain and go. All or nothing.
    Apply(up::ConfigArgs),
    /// Failure drills on the running stack, each with a report: time to detect, time to
    /// recover, and the requests that failed while it lasted (from the load balancer's own
    /// counters). Every drill is bounded in time and undoes itself — also if you press
    /// Ctrl-C, and also if updraft crashes meanwhile (the restarted daemon undoes it).
    ///
    /// Examples:
    ///   updraft chaos kill-instance
    ///   updraft chaos stop-az us-east-1a --duration 60s
    ///   updraft chaos latency mylearning-web --delay 200ms --percent 50 --duration 30s
    ///   updraft chaos errors mylearning-web --percent 10 --status 503 --duration 30s
    #[command(subcommand, verbatim_doc_comment)]
    Chaos(chaos::ChaosCommand),
    /// Managed databases (`aws_db_instance`): endpoints, status, events, switchover, and the
    /// failover drill.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Load a URL with HTTP requests and report latency, errors and rate (like wrk2/k6):
    /// open model (`--rate`, stages) or closed model, thresholds that set the exit code, a
    /// JSON summary and an HTML report overlaid with the stack's capacity.
    Load(Box<load::LoadArgs>),
    /// Draw the running stack's architecture from its live state: the region, one column per
    /// availability zone, load balancers and listeners, target groups with their health and
    /// request counts, every instance with its health in its zone, database and cache nodes.
    ///
    /// Examples:
    ///   updraft diagram -o stack.svg
    ///   updraft diagram -o stack.png
    ///   updraft diagram --format mermaid
    #[command(verbatim_doc_comment)]
    Diagram(diagram::DiagramArgs),
}

/// mimalloc rather than the system allocator: the balancer allocates and frees small buffers
/// and task states per connection and request, and mimalloc's per-thread free lists cut about
/// 0.3 µs of CPU per proxied request (bench/alb.sh; ARCHITECTURE.md, "Decisions and why").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse_from(terraform_style_args(std::env::args_os()));
    // Two workers by default; `TOKIO_WORKER_THREADS` overrides it (bench/alb.sh runs the
    // balancer on one core with one worker, like nginx's and HAProxy's single worker).
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2);
    // One worker: a current-thread runtime, which schedules without the work-stealing
    // machinery's atomics and cross-thread wake-ups (bench/alb.sh measures the difference).
    let built = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .worker_threads(workers)
            .build()
    };
    let runtime = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Up(args) => up::up(args, &cli.state_dir).await,
        Command::Validate(args) => up::validate(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Metrics(args) => {
            let query = match args.query() {
                Ok(q) => q,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            remote(&cli.state_dir, |c| async move {
                let metrics = c.metrics(&query).await?;
                if args.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&metrics).unwrap_or_default()
                    );
                } else {
                    print!("{}", metrics_cmd::render(&metrics, &args));
                }
                Ok(())
            })
            .await
        }
        Command::Alarms { json } => {
            remote(&cli.state_dir, |c| async move {
                let alarms = c.alarms().await?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&alarms).unwrap_or_default()
                    );
                } else {
                    print!("{}", metrics_cmd::render_alarms(&alarms));
                }
                Ok(())
            })
            .await
        }
        Command::Plan(args) => up::plan(&args, &cli.state_dir).await,
        Command::Apply(args) => up::apply(&args, &cli.state_dir).await,
        Command::Chaos(cmd) => chaos::run(cmd, &cli.state_dir).await,
        Command::Db(cmd) => db::run(cmd, &cli.state_dir).await,
        Command::Load(args) => load::load(*args, &cli.state_dir).await,
        Command::Diagram(args) => diagram::run(args, &cli.state_dir).await,
        Command::Down => {
            remote(&cli.state_dir, |c| async move {
                c.shutdown().await?;
                println!("stopping the stack; its instances are being terminated");
                Ok(())
            })
            .await
        }
        Command::Status { json } => {
            remote(&cli.state_dir, |c| async move {
                let status = c.status().await?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&status).unwrap_or_default()
                    );
                } else {
                    print!("{}", render::status(&status));
                }
                Ok(())
            })
            .await
        }
        Command::Scale {
            group,
            desired_capacity,
        } => {
            remote(&cli.state_dir, |c| async move {
                let n = c.set_desired_capacity(&group, desired_capacity).await?;
                println!("desired capacity of {group} set to {n}");
                Ok(())
            })
            .await
        }
        Command::Protect { group, instances } => {
            asg::protect(&cli.state_dir, group, instances, true).await
        }
        Command::Unprotect { group, instances } => {
            asg::protect(&cli.state_dir, group, instances, false).await
        }
        Command::Lifecycle(cmd) => asg::lifecycle(&cli.state_dir, cmd).await,
        Command::Refresh(cmd) => asg::refresh(&cli.state_dir, cmd).await,
        Command::Activities { group, limit } => {
            remote(&cli.state_dir, |c| async move {
                let activities = c.activities(&group, limit).await?;
                print!("{}", render::activities(&activities));
                Ok(())
            })
            .await
        }
    }
}

/// Runs `f` against the daemon of `state_dir`, printing its error the way users need it.
pub(crate) async fn remote<F, Fut>(state_dir: &std::path::Path, f: F) -> ExitCode
where
    F: FnOnce(ApiClient) -> Fut,
    Fut: std::future::Future<Output = Result<(), server::ClientError>>,
{
    let result = match ApiClient::for_state_dir(state_dir) {
        Ok(client) => f(client).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ server::ClientError::Api { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Accepts Terraform's single-dash `-var x=y` / `-var=x=y` by rewriting them to `--var`.
fn terraform_style_args(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    args.map(|a| match a.to_str() {
        Some("-var") => "--var".into(),
        Some(s) if s.starts_with("-var=") => format!("-{s}").into(),
        _ => a,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_var_flags_are_accepted() {
        let args = ["updraft", "up", "-var", "a=1", "-var=b=2", "x.tf"].map(Into::into);
        let cli = Cli::parse_from(terraform_style_args(args.into_iter()));
        let Command::Up(up) = cli.command else {
            panic!("parsed {:?}", cli.command)
        };
        assert_eq!(up.config.vars, vec!["a=1", "b=2"]);
        assert_eq!(up.config.config.unwrap().to_str(), Some("x.tf"));
    }

    #[test]
    fn help_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
