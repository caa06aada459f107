//! What one cell (one backend at one thread count and repeat) produced, before it
//! becomes a `BackendResult`: the types shared by the runner, external backends (fio),
//! the record, reports and charts.

use crate::probe::{Counters, Reasons};
use hdrhistogram::Histogram;

/// Highest latency the histograms hold (1 hour); longer samples are clamped to it.
pub const HIST_MAX_NS: u64 = 3_600_000_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("static histogram bounds are valid")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Ok,
    Skipped,
    Failed,
}

/// One sampling interval: deltas over (t_ns - previous t_ns].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// End of the interval, ns since the measured phase began.
    pub t_ns: u64,
    pub ops: u64,
    pub bytes: u64,
    /// The latencies the worker threads recorded in this interval (HdrHistogram V2,
    /// base64, as the cell's `histogram`): the same operations as the cell's histogram
    /// (the sampled ones under `timing = sample:N`), filed by interval; the intervals'
    /// histograms add up to the cell's exactly. Null where the harness did not time the
    /// operations itself (an external tool) and in results made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
    /// Probe counters over this interval (deltas; gauges at its end).
    #[serde(flatten)]
    pub counters: crate::probe::Counters,
}

/// What one cell produced.
#[derive(Default)]
pub struct Outcome {
    pub status: Status,
    pub reason: Option<String>,
    pub notes: Vec<String>,
    pub threads: usize,
    pub queue_depth: u32,
    pub ops: u64,
    pub elapsed_ns: u64,
    pub hist: Option<Histogram<u64>>,
    pub timeseries: Vec<Interval>,
    pub verify_errors: u64,
    pub interrupted: bool,
    /// Time to open the backend (before the measured phase), ns.
    pub setup_ns: u64,
    /// Probe counters over the measured phase.
    pub counters: Counters,
    pub reasons: Reasons,
    /// Latencies of the operations that took a major fault.
    pub fault_hist: Option<Histogram<u64>>,
    /// How the operations were timed (None: the harness did not time them).
    pub timing: Option<crate::timing::TimingRecord>,
    /// Write and mix workloads: what was written, synced and read back.
    pub writes: Option<super::writes::WriteResult>,
    /// Failed operations counted under on_error = continue, the first few of them, and
    /// the latencies of the timed ones.
    pub io_errors: u64,
    pub io_error_samples: Vec<crate::driver::errors::IoErrorSample>,
    pub error_hist: Option<Histogram<u64>>,
    /// With a page-cache limit: the reclaim regime check (set by the runner).
    pub regime: Option<super::regime::RegimeCheck>,
    /// When the measured phase began (wall clock); None where not recorded.
    pub measure_start: Option<std::time::SystemTime>,
}

impl Outcome {
    /// A cell that measured nothing: skipped or failed before it started.
    pub fn not_run(status: Status, reason: String, threads: usize) -> Outcome {
        Outcome {
            status,
            reason: Some(reason),
            notes: Vec::new(),
            threads,
            queue_depth: 1,
            ops: 0,
            elapsed_ns: 0,
            hist: None,
            timeseries: Vec::new(),
            verify_errors: 0,
            interrupted: false,
            setup_ns: 0,
            counters: Counters::default(),
            reasons: Reasons::default(),
            fault_hist: None,
            timing: None,
            writes: None,
            io_errors: 0,
            io_error_samples: Vec::new(),
            error_hist: None,
            regime: None,
            measure_start: None,
        }
    }
}
