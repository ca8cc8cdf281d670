//! When an agent sends heartbeats: every interval (30 s by default) with ±10 % jitter so a
//! fleet started together does not beat in step, plus an early one when a GPU's free memory
//! moves by more than 1 GiB or 10 % of its size, at most one early beat per 5 s.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::protocol::Gpu;

/// Share of the interval a heartbeat may come early or late.
pub const JITTER: f64 = 0.1;
/// The shortest gap between two heartbeats that a VRAM change may cause.
pub const MIN_GAP: Duration = Duration::from_secs(5);
/// A free-VRAM move of more than this is news.
pub const VRAM_STEP_MB: u64 = 1024;
/// … or more than this share of the GPU's memory.
pub const VRAM_STEP_SHARE: f64 = 0.10;

/// `interval` moved by a random amount within ±[`JITTER`].
pub fn jittered(interval: Duration) -> Duration {
    // RandomState is seeded per process and per instance: enough randomness for jitter,
    // without a random-number crate.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let unit = (random % 20_001) as f64 / 10_000.0 - 1.0; // −1.0 ..= 1.0
    interval.mul_f64(1.0 + unit * JITTER)
}

/// Whether free VRAM changed enough since `before` to report it early. A GPU that appeared
/// or vanished always counts.
pub fn vram_moved(before: &[Gpu], after: &[Gpu]) -> bool {
    if before.len() != after.len() {
        return true;
    }
    before.iter().zip(after).any(|(b, a)| {
        if (b.vendor.as_str(), b.index) != (a.vendor.as_str(), a.index) {
            return true;
        }
        let step = b.vram_free_mb.abs_diff(a.vram_free_mb);
        step > VRAM_STEP_MB || step as f64 > a.vram_total_mb as f64 * VRAM_STEP_SHARE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(free: u64) -> Gpu {
        Gpu {
            index: 0,
            vendor: "nvidia".into(),
            name: "RTX".into(),
            uuid: None,
            vram_total_mb: 24576,
            vram_free_mb: free,
            utilization_percent: None,
            source: "nvml".into(),
        }
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let interval = Duration::from_secs(30);
        let samples: Vec<Duration> = (0..200).map(|_| jittered(interval)).collect();
        assert!(
            samples
                .iter()
                .all(|d| *d >= Duration::from_secs(27) && *d <= Duration::from_secs(33))
        );
        let distinct: std::collections::BTreeSet<_> = samples.iter().collect();
        assert!(distinct.len() > 100, "jitter must spread beats out");
    }

    #[test]
    fn only_a_real_vram_move_is_news() {
        assert!(
            !vram_moved(&[gpu(20000)], &[gpu(19500)]),
            "0.5 GiB is noise"
        );
        assert!(vram_moved(&[gpu(20000)], &[gpu(18900)]), "over 1 GiB");
        let mut small = gpu(1000);
        small.vram_total_mb = 4096;
        let mut after = small.clone();
        after.vram_free_mb = 500;
        assert!(vram_moved(&[small], &[after]), "over 10 % of a 4 GiB card");
        assert!(vram_moved(&[gpu(20000)], &[]), "a GPU vanished");
    }
}
