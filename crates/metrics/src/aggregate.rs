//! The statistics of the samples in one bucket or one period: SampleCount, Sum, Minimum,
//! Maximum (Average derived), and the distribution for percentiles.

use model::{DatumValue, Statistic};
use serde::{Deserialize, Serialize};

use crate::sketch::Sketch;

/// What is known of the distribution of the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Dist {
    /// Every sample equals `minimum` (= `maximum`); costs no memory.
    Uniform,
    Sketch(Box<Sketch>),
    /// A statistic set with different minimum and maximum went in: no percentiles.
    Unknown,
}

/// Statistics of a set of samples. Mergeable, so periods are sums of buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
    dist: Dist,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            sample_count: 0.0,
            sum: 0.0,
            minimum: f64::INFINITY,
            maximum: f64::NEG_INFINITY,
            dist: Dist::Uniform,
        }
    }
}

impl Aggregate {
    pub fn of(value: f64) -> Self {
        let mut a = Aggregate::default();
        a.add(value, 1.0);
        a
    }

    pub fn is_empty(&self) -> bool {
        self.sample_count <= 0.0
    }

    /// Adds `count` samples of `v`.
    pub fn add(&mut self, v: f64, count: f64) {
        if !v.is_finite() || count <= 0.0 {
            return;
        }
        let was_empty = self.is_empty();
        let old_min = self.minimum;
        let old_count = self.sample_count;
        self.sample_count += count;
        self.sum += v * count;
        self.minimum = self.minimum.min(v);
        self.maximum = self.maximum.max(v);
        match &mut self.dist {
            Dist::Uniform if was_empty || v == old_min => {}
            Dist::Uniform => {
                let mut s = Sketch::default();
                s.add(old_min, old_count);
                s.add(v, count);
                self.dist = Dist::Sketch(Box::new(s));
            }
            Dist::Sketch(s) => s.add(v, count),
            Dist::Unknown => {}
        }
    }

    /// Adds a datum's value.
    pub fn add_datum(&mut self, value: &DatumValue) {
        match value {
            DatumValue::Value(v) => self.add(*v, 1.0),
            DatumValue::Values { values, counts } => {
                for (i, v) in values.iter().enumerate() {
                    self.add(*v, counts.get(i).copied().unwrap_or(1.0));
                }
            }
            DatumValue::StatisticSet {
                sample_count,
                sum,
                minimum,
                maximum,
            } => {
                if *sample_count <= 0.0 || !sum.is_finite() {
                    return;
                }
                if minimum == maximum {
                    self.add(*minimum, *sample_count);
                    return;
                }
                let set = Aggregate {
                    sample_count: *sample_count,
                    sum: *sum,
                    minimum: *minimum,
                    maximum: *maximum,
                    dist: Dist::Unknown,
                };
                self.merge(&set);
            }
        }
    }

    pub fn merge(&mut self, other: &Aggregate) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = other.clone();
            return;
        }
        let dist = match (&self.dist, &other.dist) {
            (Dist::Unknown, _) | (_, Dist::Unknown) => Dist::Unknown,
            (Dist::Uniform, Dist::Uniform) if self.minimum == other.minimum => Dist::Uniform,
            _ => {
                let mut s = self.sketch();
                s.merge(&other.sketch());
                Dist::Sketch(Box::new(s))
            }
        };
        self.sample_count += other.sample_count;
        self.sum += other.sum;
        self.minimum = self.minimum.min(other.minimum);
        self.maximum = self.maximum.max(other.maximum);
        self.dist = dist;
    }

    fn sketch(&self) -> Sketch {
        match &self.dist {
            Dist::Sketch(s) => (**s).clone(),
            _ => {
                let mut s = Sketch::default();
                s.add(self.minimum, self.sample_count);
                s
            }
        }
    }

    pub fn average(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.sum / self.sample_count)
    }

    /// The percentile `p` (0–100); `None` without samples or when only statistic sets with a
    /// spread went in (CloudWatch cannot tell percentiles from those either).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        match &self.dist {
            Dist::Uniform => Some(self.minimum),
            Dist::Sketch(s) => s.percentile(p).map(|v| v.clamp(self.minimum, self.maximum)),
            Dist::Unknown => None,
        }
    }

    /// One statistic; `None` when there are no samples (a missing datapoint).
    pub fn statistic(&self, stat: Statistic) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        match stat {
            Statistic::SampleCount => Some(self.sample_count),
            Statistic::Sum => Some(self.sum),
            Statistic::Minimum => Some(self.minimum),
            Statistic::Maximum => Some(self.maximum),
            Statistic::Average => self.average(),
            Statistic::Percentile(p) => self.percentile(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_statistics() {
        let mut a = Aggregate::default();
        assert_eq!(a.statistic(Statistic::Average), None);
        for v in [10.0, 20.0, 60.0] {
            a.add(v, 1.0);
        }
        assert_eq!(a.statistic(Statistic::SampleCount), Some(3.0));
        assert_eq!(a.statistic(Statistic::Sum), Some(90.0));
        assert_eq!(a.statistic(Statistic::Average), Some(30.0));
        assert_eq!(a.statistic(Statistic::Minimum), Some(10.0));
        assert_eq!(a.statistic(Statistic::Maximum), Some(60.0));
        let p50 = a.statistic(Statistic::Percentile(50.0)).unwrap();
        assert!((p50 - 20.0).abs() < 0.4, "{p50}");
    }

    #[test]
    fn single_valued_buckets_hold_no_sketch_until_they_differ() {
        let mut a = Aggregate::of(5.0);
        a.add(5.0, 3.0);
        assert_eq!(a.dist, Dist::Uniform);
        assert_eq!(a.percentile(99.0), Some(5.0));
        let mut b = Aggregate::of(7.0);
        b.merge(&a);
        assert!(matches!(b.dist, Dist::Sketch(_)));
        assert_eq!(b.sample_count, 5.0);
        assert!((b.percentile(100.0).unwrap() - 7.0).abs() < 0.1);
    }

    #[test]
    fn statistic_sets_give_no_percentiles() {
        let mut a = Aggregate::default();
        a.add_datum(&DatumValue::StatisticSet {
            sample_count: 4.0,
            sum: 10.0,
            minimum: 1.0,
            maximum: 4.0,
        });
        assert_eq!(a.average(), Some(2.5));
        assert_eq!(a.percentile(50.0), None);
        a.add_datum(&DatumValue::Values {
            values: vec![1.0, 2.0],
            counts: vec![2.0, 1.0],
        });
        assert_eq!(a.sample_count, 7.0);
    }
}
