//! The timing floor: what the harness's own loop costs around an operation that does
//! nothing, in a given timing mode, measured on this machine right before a cell.

use super::{Driver, DriverConfig, Shared};
use crate::backend::{OpError, Worker};
use std::time::Instant;

/// Operations per calibration round, and rounds (the median round is kept).
const OPS: u64 = 100_000;
const ROUNDS: usize = 5;

/// The loop's cost per operation and the latency it records for an empty operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    /// CPU time per operation of the whole loop (offsets, timing, verification,
    /// recording) around an empty operation, ns (wall time where the thread's CPU time
    /// cannot be read). CPU time, so that a busy machine's preemptions do not count.
    pub overhead_ns: f64,
    /// Median latency recorded for an empty operation, ns.
    pub floor_ns: f64,
}

/// An operation that does nothing (its fold never matches, so verification does its
/// full work, as on a real read).
struct Empty;

impl Worker for Empty {
    #[inline]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        Ok(std::hint::black_box(offset))
    }
}

/// Run the driver loop of `cfg` (its pattern, verification and timing mode; no quota,
/// no fault ring) around an empty operation, `ROUNDS` times, and keep the median round.
pub fn measure(cfg: &DriverConfig) -> Floor {
    let mut rounds: Vec<Floor> = (0..ROUNDS).map(|_| round(cfg)).collect();
    rounds.sort_by(|a, b| a.overhead_ns.total_cmp(&b.overhead_ns));
    rounds[ROUNDS / 2]
}

fn round(cfg: &DriverConfig) -> Floor {
    let shared = Shared::new(1);
    shared.start_measuring();
    let mut drv = Driver::new(
        &shared,
        0,
        DriverConfig {
            pattern: cfg.pattern,
            nblocks: cfg.nblocks,
            block: cfg.block,
            seed: cfg.seed ^ 0x5eed,
            verify_tag: cfg.verify_tag,
            quota: Some(OPS),
            fault_ring: None,
            timing: cfg.timing,
            clock: cfg.clock.clone(),
        },
    );
    let cpu0 = crate::sys::thread_cpu_ns();
    let t0 = Instant::now();
    let _ = drv.run_sync(&mut Empty);
    let wall = t0.elapsed().as_nanos() as f64;
    let ns = match (cpu0, crate::sys::thread_cpu_ns()) {
        (Ok(a), Ok(b)) if b > a => (b - a) as f64,
        _ => wall,
    };
    Floor {
        overhead_ns: ns / drv.ops.max(1) as f64,
        floor_ns: drv.hist.value_at_quantile(0.5) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Pattern;
    use crate::timing::{Clock, TimingMode};

    fn cfg(timing: TimingMode) -> DriverConfig<'static> {
        DriverConfig {
            pattern: &Pattern::Random,
            nblocks: 4096,
            block: 4096,
            seed: 7,
            verify_tag: Some(1),
            quota: None,
            fault_ring: None,
            timing,
            clock: Clock::get(),
        }
    }

    #[test]
    fn every_mode_records_a_floor_and_sampling_costs_less_per_op() {
        let every = measure(&cfg(TimingMode::Every));
        assert!(
            every.overhead_ns > 0.0 && every.floor_ns >= 1.0,
            "{every:?}"
        );
        // The loop cannot record latencies longer than its whole cost per operation
        // by much (the median of an empty operation is a part of that cost).
        assert!(every.floor_ns < every.overhead_ns * 20.0, "{every:?}");
        let batch = measure(&cfg(TimingMode::Batch(64)));
        assert!(
            batch.floor_ns <= every.floor_ns.max(2.0) * 4.0,
            "{batch:?} vs {every:?}"
        );
    }
}
