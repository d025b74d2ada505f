//! Load balancing decisions as pure functions over indices: which target (round robin,
//! least outstanding requests or weighted random, with slow start and ALB's fail-open) and which
//! target group (smooth weighted round robin).
//!
//! What this is not: it holds no state. Callers keep the request counter (an atomic in the
//! routing snapshot), draw the random bits and read the in-flight counts, and pass them in, so
//! every decision is reproducible in a unit test.

use model::Algorithm;

/// What `pick` needs to know about candidate `i`.
pub(crate) trait Candidates {
    fn len(&self) -> usize;
    /// May receive the request (not draining, not the target that just failed).
    fn allowed(&self, i: usize) -> bool;
    /// Healthy and not passively ejected.
    fn preferred(&self, i: usize) -> bool;
    fn in_flight(&self, i: usize) -> u64;
    /// Share during slow start: 1.0 normally, ramping linearly from near 0 to 1.
    fn weight(&self, i: usize) -> f64;
}

/// Chooses a candidate with `algorithm` among the preferred ones, failing open to every allowed
/// one when none is preferred. `n` is the request counter, `random` uniformly random bits.
pub(crate) fn pick(
    algorithm: Algorithm,
    c: &impl Candidates,
    n: usize,
    random: u64,
) -> Option<usize> {
    let len = c.len();
    let preferred = |i: usize| c.allowed(i) && c.preferred(i);
    let count = (0..len).filter(|&i| preferred(i)).count();
    let tier: &dyn Fn(usize) -> bool = if count > 0 {
        &preferred
    } else {
        &|i| c.allowed(i)
    };
    let count = if count > 0 {
        count
    } else {
        (0..len).filter(|&i| c.allowed(i)).count()
    };
    if count == 0 {
        return None;
    }
    match algorithm {
        Algorithm::RoundRobin => {
            let ramping = (0..len).any(|i| tier(i) && c.weight(i) < 1.0);
            if ramping {
                weighted(len, tier, |i| c.weight(i), random)
            } else {
                (0..len).filter(|&i| tier(i)).nth(n % count)
            }
        }
        Algorithm::LeastOutstandingRequests => {
            // Ties are shared out in turn. Counts may move between the two passes; then the
            // first least-loaded target found is taken.
            let least = (0..len)
                .filter(|&i| tier(i))
                .map(|i| c.in_flight(i))
                .min()?;
            let idle = |i: usize| tier(i) && c.in_flight(i) == least;
            let ties = (0..len).filter(|&i| idle(i)).count().max(1);
            (0..len).filter(|&i| idle(i)).nth(n % ties).or_else(|| {
                (0..len)
                    .filter(|&i| tier(i))
                    .min_by_key(|&i| c.in_flight(i))
            })
        }
        Algorithm::WeightedRandom => weighted(len, tier, |i| c.weight(i), random),
    }
}

/// A random index among `tier`, proportional to `weight`.
fn weighted(
    len: usize,
    tier: &dyn Fn(usize) -> bool,
    weight: impl Fn(usize) -> f64,
    random: u64,
) -> Option<usize> {
    let total: f64 = (0..len).filter(|&i| tier(i)).map(&weight).sum();
    let unit = (random >> 11) as f64 / (1u64 << 53) as f64;
    let mut x = unit * total;
    let mut last = None;
    for i in (0..len).filter(|&i| tier(i)) {
        last = Some(i);
        x -= weight(i);
        if x < 0.0 {
            return Some(i);
        }
    }
    last
}

/// The slow start share of a target healthy for `healthy_for` of a `window`: linear from 10 %
/// (so that a new target gets some traffic at once) to 100 %.
pub(crate) fn slow_start_weight(
    healthy_for: std::time::Duration,
    window: std::time::Duration,
) -> f64 {
    if window.is_zero() || healthy_for >= window {
        return 1.0;
    }
    let f = healthy_for.as_secs_f64() / window.as_secs_f64();
    0.1 + 0.9 * f
}

/// Round robin with ALB's fail-open: the `n`-th request goes to the `n mod k`-th of the `k`
/// `preferred` (healthy) candidates; when there is none, to the `n mod m`-th of the `m`
/// `allowed` ones (initial and unhealthy targets included). `None` when nothing is allowed.
///
/// `preferred` is only consulted for allowed indices. The two predicates may read atomics that
/// change concurrently; if a candidate vanishes between counting and choosing, the first
/// allowed index found is used instead of failing the request.
#[cfg(test)]
pub(crate) fn pick_index(
    len: usize,
    n: usize,
    allowed: impl Fn(usize) -> bool,
    preferred: impl Fn(usize) -> bool,
) -> Option<usize> {
    let is_preferred = |i: usize| allowed(i) && preferred(i);
    let healthy = (0..len).filter(|&i| is_preferred(i)).count();
    if healthy > 0 {
        if let Some(i) = (0..len).filter(|&i| is_preferred(i)).nth(n % healthy) {
            return Some(i);
        }
    } else {
        let open = (0..len).filter(|&i| allowed(i)).count();
        if open > 0
            && let Some(i) = (0..len).filter(|&i| allowed(i)).nth(n % open)
        {
            return Some(i);
        }
    }
    (0..len).find(|&i| allowed(i))
}

/// One full cycle of nginx's smooth weighted round robin over `weights`: a sequence of indices
/// in which index `i` appears `weights[i] / g` times (g = gcd of the non-zero weights), spread
/// out as evenly as possible. Weight 0 never appears; all zero gives an empty cycle.
pub(crate) fn smooth_weighted_schedule(weights: &[u16]) -> Vec<usize> {
    let g = weights
        .iter()
        .filter(|w| **w > 0)
        .fold(0u32, |g, &w| gcd(g, u32::from(w)));
    if g == 0 {
        return Vec::new();
    }
    let w: Vec<i64> = weights
        .iter()
        .map(|&x| i64::from(u32::from(x) / g))
        .collect();
    let total: i64 = w.iter().sum();
    let mut current = vec![0i64; w.len()];
    let mut cycle = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        for (c, wi) in current.iter_mut().zip(&w) {
            *c += wi;
        }
        // Ties go to the lowest index, which keeps the cycle deterministic.
        let best = (0..w.len())
            .filter(|&i| w[i] > 0)
            .max_by(|&a, &b| current[a].cmp(&current[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        current[best] -= total;
        cycle.push(best);
    }
    cycle
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        healthy: Vec<bool>,
        in_flight: Vec<u64>,
        weight: Vec<f64>,
        excluded: Option<usize>,
    }

    impl Fake {
        fn new(n: usize) -> Fake {
            Fake {
                healthy: vec![true; n],
                in_flight: vec![0; n],
                weight: vec![1.0; n],
                excluded: None,
            }
        }
    }

    impl Candidates for Fake {
        fn len(&self) -> usize {
            self.healthy.len()
        }
        fn allowed(&self, i: usize) -> bool {
            self.excluded != Some(i)
        }
        fn preferred(&self, i: usize) -> bool {
            self.healthy[i]
        }
        fn in_flight(&self, i: usize) -> u64 {
            self.in_flight[i]
        }
        fn weight(&self, i: usize) -> f64 {
            self.weight[i]
        }
    }

    fn counts(f: &Fake, alg: Algorithm, n: usize) -> Vec<usize> {
        let mut seen = vec![0; f.len()];
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for k in 0..n {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            seen[pick(alg, f, k, rng).unwrap()] += 1;
        }
        seen
    }

    #[test]
    fn least_outstanding_avoids_the_busy_target_and_shares_ties() {
        let mut f = Fake::new(3);
        f.in_flight = vec![5, 0, 0];
        let seen = counts(&f, Algorithm::LeastOutstandingRequests, 100);
        assert_eq!(seen, vec![0, 50, 50]);
        f.in_flight = vec![0, 0, 0];
        assert_eq!(
            counts(&f, Algorithm::LeastOutstandingRequests, 99),
            vec![33, 33, 33]
        );
        // Unhealthy targets are skipped even when idle.
        f.in_flight = vec![9, 0, 4];
        f.healthy = vec![true, false, true];
        assert_eq!(
            counts(&f, Algorithm::LeastOutstandingRequests, 10),
            vec![0, 0, 10]
        );
    }

    #[test]
    fn weighted_random_is_roughly_uniform_and_round_robin_exact() {
        let f = Fake::new(4);
        let seen = counts(&f, Algorithm::WeightedRandom, 4000);
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert_eq!(counts(&f, Algorithm::RoundRobin, 8), vec![2, 2, 2, 2]);
    }

    #[test]
    fn slow_start_ramps_a_new_target_linearly() {
        use std::time::Duration;
        let w = |s| slow_start_weight(Duration::from_secs(s), Duration::from_secs(100));
        assert!((w(0) - 0.1).abs() < 1e-9);
        assert!((w(50) - 0.55).abs() < 1e-9);
        assert_eq!(w(100), 1.0);
        assert_eq!(slow_start_weight(Duration::ZERO, Duration::ZERO), 1.0);
        let mut f = Fake::new(2);
        f.weight = vec![1.0, 0.25];
        let seen = counts(&f, Algorithm::RoundRobin, 5000);
        // 1 : 0.25 → 80 % : 20 %.
        assert!((3800..4200).contains(&seen[0]), "{seen:?}");
    }

    #[test]
    fn fail_open_and_exclusion_apply_to_every_algorithm() {
        for alg in [
            Algorithm::RoundRobin,
            Algorithm::LeastOutstandingRequests,
            Algorithm::WeightedRandom,
        ] {
            let mut f = Fake::new(3);
            f.healthy = vec![false; 3];
            f.excluded = Some(1);
            let seen = counts(&f, alg, 300);
            assert_eq!(seen[1], 0, "{alg:?}");
            assert!(seen[0] > 0 && seen[2] > 0, "{alg:?} {seen:?}");
            let empty = Fake::new(0);
            assert_eq!(pick(alg, &empty, 0, 0), None);
        }
    }

    fn picks(
        len: usize,
        count: usize,
        allowed: impl Fn(usize) -> bool + Copy,
        preferred: impl Fn(usize) -> bool + Copy,
    ) -> Vec<usize> {
        (0..count)
            .map(|n| pick_index(len, n, allowed, preferred).unwrap())
            .collect()
    }

    #[test]
    fn round_robin_over_healthy_targets_only() {
        let all = |_| true;
        assert_eq!(picks(3, 6, all, all), vec![0, 1, 2, 0, 1, 2]);
        // Target 1 unhealthy: the others share evenly (not 2:1 as "next healthy" would).
        assert_eq!(picks(3, 4, all, |i| i != 1), vec![0, 2, 0, 2]);
    }

    #[test]
    fn fails_open_over_allowed_targets_when_none_is_healthy() {
        assert_eq!(picks(3, 3, |_| true, |_| false), vec![0, 1, 2]);
        // Excluded (e.g. the target that just refused a connection) stays excluded.
        assert_eq!(picks(3, 4, |i| i != 0, |_| false), vec![1, 2, 1, 2]);
    }

    #[test]
    fn nothing_allowed_means_no_target() {
        assert_eq!(pick_index(3, 0, |_| false, |_| true), None);
        assert_eq!(pick_index(0, 7, |_| true, |_| true), None);
    }

    #[test]
    fn smooth_weighted_round_robin_spreads_by_weight() {
        assert_eq!(
            smooth_weighted_schedule(&[5, 1, 1]),
            vec![0, 0, 1, 0, 2, 0, 0]
        );
        // gcd reduction keeps the cycle short.
        assert_eq!(smooth_weighted_schedule(&[200, 100]), vec![0, 1, 0]);
        assert_eq!(smooth_weighted_schedule(&[1, 0, 1]), vec![0, 2]);
        assert!(smooth_weighted_schedule(&[0, 0]).is_empty());
        assert!(smooth_weighted_schedule(&[]).is_empty());
    }

    #[test]
    fn schedule_counts_match_weights() {
        let s = smooth_weighted_schedule(&[999, 333, 1]);
        assert_eq!(s.len(), 1333);
        assert_eq!(s.iter().filter(|&&i| i == 0).count(), 999);
        assert_eq!(s.iter().filter(|&&i| i == 2).count(), 1);
    }
}
