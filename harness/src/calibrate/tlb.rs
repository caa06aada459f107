//! tlb_shootdown: what it costs to take a permission away from a page that a thread
//! on another CPU has in its TLB. The main thread and a helper thread are pinned to two
//! different CPUs; the helper keeps reading the page; the main thread makes the page
//! read-only and writable again with mprotect, each call changing the PTE, so the
//! kernel flushes the helper CPU's TLB (an IPI on x86, unless the kernel skips the
//! flush for the upgrade: the IPIs per call say). The CPU time of one call is the cost
//! of a flush with its shootdown, as the initiator sees it. The IPIs the helper's CPU
//! received are counted from /proc/interrupts (TLB row) or, where
//! there is none, from the tlb:tlb_flush tracepoint of the helper thread.

use super::{CpuTimer, Options, Primitive, Stats};
use crate::probe::parse::interrupts_tlb_per_cpu;
use crate::sys::calibrate::{allowed_cpus, hypervisor, set_affinity, Region};
use crate::sys::perf::PerfCounter;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const NAME: &str = "tlb_shootdown";

/// TLB IPIs received by `cpu` so far (/proc/interrupts).
fn tlb_irqs(cpu: usize) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/interrupts").ok()?;
    interrupts_tlb_per_cpu(&text)
        .ok()
        .flatten()?
        .into_iter()
        .find(|(c, _)| *c as usize == cpu)
        .map(|(_, v)| v)
}

/// How IPIs are counted: the /proc/interrupts TLB row, or the tracepoint.
enum Counting {
    Interrupts,
    Tracepoint(crate::probe::tlb::TlbTracepoint, u32),
    None(String),
}

fn counting() -> (Counting, Option<crate::probe::tlb::TracefsMount>) {
    if tlb_irqs(0).is_some() {
        return (Counting::Interrupts, None);
    }
    match crate::probe::tlb::setup() {
        Ok((tp, mount)) => match tp.reasons.iter().find(|(_, n)| n == "remote_shootdown") {
            Some((v, _)) => {
                let v = *v;
                (Counting::Tracepoint(tp, v), Some(mount))
            }
            None => (
                Counting::None(
                    "the tlb:tlb_flush tracepoint has no remote_shootdown reason".into(),
                ),
                Some(mount),
            ),
        },
        Err(e) => (
            Counting::None(format!(
                "no TLB row in /proc/interrupts and no tracepoint: {e}"
            )),
            None,
        ),
    }
}

fn pv_note() -> String {
    match hypervisor() {
        Some((sig, true)) => format!(
            "hypervisor {sig} offers paravirtual TLB flush (KVM_FEATURE_PV_TLB_FLUSH): a flush aimed at a preempted vCPU is deferred without an IPI, so IPIs per flush can be below 1 and flushes cheaper than with real IPIs"
        ),
        Some((sig, false)) => format!(
            "hypervisor {sig} without paravirtual TLB flush: each flush IPI goes through the hypervisor"
        ),
        None => "no hypervisor seen (CPUID)".into(),
    }
}

pub fn measure(opts: &Options) -> Primitive {
    let n: usize = opts.pick(2_000, 500);
    let base = format!(
        "per repetition {} mprotect calls on one page, alternating PROT_READ and PROT_READ|PROT_WRITE (each changes the PTE and flushes the TLB), while a helper thread pinned to another CPU keeps reading the page; {}, per call",
        2 * n,
        super::TIMING
    );
    let cpus = match allowed_cpus() {
        Ok(c) => c,
        Err(e) => return Primitive::skipped(NAME, format!("sched_getaffinity: {e}"), base),
    };
    if cpus.len() < 2 {
        return Primitive::skipped(
            NAME,
            format!(
                "needs two CPUs; this process may run on {} (a shootdown needs a second CPU running the same memory)",
                cpus.len()
            ),
            base,
        );
    }
    let (a, b) = (cpus[0], cpus[1]);
    let (count, _mount) = counting();
    let result = run(opts, n, a, b, &count);
    let _ = set_affinity(&cpus);
    match result {
        Err(e) => Primitive::skipped(NAME, e, base),
        Ok(m) => {
            let ipis = match (&count, m.ipis_per_flush) {
                (Counting::None(why), _) => format!("IPIs not counted ({why})"),
                (Counting::Interrupts, Some(r)) => format!(
                    "{r:.2} TLB IPIs per call received by CPU {b} (/proc/interrupts, all processes on that CPU)"
                ),
                (Counting::Tracepoint(..), Some(r)) => format!(
                    "{r:.2} remote-shootdown flushes per call in the helper thread (tlb:tlb_flush)"
                ),
                _ => "IPIs could not be read".into(),
            };
            let method = format!(
                "{base}; CPUs {a} and {b}; the same mprotect with no other thread running: {}; {ipis}; {}",
                m.local
                    .map_or_else(|| "not measured".to_string(), super::fmt_ns),
                pv_note()
            );
            Primitive::measured(NAME, &m.samples, method)
        }
    }
}

struct Measured {
    samples: Vec<f64>,
    local: Option<f64>,
    ipis_per_flush: Option<f64>,
}

/// `n` pairs of mprotect calls on page 0 of `r`: read-only, then writable again. Each
/// call changes the page's PTE; ns (CPU time) per call.
fn flushes(r: &Region, n: usize) -> Result<f64, String> {
    let t0 = CpuTimer::start();
    for _ in 0..n {
        r.protect_page(0, false)
            .map_err(|e| format!("mprotect: {e}"))?;
        r.protect_page(0, true)
            .map_err(|e| format!("mprotect: {e}"))?;
    }
    Ok(t0.ns() / (2 * n) as f64)
}

fn run(opts: &Options, n: usize, a: usize, b: usize, count: &Counting) -> Result<Measured, String> {
    set_affinity(&[a]).map_err(|e| format!("cannot pin to CPU {a}: {e}"))?;
    let mut region = Region::anon(4096).map_err(|e| format!("mmap: {e}"))?;
    region.write(0, 1);
    // Baseline: no other thread of this process runs (median of the repetitions).
    let local: Vec<f64> = (0..opts.reps)
        .map(|_| flushes(&region, n))
        .collect::<Result<_, _>>()?;
    let local = Stats::of(&local).map(|s| s.median);
    let region = &region;
    let stop = AtomicBool::new(false);
    let ready = AtomicBool::new(false);
    let trace_count = AtomicU64::new(u64::MAX);
    std::thread::scope(|s| {
        let helper = s.spawn(|| -> Result<(), String> {
            let pinned = set_affinity(&[b]).map_err(|e| format!("cannot pin to CPU {b}: {e}"));
            let counter = match (count, &pinned) {
                (Counting::Tracepoint(tp, reason), Ok(())) => {
                    PerfCounter::tracepoint(tp.id, Some(&format!("reason == {reason}"))).ok()
                }
                _ => None,
            };
            ready.store(true, Ordering::Release);
            pinned?;
            while !stop.load(Ordering::Relaxed) {
                std::hint::black_box(region.read(0));
            }
            if let Some(c) = counter {
                if let Ok(v) = c.read() {
                    trace_count.store(v, Ordering::Relaxed);
                }
            }
            Ok(())
        });
        while !ready.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let mut samples = Vec::new();
        let mut ipis = 0u64;
        let mut ipis_ok = true;
        let mut failure = None;
        for _ in 0..opts.reps {
            let i0 = tlb_irqs(b);
            match flushes(region, n) {
                Ok(v) => samples.push(v),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            match (i0, tlb_irqs(b)) {
                (Some(x), Some(y)) => ipis += y.wrapping_sub(x) & 0xffff_ffff,
                _ => ipis_ok = false,
            }
        }
        stop.store(true, Ordering::Relaxed);
        let helper = helper
            .join()
            .map_err(|_| "the helper thread panicked".to_string())?;
        helper?;
        if let Some(e) = failure {
            return Err(e);
        }
        let flushes_done = (2 * n as u64 * samples.len() as u64) as f64;
        let ipis_per_flush = match count {
            Counting::Interrupts if ipis_ok => Some(ipis as f64 / flushes_done),
            Counting::Tracepoint(..) => match trace_count.load(Ordering::Relaxed) {
                u64::MAX => None,
                v => Some(v as f64 / flushes_done),
            },
            _ => None,
        };
        Ok(Measured {
            samples,
            local,
            ipis_per_flush,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shootdown_is_measured_or_skipped_for_one_cpu() {
        let opts = Options {
            reps: 5,
            quick: true,
            data_dir: ".".into(),
        };
        let p = measure(&opts);
        p.check().unwrap();
        let cpus = allowed_cpus().unwrap().len();
        if cpus < 2 {
            assert!(p.skipped.as_deref().unwrap().contains("two CPUs"), "{p:?}");
        } else {
            assert!(p.ns().is_some(), "{p:?}");
            assert!(p.method.contains("per flush"), "{}", p.method);
        }
        assert_eq!(allowed_cpus().unwrap().len(), cpus, "affinity restored");
    }
}
