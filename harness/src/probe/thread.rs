//! Per-thread probes, opened by each worker on its own thread before the start
//! barrier: minor and major faults (counting; `thread_counters`), the fault ring that
//! lets the worker attribute one major fault in N to its operation
//! (`fault_attribution`, `fault_sample_period`), tlb:tlb_flush by reason
//! (`tlb_tracepoint`), and the thread's id for its CPU times.

use super::tlb::TlbTracepoint;
use super::CounterId;
use crate::sys::perf::{FaultRing, PerfCounter};
use perf_event_open_sys::bindings as pb;

/// The default of `fault_sample_period`: one major fault in 64 is attributed to its
/// operation (its measured cost is in docs/results-and-probes.md).
pub const DEFAULT_FAULT_SAMPLE_PERIOD: u64 = 64;

/// The note a cell with fault attribution carries: how its fault counters were made.
pub fn attribution_note(period: u64) -> String {
    if period <= 1 {
        "fault attribution: every major fault sampled (fault_sample_period = 1): fault_ops, stall_ns and fault_histogram are exact; this costs ~15% of a fault-bound cell's throughput".to_string()
    } else {
        format!("fault attribution: one major fault in {period} sampled (fault_sample_period = {period}): fault_histogram holds the sampled faulting operations; fault_ops (= {period} x the sampled ones, at most the operations) and stall_ns (their mean latency x fault_ops) are estimates; major_faults is exact")
    }
}

/// What each worker should open; the reasons a probe is unavailable are decided once.
#[derive(Debug, Clone)]
pub struct ThreadProbeConfig {
    /// Count minor and major faults (counting perf events: no cost measured).
    pub faults: bool,
    /// Sample one major fault in N into a ring for per-operation attribution.
    pub attribution: Option<u64>,
    /// The tlb:tlb_flush tracepoint, or why it is not counted (unavailable here, or
    /// turned off).
    pub tlb: Result<TlbTracepoint, String>,
}

impl Default for ThreadProbeConfig {
    fn default() -> ThreadProbeConfig {
        ThreadProbeConfig {
            faults: false,
            attribution: None,
            tlb: Err("tlb:tlb_flush is unavailable".to_string()),
        }
    }
}

/// Where the major-fault count comes from: the fault ring's own event (exact count,
/// when attributing) or a counting event.
pub enum Major {
    Ring(FaultRing),
    Count(PerfCounter),
}

impl Major {
    pub fn count(&self) -> std::io::Result<u64> {
        match self {
            Major::Ring(r) => r.count(),
            Major::Count(c) => c.read(),
        }
    }
}

pub struct ThreadProbes {
    pub tid: i32,
    pub minor: Result<PerfCounter, String>,
    pub major: Result<Major, String>,
    /// (reason name, counter) per tlb_flush reason; Err when unavailable.
    pub tlb: Result<Vec<(String, PerfCounter)>, String>,
    final_cpu: std::sync::OnceLock<(u64, u64)>,
}

impl ThreadProbes {
    /// Open the counters for the calling thread.
    pub fn open(cfg: &ThreadProbeConfig) -> ThreadProbes {
        let tid = crate::sys::gettid();
        let off = "per-thread fault counters are off (thread_counters = false)".to_string();
        let minor = if cfg.faults {
            PerfCounter::software(pb::PERF_COUNT_SW_PAGE_FAULTS_MIN as u64)
                .map_err(|e| format!("perf_event_open(page-faults-min) failed: {e}"))
        } else {
            Err(off.clone())
        };
        let major = match cfg.attribution {
            Some(period) => FaultRing::major_faults(period)
                .map(Major::Ring)
                .map_err(|e| format!("perf_event_open(major-faults, sampling) failed: {e}")),
            None if cfg.faults => PerfCounter::software(pb::PERF_COUNT_SW_PAGE_FAULTS_MAJ as u64)
                .map(Major::Count)
                .map_err(|e| format!("perf_event_open(major-faults) failed: {e}")),
            None => Err(off),
        };
        let tlb = match &cfg.tlb {
            Err(e) => Err(e.clone()),
            Ok(tp) => tp
                .reasons
                .iter()
                .map(|(v, name)| {
                    PerfCounter::tracepoint(tp.id, Some(&format!("reason == {v}")))
                        .map(|c| (name.clone(), c))
                        .map_err(|e| format!("perf_event_open(tlb:tlb_flush) failed: {e}"))
                })
                .collect(),
        };
        ThreadProbes {
            tid,
            minor,
            major,
            tlb,
            final_cpu: std::sync::OnceLock::new(),
        }
    }
}

impl ThreadProbes {
    /// The fault ring, when this thread attributes faults.
    pub fn ring(&self) -> Option<&FaultRing> {
        match &self.major {
            Ok(Major::Ring(r)) => Some(r),
            _ => None,
        }
    }

    /// (utime, stime) clock ticks of this thread: read live from /proc, or the values
    /// the thread stored when it finished (its /proc entry is gone after it exits).
    pub fn cpu_ticks(&self) -> Result<(u64, u64), String> {
        if let Some(v) = self.final_cpu.get() {
            return Ok(*v);
        }
        read_cpu_ticks(self.tid)
    }

    /// Called by the worker itself just before it exits.
    pub fn freeze_cpu(&self) {
        if let Ok(v) = read_cpu_ticks(self.tid) {
            let _ = self.final_cpu.set(v);
        }
    }
}

fn read_cpu_ticks(tid: i32) -> Result<(u64, u64), String> {
    let p = format!("/proc/self/task/{tid}/stat");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("cannot read {p}: {e}"))?;
    super::parse::parse_task_stat_times(&text)
}

/// Faults and tlb:tlb_flush of the measured threads, summed.
pub struct ThreadCounters;

impl super::Probe for ThreadCounters {
    fn read(&self, t: &super::ThreadSet, c: &mut super::Counters, r: &mut super::Reasons) {
        if t.is_empty() {
            for f in [
                CounterId::MinorFaults,
                CounterId::MajorFaults,
                CounterId::TlbFlushProcess,
            ] {
                r.set(f, "no measured threads");
            }
            return;
        }
        let mut minor = Some(0u64);
        let mut major = Some(0u64);
        let mut tlb: Option<std::collections::BTreeMap<String, u64>> = Some(Default::default());
        for th in t {
            match &th.minor {
                Ok(cnt) => match (minor, cnt.read()) {
                    (Some(m), Ok(v)) => minor = Some(m + v),
                    (_, Err(e)) => {
                        minor = None;
                        r.set(
                            CounterId::MinorFaults,
                            format!("reading the perf counter failed: {e}"),
                        );
                    }
                    (None, _) => {}
                },
                Err(e) => {
                    minor = None;
                    r.set(CounterId::MinorFaults, e.clone());
                }
            }
            match &th.major {
                Ok(m) => match (major, m.count()) {
                    (Some(m), Ok(v)) => major = Some(m + v),
                    (_, Err(e)) => {
                        major = None;
                        r.set(
                            CounterId::MajorFaults,
                            format!("reading the perf counter failed: {e}"),
                        );
                    }
                    (None, _) => {}
                },
                Err(e) => {
                    major = None;
                    r.set(CounterId::MajorFaults, e.clone());
                }
            }
            match &th.tlb {
                Ok(list) => {
                    if let Some(map) = tlb.as_mut() {
                        for (name, cnt) in list {
                            match cnt.read() {
                                Ok(v) => *map.entry(name.clone()).or_insert(0) += v,
                                Err(e) => {
                                    r.set(
                                        CounterId::TlbFlushProcess,
                                        format!("reading tlb:tlb_flush failed: {e}"),
                                    );
                                    tlb = None;
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tlb = None;
                    r.set(CounterId::TlbFlushProcess, e.clone());
                }
            }
        }
        c.minor_faults = minor;
        c.major_faults = major;
        c.tlb_flush_process = tlb;
    }
}
