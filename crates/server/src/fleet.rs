//! What the control plane knows of each instance: [`InstanceRecord`], persisted in the store,
//! and its conversion into the view `scaling::decide` takes.

use std::net::{Ipv4Addr, SocketAddr};

use compute::InstanceProcess;
use model::{AvailabilityZone, InstanceId, LifecycleState, TargetHealthState, Timestamp};
use scaling::{InstanceView, LifecycleAction, ProcessState};
use serde::{Deserialize, Serialize};

/// One instance of an auto scaling group, as the control plane records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub id: InstanceId,
    /// Group key (Terraform resource name).
    pub group: String,
    pub availability_zone: AvailabilityZone,
    pub subnet: String,
    pub host: Ipv4Addr,
    pub port: u16,
    pub lifecycle: LifecycleState,
    pub launched_at: Timestamp,
    pub in_service_at: Option<Timestamp>,
    pub terminating_at: Option<Timestamp>,
    pub terminated_at: Option<Timestamp>,
    pub launch_template_version: u32,
    pub protected_from_scale_in: bool,
    /// The running process (pid and start time), for status and crash adoption.
    pub process: Option<InstanceProcess>,
    pub ever_healthy: bool,
    /// How the process ended, once it has.
    pub exit_detail: Option<String>,
    /// The last lines of its console log when it failed.
    pub log_tail: Vec<String>,
    /// The lifecycle actions it waits for (in a `…:Wait` state).
    #[serde(default)]
    pub lifecycle_actions: Vec<LifecycleAction>,
    /// Its port has accepted a connection: the application is up.
    #[serde(default)]
    pub booted: bool,
    /// Draining on its way back to the warm pool (`reuse_on_scale_in`).
    #[serde(default)]
    pub to_warm_pool: bool,
}

impl InstanceRecord {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.port))
    }

    pub fn is_live(&self) -> bool {
        self.lifecycle != LifecycleState::Terminated
    }

    /// The view `scaling::decide` reads, given what the data plane reports.
    pub fn view(&self, target_health: Option<TargetHealthState>, in_flight: u64) -> InstanceView {
        InstanceView {
            id: self.id.clone(),
            availability_zone: self.availability_zone.clone(),
            subnet: self.subnet.clone(),
            lifecycle: self.lifecycle,
            launched_at: self.launched_at,
            in_service_at: self.in_service_at,
            terminating_at: self.terminating_at,
            launch_template_version: self.launch_template_version,
            protected_from_scale_in: self.protected_from_scale_in,
            process: match &self.exit_detail {
                None => ProcessState::Running,
                Some(detail) => ProcessState::Exited {
                    detail: detail.clone(),
                },
            },
            target_health,
            ever_healthy: self.ever_healthy,
            in_flight,
            lifecycle_actions: self.lifecycle_actions.clone(),
            booted: self.booted || self.ever_healthy,
            to_warm_pool: self.to_warm_pool,
        }
    }
}

/// Orders health from worst to best, so that an instance's health over several target groups
/// is the worst of them.
pub fn worse(a: TargetHealthState, b: TargetHealthState) -> TargetHealthState {
    fn rank(s: TargetHealthState) -> u8 {
        match s {
            TargetHealthState::Unhealthy => 0,
            TargetHealthState::Draining => 1,
            TargetHealthState::Initial => 2,
            TargetHealthState::Unavailable => 3,
            TargetHealthState::Unused => 4,
            TargetHealthState::Healthy => 5,
        }
    }
    if rank(a) <= rank(b) { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_health_wins() {
        use TargetHealthState::*;
        assert_eq!(worse(Healthy, Unhealthy), Unhealthy);
        assert_eq!(worse(Initial, Healthy), Initial);
        assert_eq!(worse(Healthy, Healthy), Healthy);
    }
}
