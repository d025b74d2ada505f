//! A small mergeable quantile sketch: values are counted in logarithmic buckets
//! (`γ = 1.02`, so any percentile is within about 1% of the true sample value), the same idea
//! as DDSketch. Percentiles of a period are percentiles of the merged buckets, which is how
//! CloudWatch keeps `p99` meaningful after aggregation.

use serde::{Deserialize, Serialize};

const GAMMA: f64 = 1.02;

/// Counts per logarithmic bucket, for positive and negative values separately, plus zeros.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    /// `(bucket index, count)`, sorted by index.
    positive: Vec<(i32, f64)>,
    negative: Vec<(i32, f64)>,
    zero: f64,
}

fn index(v: f64) -> i32 {
    (v.ln() / GAMMA.ln()).ceil().clamp(-20_000.0, 20_000.0) as i32
}

fn value(i: i32) -> f64 {
    2.0 * GAMMA.powi(i) / (GAMMA + 1.0)
}

fn add_to(buckets: &mut Vec<(i32, f64)>, i: i32, count: f64) {
    match buckets.binary_search_by_key(&i, |(k, _)| *k) {
        Ok(pos) => buckets[pos].1 += count,
        Err(pos) => buckets.insert(pos, (i, count)),
    }
}

impl Sketch {
    /// Adds `count` samples of `v` (non-finite values are ignored).
    pub fn add(&mut self, v: f64, count: f64) {
        if !v.is_finite() || count <= 0.0 {
            return;
        }
        if v == 0.0 {
            self.zero += count;
        } else if v > 0.0 {
            add_to(&mut self.positive, index(v), count);
        } else {
            add_to(&mut self.negative, index(-v), count);
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        for (i, c) in &other.positive {
            add_to(&mut self.positive, *i, *c);
        }
        for (i, c) in &other.negative {
            add_to(&mut self.negative, *i, *c);
        }
        self.zero += other.zero;
    }

    pub fn count(&self) -> f64 {
        self.zero
            + self.positive.iter().map(|(_, c)| c).sum::<f64>()
            + self.negative.iter().map(|(_, c)| c).sum::<f64>()
    }

    /// The value at percentile `p` (0–100), nearest rank; `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.count();
        if n <= 0.0 {
            return None;
        }
        let rank = ((p / 100.0) * n).ceil().max(1.0);
        let mut seen = 0.0;
        for (i, c) in self.negative.iter().rev() {
            seen += c;
            if seen >= rank {
                return Some(-value(*i));
            }
        }
        seen += self.zero;
        if seen >= rank {
            return Some(0.0);
        }
        for (i, c) in &self.positive {
            seen += c;
            if seen >= rank {
                return Some(value(*i));
            }
        }
        self.positive.last().map(|(i, _)| value(*i))
    }

    /// Buckets held (a measure of memory).
    pub fn len(&self) -> usize {
        self.positive.len() + self.negative.len() + usize::from(self.zero > 0.0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_two_percent() {
        let mut s = Sketch::default();
        for v in 1..=1000 {
            s.add(f64::from(v), 1.0);
        }
        for (p, want) in [(50.0, 500.0), (90.0, 900.0), (99.0, 990.0), (100.0, 1000.0)] {
            let got = s.percentile(p).unwrap();
            assert!((got - want).abs() / want < 0.02, "p{p}: {got} vs {want}");
        }
        assert!(s.len() < 400, "{} buckets", s.len());
    }

    #[test]
    fn merging_equals_adding_everything() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for v in [-5.0, 0.0, 0.5, 3.0, 7.0, 100.0] {
            a.add(v, 2.0);
            all.add(v, 2.0);
        }
        for v in [1.0, 2.0, -1.0] {
            b.add(v, 1.0);
            all.add(v, 1.0);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.count(), 15.0);
        assert!(a.percentile(0.0).unwrap() < -4.9);
        assert_eq!(Sketch::default().percentile(50.0), None);
    }
}
