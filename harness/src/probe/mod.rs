//! Kernel and device probes. Each probe samples its source at the start of the measured
//! phase, at every interval and at the end (cumulative readings); the runner turns
//! readings into per-interval and total deltas. A probe that cannot read its source
//! leaves its counters null and says why in `Reasons` — never a fake zero.
//!
//! One file per probe: `thread` (page faults and tlb:tlb_flush of the measured threads,
//! opened by each worker), `shootdowns` (/proc/interrupts), `disk` (sysfs block stats of
//! the physical disks behind the file), `vmstat`, `memory` (page cache, cgroup, huge
//! pages), `cpu` (threads and machine, steal), `balloon` (free page reporting),
//! `kswapd` (CPU time of the kswapd threads).
//! `parse` and `device` hold the pure parsers.

pub mod balloon;
pub mod counters;
pub mod cpu;
pub mod device;
pub mod dirty_throttle;
pub mod disk;
pub mod kswapd;
pub mod memory;
pub mod pageflags;
pub mod parse;
pub mod reasons;
pub mod shootdowns;
pub mod thread;
pub mod tlb;
pub mod vmstat;
pub mod writeback;

pub use counters::{CounterId, CounterValue, Counters};
pub use reasons::{ReasonKey, Reasons};
use std::collections::BTreeMap;
use std::sync::Arc;
pub use thread::{ThreadProbeConfig, ThreadProbes};

/// The measured threads' own probes.
pub type ThreadSet = [Arc<ThreadProbes>];

pub trait Probe: Sync {
    /// Add this probe's cumulative readings to `c`, or say in `r` why it cannot.
    fn read(&self, threads: &ThreadSet, c: &mut Counters, r: &mut Reasons);
}

/// Every probe of a run, decided once per cell.
pub struct ProbeSet {
    probes: Vec<Box<dyn Probe>>,
    /// What each worker opens for itself.
    pub thread_cfg: ThreadProbeConfig,
    /// Reasons known before any reading (e.g. tracefs unavailable).
    pub static_reasons: Reasons,
    /// memory.stat of the run's cgroup, when there is one (write cells read its dirty
    /// and writeback bytes).
    pub cgroup_stat: Option<(std::path::PathBuf, parse::CgroupVersion)>,
    /// The writeback:balance_dirty_pages trace of the run (write cells drain it), or
    /// why there is none.
    pub throttle: Result<std::sync::Mutex<dirty_throttle::ThrottleTrace>, String>,
}

impl ProbeSet {
    pub fn new(
        target: &[&std::path::Path],
        cgroup_stat: Option<(std::path::PathBuf, parse::CgroupVersion)>,
        tlb: Result<tlb::TlbTracepoint, String>,
        faults: bool,
    ) -> ProbeSet {
        let mut static_reasons = Reasons::default();
        if let Err(e) = &tlb {
            static_reasons.set(CounterId::TlbFlushProcess, e.clone());
        }
        ProbeSet {
            cgroup_stat: cgroup_stat.clone(),
            throttle: Err("the run did not set up the writeback:balance_dirty_pages trace".into()),
            probes: vec![
                Box::new(thread::ThreadCounters),
                Box::new(shootdowns::Shootdowns),
                Box::new(disk::Disk::new(target)),
                Box::new(vmstat::Vmstat),
                Box::new(kswapd::Kswapd::find()),
                Box::new(memory::Memory { cgroup_stat }),
                Box::new(cpu::Cpu {
                    hz: crate::sys::clock_ticks_per_sec(),
                }),
                Box::new(balloon::Balloon),
            ],
            thread_cfg: ThreadProbeConfig {
                faults,
                attribution: faults.then_some(thread::DEFAULT_FAULT_SAMPLE_PERIOD),
                tlb,
            },
            static_reasons,
        }
    }

    /// One cumulative reading of every probe.
    pub fn read(&self, threads: &ThreadSet) -> (Counters, Reasons) {
        let mut c = Counters::default();
        let mut r = self.static_reasons.clone();
        for p in &self.probes {
            p.read(threads, &mut c, &mut r);
        }
        (c, r)
    }
}

fn sub(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(b?.saturating_sub(a?))
}

fn sub_map(
    a: &Option<BTreeMap<String, u64>>,
    b: &Option<BTreeMap<String, u64>>,
) -> Option<BTreeMap<String, u64>> {
    let (a, b) = (a.as_ref()?, b.as_ref()?);
    Some(
        b.iter()
            .map(|(k, v)| (k.clone(), v.saturating_sub(a.get(k).copied().unwrap_or(0))))
            .collect(),
    )
}

/// Counters over (prev, cur]: differences of cumulative counters, gauges as at `cur`.
/// `app_bytes` (what the application read in that span) gives the read amplification.
pub fn delta(prev: &Counters, cur: &Counters, app_bytes: u64) -> Counters {
    let device_read_bytes = sub(prev.device_read_bytes, cur.device_read_bytes);
    Counters {
        minor_faults: sub(prev.minor_faults, cur.minor_faults),
        major_faults: sub(prev.major_faults, cur.major_faults),
        fault_ops: sub(prev.fault_ops, cur.fault_ops),
        stall_ns: sub(prev.stall_ns, cur.stall_ns),
        tlb_shootdowns_system: sub(prev.tlb_shootdowns_system, cur.tlb_shootdowns_system),
        tlb_flush_process: sub_map(&prev.tlb_flush_process, &cur.tlb_flush_process),
        device_read_bytes,
        device_write_bytes: sub(prev.device_write_bytes, cur.device_write_bytes),
        device_read_ios: sub(prev.device_read_ios, cur.device_read_ios),
        device_busy_ns: sub(prev.device_busy_ns, cur.device_busy_ns),
        device_read_bytes_by_disk: sub_map(
            &prev.device_read_bytes_by_disk,
            &cur.device_read_bytes_by_disk,
        ),
        device_read_ios_by_disk: sub_map(
            &prev.device_read_ios_by_disk,
            &cur.device_read_ios_by_disk,
        ),
        read_amplification: match device_read_bytes {
            Some(d) if app_bytes > 0 => Some(d as f64 / app_bytes as f64),
            _ => None,
        },
        page_cache_bytes_end: cur.page_cache_bytes_end,
        cgroup_page_cache_bytes_end: cur.cgroup_page_cache_bytes_end,
        huge_page_bytes: cur.huge_page_bytes,
        cpu_user_ns: sub(prev.cpu_user_ns, cur.cpu_user_ns),
        cpu_system_ns: sub(prev.cpu_system_ns, cur.cpu_system_ns),
        process_cpu_ns: sub(prev.process_cpu_ns, cur.process_cpu_ns),
        machine_cpu_user_ns: sub(prev.machine_cpu_user_ns, cur.machine_cpu_user_ns),
        machine_cpu_system_ns: sub(prev.machine_cpu_system_ns, cur.machine_cpu_system_ns),
        machine_cpu_idle_ns: sub(prev.machine_cpu_idle_ns, cur.machine_cpu_idle_ns),
        machine_cpu_iowait_ns: sub(prev.machine_cpu_iowait_ns, cur.machine_cpu_iowait_ns),
        steal_ns: sub(prev.steal_ns, cur.steal_ns),
        balloon_reported_kib: sub(prev.balloon_reported_kib, cur.balloon_reported_kib),
        vmstat: sub_map(&prev.vmstat, &cur.vmstat),
        allocstall: sub(prev.allocstall, cur.allocstall),
        kswapd_cpu_ns: sub(prev.kswapd_cpu_ns, cur.kswapd_cpu_ns),
        cgroup_reclaim_pages: sub(prev.cgroup_reclaim_pages, cur.cgroup_reclaim_pages),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_subtracts_counters_keeps_gauges_and_nulls() {
        let a = Counters {
            major_faults: Some(10),
            minor_faults: None,
            device_read_bytes: Some(4096),
            page_cache_bytes_end: Some(100),
            vmstat: Some([("pgmajfault".to_string(), 5)].into()),
            ..Default::default()
        };
        let b = Counters {
            major_faults: Some(30),
            minor_faults: Some(7),
            device_read_bytes: Some(4096 + 8192),
            page_cache_bytes_end: Some(50),
            vmstat: Some(
                [
                    ("pgmajfault".to_string(), 9),
                    ("thp_fault_alloc".to_string(), 2),
                ]
                .into(),
            ),
            ..Default::default()
        };
        let d = delta(&a, &b, 4096);
        assert_eq!(d.major_faults, Some(20));
        assert_eq!(d.minor_faults, None, "null stays null, never 0");
        assert_eq!(d.device_read_bytes, Some(8192));
        assert_eq!(d.read_amplification, Some(2.0));
        assert_eq!(d.page_cache_bytes_end, Some(50));
        let v = d.vmstat.unwrap();
        assert_eq!(v["pgmajfault"], 4);
        assert_eq!(v["thp_fault_alloc"], 2);
        assert_eq!(delta(&a, &b, 0).read_amplification, None);
    }
}
