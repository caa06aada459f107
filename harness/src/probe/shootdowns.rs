//! System-wide TLB shootdown interrupts: the `TLB` row of /proc/interrupts, summed
//! over CPUs (x86; arm64 has no such row, and AMD INVLPGB flushes without IPIs).

use super::{parse, CounterId, Counters, Probe, Reasons, ThreadSet};

pub struct Shootdowns;

impl Probe for Shootdowns {
    fn read(&self, _t: &ThreadSet, c: &mut Counters, r: &mut Reasons) {
        let field = CounterId::TlbShootdownsSystem;
        match std::fs::read_to_string("/proc/interrupts") {
            Err(e) => r.set(field, format!("cannot read /proc/interrupts: {e}")),
            Ok(text) => match parse::interrupts_tlb_total(&text) {
                Ok(Some(n)) => c.tlb_shootdowns_system = Some(n),
                Ok(None) => r.set(
                    field,
                    "/proc/interrupts has no TLB row on this architecture/kernel (arm64 has none)",
                ),
                Err(e) => r.set(field, format!("cannot parse /proc/interrupts: {e}")),
            },
        }
    }
}
