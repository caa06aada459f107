//! Per-thread probes, opened by each worker on its own thread before the start
//! barrier: minor faults (counting), major faults (counting + a ring buffer that lets
//! the worker attribute faults to operations), tlb:tlb_flush by reason, and the
//! thread's id for its CPU times.

use super::tlb::TlbTracepoint;
use super::CounterId;
use crate::sys::perf::{FaultRing, PerfCounter};
use perf_event_open_sys::bindings as pb;

/// What each worker should open; the reasons a probe is unavailable are decided once.
#[derive(Debug, Clone, Default)]
pub struct ThreadProbeConfig {
    pub faults: bool,
    pub tlb: Option<TlbTracepoint>,
}

pub struct ThreadProbes {
    pub tid: i32,
    pub minor: Result<PerfCounter, String>,
    pub major: Result<FaultRing, String>,
    /// (reason name, counter) per tlb_flush reason; Err when unavailable.
    pub tlb: Result<Vec<(String, PerfCounter)>, String>,
    final_cpu: std::sync::OnceLock<(u64, u64)>,
}

impl ThreadProbes {
    /// Open the counters for the calling thread.
    pub fn open(cfg: &ThreadProbeConfig) -> ThreadProbes {
        let tid = crate::sys::gettid();
        let (minor, major) = if cfg.faults {
            (
                PerfCounter::software(pb::PERF_COUNT_SW_PAGE_FAULTS_MIN as u64)
                    .map_err(|e| format!("perf_event_open(page-faults-min) failed: {e}")),
                FaultRing::major_faults()
                    .map_err(|e| format!("perf_event_open(major-faults, sampling) failed: {e}")),
            )
        } else {
            let r = "fault counting is off".to_string();
            (Err(r.clone()), Err(r))
        };
        let tlb = match &cfg.tlb {
            None => Err("tlb:tlb_flush is unavailable".to_string()),
            Some(tp) => tp
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
                Ok(ring) => match (major, ring.count()) {
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
