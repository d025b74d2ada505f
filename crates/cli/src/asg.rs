//! Auto Scaling group commands beyond `scale`: scale-in protection, lifecycle hooks, instance
//! refresh — each the counterpart of an `aws autoscaling` command, sent to the daemon's API.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use model::{LifecycleActionResult, ProtectedInstances};
use scaling::{InstanceRefresh, RefreshStatus};
use server::controller::RefreshOverrides;

use crate::remote;

#[derive(Subcommand, Debug)]
pub enum LifecycleCommand {
    /// Complete a lifecycle action (like `aws autoscaling complete-lifecycle-action`): the
    /// instance leaves Pending:Wait (CONTINUE → InService, ABANDON → terminated and replaced)
    /// or Terminating:Wait. User data can run it too: it gets $UPDRAFT_ASG,
    /// $UPDRAFT_INSTANCE_ID and $UPDRAFT_STATE_DIR.
    Complete {
        /// The group's name.
        group: String,
        /// The lifecycle hook's name.
        hook: String,
        /// The instance id (i-…), as `updraft status` shows it.
        instance: String,
        /// CONTINUE or ABANDON.
        #[arg(long, value_enum, ignore_case = true)]
        result: ResultArg,
    },
    /// Restart a lifecycle action's heartbeat timeout (like `aws autoscaling
    /// record-lifecycle-action-heartbeat`), for work that takes longer than the timeout. The
    /// wait never lasts past 100 heartbeat timeouts or 48 hours.
    Heartbeat {
        group: String,
        hook: String,
        instance: String,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ResultArg {
    #[value(name = "CONTINUE")]
    Continue,
    #[value(name = "ABANDON")]
    Abandon,
}

#[derive(Subcommand, Debug)]
pub enum RefreshCommand {
    /// Start replacing the group's instances with ones from its current launch template
    /// (like `aws autoscaling start-instance-refresh`). Preferences not given here come from
    /// the group's instance_refresh block, else AWS's defaults (90% healthy, no skipping).
    Start(StartArgs),
    /// Show the group's instance refreshes, newest first (like `aws autoscaling
    /// describe-instance-refreshes`).
    Status { group: String },
    /// Cancel the running instance refresh (like `aws autoscaling cancel-instance-refresh`):
    /// replacements in progress finish, no new ones start.
    Cancel { group: String },
}

#[derive(Args, Debug)]
pub struct StartArgs {
    pub group: String,
    /// Percentage of desired capacity that stays healthy and in service (0–100).
    #[arg(long, value_name = "PERCENT")]
    pub min_healthy_percentage: Option<u32>,
    /// Percentage of desired capacity the group may grow to while replacing (100–200; above
    /// 100 launches replacements before terminating).
    #[arg(long, value_name = "PERCENT")]
    pub max_healthy_percentage: Option<u32>,
    /// Seconds a new instance needs before it counts as healthy capacity.
    #[arg(long, value_name = "SECONDS")]
    pub instance_warmup: Option<u64>,
    /// Leave instances that already run the current launch template version.
    #[arg(long)]
    pub skip_matching: bool,
    /// Pause after these percentages are replaced, e.g. 50,100.
    #[arg(long, value_delimiter = ',', value_name = "PERCENTS")]
    pub checkpoint_percentages: Option<Vec<u32>>,
    /// How long each checkpoint pause lasts (seconds; default 3600).
    #[arg(long, value_name = "SECONDS")]
    pub checkpoint_delay: Option<u64>,
    /// What to do with instances protected from scale-in.
    #[arg(long, value_enum)]
    pub scale_in_protected_instances: Option<ProtectedArg>,
    /// Follow the refresh until it ends, printing its progress.
    #[arg(long)]
    pub wait: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ProtectedArg {
    Refresh,
    Ignore,
    Wait,
}

pub async fn protect(
    state_dir: &Path,
    group: String,
    instances: Vec<String>,
    protected: bool,
) -> ExitCode {
    remote(state_dir, |c| async move {
        let done = c
            .set_instance_protection(&group, instances, protected)
            .await?;
        let ids: Vec<String> = done.instance_ids.iter().map(|i| i.to_string()).collect();
        if protected {
            println!("protected from scale-in in {group}: {}", ids.join(", "));
        } else {
            println!(
                "no longer protected from scale-in in {group}: {}",
                ids.join(", ")
            );
        }
        Ok(())
    })
    .await
}

pub async fn lifecycle(state_dir: &Path, cmd: LifecycleCommand) -> ExitCode {
    remote(state_dir, |c| async move {
        match cmd {
            LifecycleCommand::Complete {
                group,
                hook,
                instance,
                result,
            } => {
                let result = match result {
                    ResultArg::Continue => LifecycleActionResult::Continue,
                    ResultArg::Abandon => LifecycleActionResult::Abandon,
                };
                let a = c
                    .complete_lifecycle_action(&group, &hook, &instance, result)
                    .await?;
                println!(
                    "lifecycle action {hook} of {} completed with {} (it is {} until the next \
                     decision)",
                    a.instance,
                    result.as_str(),
                    a.lifecycle
                );
            }
            LifecycleCommand::Heartbeat {
                group,
                hook,
                instance,
            } => {
                let a = c.lifecycle_heartbeat(&group, &hook, &instance).await?;
                println!(
                    "lifecycle action {hook} of {}: heartbeat recorded; it now times out at {}",
                    a.instance,
                    a.timeout_at.map_or_else(|| "-".into(), |t| t.to_string())
                );
            }
        }
        Ok(())
    })
    .await
}

pub async fn refresh(state_dir: &Path, cmd: RefreshCommand) -> ExitCode {
    remote(state_dir, |c| async move {
        match cmd {
            RefreshCommand::Start(a) => {
                let overrides = RefreshOverrides {
                    min_healthy_percentage: a.min_healthy_percentage,
                    max_healthy_percentage: a.max_healthy_percentage,
                    instance_warmup: a.instance_warmup,
                    skip_matching: a.skip_matching.then_some(true),
                    checkpoint_percentages: a.checkpoint_percentages,
                    checkpoint_delay: a.checkpoint_delay,
                    scale_in_protected_instances: a.scale_in_protected_instances.map(|p| match p {
                        ProtectedArg::Refresh => ProtectedInstances::Refresh,
                        ProtectedArg::Ignore => ProtectedInstances::Ignore,
                        ProtectedArg::Wait => ProtectedInstances::Wait,
                    }),
                };
                let r = c.start_instance_refresh(&a.group, &overrides).await?;
                let p = &r.preferences;
                println!(
                    "instance refresh {} started for {} (min healthy {}%, max healthy {}%, skip \
                     matching {})",
                    r.instance_refresh_id,
                    a.group,
                    p.min_healthy_percentage,
                    p.max_healthy_percentage,
                    p.skip_matching
                );
                if a.wait {
                    follow(&c, &a.group, &r.instance_refresh_id).await?;
                }
            }
            RefreshCommand::Status { group } => {
                let list = c.instance_refreshes(&group).await?;
                if list.is_empty() {
                    println!("no instance refreshes for {group} yet");
                }
                for r in &list {
                    print!("{}", describe(r));
                }
            }
            RefreshCommand::Cancel { group } => {
                let r = c.cancel_instance_refresh(&group).await?;
                println!(
                    "instance refresh {} is {}: replacements in progress finish, no new ones \
                     start",
                    r.instance_refresh_id,
                    r.status.as_str()
                );
            }
        }
        Ok(())
    })
    .await
}

/// Prints progress until the refresh ends.
async fn follow(c: &server::ApiClient, group: &str, id: &str) -> Result<(), server::ClientError> {
    let mut last = String::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let list = c.instance_refreshes(group).await?;
        let Some(r) = list.iter().find(|r| r.instance_refresh_id == id) else {
            return Ok(());
        };
        let line = scaling::refresh::summary(r);
        if line != last {
            println!("{line}");
            last = line;
        }
        if !r.is_active() {
            if r.status != RefreshStatus::Successful {
                eprintln!("the instance refresh ended {}", r.status.as_str());
            }
            return Ok(());
        }
    }
}

/// One refresh, the way `describe-instance-refreshes` lists it.
pub fn describe(r: &InstanceRefresh) -> String {
    let p = &r.preferences;
    let mut s = format!(
        "{}  {}  {}% complete, {} of {} instances to update\n  Started: {}{}\n  Cause: {}\n  \
         Preferences: min healthy {}%, max healthy {}%, skip matching {}, warmup {}{}\n",
        r.instance_refresh_id,
        r.status.as_str(),
        r.percentage_complete,
        r.instances_to_update,
        r.instances_total,
        r.start_time,
        r.end_time
            .map(|t| format!("  Ended: {t}"))
            .unwrap_or_default(),
        r.cause,
        p.min_healthy_percentage,
        p.max_healthy_percentage,
        p.skip_matching,
        p.instance_warmup
            .map_or_else(|| "from the group".into(), |w| format!("{} s", w.as_secs())),
        if p.checkpoint_percentages.is_empty() {
            String::new()
        } else {
            format!(", checkpoints {:?}", p.checkpoint_percentages)
        }
    );
    if let Some(reason) = &r.status_reason {
        s.push_str(&format!("  Status: {reason}\n"));
    }
    s
}
