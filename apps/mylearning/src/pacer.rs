//! Grading paced to a CPU allowance.
//!
//! updraft holds an instance to its instance type's CPU allowance with a cgroup quota. Where the
//! host cannot create cgroups (a container whose `/sys/fs/cgroup` is read-only), an instance
//! would grade as fast as the whole machine allows, and adding instances would add no capacity.
//! `MYLEARNING_CPU_MILLICORES=N` (set in the launch template's user data: 160 for a t3.micro at
//! updraft's default 80 millicores per vCPU) makes the instance enforce the same allowance
//! itself, as a CFS quota would on average: submissions are graded one at a time, and each keeps the grading lane for
//! its CPU time × 1000 / N, so the instance never burns more than N millicores on grading and
//! queues the rest. Off by default.

use std::time::Duration;

use nix::time::{ClockId, clock_gettime};
use tokio::sync::Mutex;
use tokio::task::JoinError;

pub struct Pacer {
    millicores: u32,
    lane: Mutex<()>,
}

impl Pacer {
    /// From `MYLEARNING_CPU_MILLICORES`: absent or empty is off; otherwise 1–100000.
    pub fn from_env(value: Option<&str>) -> Result<Option<Pacer>, String> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match v.parse::<u32>() {
            Ok(millicores @ 1..=100_000) => Ok(Some(Pacer {
                millicores,
                lane: Mutex::new(()),
            })),
            _ => Err(format!(
                "MYLEARNING_CPU_MILLICORES={v} is not a CPU allowance: give millicores from 1 to \
                 100000 (e.g. 160 for a t3.micro at updraft's default 80 per vCPU), or unset it"
            )),
        }
    }

    pub fn millicores(&self) -> u32 {
        self.millicores
    }

    /// How long the lane is held for `cpu` of grading.
    pub fn hold(&self, cpu: Duration) -> Duration {
        cpu.mul_f64(1000.0 / f64::from(self.millicores))
    }

    /// Runs `f` on the blocking pool in the grading lane, then keeps the lane until the
    /// allowance has paid for the CPU `f` used.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, JoinError> {
        let _lane = self.lane.lock().await;
        let started = tokio::time::Instant::now();
        let (out, cpu) = tokio::task::spawn_blocking(move || {
            let before = thread_cpu();
            let out = f();
            (out, thread_cpu().saturating_sub(before))
        })
        .await?;
        tokio::time::sleep_until(started + self.hold(cpu)).await;
        Ok(out)
    }
}

/// CPU time of the calling thread (zero where the clock is not available).
fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowance_is_parsed_and_explained() {
        assert!(Pacer::from_env(None).unwrap().is_none());
        assert!(Pacer::from_env(Some(" ")).unwrap().is_none());
        assert_eq!(
            Pacer::from_env(Some("160")).unwrap().unwrap().millicores(),
            160
        );
        for bad in ["0", "-5", "1.5", "lots", "100001"] {
            let e = Pacer::from_env(Some(bad)).err().unwrap();
            assert!(
                e.contains("MYLEARNING_CPU_MILLICORES") && e.contains("unset"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_fraction_of_a_core_holds_the_lane_longer() {
        let p = Pacer::from_env(Some("250")).unwrap().unwrap();
        assert_eq!(p.hold(Duration::from_millis(10)), Duration::from_millis(40));
        let full = Pacer::from_env(Some("1000")).unwrap().unwrap();
        assert_eq!(
            full.hold(Duration::from_millis(10)),
            Duration::from_millis(10)
        );
    }

    #[tokio::test]
    async fn gradings_queue_behind_the_allowance() {
        let p = std::sync::Arc::new(Pacer::from_env(Some("100")).unwrap().unwrap());
        let burn = || {
            let mut x = 1u64;
            let before = thread_cpu();
            while thread_cpu().saturating_sub(before) < Duration::from_millis(5) {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            }
            x
        };
        let started = tokio::time::Instant::now();
        let (a, b) = tokio::join!(p.run(burn), p.run(burn));
        assert!(a.is_ok() && b.is_ok());
        // Two gradings of ≥ 5 ms CPU at a tenth of a core: ≥ 100 ms, one after the other.
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
