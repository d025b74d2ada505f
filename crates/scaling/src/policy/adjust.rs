//! Adjustment types and AWS's rounding rules.

use model::AdjustmentType;

/// The capacity after applying `adjustment` of `kind` to `current` (before clamping to
/// min/max). Percent rounding as the Auto Scaling User Guide states it: a change above 1 rounds
/// down (12.7 → 12), between 0 and 1 becomes 1, between −1 and 0 becomes −1, below −1 rounds
/// toward zero (−6.67 → −6); `min_adjustment_magnitude` then raises the magnitude.
pub fn apply_adjustment(
    kind: AdjustmentType,
    adjustment: i64,
    min_adjustment_magnitude: Option<u32>,
    current: u32,
) -> i64 {
    let current = i64::from(current);
    match kind {
        AdjustmentType::ChangeInCapacity => current + adjustment,
        AdjustmentType::ExactCapacity => adjustment.max(0),
        AdjustmentType::PercentChangeInCapacity => {
            let raw = current as f64 * adjustment as f64 / 100.0;
            let mut change = if raw > 1.0 {
                raw.floor() as i64
            } else if raw > 0.0 {
                1
            } else if raw == 0.0 {
                0
            } else if raw >= -1.0 {
                -1
            } else {
                raw.ceil() as i64
            };
            if let Some(min) = min_adjustment_magnitude
                && change != 0
                && change.unsigned_abs() < u64::from(min)
            {
                change = change.signum() * i64::from(min);
            }
            current + change
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AdjustmentType::*;

    #[test]
    fn percent_rounding_follows_the_user_guide() {
        // 12.7 → 12
        assert_eq!(apply_adjustment(PercentChangeInCapacity, 127, None, 10), 22);
        // 0.5 → 1
        assert_eq!(apply_adjustment(PercentChangeInCapacity, 5, None, 10), 11);
        // −0.5 → −1
        assert_eq!(apply_adjustment(PercentChangeInCapacity, -5, None, 10), 9);
        // −6.67 → −6
        assert_eq!(
            apply_adjustment(PercentChangeInCapacity, -667, None, 1),
            1 - 6
        );
        // UG: desired 10, +10% → 11; then +30% of 11 = 3.3 → 14.
        assert_eq!(apply_adjustment(PercentChangeInCapacity, 10, None, 10), 11);
        assert_eq!(apply_adjustment(PercentChangeInCapacity, 30, None, 11), 14);
        // min_adjustment_magnitude raises small percentages.
        assert_eq!(apply_adjustment(PercentChangeInCapacity, 10, Some(2), 4), 6);
        assert_eq!(
            apply_adjustment(PercentChangeInCapacity, -10, Some(2), 4),
            2
        );
    }

    #[test]
    fn change_and_exact() {
        assert_eq!(apply_adjustment(ChangeInCapacity, -2, None, 5), 3);
        assert_eq!(apply_adjustment(ExactCapacity, 7, None, 5), 7);
        assert_eq!(apply_adjustment(ExactCapacity, -1, None, 5), 0);
    }
}
