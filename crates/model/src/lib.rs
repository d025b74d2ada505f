//! updraft's vocabulary: the resource types of the AWS web tier (subnets, load balancers, target
//! groups, listeners, launch templates, auto scaling groups), ids, time, instance types, and the
//! validation rules and defaults AWS and the Terraform AWS provider apply to them.
//!
//! What this crate is not: it reads no files, opens no sockets, spawns nothing and reads no clock.
//! `config` produces a [`Stack`] from HCL; `scaling` and `proxy` consume it; `server` persists it.
//! Every type that crosses a crate boundary lives here so that the layering stays a tree.
//!
//! Naming follows AWS: a newcomer should find any concept by its AWS name
//! ([`AutoScalingGroup`], [`TargetGroup`], [`LifecycleState::InService`], …).

pub mod alarm;
pub mod autoscaling;
pub mod database;
pub mod health;
pub mod ids;
pub mod instance_refresh;
pub mod instance_type;
pub mod lifecycle_hook;
pub mod listener_rule;
pub mod load_balancer;
pub mod metric;
pub mod network;
pub mod policy;
pub mod stack;
pub mod time;
pub mod validate;
pub mod warm_pool;

pub use alarm::{
    AlarmAction, ComparisonOperator, Float, MetricAlarm, MetricStat, Statistic, TreatMissingData,
};
pub use autoscaling::{
    AutoScalingGroup, HealthCheckType, LaunchTemplate, LaunchTemplateRef, LaunchTemplateVersion,
    LifecycleState, ScalingProcess, TerminationPolicy,
};
pub use database::{DbInstance, DbInstanceKind, DbSubnetGroup};
pub use health::{TargetHealth, TargetHealthReason, TargetHealthState};
pub use ids::{InstanceId, ResourceAddress};
pub use instance_refresh::{InstanceRefreshSpec, ProtectedInstances, RefreshPreferences};
pub use instance_type::InstanceType;
pub use lifecycle_hook::{
    LifecycleActionResult, LifecycleHook, LifecycleHookResource, LifecycleTransition,
};
pub use listener_rule::{
    Action, FixedResponse, ListenerRule, QueryStringPair, Redirect, RedirectStatus, RuleCondition,
    WeightedTargetGroup,
};
pub use load_balancer::{
    AccessLogs, Algorithm, HealthCheck, HealthCheckPort, Listener, LoadBalancer, LoadBalancerType,
    Matcher, Protocol, ProtocolVersion, Stickiness, TargetGroup, TargetGroupAttachment, TargetType,
};
pub use metric::{DatumValue, Dimension, MetricDatum, Unit};
pub use network::{AvailabilityZone, Subnet};
pub use policy::{
    AdjustmentType, MetricAggregationType, PolicyKind, ScalingPolicy, ScheduledAction,
    SimpleScaling, StepAdjustment, StepScaling, TargetTracking, TrackedMetric,
};
pub use stack::{Location, RecordedResource, SourceMap, Stack};
pub use time::Timestamp;
pub use validate::Violation;
pub use warm_pool::{WarmPool, WarmPoolState};
