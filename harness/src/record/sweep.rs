//! The sweep table: one row per backend (and thread count), one column per swept
//! value, ops/s in each cell (mean over the repeats), then the same for p99. Written
//! as `sweep.md` into a sweep's directory and printed at its end. Pure.

use super::{RunRecord, Status};
use crate::units::{format_count, format_ns};
use std::fmt::Write as _;

/// The markdown tables of a sweep's runs (in sweep order).
pub fn table(recs: &[RunRecord]) -> String {
    let mut runs: Vec<&RunRecord> = recs.iter().collect();
    runs.sort_by_key(|r| r.sweep.as_ref().map_or(0, |p| p.index));
    let key = runs
        .iter()
        .find_map(|r| r.sweep.as_ref().map(|p| p.key.clone()))
        .unwrap_or_else(|| "value".into());
    // Rows: (backend, threads) in first-seen order.
    let mut rows: Vec<(String, usize)> = Vec::new();
    for r in &runs {
        for b in &r.backends {
            let k = (b.name.clone(), b.threads);
            if !rows.contains(&k) {
                rows.push(k);
            }
        }
    }
    let threads_differ = rows.iter().any(|r| r.1 != rows[0].1);
    let header: Vec<String> = runs
        .iter()
        .map(|r| {
            r.sweep
                .as_ref()
                .map_or_else(|| "?".into(), |p| format!("{key}={}", p.value))
        })
        .collect();
    let mut out = String::new();
    let workload = runs.first().map_or("workload", |r| r.workload_name());
    let _ = writeln!(
        out,
        "Sweep of `{key}` over workload `{workload}`: ops/s (mean over repeats; `skipped`/`failed` where the backend did not run)\n"
    );
    section(
        &mut out,
        &runs,
        &rows,
        &header,
        threads_differ,
        |b| (b.ops > 0).then_some(b.ops_per_sec),
        format_count,
    );
    let _ = writeln!(out, "\np99 latency per operation (mean over repeats):\n");
    section(
        &mut out,
        &runs,
        &rows,
        &header,
        threads_differ,
        |b| b.latency_ns.as_ref().map(|l| l.p99 as f64),
        format_ns,
    );
    if runs
        .iter()
        .flat_map(|r| &r.backends)
        .any(|b| b.measured_busy())
    {
        let _ = writeln!(
            out,
            "\n`!`: measured while other work kept the machine's CPUs busy or the hypervisor \
             stole time (the cell's `busy machine:` note in its run.json gives the figures); \
             such a value may be lower than on a quiet machine."
        );
    }
    out
}

fn section(
    out: &mut String,
    runs: &[&RunRecord],
    rows: &[(String, usize)],
    header: &[String],
    threads_differ: bool,
    metric: impl Fn(&super::BackendResult) -> Option<f64>,
    fmt: impl Fn(f64) -> String,
) {
    let _ = writeln!(out, "| backend | {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "| --- |{}",
        header.iter().map(|_| " --: |").collect::<String>()
    );
    for (name, threads) in rows {
        let label = if threads_differ {
            format!("{name} x{threads}")
        } else {
            name.clone()
        };
        let cells: Vec<String> = runs
            .iter()
            .map(|r| {
                let bs: Vec<_> = r
                    .backends
                    .iter()
                    .filter(|b| &b.name == name && b.threads == *threads)
                    .collect();
                let vals: Vec<f64> = bs.iter().filter_map(|b| metric(b)).collect();
                if !vals.is_empty() {
                    let mark = if bs.iter().any(|b| b.measured_busy()) {
                        " !"
                    } else {
                        ""
                    };
                    format!(
                        "{}{mark}",
                        fmt(vals.iter().sum::<f64>() / vals.len() as f64)
                    )
                } else if bs.iter().any(|b| b.status == Status::Skipped) {
                    "skipped".into()
                } else if bs.iter().any(|b| b.status == Status::Failed) {
                    "failed".into()
                } else {
                    "-".into()
                }
            })
            .collect();
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::sweep::SweepPoint;

    #[test]
    fn one_column_per_value_in_sweep_order() {
        let mut a = crate::record::tests::sample_record();
        let mut b = a.clone();
        b.backends[0].ops_per_sec *= 2.0;
        a.sweep = Some(SweepPoint {
            key: "size".into(),
            value: "64MiB".into(),
            number: 64.0 * 1048576.0,
            index: 0,
            count: 2,
        });
        b.sweep = Some(SweepPoint {
            value: "128MiB".into(),
            index: 1,
            ..a.sweep.clone().unwrap()
        });
        let t = table(&[b, a.clone()]);
        assert!(t.contains("| backend | size=64MiB | size=128MiB |"), "{t}");
        assert!(t.contains("skipped"), "{t}");
        assert!(t.contains("p99"), "{t}");
        assert!(!t.contains('!'), "no busy cell, no mark: {t}");
        let mut c = a.clone();
        c.backends[0].notes.push(format!(
            "{} in the 2.0 s measured",
            crate::probe::cpu::BUSY_NOTE
        ));
        let t = table(&[c]);
        assert!(t.contains(" ! |"), "{t}");
        assert!(t.contains("`!`: measured while other work"), "{t}");
    }
}
