//! /proc/vmstat: major faults, reclaim scanning and stealing, refaults, THP events
//! (system-wide).

use super::{parse, CounterId, Counters, Probe, Reasons, ThreadSet};

pub struct Vmstat;

impl Probe for Vmstat {
    fn read(&self, _t: &ThreadSet, c: &mut Counters, r: &mut Reasons) {
        match std::fs::read_to_string("/proc/vmstat") {
            Ok(t) => c.vmstat = Some(parse::vmstat_selected(&parse::parse_vmstat(&t))),
            Err(e) => r.set(CounterId::Vmstat, format!("cannot read /proc/vmstat: {e}")),
        }
    }
}
