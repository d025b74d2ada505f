//! `updraft chaos …`: start a failure drill on the running stack, follow it live, print its
//! report. The daemon runs the drill (and undoes it when its time is over, even if this command
//! is gone); Ctrl-C here ends it early and undoes it at once.

use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use model::time::{format_duration, parse_duration};
use server::chaos::{Drill, DrillReport, DrillSpec};
use server::{ApiClient, ClientError};

use crate::EXIT_USAGE;

#[derive(Subcommand, Debug)]
pub enum ChaosCommand {
    /// SIGKILL one instance — a random InService one, or the one you name — and measure how
    /// fast the group notices and replaces it.
    KillInstance {
        /// The instance id (`updraft status` lists them); omit it for a random InService one.
        instance: Option<String>,
        /// Only consider instances of this auto scaling group.
        #[arg(long)]
        group: Option<String>,
        #[command(flatten)]
        follow: Follow,
    },
    /// AWS FIS "AZ Availability: Power Interruption": every instance in the zone stops at once,
    /// and launches there fail with InsufficientInstanceCapacity for the duration, so the
    /// groups replace capacity in the other zones. Then the zone recovers and the groups
    /// rebalance into it.
    StopAz {
        /// The availability zone, e.g. us-east-1a.
        availability_zone: String,
        /// How long the zone stays down (30s, 2m, …; at most 1h).
        #[arg(long, value_parser = parse_duration)]
        duration: Duration,
        #[command(flatten)]
        follow: Follow,
    },
    /// Add latency on the path from the load balancer to a target group (the kernel here has
    /// no netem: the data plane delays the requests itself, like a Toxiproxy latency toxic).
    Latency {
        /// The target group's name.
        target_group: String,
        /// Delay added to each affected request (e.g. 200ms).
        #[arg(long, value_parser = parse_duration)]
        delay: Duration,
        /// Up to this much more, varying per request.
        #[arg(long, value_parser = parse_duration, default_value = "0ms")]
        jitter: Duration,
        /// Share of requests affected, in percent.
        #[arg(long, default_value_t = 100.0)]
        percent: f64,
        /// Only the targets in this availability zone.
        #[arg(long = "az")]
        availability_zone: Option<String>,
        /// How long the fault lasts (at most 1h).
        #[arg(long, value_parser = parse_duration)]
        duration: Duration,
        #[command(flatten)]
        follow: Follow,
    },
    /// Break requests on the path from the load balancer to a target group: connection resets
    /// (the balancer answers 502 unless its safe retry lands on another target), or a 5xx from
    /// the target with --status.
    Errors {
        /// The target group's name.
        target_group: String,
        /// Share of requests affected, in percent.
        #[arg(long, default_value_t = 100.0)]
        percent: f64,
        /// Answer with this 5xx status instead of resetting the connection.
        #[arg(long)]
        status: Option<u16>,
        /// Only the targets in this availability zone.
        #[arg(long = "az")]
        availability_zone: Option<String>,
        /// How long the fault lasts (at most 1h).
        #[arg(long, value_parser = parse_duration)]
        duration: Duration,
        #[command(flatten)]
        follow: Follow,
    },
    /// Cut an availability zone off the network (root only: nftables drops every packet
    /// between the zone's addresses and the rest). Its instances keep running, unreachable.
    PartitionAz {
        availability_zone: String,
        /// How long the partition lasts (at most 1h).
        #[arg(long, value_parser = parse_duration)]
        duration: Duration,
        #[command(flatten)]
        follow: Follow,
    },
    /// SIGKILL the database primary's whole process group (a host crash) and follow the
    /// failover: fencing, promotion of the synchronous standby, writes back through the writer
    /// endpoint. DATABASE may be omitted when the stack has one.
    KillDbPrimary { database: Option<String> },
    /// SIGKILL one database node (`updraft db status` lists them), e.g. a read replica.
    KillDbNode {
        node: String,
        /// The database; optional when the stack has one.
        #[arg(long)]
        database: Option<String>,
    },
    /// List running and recent drills.
    List,
    /// Show a drill's report (running or finished).
    Show {
        id: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// End a running drill now and undo it.
    Stop { id: String },
}

/// How to follow a drill.
#[derive(Args, Debug, Clone)]
pub struct Follow {
    /// Start the drill and return at once (`updraft chaos show ID` prints the report later).
    #[arg(long)]
    detach: bool,
    /// Print the final report as JSON (for scripts) instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(cmd: ChaosCommand, state_dir: &std::path::Path) -> ExitCode {
    let client = match ApiClient::for_state_dir(state_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ms = |d: Duration| d.as_millis() as u64;
    let (spec, follow) = match cmd {
        ChaosCommand::KillInstance {
            instance,
            group,
            follow,
        } => (DrillSpec::KillInstance { group, instance }, follow),
        ChaosCommand::StopAz {
            availability_zone,
            duration,
            follow,
        } => (
            DrillSpec::StopAz {
                availability_zone,
                duration_ms: ms(duration),
            },
            follow,
        ),
        ChaosCommand::Latency {
            target_group,
            delay,
            jitter,
            percent,
            availability_zone,
            duration,
            follow,
        } => (
            DrillSpec::Latency {
                target_group,
                availability_zone,
                delay_ms: ms(delay),
                jitter_ms: ms(jitter),
                percent,
                duration_ms: ms(duration),
            },
            follow,
        ),
        ChaosCommand::Errors {
            target_group,
            percent,
            status,
            availability_zone,
            duration,
            follow,
        } => (
            DrillSpec::Errors {
                target_group,
                availability_zone,
                percent,
                status,
                duration_ms: ms(duration),
            },
            follow,
        ),
        ChaosCommand::PartitionAz {
            availability_zone,
            duration,
            follow,
        } => (
            DrillSpec::PartitionAz {
                availability_zone,
                duration_ms: ms(duration),
            },
            follow,
        ),
        ChaosCommand::KillDbPrimary { database } => {
            return crate::db::kill_primary(&client, database.as_deref()).await;
        }
        ChaosCommand::KillDbNode { node, database } => {
            return crate::db::kill_node(&client, database.as_deref(), &node).await;
        }
        ChaosCommand::List => return list(&client).await,
        ChaosCommand::Show { id, json } => {
            return match client.drill(&id).await {
                Ok(d) => {
                    print_report(&d.report(), json);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            };
        }
        ChaosCommand::Stop { id } => {
            return match client.stop_drill(&id).await {
                Ok(d) => {
                    print_report(&d.report(), false);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            };
        }
    };
    let drill = match client.start_drill(spec).await {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    eprintln!("drill {} started: {}", drill.id, drill.spec.describe());
    if follow.detach {
        println!("{}", drill.id);
        eprintln!(
            "the daemon ends and undoes it by itself; `updraft chaos show {}` prints its report, `updraft chaos stop {}` ends it now",
            drill.id, drill.id
        );
        return ExitCode::SUCCESS;
    }
    follow_drill(&client, drill, follow.json).await
}

/// Polls the drill, printing its timeline as it grows, until it finishes; Ctrl-C stops it.
async fn follow_drill(client: &ApiClient, drill: Drill, json: bool) -> ExitCode {
    let mut shown = 1; // the "started" event was printed already
    let started = drill.started_at;
    // Bounded: the daemon ends the drill by its deadline; allow a margin for slow ticks.
    let limit = drill.deadline.since(started) + Duration::from_secs(30);
    let give_up = tokio::time::Instant::now() + limit;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut interrupted = false;
    let mut current = drill;
    loop {
        for e in current.events.iter().skip(shown) {
            eprintln!(
                "  +{:>6}  {}",
                format_duration(e.at.since(started)),
                e.message
            );
        }
        shown = current.events.len();
        if current.is_finished() {
            print_report(&current.report(), json);
            return if interrupted {
                ExitCode::from(130)
            } else {
                ExitCode::SUCCESS
            };
        }
        if tokio::time::Instant::now() >= give_up {
            eprintln!(
                "error: drill {} did not finish in {}; the daemon ends it at its deadline — see `updraft chaos show {}`",
                current.id,
                format_duration(limit),
                current.id
            );
            return ExitCode::FAILURE;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                eprintln!("interrupted: ending drill {} and undoing it", current.id);
                match client.stop_drill(&current.id).await {
                    Ok(d) => current = d,
                    Err(e) => return fail(e),
                }
                continue;
            }
        }
        match client.drill(&current.id).await {
            Ok(d) => current = d,
            Err(e) => {
                eprintln!(
                    "error: lost the daemon during drill {}: {e}; a restarted daemon undoes the drill once its time is over",
                    current.id
                );
                return ExitCode::FAILURE;
            }
        }
    }
}

async fn list(client: &ApiClient) -> ExitCode {
    match client.drills().await {
        Ok(drills) if drills.is_empty() => {
            println!("no drills yet; try `updraft chaos kill-instance`");
            ExitCode::SUCCESS
        }
        Ok(drills) => {
            for d in drills {
                let r = d.report();
                println!(
                    "{}  {:<13} {:<9} {}  {}",
                    d.id,
                    r.drill,
                    format!("{:?}", r.phase),
                    d.started_at,
                    r.description
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn fail(e: ClientError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        ClientError::Api { .. } => ExitCode::from(EXIT_USAGE),
        _ => ExitCode::FAILURE,
    }
}

fn print_report(r: &DrillReport, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
    } else {
        print!("{}", render_report(r));
    }
}

/// The report as text.
pub fn render_report(r: &DrillReport) -> String {
    let secs = |ms: Option<u64>| match ms {
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
        None => "—".into(),
    };
    let mut out = String::new();
    let _ = writeln!(out, "\nDrill {} ({}): {}", r.id, r.drill, r.description);
    if !r.victims.is_empty() {
        let _ = writeln!(out, "  stopped             {}", r.victims.join(", "));
    }
    let _ = writeln!(out, "  time to detect      {}", secs(r.time_to_detect_ms));
    let _ = writeln!(out, "  time to recover     {}", secs(r.time_to_recover_ms));
    if r.fault_ms.is_some() {
        let _ = writeln!(out, "  fault lasted        {}", secs(r.fault_ms));
        let _ = writeln!(
            out,
            "  settled after       {}  (from the end of the fault: rebalanced, all healthy)",
            secs(r.time_to_settle_after_restore_ms)
        );
    }
    let _ = writeln!(
        out,
        "  requests            {} through the load balancer, {} failed ({:.3} %): ELB 5xx {}, target 5xx {}",
        r.requests, r.failed, r.failed_percent, r.elb_5xx, r.target_5xx
    );
    if r.faults_injected > 0 {
        let _ = writeln!(out, "  faults injected     {}", r.faults_injected);
    }
    let _ = writeln!(
        out,
        "  ended               {}",
        r.ended_by.as_deref().unwrap_or("still running")
    );
    let _ = writeln!(out, "  timeline");
    for e in &r.events {
        let _ = writeln!(
            out,
            "    +{:>6}  {}",
            format_duration(e.at.since(r.started_at)),
            e.message
        );
    }
    out
}
