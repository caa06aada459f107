//! The "predicted vs measured" section of `faultline report --calibration FILE`: for
//! each measured cell whose backend is `mmap:advice=random` or `direct`, the cost
//! model's ceiling of reads per second per CPU (`calibrate::model`) against the cell's
//! throughput per CPU, and their ratio. A pure function of the records and the
//! calibration.

use crate::calibrate::model::{self, Prediction};
use crate::calibrate::Calibration;
use crate::record::{BackendResult, RunRecord, Status};
use crate::table::Table;
use crate::units::format_count;
use std::fmt::Write as _;

/// Which model applies to a backend spec: `mmap:advice=random` (any other options
/// too) or `direct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modelled {
    MmapRandom,
    Direct,
}

pub fn modelled(b: &BackendResult) -> Option<Modelled> {
    let (kind, opts) = b.name.split_once(':').unwrap_or((&b.name, ""));
    match kind.trim() {
        "direct" => Some(Modelled::Direct),
        "mmap" if opts.split(',').any(|o| o.trim() == "advice=random") => {
            Some(Modelled::MmapRandom)
        }
        _ => None,
    }
}

/// The divisor that turns a cell's throughput into throughput per CPU: the CPUs its
/// measured threads used (CPU time / elapsed) when recorded, else its thread count
/// (at most the machine's CPUs). With a word for the table.
pub fn cpus_used(b: &BackendResult, machine_cpus: usize) -> (f64, &'static str) {
    let c = &b.counters;
    if let (Some(u), Some(s)) = (c.cpu_user_ns, c.cpu_system_ns) {
        let used = (u + s) as f64 / b.elapsed_ns.max(1) as f64;
        if used > 0.05 {
            return (used, "CPU time");
        }
    }
    let t = if machine_cpus > 0 {
        b.threads.min(machine_cpus)
    } else {
        b.threads
    };
    (t.max(1) as f64, "threads")
}

/// TLB shootdown IPIs per operation in the cell (all CPUs), when recorded.
fn shootdowns_per_op(b: &BackendResult) -> Option<f64> {
    let n = b.counters.tlb_shootdowns_system?;
    (b.ops > 0).then(|| n as f64 / b.ops as f64)
}

/// The markdown section. `source` names the calibration file.
pub fn predicted_vs_measured(records: &[RunRecord], cal: &Calibration, source: &str) -> String {
    let mut out = String::from("\n## Predicted vs measured\n\n");
    let _ = writeln!(
        out,
        "Calibration `{source}` (host {}, {}, started {}).\n",
        cal.host.as_deref().unwrap_or("?"),
        cal.cpu_model.as_deref().unwrap_or("CPU unknown"),
        cal.started_at
    );
    let mut notes: Vec<String> = Vec::new();
    let mut t = Table::new(
        &[
            "workload",
            "backend",
            "threads",
            "ops/s",
            "CPUs",
            "per CPU",
            "predicted per CPU",
            "measured / predicted",
            "model",
        ],
        2,
    );
    t.columns[8].align = crate::table::Align::Left;
    let mut hosts: Vec<String> = Vec::new();
    for r in records {
        let host = r.environment.hostname.clone().unwrap_or_default();
        for b in &r.backends {
            let Some(kind) = modelled(b) else { continue };
            if b.status != Status::Ok || b.ops == 0 {
                continue;
            }
            if !hosts.contains(&host) {
                hosts.push(host.clone());
            }
            let (cpus, how) = cpus_used(b, r.environment.cpus);
            let per_cpu = b.ops_per_sec / cpus;
            let pred: Result<Prediction, String> = match kind {
                Modelled::Direct => model::direct(cal),
                Modelled::MmapRandom => model::mmap_random(cal, shootdowns_per_op(b)),
            };
            let (p_cell, ratio, how_model) = match &pred {
                Ok(p) => (
                    format_count(p.ops_per_sec_per_cpu()),
                    format!("{:.2}", per_cpu / p.ops_per_sec_per_cpu()),
                    p.describe(),
                ),
                Err(e) => {
                    let n = format!("{}: no prediction: {e}", b.name);
                    if !notes.contains(&n) {
                        notes.push(n);
                    }
                    ("-".into(), "-".into(), "-".into())
                }
            };
            t.push(vec![
                r.workload_name().to_string(),
                b.name.clone(),
                b.threads.to_string(),
                format_count(b.ops_per_sec),
                format!("{cpus:.2} ({how})"),
                format_count(per_cpu),
                p_cell,
                ratio,
                how_model,
            ]);
        }
    }
    if t.rows.is_empty() {
        out.push_str(
            "No measured cell uses `mmap:advice=random` or `direct`: nothing to predict.\n",
        );
        return out;
    }
    out.push_str(&t.to_markdown());
    out.push('\n');
    let _ = writeln!(
        out,
        "Model (ceilings of random 4 KiB reads on the emulated device; see docs/calibrate.md): mmap:advice=random, page cache full: `{}`; direct: `{}`; `{}`. s is the cell's TLB shootdown IPIs per read when recorded. Per CPU = ops/s / CPUs (the measured threads' CPU time / elapsed when recorded, else threads). A ratio near 1 means the primitives explain the cost; below 1, time goes elsewhere (probes, scheduling, reclaim by other threads, the fresh-page cost while the cache fills: `{}`).",
        model::MMAP_FORMULA,
        model::DIRECT_FORMULA,
        model::CEILING,
        model::MMAP_FILLING_FORMULA,
    );
    if let Ok(p) = model::mmap_random_filling(cal) {
        let _ = writeln!(
            out,
            "\nmmap:advice=random while the cache fills (no eviction, fresh pages): {} per CPU ({}).",
            format_count(p.ops_per_sec_per_cpu()),
            p.describe()
        );
    }
    if let Some(h) = &cal.host {
        let other: Vec<&String> = hosts.iter().filter(|x| *x != h && !x.is_empty()).collect();
        if !other.is_empty() {
            notes.push(format!(
                "the calibration comes from host {h}, the runs from {}: a prediction is for the machine it was calibrated on",
                other.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if cal.quick {
        notes.push("the calibration was a --quick run (smaller regions, 5 repetitions)".into());
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(prims: &[(&str, f64)]) -> Calibration {
        Calibration {
            host: Some("other-host".into()),
            started_at: "2026-01-01T00:00:00Z".into(),
            ..crate::calibrate::model::tests::cal(prims)
        }
    }

    fn cell(name: &str, threads: usize, ops_per_sec: f64) -> BackendResult {
        let mut b = crate::record::tests::sample_record().backends[0].clone();
        b.name = name.into();
        b.status = Status::Ok;
        b.threads = threads;
        b.ops = 1000;
        b.elapsed_ns = 1_000_000_000;
        b.ops_per_sec = ops_per_sec;
        b.counters = Default::default();
        b
    }

    #[test]
    fn backends_that_are_modelled() {
        assert_eq!(modelled(&cell("direct", 1, 1.0)), Some(Modelled::Direct));
        assert_eq!(
            modelled(&cell("mmap:advice=random", 1, 1.0)),
            Some(Modelled::MmapRandom)
        );
        assert_eq!(
            modelled(&cell("mmap:populate,advice=random", 1, 1.0)),
            Some(Modelled::MmapRandom)
        );
        assert_eq!(modelled(&cell("mmap", 1, 1.0)), None);
        assert_eq!(modelled(&cell("pread", 1, 1.0)), None);
    }

    #[test]
    fn per_cpu_uses_cpu_time_when_recorded() {
        let mut b = cell("direct", 4, 100.0);
        assert_eq!(cpus_used(&b, 2), (2.0, "threads"));
        b.counters.cpu_user_ns = Some(300_000_000);
        b.counters.cpu_system_ns = Some(1_200_000_000);
        assert_eq!(cpus_used(&b, 2), (1.5, "CPU time"));
    }

    #[test]
    fn section_predicts_and_compares() {
        let c = cal(&[
            ("zram_major_fault", 4000.0),
            ("page_cache_evict", 500.0),
            ("tlb_shootdown", 500.0),
            ("direct_4k_zram", 2500.0),
        ]);
        let mut rec = crate::record::tests::sample_record();
        rec.environment.cpus = 2;
        rec.environment.hostname = Some("vm".into());
        rec.backends = vec![
            cell("direct", 2, 600_000.0),
            cell("mmap:advice=random", 2, 200_000.0),
            cell("pread", 2, 1.0),
        ];
        let md = predicted_vs_measured(&[rec], &c, "cal.json");
        // direct: 300K per CPU against a 400K ceiling.
        assert!(
            md.contains("| direct | 2 | 600K | 2.00 (threads) | 300K | 400K | 0.75 |"),
            "{md}"
        );
        // mmap: 100K per CPU against 1e9 / 5000 ns = 200K.
        assert!(md.contains("| 100K | 200K | 0.50 |"), "{md}");
        assert!(!md.contains("| pread |"), "{md}");
        assert!(
            md.contains("calibration comes from host other-host"),
            "{md}"
        );
        assert!(md.contains(model::MMAP_FORMULA), "{md}");
    }

    #[test]
    fn missing_primitives_are_explained() {
        let c = cal(&[("syscall", 100.0)]);
        let mut rec = crate::record::tests::sample_record();
        rec.backends = vec![cell("direct", 1, 1000.0)];
        let md = predicted_vs_measured(&[rec.clone()], &c, "c");
        assert!(
            md.contains("no prediction: the calibration has no direct_4k_zram"),
            "{md}"
        );
        rec.backends = vec![cell("pread", 1, 1000.0)];
        let md = predicted_vs_measured(&[rec], &c, "c");
        assert!(md.contains("nothing to predict"), "{md}");
    }
}
