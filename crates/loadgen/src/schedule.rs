//! The open model's plan: when each request is *intended* to be sent.
//!
//! The arrival rate is piecewise linear (constant holds and spikes, linear ramps), so the number
//! of arrivals by time `t`, `N(t)`, is piecewise quadratic, and request `n` (0-based) is due at
//! the `t` where `N(t) = n`. That inverse is exact and cheap (one square root), so the engine
//! never accumulates rounding drift over a long run, and any worker can compute the due time of
//! any request number on its own: no dispatcher, no shared clock ticks. Latency is measured from
//! this due time, not from when the request actually left (no coordinated omission).

use std::time::Duration;

use crate::stages::{Stage, StageKind};

/// One piece of the rate curve: the rate goes linearly from `r0` to `r1` over `len` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start: f64,
    len: f64,
    r0: f64,
    r1: f64,
    /// Arrivals before this segment.
    n0: f64,
}

impl Segment {
    fn count(&self) -> f64 {
        (self.r0 + self.r1) / 2.0 * self.len
    }

    /// Seconds after the segment's start at which arrival number `m` (relative) is due.
    fn time_of(&self, m: f64) -> f64 {
        if m <= 0.0 {
            return 0.0;
        }
        // Solve r0·t + a·t² = m with a = (r1 − r0)/(2·len); this form has no cancellation and
        // becomes m/r0 when the rate is constant.
        let a = (self.r1 - self.r0) / (2.0 * self.len);
        let disc = (self.r0 * self.r0 + 4.0 * a * m).max(0.0);
        (2.0 * m / (self.r0 + disc.sqrt())).min(self.len)
    }

    fn rate_at(&self, t: f64) -> f64 {
        self.r0 + (self.r1 - self.r0) * ((t - self.start) / self.len).clamp(0.0, 1.0)
    }
}

/// When each request of an open-model run is due.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    segments: Vec<Segment>,
    total: u64,
    duration: Duration,
}

impl Schedule {
    /// A constant rate for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Schedule {
        Self::from_stages(
            rate,
            &[Stage {
                kind: StageKind::Hold,
                rate: Some(rate),
                duration,
                line: 0,
            }],
            None,
        )
    }

    /// The rate curve of `stages`, starting from `initial_rate` (where a first `ramp` starts).
    /// With `duration`, the run is cut there, or the last rate is held until then.
    pub fn from_stages(initial_rate: f64, stages: &[Stage], duration: Option<Duration>) -> Self {
        let mut segments = Vec::new();
        let mut current = initial_rate.max(0.0);
        let mut t = 0.0;
        let mut push = |t: &mut f64, len: f64, r0: f64, r1: f64| {
            if len > 0.0 {
                segments.push(Segment {
                    start: *t,
                    len,
                    r0,
                    r1,
                    n0: 0.0,
                });
                *t += len;
            }
        };
        for stage in stages {
            let len = stage.duration.as_secs_f64();
            match stage.kind {
                StageKind::Ramp => {
                    let target = stage.rate.unwrap_or(current);
                    push(&mut t, len, current, target);
                    current = target;
                }
                StageKind::Hold => {
                    current = stage.rate.unwrap_or(current);
                    push(&mut t, len, current, current);
                }
                StageKind::Spike => {
                    let r = stage.rate.unwrap_or(current);
                    push(&mut t, len, r, r);
                }
            }
        }
        if let Some(d) = duration {
            let end = d.as_secs_f64();
            if end > t {
                let rest = end - t;
                push(&mut t, rest, current, current);
            } else {
                segments.retain(|s| s.start < end);
                if let Some(last) = segments.last_mut()
                    && last.start + last.len > end
                {
                    let cut = end - last.start;
                    last.r1 = last.rate_at(end);
                    last.len = cut;
                }
            }
        }
        let mut n = 0.0;
        for s in &mut segments {
            s.n0 = n;
            n += s.count();
        }
        let end: f64 = segments.last().map(|s| s.start + s.len).unwrap_or(0.0);
        Schedule {
            segments,
            total: (n - 1e-9).ceil().max(0.0) as u64,
            duration: Duration::from_secs_f64(end),
        }
    }

    /// How many requests the run sends.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The intended rate (requests per second) at `t` seconds into the run.
    pub fn rate_at(&self, t: f64) -> f64 {
        self.segments
            .iter()
            .find(|s| t >= s.start && t < s.start + s.len)
            .map(|s| s.rate_at(t))
            .unwrap_or(0.0)
    }

    /// When request `n` is due, from the start of the run; `None` past the last request.
    pub fn due(&self, n: u64) -> Option<Duration> {
        Cursor::default().due(self, n)
    }
}

/// Looks up due times for non-decreasing request numbers without searching from the start
/// (amortised O(1) per lookup).
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    index: usize,
}

impl Cursor {
    /// When request `n` of `schedule` is due. Request numbers must not decrease between calls.
    pub fn due(&mut self, schedule: &Schedule, n: u64) -> Option<Duration> {
        if n >= schedule.total {
            return None;
        }
        let nf = n as f64;
        let segments = &schedule.segments;
        while self.index + 1 < segments.len() {
            let s = &segments[self.index];
            if nf < s.n0 + s.count() {
                break;
            }
            self.index += 1;
        }
        let s = segments.get(self.index)?;
        let t = s.start + s.time_of(nf - s.n0);
        Some(Duration::from_secs_f64(t.max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(kind: StageKind, rate: Option<f64>, secs: u64) -> Stage {
        Stage {
            kind,
            rate,
            duration: Duration::from_secs(secs),
            line: 0,
        }
    }

    fn secs(d: Option<Duration>) -> f64 {
        d.unwrap().as_secs_f64()
    }

    #[test]
    fn a_constant_rate_spaces_requests_evenly() {
        let s = Schedule::constant(10.0, Duration::from_secs(2));
        assert_eq!(s.total(), 20);
        for n in 0..20 {
            assert!((secs(s.due(n)) - n as f64 / 10.0).abs() < 1e-9, "n={n}");
        }
        assert_eq!(s.due(20), None);
        assert_eq!(s.duration(), Duration::from_secs(2));
    }

    #[test]
    fn a_fractional_count_rounds_up_and_stays_inside_the_run() {
        let s = Schedule::constant(3.0, Duration::from_millis(500));
        assert_eq!(s.total(), 2); // due at 0 and 1/3 s; the third would be at 2/3 s
        assert!(secs(s.due(1)) < 0.5);
    }

    #[test]
    fn a_ramp_from_zero_accelerates() {
        // 0 → 100/s over 10 s: N(t) = 5·t², 500 requests in all.
        let s = Schedule::from_stages(0.0, &[stage(StageKind::Ramp, Some(100.0), 10)], None);
        assert_eq!(s.total(), 500);
        assert_eq!(secs(s.due(0)), 0.0);
        assert!((secs(s.due(5)) - 1.0).abs() < 1e-9);
        assert!((secs(s.due(125)) - 5.0).abs() < 1e-9);
        assert!(secs(s.due(499)) < 10.0);
        let gaps: Vec<f64> = (1..500)
            .map(|n| secs(s.due(n)) - secs(s.due(n - 1)))
            .collect();
        assert!(gaps.windows(2).all(|w| w[1] <= w[0] + 1e-12), "gaps shrink");
        assert!((s.rate_at(5.0) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_down_decelerates_to_its_end() {
        let s = Schedule::from_stages(100.0, &[stage(StageKind::Ramp, Some(0.0), 10)], None);
        assert_eq!(s.total(), 500);
        // N(t) = 100t − 5t²: N(5) = 375.
        assert!((secs(s.due(375)) - 5.0).abs() < 1e-9);
        assert!(secs(s.due(499)) <= 10.0);
    }

    #[test]
    fn hold_keeps_and_spike_returns_to_the_current_rate() {
        let stages = [
            stage(StageKind::Ramp, Some(10.0), 2),   // 10 requests
            stage(StageKind::Hold, None, 1),         // 10
            stage(StageKind::Spike, Some(100.0), 1), // 100
            stage(StageKind::Hold, None, 1),         // 10 again
        ];
        let s = Schedule::from_stages(0.0, &stages, None);
        assert_eq!(s.total(), 130);
        assert_eq!(s.duration(), Duration::from_secs(5));
        assert!((secs(s.due(20)) - 3.0).abs() < 1e-9, "spike starts at 3 s");
        assert!((secs(s.due(120)) - 4.0).abs() < 1e-9, "spike ends at 4 s");
        assert!((s.rate_at(4.5) - 10.0).abs() < 1e-9);
        assert_eq!(s.rate_at(5.5), 0.0);
    }

    #[test]
    fn a_duration_cuts_the_stages_or_holds_the_last_rate() {
        let ramp = [stage(StageKind::Ramp, Some(100.0), 10)];
        let cut = Schedule::from_stages(0.0, &ramp, Some(Duration::from_secs(5)));
        assert_eq!(cut.total(), 125);
        assert_eq!(cut.duration(), Duration::from_secs(5));
        let longer = Schedule::from_stages(0.0, &ramp, Some(Duration::from_secs(12)));
        assert_eq!(longer.total(), 700);
    }

    #[test]
    fn zero_rate_stages_send_nothing_but_take_time() {
        let stages = [
            stage(StageKind::Hold, Some(0.0), 2),
            stage(StageKind::Hold, Some(4.0), 1),
        ];
        let s = Schedule::from_stages(0.0, &stages, None);
        assert_eq!(s.total(), 4);
        assert!((secs(s.due(0)) - 2.0).abs() < 1e-9);
        assert!((secs(s.due(3)) - 2.75).abs() < 1e-9);
    }

    #[test]
    fn the_cursor_agrees_with_fresh_lookups_and_due_times_never_decrease() {
        let stages = [
            stage(StageKind::Ramp, Some(37.0), 3),
            stage(StageKind::Spike, Some(250.0), 1),
            stage(StageKind::Ramp, Some(5.0), 4),
        ];
        let s = Schedule::from_stages(3.0, &stages, None);
        let mut cursor = Cursor::default();
        let mut last = Duration::ZERO;
        for n in 0..s.total() {
            let d = cursor.due(&s, n).unwrap();
            assert_eq!(Some(d), s.due(n));
            assert!(d >= last && d <= s.duration(), "n={n}: {d:?}");
            last = d;
        }
        assert_eq!(cursor.due(&s, s.total()), None);
    }
}
