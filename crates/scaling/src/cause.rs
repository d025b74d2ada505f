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
