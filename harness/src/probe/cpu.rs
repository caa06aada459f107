//! CPU time: of the measured threads (utime/stime from /proc/self/task/TID/stat, clock
//! ticks), of the whole measuring process (/proc/self/stat: also its io_uring workers
//! and sampler), and of the whole machine (/proc/stat), including the time the
//! hypervisor stole (`steal_ns`). Eviction and fault handling show up as system time.

use super::{parse, CounterId, Counters, Probe, Reasons, ThreadSet};

pub struct Cpu {
    pub hz: u64,
}

impl Probe for Cpu {
    fn read(&self, t: &ThreadSet, c: &mut Counters, r: &mut Reasons) {
        let ns = |ticks: u64| parse::ticks_to_ns(ticks, self.hz);
        let mut user = 0u64;
        let mut sys = 0u64;
        let mut ok = !t.is_empty();
        for th in t {
            match th.cpu_ticks() {
                Ok((u, s)) => {
                    user += u;
                    sys += s;
                }
                Err(e) => {
                    r.set(CounterId::CpuUserNs, e.clone());
                    r.set(CounterId::CpuSystemNs, e);
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            c.cpu_user_ns = ns(user);
            c.cpu_system_ns = ns(sys);
        } else if t.is_empty() {
            r.set(CounterId::CpuUserNs, "no measured threads");
            r.set(CounterId::CpuSystemNs, "no measured threads");
        }
        match std::fs::read_to_string("/proc/self/stat")
            .map_err(|e| format!("cannot read /proc/self/stat: {e}"))
            .and_then(|s| parse::parse_task_stat_times(&s))
        {
            Ok((u, s)) => c.process_cpu_ns = ns(u.saturating_add(s)),
            Err(e) => r.set(CounterId::ProcessCpuNs, e),
        }
        match std::fs::read_to_string("/proc/stat")
            .map_err(|e| e.to_string())
            .and_then(|s| parse::parse_proc_stat_cpu(&s))
        {
            Ok(m) => {
                c.machine_cpu_user_ns = ns(m.user + m.nice);
                c.machine_cpu_system_ns = ns(m.system + m.irq + m.softirq);
                c.machine_cpu_idle_ns = ns(m.idle);
                c.machine_cpu_iowait_ns = ns(m.iowait);
                c.steal_ns = ns(m.steal);
            }
            Err(e) => {
                for f in [
                    CounterId::MachineCpuUserNs,
                    CounterId::MachineCpuSystemNs,
                    CounterId::MachineCpuIdleNs,
                    CounterId::MachineCpuIowaitNs,
                    CounterId::StealNs,
                ] {
                    r.set(f, format!("cannot read /proc/stat: {e}"));
                }
            }
        }
    }
}

/// How `busy_note`'s note begins (the summary table finds it by that).
pub const BUSY_NOTE: &str = "busy machine:";

/// A note when something outside the measuring process kept the machine's CPUs busy
/// during the measured phase, or the hypervisor stole time from them: the figures may
/// then be lower than on a quiet machine. "Outside" is the machine's user + system time
/// (/proc/stat) less the process's (its measured threads, io_uring workers and sampler;
/// the measured threads' alone when /proc/self/stat was not read) and kswapd's (reclaim
/// done for the run); what is left is other processes and kernel threads working for
/// them or for the run (interrupts, the flusher). Noted from a quarter
/// of one CPU on average (or steal of a tenth of the elapsed time); None when the CPU
/// counters were not read. The note begins with `BUSY_NOTE`.
pub fn busy_note(c: &Counters, elapsed_ns: u64) -> Option<String> {
    if elapsed_ns == 0 {
        return None;
    }
    let machine = c.machine_cpu_user_ns? + c.machine_cpu_system_ns?;
    // The process's other threads (io_uring workers doing the backend's I/O) are the
    // run's own work, not another load.
    let threads = c.cpu_user_ns? + c.cpu_system_ns?;
    let own = threads.max(c.process_cpu_ns.unwrap_or(0)) + c.kswapd_cpu_ns.unwrap_or(0);
    let others = machine.saturating_sub(own);
    let steal = c.steal_ns.unwrap_or(0);
    let secs = |ns: u64| ns as f64 / 1e9;
    let busy = others > elapsed_ns / 4;
    let stolen = steal > elapsed_ns / 10;
    if !busy && !stolen {
        return None;
    }
    Some(format!(
        "{BUSY_NOTE} in the {:.1} s measured, work outside the measuring process{} used \
         {:.2} s of CPU ({:.2} CPUs on average) and the hypervisor stole {:.2} s; when that \
         is another load, it competed with this measurement and the figures may be lower \
         than on a quiet machine (rerun with nothing else running to check)",
        secs(elapsed_ns),
        if c.kswapd_cpu_ns.is_some() {
            " and kswapd"
        } else {
            ""
        },
        secs(others),
        others as f64 / elapsed_ns as f64,
        secs(steal),
    ))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use super::{busy_note, Counters};

    fn counters(machine: u64, own: u64, steal: u64) -> Counters {
        Counters {
            machine_cpu_user_ns: Some(machine / 2),
            machine_cpu_system_ns: Some(machine - machine / 2),
            cpu_user_ns: Some(own / 4),
            cpu_system_ns: Some(own - own / 4),
            kswapd_cpu_ns: Some(0),
            steal_ns: Some(steal),
            ..Default::default()
        }
    }

    #[test]
    fn busy_note_only_when_others_used_the_cpus() {
        let s = 1_000_000_000;
        // 2 s measured; the measured threads used 3.9 of 4 CPU-seconds: quiet.
        assert_eq!(busy_note(&counters(4 * s, 39 * s / 10, 0), 2 * s), None);
        // The sweep cell of a loaded machine: 3.89 s machine-wide, 0.29 s measured.
        let n = busy_note(&counters(389 * s / 100, 29 * s / 100, 18 * s / 100), 2 * s)
            .expect("a busy machine is noted");
        assert!(n.contains("3.60 s of CPU (1.80 CPUs on average)"), "{n}");
        assert!(n.contains("stole 0.18 s"), "{n}");
        // Steal alone is enough.
        assert!(busy_note(&counters(2 * s, 2 * s, s / 2), 2 * s).is_some());
        // Unread counters: no judgement.
        let mut c = counters(4 * s, s, 0);
        c.machine_cpu_user_ns = None;
        assert_eq!(busy_note(&c, 2 * s), None);
        assert_eq!(busy_note(&Counters::default(), 2 * s), None);
        // The process's io_uring workers did 1.5 s of the 2 s outside the measured
        // threads (a buffered io_uring cell): the run's own work, not a busy machine.
        let mut c = counters(4 * s, 2 * s, 0);
        c.process_cpu_ns = Some(35 * s / 10);
        assert_eq!(busy_note(&c, 2 * s), None);
        c.process_cpu_ns = None;
        assert!(
            busy_note(&c, 2 * s).is_some(),
            "without it, they count as others"
        );
    }

    #[test]
    fn steal_from_a_busy_vm() {
        // Captured on the development VM while other builders shared its host.
        let t = include_str!("testdata/stat-vm-steal.txt");
        let m = parse::parse_proc_stat_cpu(t).unwrap();
        assert_eq!(m.steal, 55642);
        // USER_HZ ticks (100 per second here) to ns.
        assert_eq!(parse::ticks_to_ns(m.steal, 100), Some(556_420_000_000));
    }
}
