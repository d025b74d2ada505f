//! Target health as ELB reports it (`DescribeTargetHealth`): a state plus a reason code and a
//! human description. Produced by the data plane, read by the control plane.

use serde::{Deserialize, Serialize};

/// ELB's `TargetHealthStateEnum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetHealthState {
    /// Registered; initial health checks in progress. Receives no traffic (unless fail-open).
    Initial,
    Healthy,
    Unhealthy,
    /// Not registered with a target group that is used by a listener.
    Unused,
    /// Deregistering: no new requests, in-flight requests finish.
    Draining,
    /// Health checks are disabled.
    Unavailable,
}

impl TargetHealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealthState::Initial => "initial",
            TargetHealthState::Healthy => "healthy",
            TargetHealthState::Unhealthy => "unhealthy",
            TargetHealthState::Unused => "unused",
            TargetHealthState::Draining => "draining",
            TargetHealthState::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for TargetHealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ELB's `TargetHealthReasonEnum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TargetHealthReason {
    #[serde(rename = "Elb.RegistrationInProgress")]
    RegistrationInProgress,
    #[serde(rename = "Elb.InitialHealthChecking")]
    InitialHealthChecking,
    #[serde(rename = "Target.ResponseCodeMismatch")]
    ResponseCodeMismatch,
    #[serde(rename = "Target.Timeout")]
    Timeout,
    #[serde(rename = "Target.FailedHealthChecks")]
    FailedHealthChecks,
    #[serde(rename = "Target.DeregistrationInProgress")]
    DeregistrationInProgress,
    #[serde(rename = "Target.HealthCheckDisabled")]
    HealthCheckDisabled,
}

impl TargetHealthReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealthReason::RegistrationInProgress => "Elb.RegistrationInProgress",
            TargetHealthReason::InitialHealthChecking => "Elb.InitialHealthChecking",
            TargetHealthReason::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            TargetHealthReason::Timeout => "Target.Timeout",
            TargetHealthReason::FailedHealthChecks => "Target.FailedHealthChecks",
            TargetHealthReason::DeregistrationInProgress => "Target.DeregistrationInProgress",
            TargetHealthReason::HealthCheckDisabled => "Target.HealthCheckDisabled",
        }
    }
}

/// One target's health in one target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub state: TargetHealthState,
    pub reason: Option<TargetHealthReason>,
    /// e.g. "Health checks failed with these codes: [502]".
    pub description: Option<String>,
}

impl TargetHealth {
    pub fn initial() -> Self {
        TargetHealth {
            state: TargetHealthState::Initial,
            reason: Some(TargetHealthReason::InitialHealthChecking),
            description: Some("Initial health checks in progress".into()),
        }
    }

    pub fn healthy() -> Self {
        TargetHealth {
            state: TargetHealthState::Healthy,
            reason: None,
            description: None,
        }
    }
}
