//! CPU time of the kswapd threads (one per NUMA node, `kswapdN`): how much background
//! reclaim the machine did. The threads are found once (they live as long as the
//! kernel); each reading sums utime + stime of /proc/<pid>/stat over all of them.

use super::{parse, CounterId, Counters, Probe, Reasons, ThreadSet};

pub struct Kswapd {
    /// The kswapd pids, or why none was found.
    pids: Result<Vec<u32>, String>,
    hz: u64,
}

impl Kswapd {
    /// Find the kswapd threads in /proc.
    pub fn find() -> Kswapd {
        Kswapd {
            pids: find_pids(),
            hz: crate::sys::clock_ticks_per_sec(),
        }
    }
}

fn find_pids() -> Result<Vec<u32>, String> {
    let dir = std::fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
    let mut pids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| parse::is_kswapd_comm(&c))
        })
        .collect();
    pids.sort_unstable();
    if pids.is_empty() {
        return Err("no kswapd thread found in /proc (another PID namespace?)".into());
    }
    Ok(pids)
}

impl Probe for Kswapd {
    fn read(&self, _t: &ThreadSet, c: &mut Counters, r: &mut Reasons) {
        let pids = match &self.pids {
            Ok(p) => p,
            Err(e) => return r.set(CounterId::KswapdCpuNs, e.clone()),
        };
        let mut ticks = 0u64;
        for pid in pids {
            let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Ok(t) => t,
                Err(e) => {
                    return r.set(
                        CounterId::KswapdCpuNs,
                        format!("cannot read /proc/{pid}/stat (kswapd): {e}"),
                    )
                }
            };
            match parse::parse_task_stat_times(&stat) {
                Ok((u, s)) => ticks = ticks.saturating_add(u).saturating_add(s),
                Err(e) => return r.set(CounterId::KswapdCpuNs, format!("kswapd: {e}")),
            }
        }
        match parse::ticks_to_ns(ticks, self.hz) {
            Some(ns) => c.kswapd_cpu_ns = Some(ns),
            None => r.set(
                CounterId::KswapdCpuNs,
                "clock ticks per second unknown (sysconf(_SC_CLK_TCK) failed)",
            ),
        }
    }
}
