//! sync-latency (write and mix workloads): the percentile spectrum of each backend's
//! syncs (fdatasync, fsync, msync, sync_file_range: `writes.ops_by_kind.sync`), drawn
//! as latency-percentiles draws operations: x the percentile on a "nines" axis, y the
//! latency on a log axis. Repeats are merged.

use super::axes::{self, Scale};
use super::context::{Context, Group};
use super::figure::Figure;
use super::latency_percentiles::{nines_axis, spectrum};
use super::legend::{Legend, Mark};
use super::ops_by_kind::not_writes;
use super::panel::{Line, Panel};
use super::Prepared;
use crate::record::decode_histogram;
use hdrhistogram::Histogram;

pub const TITLE: &str = "Sync latency percentile spectrum";

/// The merged sync histogram of `g`'s measured results.
fn merged(g: &Group) -> Result<Option<Histogram<u64>>, String> {
    let mut out: Option<Histogram<u64>> = None;
    for b in g.measured() {
        let Some(text) = b
            .writes
            .as_ref()
            .and_then(|w| w.ops_by_kind.get("sync"))
            .and_then(|k| k.histogram.as_deref())
        else {
            continue;
        };
        let h = decode_histogram(text)
            .map_err(|e| format!("{}: the sync histogram is unreadable ({e:#})", g.label))?;
        match &mut out {
            None => out = Some(h),
            Some(m) => m.add(&h).map_err(|e| {
                format!(
                    "{}: cannot merge the repeats' sync histograms ({e:?})",
                    g.label
                )
            })?,
        }
    }
    Ok(out.filter(|h| !h.is_empty()))
}

pub fn prepare(ctx: &Context) -> Prepared<Figure> {
    if let Some(why) = not_writes(ctx) {
        return Prepared::Skip(why);
    }
    let mut legend = Legend::default();
    let mut lines = Vec::new();
    let mut without = Vec::new();
    let (mut x_max, mut y_min, mut y_max) = (10.0f64, f64::INFINITY, 0.0f64);
    for g in ctx.measured() {
        let h = match merged(g) {
            Ok(Some(h)) => h,
            Ok(None) => {
                without.push(g.label.clone());
                continue;
            }
            Err(e) => {
                legend.note(e);
                continue;
            }
        };
        let pts = spectrum(&h);
        for p in &pts {
            x_max = x_max.max(p.0);
            if p.1 > 0.0 {
                y_min = y_min.min(p.1);
            }
            y_max = y_max.max(p.1);
        }
        lines.push(Line {
            points: pts,
            color: g.color,
            dashed: false,
        });
        let q = |q: f64| axes::format_latency_ns(h.value_at_quantile(q) as f64);
        legend.add(
            format!(
                "{}: {} syncs, p50 {}, p99 {}, max {}",
                g.label,
                h.len(),
                q(0.5),
                q(0.99),
                axes::format_latency_ns(h.max() as f64)
            ),
            g.color,
            Mark::Line,
        );
    }
    if lines.is_empty() {
        return Prepared::Skip(format!(
            "no backend recorded a sync (the workload's sync policy is none, or the tool reports no sync latencies): {}",
            without.join(", ")
        ));
    }
    if !without.is_empty() {
        legend.note(format!("No syncs recorded: {}.", without.join(", ")));
    }
    legend.note(
        "x: percentile on a \"nines\" scale, 1/(1-q); each line ends at its maximum, at \
         x = the number of syncs. A sync's latency is its own call, not the writes before it.",
    );
    let (x, ticks) = nines_axis(x_max);
    Prepared::Draw(Figure {
        title: TITLE.into(),
        context: ctx.title_line(),
        legend,
        panels: vec![Panel {
            caption: None,
            x,
            y: Scale::log(y_min, y_max.max(y_min * 1.01)),
            x_desc: "percentile".into(),
            y_desc: "sync latency (µs, log scale)".into(),
            x_ticks: Some(ticks),
            x_fmt: axes::format_nines,
            y_fmt: axes::format_us,
            lines,
            marks: Vec::new(),
            empty: None,
            dots: true,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn one_line_per_backend_with_syncs() {
        let runs = [fixture::write_run("w")];
        let Prepared::Draw(f) = prepare(&Context::new(&runs)) else {
            panic!("drawn")
        };
        assert_eq!(f.panels[0].lines.len(), 2);
        assert!(f.legend.entries[0]
            .label
            .starts_with("pread: 400 syncs, p50 "));
    }

    #[test]
    fn no_syncs_is_skipped_with_the_reason() {
        let mut run = fixture::write_run("w");
        for b in &mut run.record.backends {
            if let Some(w) = b.writes.as_mut() {
                w.ops_by_kind.remove("sync");
            }
        }
        match prepare(&Context::new(std::slice::from_ref(&run))) {
            Prepared::Skip(why) => assert!(why.contains("no backend recorded a sync"), "{why}"),
            Prepared::Draw(_) => panic!("skipped"),
        }
    }
}
