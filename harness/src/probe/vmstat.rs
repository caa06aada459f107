//! /proc/vmstat: major faults, reclaim scanning and stealing, refaults, THP events, and
//! the direct-reclaim entries (`allocstall`) (system-wide).

use super::{parse, CounterId, Counters, Probe, Reasons, ThreadSet};

pub struct Vmstat;

impl Probe for Vmstat {
    fn read(&self, _t: &ThreadSet, c: &mut Counters, r: &mut Reasons) {
        match std::fs::read_to_string("/proc/vmstat") {
            Ok(t) => {
                let all = parse::parse_vmstat(&t);
                c.vmstat = Some(parse::vmstat_selected(&all));
                match parse::vmstat_allocstall(&all) {
                    Some(v) => c.allocstall = Some(v),
                    None => r.set(
                        CounterId::Allocstall,
                        "/proc/vmstat has no allocstall_* (or allocstall) field",
                    ),
                }
            }
            Err(e) => {
                r.set(CounterId::Vmstat, format!("cannot read /proc/vmstat: {e}"));
                r.set(
                    CounterId::Allocstall,
                    format!("cannot read /proc/vmstat: {e}"),
                );
            }
        }
    }
}
