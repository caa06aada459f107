//! CPU time: of the measured threads (utime/stime from /proc/self/task/TID/stat, clock
//! ticks), and of the whole machine (/proc/stat), including the time the hypervisor
//! stole (`steal_ns`). Eviction and fault handling show up as system time.

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

#[cfg(test)]
mod tests {
    use super::parse;

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
