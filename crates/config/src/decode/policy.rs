//! EC2 Auto Scaling policies: `aws_autoscaling_policy` (target tracking, step, simple) and
//! `aws_autoscaling_schedule`.

use std::time::Duration;

use model::{
    AdjustmentType, Dimension, Float, MetricAggregationType, MetricStat, PolicyKind, ScalingPolicy,
    ScheduledAction, SimpleScaling, Statistic, StepAdjustment, StepScaling, TargetTracking,
    Timestamp, TrackedMetric,
};

use super::{Decode, Reader};
use crate::suggest;

const POLICY_TYPES: &[&str] = &["SimpleScaling", "StepScaling", "TargetTrackingScaling"];
const PREDEFINED: &[&str] = &[
    "ASGAverageCPUUtilization",
    "ALBRequestCountPerTarget",
    "ASGAverageNetworkIn",
    "ASGAverageNetworkOut",
];

impl Decode<'_> {
    /// `autoscaling_group_name` → the group's key.
    fn group_ref(&self) -> Option<String> {
        let r = self.r;
        let name = r.required_string("autoscaling_group_name", "aws_autoscaling_group.web.name")?;
        self.index.resolve(
            r,
            "autoscaling_group_name",
            &name,
            "aws_autoscaling_group",
            "name",
        )
    }

    fn adjustment_type(&self) -> Option<AdjustmentType> {
        let r = self.r;
        match r.string("adjustment_type") {
            None if r.has("adjustment_type") => None,
            None => Some(AdjustmentType::ChangeInCapacity),
            Some(t) => AdjustmentType::parse(&t).or_else(|| {
                r.error(
                    "adjustment_type",
                    format!("unknown adjustment type `{t}`"),
                    Some(
                        suggest::did_you_mean(&t, AdjustmentType::ALL.iter().copied())
                            .unwrap_or_else(|| {
                                format!("use one of {}", AdjustmentType::ALL.join(", "))
                            }),
                    ),
                );
                None
            }),
        }
    }

    fn seconds(&self, name: &str, max: u64) -> Option<Option<Duration>> {
        let r = self.r;
        if !r.has(name) {
            return Some(None);
        }
        r.number(name, 0, max).map(|s| Some(Duration::from_secs(s)))
    }

    pub(super) fn scaling_policy(&self) -> Option<ScalingPolicy> {
        let r = self.r;
        let group = self.group_ref();
        let policy_type = r
            .string("policy_type")
            .unwrap_or_else(|| "SimpleScaling".into());
        if r.block("predictive_scaling_configuration").is_some()
            || policy_type == "PredictiveScaling"
        {
            r.error(
                "policy_type",
                "predictive scaling is not supported yet by this version of updraft",
                Some("use target tracking, or scheduled actions for known daily peaks".into()),
            );
            return None;
        }
        let kind = match policy_type.as_str() {
            "TargetTrackingScaling" => self.target_tracking().map(PolicyKind::TargetTracking),
            "StepScaling" => self.step_scaling().map(PolicyKind::Step),
            "SimpleScaling" => self.simple_scaling().map(PolicyKind::Simple),
            other => {
                r.error(
                    "policy_type",
                    format!("unknown policy type `{other}`"),
                    Some(
                        suggest::did_you_mean(other, POLICY_TYPES.iter().copied())
                            .unwrap_or_else(|| format!("use one of {}", POLICY_TYPES.join(", "))),
                    ),
                );
                None
            }
        };
        let name = r.required_string("name", "\"scale-out\"");
        Some(ScalingPolicy {
            key: self.inst.key.clone(),
            name: name?,
            arn: self.exported("arn"),
            group: group?,
            enabled: r.bool("enabled").unwrap_or(true),
            kind: kind?,
        })
    }

    /// Attributes that belong to other policy types are refused, as AWS refuses them.
    fn refuse(&self, attrs: &[&str], policy_type: &str) -> bool {
        let mut ok = true;
        for a in attrs {
            if self.r.has(a) || !self.r.blocks(a).is_empty() {
                self.r.error(
                    a,
                    format!("`{a}` does not apply to a {policy_type} policy"),
                    Some(format!("remove {a}, or change policy_type")),
                );
                ok = false;
            }
        }
        ok
    }

    fn target_tracking(&self) -> Option<TargetTracking> {
        let r = self.r;
        let ok = self.refuse(
            &[
                "adjustment_type",
                "scaling_adjustment",
                "cooldown",
                "min_adjustment_magnitude",
                "step_adjustment",
                "metric_aggregation_type",
            ],
            "TargetTrackingScaling",
        );
        let warmup = self.seconds("estimated_instance_warmup", 3600)?;
        let Some(c) = r.block("target_tracking_configuration") else {
            return r.missing(
                "target_tracking_configuration",
                "{ predefined_metric_specification { predefined_metric_type = \"ASGAverageCPUUtilization\" } target_value = 50 }",
            );
        };
        let target = match c.float("target_value") {
            Some(t) if t > 0.0 => Some(t),
            Some(t) => {
                c.error(
                    "target_value",
                    format!("target_value must be greater than 0, got {t}"),
                    Some("set the metric value to hold, e.g. target_value = 50 for 50% CPU".into()),
                );
                None
            }
            None if c.has("target_value") => None,
            None => c.missing("target_value", "50"),
        };
        let metric = match (
            c.block("predefined_metric_specification"),
            c.block("customized_metric_specification"),
        ) {
            (Some(p), None) => self.predefined(&p),
            (None, Some(m)) => custom_metric(&m),
            (Some(_), Some(_)) => {
                c.block_error(
                    "give either predefined_metric_specification or customized_metric_specification, not both",
                    Some("remove one of the two blocks".into()),
                );
                None
            }
            (None, None) => c.missing(
                "predefined_metric_specification",
                "{ predefined_metric_type = \"ASGAverageCPUUtilization\" }",
            ),
        };
        let tt = TargetTracking {
            metric: metric?,
            target_value: Float(target?),
            disable_scale_in: c.bool("disable_scale_in").unwrap_or(false),
            estimated_instance_warmup: warmup,
        };
        ok.then_some(tt)
    }

    fn predefined(&self, p: &Reader<'_>) -> Option<TrackedMetric> {
        let t = p.required_string("predefined_metric_type", "\"ASGAverageCPUUtilization\"")?;
        match t.as_str() {
            "ASGAverageCPUUtilization" => Some(TrackedMetric::AsgAverageCpuUtilization),
            "ASGAverageNetworkIn" | "ASGAverageNetworkOut" => {
                p.error(
                    "predefined_metric_type",
                    format!("`{t}` is not measured by updraft yet"),
                    Some("track ASGAverageCPUUtilization or ALBRequestCountPerTarget".into()),
                );
                None
            }
            "ALBRequestCountPerTarget" => {
                let label = p.required_string(
                    "resource_label",
                    "\"${aws_lb.web.arn_suffix}/${aws_lb_target_group.web.arn_suffix}\"",
                )?;
                let tg_name = label
                    .split_once("/targetgroup/")
                    .and_then(|(_, rest)| rest.split('/').next());
                match tg_name {
                    Some(name) if self.index.get("aws_lb_target_group", name).is_some() => {
                        Some(TrackedMetric::AlbRequestCountPerTarget {
                            resource_label: label,
                        })
                    }
                    _ => {
                        p.error(
                            "resource_label",
                            format!("`{label}` does not name a target group of this configuration"),
                            Some("write \"${aws_lb.web.arn_suffix}/${aws_lb_target_group.web.arn_suffix}\"".into()),
                        );
                        None
                    }
                }
            }
            other => {
                p.error(
                    "predefined_metric_type",
                    format!("unknown predefined metric `{other}`"),
                    Some(
                        suggest::did_you_mean(other, PREDEFINED.iter().copied())
                            .unwrap_or_else(|| format!("use one of {}", PREDEFINED.join(", "))),
                    ),
                );
                None
            }
        }
    }

    fn step_adjustments(&self) -> Option<Vec<StepAdjustment>> {
        let r = self.r;
        let mut steps = Vec::new();
        let mut ok = true;
        for b in r.blocks("step_adjustment") {
            let bound = |name: &str| -> Option<Option<Float>> {
                if b.has(name) {
                    b.float(name).map(|f| Some(Float(f)))
                } else {
                    Some(None)
                }
            };
            let (lo, hi) = (
                bound("metric_interval_lower_bound"),
                bound("metric_interval_upper_bound"),
            );
            let adj = if b.has("scaling_adjustment") {
                b.integer("scaling_adjustment", -100_000, 100_000)
            } else {
                b.missing("scaling_adjustment", "1")
            };
            match (lo, hi, adj) {
                (Some(lower_bound), Some(upper_bound), Some(scaling_adjustment)) => {
                    steps.push(StepAdjustment {
                        lower_bound,
                        upper_bound,
                        scaling_adjustment,
                    })
                }
                _ => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let violations = model::policy::validate_steps(&steps);
        for v in &violations {
            let (attr, at_block) = match v.attribute.strip_prefix("step_adjustment[") {
                Some(rest) => (
                    v.attribute.clone(),
                    rest.trim_end_matches(']').parse::<usize>().ok(),
                ),
                None => (v.attribute.clone(), None),
            };
            match at_block.and_then(|i| r.blocks("step_adjustment").into_iter().nth(i)) {
                Some(b) => b.block_error(format!("{attr}: {}", v.message), v.hint.clone()),
                None => r.error(&attr, v.message.clone(), v.hint.clone()),
            }
        }
        violations.is_empty().then_some(steps)
    }

    fn min_adjustment_magnitude(&self, adjustment_type: AdjustmentType) -> Option<Option<u32>> {
        let r = self.r;
        if !r.has("min_adjustment_magnitude") {
            return Some(None);
        }
        let m = r.number("min_adjustment_magnitude", 1, 100_000)? as u32;
        if adjustment_type != AdjustmentType::PercentChangeInCapacity {
            r.error(
                "min_adjustment_magnitude",
                "min_adjustment_magnitude applies only to adjustment_type = \"PercentChangeInCapacity\"",
                Some("remove it, or use PercentChangeInCapacity".into()),
            );
            return None;
        }
        Some(Some(m))
    }

    fn step_scaling(&self) -> Option<StepScaling> {
        let r = self.r;
        let ok = self.refuse(
            &[
                "scaling_adjustment",
                "cooldown",
                "target_tracking_configuration",
            ],
            "StepScaling",
        );
        let adjustment_type = self.adjustment_type()?;
        let min = self.min_adjustment_magnitude(adjustment_type)?;
        let aggregation = match r.string("metric_aggregation_type").as_deref() {
            None | Some("Average") => MetricAggregationType::Average,
            Some("Minimum") => MetricAggregationType::Minimum,
            Some("Maximum") => MetricAggregationType::Maximum,
            Some(other) => {
                r.error(
                    "metric_aggregation_type",
                    format!("unknown aggregation `{other}`"),
                    Some("use Average, Minimum or Maximum".into()),
                );
                return None;
            }
        };
        let warmup = self.seconds("estimated_instance_warmup", 3600)?;
        let steps = self.step_adjustments()?;
        ok.then_some(StepScaling {
            adjustment_type,
            steps,
            min_adjustment_magnitude: min,
            metric_aggregation_type: aggregation,
            estimated_instance_warmup: warmup,
        })
    }

    fn simple_scaling(&self) -> Option<SimpleScaling> {
        let r = self.r;
        let ok = self.refuse(
            &[
                "step_adjustment",
                "target_tracking_configuration",
                "estimated_instance_warmup",
                "metric_aggregation_type",
            ],
            "SimpleScaling",
        );
        let adjustment_type = self.adjustment_type()?;
        let min = self.min_adjustment_magnitude(adjustment_type)?;
        let adjustment = if r.has("scaling_adjustment") {
            r.integer("scaling_adjustment", -100_000, 100_000)
        } else {
            r.missing("scaling_adjustment", "1")
        };
        let cooldown = self.seconds("cooldown", 86_400)?;
        let s = SimpleScaling {
            adjustment_type,
            scaling_adjustment: adjustment?,
            min_adjustment_magnitude: min,
            cooldown,
        };
        ok.then_some(s)
    }

    pub(super) fn scheduled_action(&self) -> Option<ScheduledAction> {
        let r = self.r;
        let group = self.group_ref();
        let name = r.required_string("scheduled_action_name", "\"business-hours\"");
        // The provider writes -1 for "leave unchanged".
        let size = |attr: &str| -> Option<Option<u32>> {
            match r.integer(attr, -1, 10_000) {
                None if r.has(attr) => None,
                None | Some(-1) => Some(None),
                Some(n) if n >= 0 => Some(Some(n as u32)),
                Some(_) => None,
            }
        };
        let (min, max, desired) = (size("min_size"), size("max_size"), size("desired_capacity"));
        let time = |attr: &str| -> Option<Option<Timestamp>> {
            let Some(text) = r.string(attr) else {
                return (!r.has(attr)).then_some(None);
            };
            match text.parse::<jiff::Timestamp>() {
                Ok(t) => Some(Some(Timestamp::from_millis(t.as_millisecond()))),
                Err(_) => {
                    r.error(
                        attr,
                        format!("`{text}` is not a UTC time in RFC 3339 form"),
                        Some(format!("write {attr} = \"2026-12-01T09:00:00Z\"")),
                    );
                    None
                }
            }
        };
        let (start, end) = (time("start_time"), time("end_time"));
        let action = ScheduledAction {
            key: self.inst.key.clone(),
            name: name?,
            group: group?,
            recurrence: r.string("recurrence"),
            time_zone: r.string("time_zone"),
            start_time: start?,
            end_time: end?,
            min_size: min?,
            max_size: max?,
            desired_capacity: desired?,
        };
        let mut ok = true;
        if action.min_size.is_none()
            && action.max_size.is_none()
            && action.desired_capacity.is_none()
        {
            r.block_error(
                "a scheduled action must set at least one of min_size, max_size, desired_capacity",
                Some("add desired_capacity = 6 (or min_size / max_size)".into()),
            );
            ok = false;
        }
        if action.recurrence.is_none() && action.start_time.is_none() {
            r.block_error(
                "a scheduled action needs a recurrence or a start_time",
                Some(
                    "add recurrence = \"0 9 * * MON-FRI\" or start_time = \"2026-12-01T09:00:00Z\""
                        .into(),
                ),
            );
            ok = false;
        }
        if let (Some(s), Some(e)) = (action.start_time, action.end_time)
            && e <= s
        {
            r.error(
                "end_time",
                "end_time is not after start_time",
                Some("make end_time later than start_time".into()),
            );
            ok = false;
        }
        // Both checked, so both mistakes are reported at once.
        let recurrence = action
            .recurrence
            .as_deref()
            .map(scaling::schedule::parse_recurrence);
        let zone = action
            .time_zone
            .as_deref()
            .map(scaling::schedule::parse_time_zone);
        for e in [recurrence.and_then(Result::err), zone.and_then(Result::err)]
            .into_iter()
            .flatten()
        {
            r.error(e.attribute, e.message, Some(e.hint));
            ok = false;
        }
        if let (Some(min), Some(max)) = (action.min_size, action.max_size)
            && min > max
        {
            r.error(
                "min_size",
                format!("min_size ({min}) is greater than max_size ({max})"),
                None,
            );
            ok = false;
        }
        ok.then_some(action)
    }
}

/// `customized_metric_specification` (one metric; metric math is refused).
fn custom_metric(m: &Reader<'_>) -> Option<TrackedMetric> {
    if !m.blocks("metrics").is_empty() {
        m.error(
            "metrics",
            "metric math in customized_metric_specification is not supported yet",
            Some(
                "track one metric: metric_name, namespace, statistic and metric_dimension blocks"
                    .into(),
            ),
        );
        return None;
    }
    let namespace = m.required_string("namespace", "\"AWS/EC2\"");
    let name = m.required_string("metric_name", "\"CPUUtilization\"");
    let statistic =
        m.required_string("statistic", "\"Average\"")
            .and_then(|s| match Statistic::parse(&s) {
                Some(st) if !matches!(st, Statistic::Percentile(_)) => Some(st),
                _ => {
                    m.error(
                        "statistic",
                        format!("unknown statistic `{s}`"),
                        Some(format!("use one of {}", Statistic::SIMPLE.join(", "))),
                    );
                    None
                }
            });
    let mut dimensions = Vec::new();
    for d in m.blocks("metric_dimension") {
        if let (Some(n), Some(v)) = (
            d.required_string("name", "\"AutoScalingGroupName\""),
            d.required_string("value", "aws_autoscaling_group.web.name"),
        ) {
            dimensions.push(Dimension::new(n, v));
        }
    }
    dimensions.sort();
    let (namespace, name) = (namespace?, name?);
    if let Err(known) = model::alarm::check_known_metric(&namespace, &name) {
        m.error(
            "metric_name",
            format!("updraft has no metric `{name}` in namespace `{namespace}`"),
            Some(
                suggest::did_you_mean(&name, known.iter().copied())
                    .unwrap_or_else(|| format!("known: {}", known.join(", "))),
            ),
        );
        return None;
    }
    Some(TrackedMetric::Custom(MetricStat {
        namespace,
        metric_name: name,
        dimensions,
        period: 60,
        statistic: statistic?,
    }))
}
