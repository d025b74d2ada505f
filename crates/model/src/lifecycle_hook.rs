//! Lifecycle hooks: `initial_lifecycle_hook` blocks of `aws_autoscaling_group` and the
//! `aws_autoscaling_lifecycle_hook` resource. A hook holds a launching instance in
//! `Pending:Wait` (or `Warmed:Pending:Wait`) and a terminating one in `Terminating:Wait` until
//! someone completes the lifecycle action, sends no heartbeat for `heartbeat_timeout`, or the
//! global timeout passes; then the instance goes on with the result (or the default result).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::validate::Violation;

/// AWS's range for `heartbeat_timeout` (seconds).
pub const HEARTBEAT_TIMEOUT_RANGE: (u64, u64) = (30, 7200);
/// AWS's default `heartbeat_timeout`.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3600);
/// The wait never lasts longer than this, heartbeats or not.
pub const MAX_GLOBAL_TIMEOUT: Duration = Duration::from_secs(48 * 3600);
/// Lifecycle hooks per group (AWS quota).
pub const MAX_HOOKS_PER_GROUP: usize = 50;

/// `lifecycle_transition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LifecycleTransition {
    /// `autoscaling:EC2_INSTANCE_LAUNCHING`.
    #[serde(rename = "autoscaling:EC2_INSTANCE_LAUNCHING")]
    InstanceLaunching,
    /// `autoscaling:EC2_INSTANCE_TERMINATING`.
    #[serde(rename = "autoscaling:EC2_INSTANCE_TERMINATING")]
    InstanceTerminating,
}

impl LifecycleTransition {
    pub const NAMES: [&'static str; 2] = [
        "autoscaling:EC2_INSTANCE_LAUNCHING",
        "autoscaling:EC2_INSTANCE_TERMINATING",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleTransition::InstanceLaunching => Self::NAMES[0],
            LifecycleTransition::InstanceTerminating => Self::NAMES[1],
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "autoscaling:EC2_INSTANCE_LAUNCHING" => Some(LifecycleTransition::InstanceLaunching),
            "autoscaling:EC2_INSTANCE_TERMINATING" => {
                Some(LifecycleTransition::InstanceTerminating)
            }
            _ => None,
        }
    }
}

/// `default_result`, and the result of `CompleteLifecycleAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LifecycleActionResult {
    Continue,
    Abandon,
}

impl LifecycleActionResult {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleActionResult::Continue => "CONTINUE",
            LifecycleActionResult::Abandon => "ABANDON",
        }
    }

    /// Case-insensitive, as the AWS CLI is forgiving about it.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "CONTINUE" => Some(LifecycleActionResult::Continue),
            "ABANDON" => Some(LifecycleActionResult::Abandon),
            _ => None,
        }
    }
}

/// One lifecycle hook of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleHook {
    /// `name`, unique within its group.
    pub name: String,
    pub lifecycle_transition: LifecycleTransition,
    /// `heartbeat_timeout` (default 3600 s, AWS range 30–7200 s).
    pub heartbeat_timeout: Duration,
    /// `default_result`: what happens when the heartbeat timeout passes (AWS default ABANDON).
    pub default_result: LifecycleActionResult,
    /// `notification_metadata`, passed to whoever completes the action.
    pub notification_metadata: Option<String>,
}

impl LifecycleHook {
    /// The longest an instance waits for this hook: 100 × heartbeat timeout, at most 48 hours.
    pub fn global_timeout(&self) -> Duration {
        (self.heartbeat_timeout * 100).min(MAX_GLOBAL_TIMEOUT)
    }

    /// AWS's rules for one hook; `prefix` is where it was written (`initial_lifecycle_hook.` or
    /// empty for the resource).
    pub fn validate(&self, prefix: &str) -> Vec<Violation> {
        let mut v = Vec::new();
        let (lo, hi) = HEARTBEAT_TIMEOUT_RANGE;
        crate::validate::check_range(
            &mut v,
            &format!("{prefix}heartbeat_timeout"),
            self.heartbeat_timeout.as_secs(),
            lo,
            hi,
            " s",
        );
        if !valid_name(&self.name) {
            v.push(
                Violation::new(
                    format!("{prefix}name"),
                    format!(
                        "`{}` is not a valid lifecycle hook name: AWS takes 1 to 255 letters, \
                         digits and -_/",
                        self.name
                    ),
                )
                .hint("use a name such as \"wait-for-boot\""),
            );
        }
        if self
            .notification_metadata
            .as_ref()
            .is_some_and(|m| m.len() > 1023)
        {
            v.push(Violation::new(
                format!("{prefix}notification_metadata"),
                "notification_metadata is at most 1023 characters",
            ));
        }
        v
    }
}

/// AWS's pattern for hook names: `[A-Za-z0-9\-_\/]+`, 1 to 255 characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
}

/// An `aws_autoscaling_lifecycle_hook` resource: a hook attached to a group by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleHookResource {
    pub key: String,
    /// The group's resource key (resolved from `autoscaling_group_name`).
    pub group: String,
    pub hook: LifecycleHook,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(timeout: u64) -> LifecycleHook {
        LifecycleHook {
            name: "boot".into(),
            lifecycle_transition: LifecycleTransition::InstanceLaunching,
            heartbeat_timeout: Duration::from_secs(timeout),
            default_result: LifecycleActionResult::Abandon,
            notification_metadata: None,
        }
    }

    #[test]
    fn global_timeout_is_a_hundred_heartbeats_at_most_two_days() {
        assert_eq!(hook(60).global_timeout(), Duration::from_secs(6000));
        assert_eq!(hook(3600).global_timeout(), MAX_GLOBAL_TIMEOUT);
    }

    #[test]
    fn heartbeat_timeout_and_name_follow_aws() {
        assert!(hook(30).validate("").is_empty());
        let v = hook(29).validate("initial_lifecycle_hook.");
        assert_eq!(v[0].attribute, "initial_lifecycle_hook.heartbeat_timeout");
        assert!(v[0].message.contains("30 to 7200"), "{}", v[0].message);
        let mut h = hook(60);
        h.name = "has space".into();
        assert_eq!(h.validate("")[0].attribute, "name");
    }

    #[test]
    fn names_round_trip() {
        for n in LifecycleTransition::NAMES {
            assert_eq!(LifecycleTransition::parse(n).unwrap().as_str(), n);
        }
        assert_eq!(
            LifecycleActionResult::parse("continue"),
            Some(LifecycleActionResult::Continue)
        );
        let json = serde_json::to_string(&LifecycleTransition::InstanceTerminating).unwrap();
        assert_eq!(json, "\"autoscaling:EC2_INSTANCE_TERMINATING\"");
    }
}
