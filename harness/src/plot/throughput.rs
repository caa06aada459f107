//! throughput: operations per second in each sampling interval, one line per backend
//! (the shape of the paper's Figure 1), with a dashed marker where the page cache filled
//! (see `cache_fill` for how that is detected).

use super::axes::{self, Scale};
use super::cache_fill;
use super::context::Context;
use super::figure::Figure;
use super::legend::{Legend, Mark};
use super::panel::{Line, Panel, VMark};
use super::rates;
use super::Prepared;

pub const TITLE: &str = "Throughput over time";

pub fn prepare(ctx: &Context) -> Prepared<Figure> {
    if !ctx.any_timeseries() {
        return Prepared::Skip("no backend measured anything, so there is no time series".into());
    }
    let mut legend = Legend::default();
    let mut lines = Vec::new();
    let mut marks = Vec::new();
    let mut t_max = 0.0f64;
    for g in ctx.measured() {
        let measured: Vec<_> = g.measured().collect();
        for b in &measured {
            lines.push(Line {
                points: rates::ops_per_sec(b),
                color: g.color,
                dashed: false,
            });
            t_max = t_max.max(rates::end_s(b));
        }
        let mean = measured.iter().map(|b| b.ops_per_sec).sum::<f64>() / measured.len() as f64;
        let repeats = if measured.len() > 1 {
            format!(" (mean of {} repeats)", measured.len())
        } else {
            String::new()
        };
        legend.add(
            format!("{}: {} ops/s{repeats}", g.label, axes::format_si(mean)),
            g.color,
            Mark::Line,
        );
        if let Some(f) = measured.first().and_then(|b| cache_fill::detect(b)) {
            marks.push(VMark {
                x: f.t_s,
                color: g.color,
                label: format!("{}: {}", g.label, f.describe()),
            });
        }
    }
    let y = Scale::auto(
        lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)),
        50.0,
    );
    if !marks.is_empty() {
        legend.add("page cache full", super::canvas::GREY, Mark::Marker);
        legend.note(
            "Dashed vertical line: the start of the first interval in which the page cache \
             stopped growing or vmstat pgsteal (eviction) became > 0.",
        );
    } else {
        let probed = ctx.measured().flat_map(|g| g.measured()).any(|b| {
            b.timeseries.iter().any(|iv| {
                iv.counters.page_cache_bytes_end.is_some()
                    || iv.counters.cgroup_page_cache_bytes_end.is_some()
                    || iv.counters.vmstat.is_some()
            })
        });
        if probed {
            legend.note(
                "No page-cache fill detected: the cache did not stop growing after growing, \
                 and nothing was evicted.",
            );
        } else {
            legend.note(format!(
                "No page-cache fill marker: page-cache size unavailable ({}).",
                ctx.reason(crate::probe::CounterId::PageCacheBytesEnd)
            ));
        }
    }
    if ctx.has_repeats() {
        legend.note("Repeats are drawn in the same colour.");
    }
    let y_desc = if y.log {
        legend.note("Log scale: an interval with 0 operations sits on the bottom edge.");
        "operations per second (log scale)"
    } else {
        "operations per second"
    };
    Prepared::Draw(Figure {
        title: TITLE.into(),
        context: ctx.title_line(),
        legend,
        panels: vec![Panel {
            caption: None,
            x: Scale::from_zero(t_max),
            y,
            x_desc: "time since the measured phase began (s)".into(),
            y_desc: y_desc.into(),
            x_ticks: None,
            x_fmt: axes::trim,
            y_fmt: axes::format_si,
            lines,
            marks,
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
    fn lines_per_repeat_and_marks() {
        let runs = [fixture::run("a", true)];
        let ctx = Context::new(&runs);
        let Prepared::Draw(f) = prepare(&ctx) else {
            panic!("drawn")
        };
        assert_eq!(f.panels[0].lines.len(), 6, "3 backends x 2 repeats");
        assert_eq!(
            f.panels[0].marks.len(),
            3,
            "every fixture backend fills the cache"
        );
        assert!(f.legend.entries[0].label.contains("mean of 2 repeats"));
    }

    #[test]
    fn no_marker_without_counters_says_why() {
        let runs = [fixture::run("a", false)];
        let ctx = Context::new(&runs);
        let Prepared::Draw(f) = prepare(&ctx) else {
            panic!("drawn")
        };
        assert!(f.panels[0].marks.is_empty());
        assert!(f
            .legend
            .notes
            .iter()
            .any(|n| n.contains("meminfo not readable")));
    }
}
