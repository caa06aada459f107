//! latency-over-time: p50, p99 and p99.9 of each sampling interval's latency histogram
//! (`timeseries[].histogram`), one panel per percentile, one line per backend (and
//! repeat) in its colour, latency on a log axis. A tail that grows when the page cache
//! fills, or a stall's slow operations, shows where in the run it happened.

use super::axes::{self, Scale};
use super::context::Context;
use super::figure::Figure;
use super::legend::{Legend, Mark};
use super::panel::{Line, Panel};
use super::rates;
use super::Prepared;
use crate::record::{decode_histogram, hlog, BackendResult};

pub const TITLE: &str = "Latency over time";

/// The percentiles drawn, one panel each.
const QUANTILES: [(f64, &str); 3] = [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")];

/// (interval end in s, operations recorded, [latency in µs at each of `QUANTILES`]) of
/// each interval of `b` whose histogram holds an operation, in runs of consecutive
/// intervals: an interval without operations breaks the line rather than being bridged.
pub fn points(b: &BackendResult) -> Vec<Vec<(f64, u64, [f64; 3])>> {
    let mut runs: Vec<Vec<(f64, u64, [f64; 3])>> = vec![Vec::new()];
    for s in rates::steps(b) {
        let h =
            s.iv.histogram
                .as_deref()
                .and_then(|e| decode_histogram(e).ok())
                .filter(|h| !h.is_empty());
        match h {
            Some(h) => {
                let q = QUANTILES.map(|(q, _)| h.value_at_quantile(q) as f64 / 1e3);
                if let Some(run) = runs.last_mut() {
                    run.push((s.end_s, h.len(), q));
                }
            }
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// Why a measured result has no per-interval latency.
pub fn missing_reason(b: &BackendResult) -> &'static str {
    if b.timeseries.is_empty() {
        "no time series"
    } else if b.timeseries.iter().all(|iv| iv.histogram.is_none()) {
        "no per-interval histograms (an external tool's run, or a run made before they were recorded)"
    } else {
        "fewer than 2 intervals"
    }
}

/// Whether a result can be drawn over time: per-interval histograms for 2+ intervals.
pub fn drawable(b: &BackendResult) -> bool {
    hlog::has_intervals(b) && b.timeseries.len() >= 2
}

pub fn prepare(ctx: &Context) -> Prepared<Figure> {
    let mut legend = Legend::default();
    let mut per_q: Vec<Vec<Line>> = QUANTILES.iter().map(|_| Vec::new()).collect();
    let (mut t_max, mut y_min, mut y_max) = (0.0f64, f64::INFINITY, 0.0f64);
    let mut missing: Vec<String> = Vec::new();
    let mut min_ops = u64::MAX;
    for g in ctx.measured() {
        let results: Vec<&BackendResult> = g.measured().filter(|b| drawable(b)).collect();
        if results.is_empty() {
            if let Some(b) = g.measured().next() {
                missing.push(format!("{} ({})", g.label, missing_reason(b)));
            }
            continue;
        }
        for b in &results {
            t_max = t_max.max(rates::end_s(b));
            for pts in points(b) {
                for p in &pts {
                    min_ops = min_ops.min(p.1);
                    for v in p.2 {
                        if v > 0.0 {
                            y_min = y_min.min(v);
                        }
                        y_max = y_max.max(v);
                    }
                }
                for (k, lines) in per_q.iter_mut().enumerate() {
                    lines.push(Line {
                        points: pts.iter().map(|p| (p.0, p.2[k])).collect(),
                        color: g.color,
                        dashed: false,
                    });
                }
            }
        }
        let floor = if results.iter().any(|b| b.timing_floor_note().is_some()) {
            " (p50 at the timing floor)"
        } else {
            ""
        };
        legend.add(format!("{}{floor}", g.label), g.color, Mark::Line);
    }
    if per_q[0].is_empty() {
        let why = if missing.is_empty() {
            "no backend measured anything".to_string()
        } else {
            format!("no per-interval latency: {}", missing.join("; "))
        };
        return Prepared::Skip(why);
    }
    legend.note(
        "Each point: the percentile of the operations recorded in one sampling interval, \
         at the interval's end. A line breaks at an interval without operations.",
    );
    if min_ops < 1000 {
        legend.note(format!(
            "Some intervals hold only {min_ops} recorded operations: a p99.9 from fewer than \
             1000 is close to that interval's maximum."
        ));
    }
    if !missing.is_empty() {
        legend.note(format!("Not drawn: {}.", missing.join("; ")));
    }
    if ctx.has_repeats() {
        legend.note("Repeats are drawn in the same colour.");
    }
    let y = Scale::log(y_min, y_max);
    let panels = per_q
        .into_iter()
        .zip(QUANTILES)
        .map(|(lines, (_, name))| Panel {
            caption: Some(name.to_string()),
            x: Scale::from_zero(t_max),
            y,
            x_desc: "time since the measured phase began (s)".into(),
            y_desc: format!("{name} (µs, log)"),
            x_ticks: None,
            x_fmt: axes::trim,
            y_fmt: axes::format_us,
            lines,
            marks: Vec::new(),
            empty: None,
            dots: true,
        })
        .collect();
    Prepared::Draw(Figure {
        title: TITLE.into(),
        context: ctx.title_line(),
        legend,
        panels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn three_panels_with_a_line_per_repeat() {
        let runs = [fixture::run("a", true)];
        let ctx = Context::new(&runs);
        let Prepared::Draw(f) = prepare(&ctx) else {
            panic!("drawn")
        };
        assert_eq!(f.panels.len(), 3);
        assert_eq!(f.panels[0].lines.len(), 6, "3 backends x 2 repeats");
        assert_eq!(f.panels[2].lines[0].points.len(), 12, "12 intervals");
        // An interval without operations breaks the line into two.
        let mut b = runs[0].record.backends[0].clone();
        b.timeseries[4].histogram =
            crate::record::encode_histogram(&crate::record::new_histogram()).ok();
        let runs_of: Vec<usize> = points(&b).iter().map(|r| r.len()).collect();
        assert_eq!(runs_of, vec![4, 7]);
        assert!(f.panels[0].y.log);
        // p50 <= p99 <= p99.9 in every interval.
        for (a, b) in f.panels[0].lines[0]
            .points
            .iter()
            .zip(&f.panels[2].lines[0].points)
        {
            assert!(a.1 <= b.1, "{a:?} {b:?}");
        }
    }

    #[test]
    fn skipped_with_the_reason_without_interval_histograms() {
        let mut run = fixture::run("a", true);
        for b in &mut run.record.backends {
            for iv in &mut b.timeseries {
                iv.histogram = None;
            }
        }
        let runs = [run];
        let Prepared::Skip(why) = prepare(&Context::new(&runs)) else {
            panic!("skipped")
        };
        assert!(why.contains("no per-interval histograms"), "{why}");
    }
}
