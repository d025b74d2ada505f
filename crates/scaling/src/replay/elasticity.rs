//! The SPEC Research Group's elasticity metrics (Herbst et al.), as the AtLarge implementation
//! computes them, for demand `d_t` (instances needed: ⌈rate / capacity⌉) and supply `s_t`
//! (instances serving), one sample per second.

use serde::Serialize;

/// All in percent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Elasticity {
    /// θ_U: average missing supply relative to demand.
    pub under_provisioning_accuracy: f64,
    /// θ_O: average excess supply relative to demand.
    pub over_provisioning_accuracy: f64,
    /// τ_U: share of time under-provisioned.
    pub under_provisioning_timeshare: f64,
    /// τ_O: share of time over-provisioned.
    pub over_provisioning_timeshare: f64,
    /// υ: share of time supply moves up relative to demand's direction (sign(Δs) − sign(Δd) > 0).
    pub instability: f64,
    /// υ′: the symmetric one (sign(Δd) − sign(Δs) > 0).
    pub instability_prime: f64,
}

fn sign(v: f64) -> i32 {
    if v > 0.0 {
        1
    } else if v < 0.0 {
        -1
    } else {
        0
    }
}

pub fn measure(demand: &[f64], supply: &[f64]) -> Elasticity {
    let n = demand.len().min(supply.len());
    if n == 0 {
        return Elasticity::default();
    }
    let t = n as f64;
    let mut e = Elasticity::default();
    for i in 0..n {
        let (d, s) = (demand[i], supply[i]);
        if d > 0.0 {
            e.under_provisioning_accuracy += (d - s).max(0.0) / d;
            e.over_provisioning_accuracy += (s - d).max(0.0) / d;
        } else if s > 0.0 {
            // No demand: everything supplied is excess (counted as 100%).
            e.over_provisioning_accuracy += 1.0;
        }
        e.under_provisioning_timeshare += f64::from(u8::from(d > s));
        e.over_provisioning_timeshare += f64::from(u8::from(s > d));
    }
    for i in 1..n {
        let ds = sign(supply[i] - supply[i - 1]);
        let dd = sign(demand[i] - demand[i - 1]);
        e.instability += f64::from(u8::from(ds - dd > 0));
        e.instability_prime += f64::from(u8::from(dd - ds > 0));
    }
    let pct = |v: f64, over: f64| v / over * 100.0;
    Elasticity {
        under_provisioning_accuracy: pct(e.under_provisioning_accuracy, t),
        over_provisioning_accuracy: pct(e.over_provisioning_accuracy, t),
        under_provisioning_timeshare: pct(e.under_provisioning_timeshare, t),
        over_provisioning_timeshare: pct(e.over_provisioning_timeshare, t),
        instability: if n > 1 {
            pct(e.instability, t - 1.0)
        } else {
            0.0
        },
        instability_prime: if n > 1 {
            pct(e.instability_prime, t - 1.0)
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_supply_scores_zero() {
        let d = [1.0, 2.0, 3.0, 2.0];
        let e = measure(&d, &d);
        assert_eq!(e, Elasticity::default());
    }

    #[test]
    fn under_and_over_provisioning() {
        let d = [2.0, 2.0, 4.0, 4.0];
        let s = [2.0, 3.0, 2.0, 4.0];
        let e = measure(&d, &s);
        // Under: only t=2, missing 2 of 4 → 50% / 4 samples = 12.5%.
        assert_eq!(e.under_provisioning_accuracy, 12.5);
        assert_eq!(e.under_provisioning_timeshare, 25.0);
        // Over: t=1, 1 of 2 → 50% / 4 = 12.5%.
        assert_eq!(e.over_provisioning_accuracy, 12.5);
        assert_eq!(e.over_provisioning_timeshare, 25.0);
        // Δs: +1, −1, +2; Δd: 0, +2, 0 → s up while d flat (2 of 3), d up while s down (1 of 3).
        assert!((e.instability - 200.0 / 3.0).abs() < 1e-9);
        assert!((e.instability_prime - 100.0 / 3.0).abs() < 1e-9);
    }
}
