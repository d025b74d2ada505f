//! Load balancing decisions as pure functions over indices: which target (round robin with
//! ALB's fail-open) and which target group (smooth weighted round robin).
//!
//! What this is not: it holds no state. Callers keep the request counter (an atomic in the
//! routing snapshot) and pass its value in, so every decision is reproducible in a unit test.

/// Round robin with ALB's fail-open: the `n`-th request goes to the `n mod k`-th of the `k`
/// `preferred` (healthy) candidates; when there is none, to the `n mod m`-th of the `m`
/// `allowed` ones (initial and unhealthy targets included). `None` when nothing is allowed.
///
/// `preferred` is only consulted for allowed indices. The two predicates may read atomics that
/// change concurrently; if a candidate vanishes between counting and choosing, the first
/// allowed index found is used instead of failing the request.
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
