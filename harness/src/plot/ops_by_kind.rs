//! ops-by-kind (write and mix workloads): each backend's reads, writes and syncs per
//! second over its measured phase, one horizontal bar per backend and kind (from
//! `writes.ops_by_kind`), with whiskers from the slowest to the fastest repeat. The
//! drawing is ops-bars'.

use super::canvas::GREY;
use super::context::{Context, Group};
use super::legend::{Legend, Mark};
use super::ops_bars::{Bar, OpsBars};
use super::Prepared;
use plotters::prelude::BLACK;

pub const TITLE: &str = "Throughput per operation kind";
pub const KINDS: [&str; 3] = ["read", "write", "sync"];

/// Why a chart of the write side is not drawn for these runs, if it is not.
pub fn not_writes(ctx: &Context) -> Option<String> {
    let writes = ctx
        .groups
        .iter()
        .flat_map(|g| g.results.iter())
        .any(|b| b.writes.is_some());
    (!writes)
        .then(|| "not a write or mix workload (no backend recorded writes.ops_by_kind)".to_string())
}

/// Operations of `kind` per second in each measured result of `g` that recorded kinds.
fn rates(g: &Group, kind: &str) -> Vec<f64> {
    g.measured()
        .filter_map(|b| {
            let w = b.writes.as_ref()?;
            let k = w.ops_by_kind.get(kind)?;
            (b.elapsed_ns > 0).then(|| k.ops as f64 / (b.elapsed_ns as f64 / 1e9))
        })
        .collect()
}

pub fn prepare(ctx: &Context) -> Prepared<OpsBars> {
    if let Some(why) = not_writes(ctx) {
        return Prepared::Skip(why);
    }
    // Only the kinds some backend did.
    let kinds: Vec<&str> = KINDS
        .into_iter()
        .filter(|k| {
            ctx.groups
                .iter()
                .any(|g| rates(g, k).iter().any(|&r| r > 0.0))
        })
        .collect();
    if kinds.is_empty() {
        return Prepared::Skip(
            "no backend recorded operations by kind (external tools report totals only)".into(),
        );
    }
    let mut bars = Vec::new();
    let mut legend = Legend::default();
    let mut no_kinds = Vec::new();
    for g in &ctx.groups {
        if !g.is_measured() {
            bars.push(Bar {
                label: g.label.clone(),
                color: g.color,
                mean: 0.0,
                min: 0.0,
                max: 0.0,
                runs: 0,
                not_run: Some(g.not_measured_reason()),
            });
            continue;
        }
        if rates(g, "write").is_empty() && rates(g, "read").is_empty() {
            no_kinds.push(g.label.clone());
            continue;
        }
        for k in &kinds {
            let v = rates(g, k);
            let mean = if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            };
            bars.push(Bar {
                label: format!("{}: {k}", g.label),
                color: g.color,
                mean,
                min: v.iter().copied().fold(f64::INFINITY, f64::min),
                max: v.iter().copied().fold(0.0, f64::max),
                runs: v.len(),
                not_run: None,
            });
        }
    }
    if bars.iter().any(|b| b.runs > 1) {
        legend.add("mean over the repeats", GREY, Mark::Bar);
        legend.add("slowest to fastest repeat", BLACK, Mark::Whisker);
    } else {
        legend.add("operations of the kind per second", GREY, Mark::Bar);
    }
    legend.note(
        "Each kind's count over the backend's whole measured phase (ops / elapsed). Syncs \
         are not operations: a backend's ops/s counts reads and writes.",
    );
    if !no_kinds.is_empty() {
        legend.note(format!(
            "Not shown (recorded totals only, no kinds): {}.",
            no_kinds.join(", ")
        ));
    }
    Prepared::Draw(OpsBars {
        title: TITLE.into(),
        x_desc: "operations of the kind per second".into(),
        unit: "/s".into(),
        context: ctx.title_line(),
        legend,
        bars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn one_bar_per_backend_and_kind() {
        let runs = [fixture::write_run("w")];
        let Prepared::Draw(c) = prepare(&Context::new(&runs)) else {
            panic!("drawn")
        };
        let labels: Vec<&str> = c.bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "pread: read",
                "pread: write",
                "pread: sync",
                "mmap: read",
                "mmap: write",
                "mmap: sync",
                "hugepage"
            ]
        );
        assert!(c.bars[1].mean > 0.0 && c.bars[2].mean > 0.0);
        assert_eq!(c.bars[6].not_run.as_deref(), Some("read-only backend"));
    }

    #[test]
    fn a_read_workload_is_skipped() {
        let runs = [fixture::run("r", true)];
        match prepare(&Context::new(&runs)) {
            Prepared::Skip(why) => assert!(why.contains("not a write or mix workload")),
            Prepared::Draw(_) => panic!("skipped"),
        }
    }
}
