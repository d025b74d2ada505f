//! Cause texts in the words AWS uses in `DescribeScalingActivities`, so that people who read
//! AWS activity histories recognise them.

use model::{InstanceId, Timestamp};

pub fn capacity_increase(now: Timestamp, from: u32, to: u32) -> String {
    format!(
        "At {now} an instance was started in response to a difference between desired and actual \
         capacity, increasing the capacity from {from} to {to}."
    )
}

pub fn capacity_decrease(now: Timestamp, from: u32, to: u32, id: &InstanceId) -> String {
    format!(
        "At {now} an instance was taken out of service in response to a difference between \
         desired and actual capacity, shrinking the capacity from {from} to {to}. At {now} \
         instance {id} was selected for termination."
    )
}

pub fn user_set_desired(now: Timestamp, from: u32, to: u32) -> String {
    format!(
        "At {now} a user request explicitly set group desired capacity changing the desired \
         capacity from {from} to {to}."
    )
}

pub fn config_set_desired(now: Timestamp, from: u32, to: u32) -> String {
    format!(
        "At {now} a configuration change set group desired capacity changing the desired \
         capacity from {from} to {to}."
    )
}

pub fn ec2_unhealthy(now: Timestamp, detail: &str) -> String {
    format!(
        "At {now} an instance was taken out of service in response to an EC2 instance status \
         check failure: {detail}."
    )
}

pub fn elb_unhealthy(now: Timestamp) -> String {
    format!(
        "At {now} an instance was taken out of service in response to an ELB system health \
         check failure."
    )
}

pub fn launch_failed(detail: &str) -> String {
    format!("Instance failed to start: {detail}")
}

pub fn group_deleted(now: Timestamp) -> String {
    format!("At {now} the group was deleted and its instances were terminated.")
}

pub fn unhealthy_replacement(now: Timestamp) -> String {
    format!(
        "At {now} an instance was launched in response to an unhealthy instance needing to be \
         replaced."
    )
}

/// A Pending instance waits for the launch hooks.
pub fn launch_hooks_wait(hooks: &[String]) -> String {
    format!(
        "Waiting for lifecycle hook{} {} (autoscaling:EC2_INSTANCE_LAUNCHING) to complete",
        if hooks.len() == 1 { "" } else { "s" },
        hooks.join(", ")
    )
}

/// The message of a launch that a lifecycle hook abandoned.
pub fn launch_abandoned(reason: &str) -> String {
    format!(
        "Instance failed to complete user's Lifecycle Action: {reason}: Lifecycle Action \
         Completed with ABANDON Result"
    )
}

pub fn terminate_hooks_done(now: Timestamp, reason: &str) -> String {
    format!("At {now} the termination lifecycle action ended: {reason}.")
}

pub fn refresh_launch(now: Timestamp) -> String {
    format!("At {now} an instance was launched in response to an instance refresh.")
}

pub fn refresh_terminate(now: Timestamp, id: &InstanceId) -> String {
    format!(
        "At {now} an instance was taken out of service in response to an instance refresh. At \
         {now} instance {id} was selected for termination."
    )
}

pub fn rebalance_launch(now: Timestamp) -> String {
    format!("At {now} an instance was launched to aid in balancing the group's zones.")
}

pub fn rebalance_terminate(
    now: Timestamp,
    zones: &str,
    from: u32,
    to: u32,
    id: &InstanceId,
) -> String {
    format!(
        "At {now} instances were launched to balance instances in zones {zones} with other \
         zones resulting in more than desired number of instances in the group. At {now} an \
         instance was taken out of service in response to a difference between desired and \
         actual capacity, shrinking the capacity from {from} to {to}. At {now} instance {id} \
         was selected for termination."
    )
}

pub fn lifetime_terminate(now: Timestamp, id: &InstanceId) -> String {
    format!(
        "At {now} an instance was taken out of service in response to the maximum instance \
         lifetime of the group. At {now} instance {id} was selected for termination."
    )
}

pub fn warm_pool_fill(now: Timestamp, from: u32, to: u32) -> String {
    format!(
        "At {now} an instance was launched into the warm pool in response to a difference \
         between desired and actual warm pool capacity, increasing the warm pool from {from} \
         to {to}."
    )
}

pub fn warm_pool_trim(now: Timestamp, from: u32, to: u32, id: &InstanceId) -> String {
    format!(
        "At {now} an instance was terminated in response to a difference between desired and \
         actual warm pool capacity, shrinking the warm pool from {from} to {to}. At {now} \
         instance {id} was selected for termination."
    )
}

pub fn warm_pool_deleted(now: Timestamp) -> String {
    format!("At {now} the warm pool was deleted and its instances were terminated.")
}

pub fn warm_pool_outdated(now: Timestamp, id: &InstanceId) -> String {
    format!(
        "At {now} a warm pool instance was terminated in response to an instance refresh. At \
         {now} instance {id} was selected for termination."
    )
}
