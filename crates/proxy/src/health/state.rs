//! The target health state machine, as ALB runs it, with no I/O: feed it the outcome of each
//! active check and it says whether the target's state changed.
//!
//! Rules (ALB user guide, "Health checks for your target groups"):
//! - a newly registered target is `initial` and becomes `healthy` after ONE passing check, or
//!   `unhealthy` after `unhealthy_threshold` consecutive failures;
//! - `healthy` → `unhealthy` after `unhealthy_threshold` consecutive failures;
//! - `unhealthy` → `healthy` after `healthy_threshold` consecutive successes.
//!
//! `draining`, `unused` and `unavailable` are not states of this machine: they describe why a
//! target is not being checked at all, and the data plane reports them instead of the machine's
//! state (see `crate::routing`). Thresholds are passed to every [`HealthState::record`] call so
//! that a changed health check config takes effect without resetting the counters.

use model::{TargetHealth, TargetHealthReason, TargetHealthState};

/// The result of one active health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The target answered with a status the matcher accepts (or accepted the TCP connection).
    Passed,
    /// The target answered with a status the matcher rejects.
    ResponseCodeMismatch { status: u16 },
    /// No answer within the health check timeout.
    Timeout,
    /// The connection was refused or broke before an answer (the process is gone, or not HTTP).
    Failed { detail: String },
}

impl CheckOutcome {
    pub fn passed(&self) -> bool {
        matches!(self, CheckOutcome::Passed)
    }

    /// The health ALB reports for a target whose latest failure was this one.
    fn unhealthy(&self) -> TargetHealth {
        let (reason, description) = match self {
            CheckOutcome::Passed => return TargetHealth::healthy(),
            CheckOutcome::ResponseCodeMismatch { status } => (
                TargetHealthReason::ResponseCodeMismatch,
                format!("Health checks failed with these codes: [{status}]"),
            ),
            CheckOutcome::Timeout => (TargetHealthReason::Timeout, "Request timed out".into()),
            CheckOutcome::Failed { .. } => (
                TargetHealthReason::FailedHealthChecks,
                "Health checks failed".into(),
            ),
        };
        TargetHealth {
            state: TargetHealthState::Unhealthy,
            reason: Some(reason),
            description: Some(description),
        }
    }
}

/// `healthy_threshold` and `unhealthy_threshold` of a target group's health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub healthy: u32,
    pub unhealthy: u32,
}

impl From<&model::HealthCheck> for Thresholds {
    fn from(hc: &model::HealthCheck) -> Self {
        Thresholds {
            healthy: hc.healthy_threshold,
            unhealthy: hc.unhealthy_threshold,
        }
    }
}

/// A change of state, for logs and events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: TargetHealthState,
    pub to: TargetHealth,
}

/// One target's health as seen by active checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthState {
    health: TargetHealth,
    consecutive_passes: u32,
    consecutive_failures: u32,
}

impl Default for HealthState {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthState {
    /// A newly registered target: `initial`, reason `Elb.InitialHealthChecking`.
    pub fn new() -> Self {
        HealthState {
            health: TargetHealth::initial(),
            consecutive_passes: 0,
            consecutive_failures: 0,
        }
    }

    pub fn health(&self) -> &TargetHealth {
        &self.health
    }

    pub fn state(&self) -> TargetHealthState {
        self.health.state
    }

    /// Feeds one check result. Returns the transition when the state changed. An unhealthy
    /// target that fails again for another reason keeps its state but takes the new reason.
    pub fn record(&mut self, outcome: &CheckOutcome, thresholds: Thresholds) -> Option<Transition> {
        // A threshold of 0 would mean "change state without evidence"; treat it as 1.
        let healthy_after = thresholds.healthy.max(1);
        let unhealthy_after = thresholds.unhealthy.max(1);
        let from = self.health.state;
        if outcome.passed() {
            self.consecutive_passes = self.consecutive_passes.saturating_add(1);
            self.consecutive_failures = 0;
            let becomes_healthy = match from {
                TargetHealthState::Initial => true,
                TargetHealthState::Unhealthy => self.consecutive_passes >= healthy_after,
                _ => false,
            };
            if becomes_healthy {
                self.health = TargetHealth::healthy();
            }
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_passes = 0;
            match from {
                TargetHealthState::Unhealthy => self.health = outcome.unhealthy(),
                _ if self.consecutive_failures >= unhealthy_after => {
                    self.health = outcome.unhealthy();
                }
                _ => {}
            }
        }
        (self.health.state != from).then(|| Transition {
            from,
            to: self.health.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        healthy: 3,
        unhealthy: 2,
    };

    fn mismatch(status: u16) -> CheckOutcome {
        CheckOutcome::ResponseCodeMismatch { status }
    }

    #[test]
    fn a_new_target_is_initial_and_one_pass_makes_it_healthy() {
        let mut s = HealthState::new();
        assert_eq!(s.state(), TargetHealthState::Initial);
        assert_eq!(
            s.health().reason,
            Some(TargetHealthReason::InitialHealthChecking)
        );
        let t = s.record(&CheckOutcome::Passed, T).expect("transition");
        assert_eq!(t.from, TargetHealthState::Initial);
        assert_eq!(t.to, TargetHealth::healthy());
        assert_eq!(s.record(&CheckOutcome::Passed, T), None);
    }

    #[test]
    fn a_new_target_goes_unhealthy_after_the_unhealthy_threshold() {
        let mut s = HealthState::new();
        assert_eq!(s.record(&CheckOutcome::Timeout, T), None);
        assert_eq!(s.state(), TargetHealthState::Initial);
        let t = s.record(&CheckOutcome::Timeout, T).expect("transition");
        assert_eq!(t.to.state, TargetHealthState::Unhealthy);
        assert_eq!(t.to.reason, Some(TargetHealthReason::Timeout));
        assert_eq!(t.to.description.as_deref(), Some("Request timed out"));
    }

    #[test]
    fn healthy_needs_consecutive_failures_to_go_unhealthy() {
        let mut s = HealthState::new();
        s.record(&CheckOutcome::Passed, T);
        assert_eq!(s.record(&mismatch(503), T), None);
        // A pass in between resets the failure count.
        assert_eq!(s.record(&CheckOutcome::Passed, T), None);
        assert_eq!(s.record(&mismatch(503), T), None);
        let t = s.record(&mismatch(503), T).expect("transition");
        assert_eq!(t.from, TargetHealthState::Healthy);
        assert_eq!(t.to.reason, Some(TargetHealthReason::ResponseCodeMismatch));
        assert_eq!(
            t.to.description.as_deref(),
            Some("Health checks failed with these codes: [503]")
        );
    }

    #[test]
    fn unhealthy_needs_the_healthy_threshold_of_consecutive_passes() {
        let mut s = HealthState::new();
        s.record(&mismatch(500), T);
        s.record(&mismatch(500), T);
        assert_eq!(s.state(), TargetHealthState::Unhealthy);
        assert_eq!(s.record(&CheckOutcome::Passed, T), None);
        assert_eq!(s.record(&CheckOutcome::Passed, T), None);
        // A failure in between starts the count again.
        assert_eq!(s.record(&mismatch(500), T), None);
        assert_eq!(s.record(&CheckOutcome::Passed, T), None);
        assert_eq!(s.record(&CheckOutcome::Passed, T), None);
        let t = s.record(&CheckOutcome::Passed, T).expect("transition");
        assert_eq!(t.from, TargetHealthState::Unhealthy);
        assert_eq!(s.state(), TargetHealthState::Healthy);
    }

    #[test]
    fn an_unhealthy_target_reports_its_latest_failure() {
        let mut s = HealthState::new();
        s.record(&mismatch(503), T);
        s.record(&mismatch(503), T);
        let refused = CheckOutcome::Failed {
            detail: "connection refused".into(),
        };
        assert_eq!(s.record(&refused, T), None);
        assert_eq!(
            s.health().reason,
            Some(TargetHealthReason::FailedHealthChecks)
        );
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let mut s = HealthState::new();
        let zero = Thresholds {
            healthy: 0,
            unhealthy: 0,
        };
        assert!(s.record(&CheckOutcome::Timeout, zero).is_some());
        assert!(s.record(&CheckOutcome::Passed, zero).is_some());
    }
}
