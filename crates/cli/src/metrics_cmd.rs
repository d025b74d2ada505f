//! `updraft metrics` and `updraft alarms`.

use std::fmt::Write;

use clap::Args;
use model::Dimension;
use scaling::autoscaler::AlarmView;
use server::metrics_api::{MetricView, MetricsQuery};

#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// The metric name (e.g. CPUUtilization, GroupInServiceInstances, HealthyHostCount). Without
    /// it, lists every metric with its latest one-minute average.
    pub name: Option<String>,
    /// Only this namespace (AWS/EC2, AWS/AutoScaling, AWS/ApplicationELB).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Only metrics with this dimension, NAME=VALUE (NAME alone matches any value). Repeatable.
    #[arg(long = "dimension", value_name = "NAME=VALUE")]
    pub dimensions: Vec<String>,
    /// Statistics to show: SampleCount, Average, Sum, Minimum, Maximum or a percentile (p99).
    /// Repeatable.
    #[arg(long = "statistic", default_values_t = ["Average".to_string()])]
    pub statistics: Vec<String>,
    /// Datapoint period in seconds (1 s resolution is kept for the last 3 hours).
    #[arg(long, default_value_t = 1)]
    pub period: u32,
    /// How far back, in seconds.
    #[arg(long, default_value_t = 120)]
    pub since: u64,
    /// Print the datapoints as JSON.
    #[arg(long)]
    pub json: bool,
}

impl MetricsArgs {
    pub fn query(&self) -> Result<MetricsQuery, String> {
        let dimensions = self
            .dimensions
            .iter()
            .map(|d| match d.split_once('=') {
                Some((n, v)) if !n.is_empty() => Ok(Dimension::new(n, v)),
                None if !d.is_empty() => Ok(Dimension::new(d.as_str(), "")),
                _ => Err(format!("--dimension `{d}` is not NAME=VALUE; write e.g. --dimension AutoScalingGroupName=web")),
            })
            .collect::<Result<_, _>>()?;
        let listing = self.name.is_none();
        Ok(MetricsQuery {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            dimensions,
            since_secs: Some(if listing { 60 } else { self.since }),
            period: Some(if listing { 60 } else { self.period }),
            statistics: if listing {
                vec!["Average".into()]
            } else {
                self.statistics.clone()
            },
        })
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line sparkline of `values` (at most `width` characters, the last ones).
pub fn sparkline(values: &[f64], width: usize) -> String {
    let values = &values[values.len().saturating_sub(width)..];
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    values
        .iter()
        .map(|v| {
            if hi - lo < 1e-12 {
                BARS[if hi > 0.0 { 3 } else { 0 }]
            } else {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
            }
        })
        .collect()
}

fn label(m: &MetricView) -> String {
    let dims: Vec<String> = m
        .dimensions
        .iter()
        .map(|d| format!("{}={}", d.name, d.value))
        .collect();
    format!("{} {} {}", m.namespace, m.name, dims.join(","))
        .trim_end()
        .to_owned()
}

fn num(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub fn render(metrics: &[MetricView], args: &MetricsArgs) -> String {
    let mut out = String::new();
    if metrics.is_empty() {
        let _ = writeln!(
            out,
            "no metric matches (metrics are collected once per second while the stack runs; `updraft metrics` lists them)"
        );
        return out;
    }
    if args.name.is_none() {
        let _ = writeln!(out, "{:<70} {:>10}", "METRIC", "AVG 1 MIN");
        for m in metrics {
            let latest = m
                .datapoints
                .last()
                .and_then(|d| d.values.get("Average"))
                .map_or("-".to_string(), |v| num(*v));
            let _ = writeln!(out, "{:<70} {:>10}", label(m), latest);
        }
        return out;
    }
    for m in metrics {
        let unit = m.unit.as_deref().unwrap_or("None");
        let _ = writeln!(
            out,
            "{} ({unit}), {} s datapoints over the last {} s",
            label(m),
            args.period,
            args.since
        );
        for stat in &args.statistics {
            let values: Vec<f64> = m
                .datapoints
                .iter()
                .filter_map(|d| d.values.get(stat.as_str()).copied())
                .collect();
            if values.is_empty() {
                let _ = writeln!(out, "  {stat:<8} no datapoints");
                continue;
            }
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let _ = writeln!(
                out,
                "  {stat:<8} {}  last {} min {} max {} ({} datapoints)",
                sparkline(&values, 60),
                num(*values.last().unwrap_or(&0.0)),
                num(min),
                num(max),
                values.len()
            );
        }
    }
    out
}

pub fn render_alarms(alarms: &[AlarmView]) -> String {
    let mut out = String::new();
    if alarms.is_empty() {
        let _ = writeln!(
            out,
            "no alarms (aws_cloudwatch_metric_alarm resources and target-tracking policies create them)"
        );
        return out;
    }
    for a in alarms {
        let _ = writeln!(out, "{:<17} {}", a.state.as_str(), a.name);
        let _ = writeln!(out, "  metric:    {}", a.metric);
        let _ = writeln!(out, "  condition: {}", a.condition);
        if let Some(p) = &a.created_by {
            let _ = writeln!(out, "  created by target-tracking policy {p}");
        }
        if !a.actions.is_empty() {
            let _ = writeln!(out, "  actions:   {}", a.actions.join(", "));
        }
        let _ = writeln!(out, "  since {}: {}", a.updated_at, a.reason);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_between_min_and_max() {
        assert_eq!(sparkline(&[0.0, 50.0, 100.0], 10), "▁▅█");
        assert_eq!(sparkline(&[5.0, 5.0], 10), "▄▄");
        assert_eq!(sparkline(&[1.0, 2.0, 3.0, 4.0], 2), "▁█");
    }
}
