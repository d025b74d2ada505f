//! `aws_cloudwatch_metric_alarm`.

use model::{
    AlarmAction, ComparisonOperator, Dimension, Float, MetricAlarm, MetricStat, Statistic,
    TreatMissingData,
};

use super::{Decode, Reader};
use crate::suggest;

impl Decode<'_> {
    pub(super) fn metric_alarm(&self) -> Option<MetricAlarm> {
        let r = self.r;
        let name = r.required_string("alarm_name", "\"cpu-high\"");
        let metric = self.alarm_metric();
        let n = r
            .required_number("evaluation_periods", 1, 86_400)
            .map(|n| n as u32);
        let m = match (r.has("datapoints_to_alarm"), n) {
            (true, _) => r.number("datapoints_to_alarm", 1, 86_400).map(|m| m as u32),
            (false, n) => n,
        };
        let threshold = if r.has("threshold_metric_id") {
            r.error(
                "threshold_metric_id",
                "anomaly detection bands are not supported yet by this version of updraft",
                Some("use a fixed threshold".into()),
            );
            None
        } else if r.has("threshold") {
            r.float("threshold")
        } else {
            r.missing("threshold", "80")
        };
        let op = r.required_string("comparison_operator", "\"GreaterThanThreshold\"").and_then(|op| {
            ComparisonOperator::parse(&op).or_else(|| {
                let hint = if op.contains("Band") {
                    "anomaly detection operators are not supported yet; use a fixed-threshold operator".to_string()
                } else {
                    suggest::did_you_mean(&op, ComparisonOperator::ALL.iter().copied())
                        .unwrap_or_else(|| format!("use one of {}", ComparisonOperator::ALL.join(", ")))
                };
                r.error("comparison_operator", format!("unknown comparison operator `{op}`"), Some(hint));
                None
            })
        });
        let treat = match r.string("treat_missing_data") {
            None => Some(TreatMissingData::Missing),
            Some(t) => TreatMissingData::parse(&t).or_else(|| {
                r.error(
                    "treat_missing_data",
                    format!("unknown treat_missing_data `{t}`"),
                    Some(
                        suggest::did_you_mean(&t, TreatMissingData::ALL.iter().copied())
                            .unwrap_or_else(|| {
                                format!("use one of {}", TreatMissingData::ALL.join(", "))
                            }),
                    ),
                );
                None
            }),
        };
        let actions = |attr: &str| -> Option<Vec<AlarmAction>> {
            let list = r.strings(attr).unwrap_or_default();
            let mut out = Vec::new();
            let mut ok = true;
            for arn in list {
                if let Some(key) = self.index.get("aws_autoscaling_policy", &arn) {
                    out.push(AlarmAction::ScalingPolicy(key.to_owned()));
                } else if arn.starts_with("arn:aws:autoscaling:") {
                    r.error(
                        attr,
                        format!("`{arn}` is not the ARN of any aws_autoscaling_policy in this configuration"),
                        Some("refer to one: aws_autoscaling_policy.<name>.arn".into()),
                    );
                    ok = false;
                } else {
                    out.push(AlarmAction::Recorded(arn));
                }
            }
            ok.then_some(out)
        };
        let (alarm_actions, ok_actions, insufficient) = (
            actions("alarm_actions"),
            actions("ok_actions"),
            actions("insufficient_data_actions"),
        );
        let (n, m, metric) = (n?, m?, metric?);
        let mut ok = true;
        if m > n {
            r.error(
                "datapoints_to_alarm",
                format!("datapoints_to_alarm ({m}) is greater than evaluation_periods ({n})"),
                Some(format!(
                    "set datapoints_to_alarm between 1 and {n} (M of N)"
                )),
            );
            ok = false;
        }
        if u64::from(n) * u64::from(metric.period) > 86_400 {
            r.error(
                "evaluation_periods",
                format!(
                    "evaluation_periods × period = {} s; CloudWatch allows at most one day",
                    u64::from(n) * u64::from(metric.period)
                ),
                Some("use fewer evaluation periods or a shorter period".into()),
            );
            ok = false;
        }
        let alarm = MetricAlarm {
            key: self.inst.key.clone(),
            name: name?,
            metric,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold: Float(threshold?),
            comparison_operator: op?,
            treat_missing_data: treat?,
            actions_enabled: r.bool("actions_enabled").unwrap_or(true),
            alarm_actions: alarm_actions?,
            ok_actions: ok_actions?,
            insufficient_data_actions: insufficient?,
        };
        ok.then_some(alarm)
    }

    /// The metric, period and statistic: from the top-level attributes, or from a single
    /// `metric_query { metric { … } }` (metric math is refused).
    fn alarm_metric(&self) -> Option<MetricStat> {
        let r = self.r;
        let queries = r.blocks("metric_query");
        if queries.is_empty() {
            return metric_stat(r, r);
        }
        if queries.iter().any(|q| q.has("expression")) || queries.len() > 1 {
            let q = &queries[0];
            q.block_error(
                "metric math (metric_query with expression, or several queries) is not supported yet by this version of updraft",
                Some("alarm on one metric: metric_name, namespace, period, statistic and dimensions".into()),
            );
            return None;
        }
        let q = &queries[0];
        match q.block("metric") {
            Some(m) => metric_stat(&m, &m),
            None => q.missing("metric", "{ metric_name = \"CPUUtilization\" namespace = \"AWS/EC2\" period = 60 stat = \"Average\" }"),
        }
    }
}

/// Reads metric_name/namespace/period/statistic|extended_statistic|stat/dimensions from `r`.
fn metric_stat(r: &Reader<'_>, _at: &Reader<'_>) -> Option<MetricStat> {
    let name = r.required_string("metric_name", "\"CPUUtilization\"");
    let namespace = r.required_string("namespace", "\"AWS/EC2\"");
    let period = if r.has("period") {
        r.number("period", 1, 86_400).and_then(|p| {
            let p = p as u32;
            if model::alarm::period_allowed(p) {
                Some(p)
            } else {
                let lower = (p / 60) * 60;
                r.error(
                    "period",
                    format!("period {p} is not allowed: use 1 to 60 seconds or a multiple of 60"),
                    Some(format!(
                        "set period = {} (AWS takes 10, 20, 30 or a multiple of 60; updraft also any 1–60)",
                        if lower == 0 { 60 } else { lower }
                    )),
                );
                None
            }
        })
    } else {
        r.missing("period", "60")
    };
    let statistic = match (
        r.string("statistic").or_else(|| r.string("stat")),
        r.string("extended_statistic"),
    ) {
        (Some(_), Some(_)) => {
            r.error(
                "extended_statistic",
                "give statistic or extended_statistic, not both",
                Some("remove one of them".into()),
            );
            None
        }
        (Some(s), None) => match Statistic::parse(&s) {
            Some(st) if !matches!(st, Statistic::Percentile(_)) || r.has("stat") => Some(st),
            Some(_) => {
                r.error(
                    "statistic",
                    format!("`{s}` is an extended statistic"),
                    Some(format!("write extended_statistic = \"{s}\"")),
                );
                None
            }
            None => {
                let attr = if r.has("stat") { "stat" } else { "statistic" };
                r.error(
                    attr,
                    format!("unknown statistic `{s}`"),
                    Some(
                        suggest::did_you_mean(&s, Statistic::SIMPLE.iter().copied())
                            .unwrap_or_else(|| {
                                format!(
                                    "use one of {} (or extended_statistic = \"p99\")",
                                    Statistic::SIMPLE.join(", ")
                                )
                            }),
                    ),
                );
                None
            }
        },
        (None, Some(e)) => match Statistic::parse(&e) {
            Some(st @ Statistic::Percentile(_)) => Some(st),
            _ => {
                r.error(
                    "extended_statistic",
                    format!("`{e}` is not a percentile updraft computes"),
                    Some("write pNN, e.g. extended_statistic = \"p99\"".into()),
                );
                None
            }
        },
        (None, None) => r.missing("statistic", "\"Average\""),
    };
    let dimensions: Vec<Dimension> = r
        .string_map("dimensions")
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| Dimension::new(k, v))
        .collect();
    let (name, namespace) = (name?, namespace?);
    if let Err(known) = model::alarm::check_known_metric(&namespace, &name) {
        r.error(
            "metric_name",
            format!("updraft has no metric `{name}` in namespace `{namespace}`"),
            Some(
                suggest::did_you_mean(&name, known.iter().copied())
                    .unwrap_or_else(|| format!("known: {}", known.join(", "))),
            ),
        );
        return None;
    }
    let mut dimensions = dimensions;
    dimensions.sort();
    Some(MetricStat {
        namespace,
        metric_name: name,
        dimensions,
        period: period?,
        statistic: statistic?,
    })
}
