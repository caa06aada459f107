//! `faultline run --probe-overhead N`: what each probe costs on the cell it
//! instruments. Every cell (backend x threads) runs N rounds; a round runs the cell
//! with every default probe on (A) and then with each probe off in turn (B), the order
//! rotating per round (`plan::rotated`), so A and each B alternate over the rounds.
//! The A runs are the run's `backends` entries (one per round, `repeat` = round); the
//! B runs only appear in `probe_overhead` (their throughput and p50 per round).

use super::Setup;
use crate::interrupt;
use crate::plan;
use crate::record::overhead::{CellOverhead, ProbeCost, Samples};
use crate::record::{BackendResult, ProcessSnapshot, RunRecord, Status};
use crate::spec::{StopAt, Workload};
use crate::ui::Reporter;
use anyhow::Result;
use std::time::Duration;

/// A probe that can act on the hot path or in the kernel's fault, flush or I/O paths,
/// and how to turn it off.
struct Probe {
    name: &'static str,
    off_by: &'static str,
    events_what: &'static str,
    off: fn(&mut Workload),
    /// What the probe counted in an A run; None when its source could not be read.
    events: fn(&BackendResult) -> Option<u64>,
}

fn sampler_off(w: &mut Workload) {
    // No sample between the first and the last: the interval outlasts the phase.
    w.interval = match w.stop {
        StopAt::Duration(d) => d * 2 + Duration::from_secs(1),
        StopAt::Ops(_) => Duration::from_secs(24 * 3600),
    };
}

const PROBES: &[Probe] = &[
    Probe {
        name: "fault_attribution",
        off_by: "fault_attribution = false (--no-fault-attribution)",
        events_what: "faulting operations (fault_ops, estimated from the sampled ones)",
        off: |w| w.fault_attribution = false,
        events: |b| b.counters.fault_ops,
    },
    Probe {
        name: "thread_counters",
        off_by: "thread_counters = false (--no-thread-counters)",
        events_what: "minor + major faults of the measured threads",
        off: |w| w.thread_counters = false,
        events: |b| Some(b.counters.minor_faults? + b.counters.major_faults?),
    },
    Probe {
        name: "tlb_tracepoint",
        off_by: "tlb_tracepoint = false (--no-tlb-tracepoint)",
        events_what: "tlb:tlb_flush events of the measured threads",
        off: |w| w.tlb_tracepoint = false,
        events: |b| {
            b.counters
                .tlb_flush_process
                .as_ref()
                .map(|m| m.values().sum())
        },
    },
    Probe {
        name: "sampler",
        off_by: "--interval longer than the measured phase (no interval samples)",
        events_what: "interval samples taken",
        off: sampler_off,
        events: |b| Some(b.timeseries.len() as u64),
    },
    Probe {
        name: "all_default_probes",
        off_by: "all of the above off at once",
        events_what: "(see the single probes)",
        off: |w| {
            w.fault_attribution = false;
            w.thread_counters = false;
            w.tlb_tracepoint = false;
            sampler_off(w);
        },
        events: |_| None,
    },
];

/// Run every cell's A/B rounds into `rec`. Returns true when the user interrupted.
pub fn run_plan(setup: &mut Setup, rec: &mut RunRecord, ui: &dyn Reporter) -> Result<bool> {
    let w = setup.workload.clone();
    let rounds = w.probe_overhead.max(1);
    rec.process.push(ProcessSnapshot::take(0));
    let mut interrupted = false;
    'cells: for &threads in &w.threads {
        for spec in &w.backends {
            let mut cell = CellOverhead {
                backend: spec.name.clone(),
                threads,
                rounds,
                on: Samples::default(),
                probes: PROBES
                    .iter()
                    .map(|p| ProbeCost {
                        probe: p.name.into(),
                        off_by: p.off_by.into(),
                        throughput_ratio: None,
                        p50_ratio: None,
                        cpu_ratio: None,
                        off: Samples::default(),
                        fired: None,
                        events: None,
                        events_what: p.events_what.into(),
                    })
                    .collect(),
            };
            let mut events: Vec<Option<u64>> = vec![Some(0); PROBES.len()];
            let variants: Vec<Option<usize>> = std::iter::once(None)
                .chain((0..PROBES.len()).map(Some))
                .collect();
            'rounds: for r in 0..rounds {
                for &v in plan::rotated(&variants, r) {
                    if interrupt::requested() {
                        interrupted = true;
                        break 'rounds;
                    }
                    setup.workload = w.clone();
                    if let Some(i) = v {
                        (PROBES[i].off)(&mut setup.workload);
                    }
                    let o = setup.run_cell(spec, threads, r, ui);
                    setup.workload = w.clone();
                    let o = o?;
                    interrupted = o.interrupted;
                    let b =
                        BackendResult::from_outcome(spec, o, r, w.block, setup.target.verifies())?;
                    let p50 = b.latency_ns.as_ref().map(|l| l.p50);
                    let cpu = ops_per_cpu_sec(&b);
                    let skipped = b.status == Status::Skipped;
                    match v {
                        None => {
                            cell.on.push(b.ops_per_sec, p50);
                            cell.on.push_cpu(cpu);
                            for (i, p) in PROBES.iter().enumerate() {
                                events[i] = match (events[i], (p.events)(&b)) {
                                    (Some(a), Some(e)) => Some(a + e),
                                    _ => None,
                                };
                            }
                            ui.cell_done(&b);
                            rec.backends.push(b);
                            rec.process.push(ProcessSnapshot::take(rec.backends.len()));
                        }
                        Some(i) => {
                            ui.note(&format!(
                                "probe-overhead round {}: {} x{} with {} off: {:.0} ops/s, p50 {} ns",
                                r + 1,
                                spec.name,
                                threads,
                                PROBES[i].name,
                                b.ops_per_sec,
                                p50.map_or("-".to_string(), |n| n.to_string())
                            ));
                            cell.probes[i].off.push(b.ops_per_sec, p50);
                            cell.probes[i].off.push_cpu(cpu);
                        }
                    }
                    if interrupted {
                        break 'rounds;
                    }
                    if skipped {
                        // A backend that cannot run here has no cost to measure.
                        break 'rounds;
                    }
                }
            }
            finish_cell(&mut cell, &events);
            rec.probe_overhead.push(cell);
            if interrupted {
                break 'cells;
            }
        }
    }
    Ok(interrupted)
}

/// Operations per CPU-second of the measured threads.
fn ops_per_cpu_sec(b: &BackendResult) -> Option<f64> {
    let ns = b.counters.cpu_user_ns? + b.counters.cpu_system_ns?;
    (ns > 0).then(|| b.ops as f64 / (ns as f64 / 1e9))
}

/// The ratios of each probe, and whether it fired during the A runs.
fn finish_cell(cell: &mut CellOverhead, events: &[Option<u64>]) {
    let mut any = Some(false);
    for (i, p) in cell.probes.iter_mut().enumerate() {
        p.compute(&cell.on);
        if PROBES[i].name == "all_default_probes" {
            p.fired = any;
            continue;
        }
        // The sampler fires when it took a sample between the first and the last.
        let min = if PROBES[i].name == "sampler" { 1 } else { 0 };
        p.events = events[i];
        p.fired = events[i].map(|e| e > min * cell.on.ops_per_sec.len() as u64);
        any = match (any, p.fired) {
            (Some(a), Some(f)) => Some(a || f),
            (Some(true), None) => Some(true),
            _ => None,
        };
    }
}
