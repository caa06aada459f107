//! The output of the atomics claim: the per-run line, the table, summary.md.

use super::{Layout, Params, RunMeasure, Variant, VariantResult};
use crate::claim::ClaimRecord;
use crate::table::{or_dash, Table};
use crate::units;
use std::fmt::Write as _;

pub(super) fn run_line(l: &Layout, v: Variant, m: &RunMeasure) -> String {
    match &m.error {
        Some(e) => format!(
            "{:<30} {:<21} #{} FAILED: {e}",
            l.name(),
            v.name(),
            m.repeat + 1
        ),
        None => format!(
            "{:<30} {:<21} #{} {:>9} ops/s  overlap {:.2}  counts {}",
            l.name(),
            v.name(),
            m.repeat + 1,
            units::format_count(m.ops_per_sec),
            m.overlap,
            if m.exact {
                format!("exact ({} each)", m.expected)
            } else {
                format!("NOT exact: {} lost", m.lost)
            }
        ),
    }
}

const HEAD: [&str; 9] = [
    "counters",
    "variant",
    "runs",
    "ops/s",
    "ns/op/worker",
    "overlap",
    "final counts",
    "expected",
    "status",
];

fn rows(vs: &[VariantResult]) -> Vec<Vec<String>> {
    vs.iter()
        .map(|r| {
            let counts = match (r.min_count, r.max_count) {
                (Some(a), Some(b)) if a == b => a.to_string(),
                (Some(a), Some(b)) => format!("{a}..{b}"),
                _ => "-".into(),
            };
            let lost: i64 = r.runs.iter().filter(|m| m.ok).map(|m| m.lost).sum();
            vec![
                r.layout.name(),
                r.variant.name().to_string(),
                format!("{}/{}", r.ok_runs, r.runs.len()),
                or_dash(r.median_ops_per_sec, units::format_count),
                or_dash(r.median_ns_per_op, |n| format!("{n:.1}")),
                or_dash(r.median_overlap, |o| format!("{o:.2}")),
                counts,
                r.expected.to_string(),
                if r.ok_runs as usize != r.runs.len() {
                    "FAILED".into()
                } else if r.all_exact {
                    "exact".into()
                } else if r.variant.is_control() {
                    format!("lost {lost} (control)")
                } else {
                    format!("MISMATCH: lost {lost}")
                },
            ]
        })
        .collect()
}

/// The table printed at the end and put into summary.md.
pub fn table(vs: &[VariantResult]) -> Table {
    Table::new(&HEAD, 2).with_rows(rows(vs))
}

/// summary.md: what was measured, the table, the verdict from the counts, the speeds.
pub fn summary(rec: &ClaimRecord<Params, VariantResult>, table: &Table, printed: &str) -> String {
    let p = &rec.parameters;
    let how = format!(
        "{} workers each added 1 to every counter {} times ({}). Expected final value of every counter: {}. ops/s = all increments / the span from the first worker's first increment to the last worker's last (CLOCK_MONOTONIC, comparable across processes); ns/op/worker = workers / ops/s; overlap = the workers' summed busy time / (workers x span): 1.00 when they incremented at the same time throughout, 1/workers when one ran after the other (contention then is not measured; a busy machine does that).",
        p.procs,
        p.increments,
        p.ordering,
        p.procs as u64 * p.increments
    );
    let mut s = crate::claim::summary_opening("atomics", rec, &how, table, printed);
    let _ = writeln!(s, "## Verdict\n");
    let claim_vs: Vec<&VariantResult> = rec
        .variants
        .iter()
        .filter(|v| v.variant == Variant::Processes)
        .collect();
    if claim_vs.is_empty() {
        let _ = writeln!(s, "The process variant did not run.");
    } else if claim_vs.iter().all(|v| v.all_exact) {
        let _ = writeln!(
            s,
            "Atomic increments through a shared file mapping were exact across {} processes in every run ({}): the claim holds here. It holds because a MAP_SHARED mapping of one file puts the same physical page-cache pages in every process, and a locked read-modify-write on them is atomic in hardware whoever issues it; the file adds nothing but the name.",
            p.procs,
            claim_vs
                .iter()
                .map(|v| v.layout.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else {
        let _ = writeln!(
            s,
            "The process variant did NOT produce exact counts in every run: see the failures above."
        );
    }
    for l in &p.layouts {
        let get = |v: Variant| {
            rec.variants
                .iter()
                .find(|r| r.layout == *l && r.variant == v)
                .and_then(|r| r.median_ops_per_sec)
        };
        if let (Some(pr), Some(tm), Some(th)) = (
            get(Variant::Processes),
            get(Variant::ThreadsMapped),
            get(Variant::ThreadsHeap),
        ) {
            let _ = writeln!(
                s,
                "* {}: processes {} ops/s, threads on the mapping {} ops/s ({:.2}x processes), threads on the heap {} ops/s ({:.2}x).",
                l.name(),
                units::format_count(pr),
                units::format_count(tm),
                tm / pr,
                units::format_count(th),
                th / pr
            );
        }
    }
    if let Some(c) = rec
        .variants
        .iter()
        .find(|v| v.variant == Variant::ProcessesLoadStore)
    {
        let lost: i64 = c.runs.iter().map(|r| r.lost).sum();
        let _ = writeln!(
            s,
            "* Control (load + store instead of fetch_add, processes): {}",
            if lost > 0 {
                format!(
                    "{lost} updates lost over its runs: the check does catch non-atomic increments"
                )
            } else {
                "no update was lost this time; with few overlapping increments a race can go unseen, so this run does not show the check catching one".into()
            }
        );
    }
    let _ = writeln!(
        s,
        "\nWhat the claim does not cover: the counters are only as durable as the page cache (nothing here calls msync); atomicity holds for naturally aligned 8-byte words on the same machine, not across machines sharing a network file system; and a process that dies mid-update leaves no torn counter, but any multi-word invariant has no such protection."
    );
    s
}
