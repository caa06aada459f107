//! latency-cdf: each backend's latency distribution on a log time axis. Top: the share of
//! operations in each latency bin (10 bins per decade), which shows modes such as
//! "page-cache hit" and "device read" as separate humps. Bottom: the cumulative
//! distribution (share of operations at or below a latency).

use super::axes::{self, Scale};
use super::context::Context;
use super::figure::Figure;
use super::latency;
use super::legend::{Legend, Mark};
use super::panel::{Line, Panel};
use super::Prepared;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

pub const TITLE: &str = "Latency distribution";

const BINS_PER_DECADE: f64 = 10.0;

/// Points (bin centre in ns, % of operations in the bin), every bin from the first to
/// the last occupied one (empty bins as 0: they are measured zeros).
pub fn density(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let n = h.len() as f64;
    let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
    for v in h.iter_recorded() {
        let value = h.median_equivalent(v.value_iterated_to()).max(1) as f64;
        let k = (value.log10() * BINS_PER_DECADE).floor() as i64;
        *bins.entry(k).or_default() += v.count_since_last_iteration();
    }
    let (Some(first), Some(last)) = (
        bins.keys().next().copied(),
        bins.keys().next_back().copied(),
    ) else {
        return Vec::new();
    };
    (first..=last)
        .map(|k| {
            let centre = 10f64.powf((k as f64 + 0.5) / BINS_PER_DECADE);
            let c = bins.get(&k).copied().unwrap_or(0) as f64;
            (centre, 100.0 * c / n)
        })
        .collect()
}

/// Points (latency in ns, % of operations at or below it).
pub fn cdf(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let n = h.len() as f64;
    let mut seen = 0u64;
    let mut out = vec![(h.min().max(1) as f64, 0.0)];
    for v in h.iter_recorded() {
        seen += v.count_since_last_iteration();
        out.push((
            h.highest_equivalent(v.value_iterated_to()).max(1) as f64,
            100.0 * seen as f64 / n,
        ));
    }
    out
}

pub fn prepare(ctx: &Context) -> Prepared<Figure> {
    let mut legend = Legend::default();
    let mut notes = Vec::new();
    let hists = latency::all(ctx.measured(), &mut notes);
    if hists.is_empty() {
        let mut why = "no backend recorded a latency histogram".to_string();
        if !notes.is_empty() {
            why = format!("{why}: {}", notes.join("; "));
        }
        return Prepared::Skip(why);
    }
    let (mut lo, mut hi, mut peak) = (f64::INFINITY, 0.0f64, 0.0f64);
    let mut dens = Vec::new();
    let mut cum = Vec::new();
    for (g, h) in &hists {
        let d = density(h);
        let c = cdf(h);
        for p in d.iter().chain(c.iter()) {
            lo = lo.min(p.0);
            hi = hi.max(p.0);
        }
        peak = d.iter().map(|p| p.1).fold(peak, f64::max);
        dens.push(Line {
            points: d,
            color: g.color,
            dashed: false,
        });
        cum.push(Line {
            points: c,
            color: g.color,
            dashed: false,
        });
        let floor = if g.measured().any(|b| b.timing_floor_note().is_some()) {
            " (p50 at the timing floor)"
        } else {
            ""
        };
        legend.add(
            format!(
                "{}: {} operations timed{floor}",
                g.label,
                axes::format_si(h.len() as f64)
            ),
            g.color,
            Mark::Line,
        );
    }
    legend.notes = notes;
    legend.note(format!(
        "Top: share of operations in each latency bin ({BINS_PER_DECADE} bins per decade). \
         Bottom: share of operations at or below a latency."
    ));
    if ctx.has_repeats() {
        legend.note("Repeats are merged into one histogram per backend.");
    }
    let x = Scale::log(lo, hi);
    let x_desc = "latency (log scale)";
    Prepared::Draw(Figure {
        title: TITLE.into(),
        context: ctx.title_line(),
        legend,
        panels: vec![
            Panel {
                caption: Some("Distribution".into()),
                x,
                y: Scale::from_zero(peak),
                x_desc: x_desc.into(),
                y_desc: "% of operations per bin".into(),
                x_ticks: None,
                x_fmt: axes::format_latency_ns,
                y_fmt: axes::trim,
                lines: dens,
                marks: Vec::new(),
                empty: None,
                dots: false,
            },
            Panel {
                caption: Some("Cumulative distribution".into()),
                x,
                y: Scale::linear(0.0, 100.0),
                x_desc: x_desc.into(),
                y_desc: "% of operations ≤ latency".into(),
                x_ticks: None,
                x_fmt: axes::format_latency_ns,
                y_fmt: axes::trim,
                lines: cum,
                marks: Vec::new(),
                empty: None,
                dots: false,
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn density_sums_to_100_and_cdf_ends_at_100() {
        let r = fixture::record(true);
        let h = r.backends[2].decode_histogram().unwrap().unwrap();
        let d = density(&h);
        let total: f64 = d.iter().map(|p| p.1).sum();
        assert!((total - 100.0).abs() < 1e-6, "{total}");
        // mmap in the fixture is bimodal: hits around 100 ns, misses around 90 us.
        let low: f64 = d.iter().filter(|p| p.0 < 1e3).map(|p| p.1).sum();
        assert!(low > 50.0 && low < 70.0, "{low}");
        let c = cdf(&h);
        assert_eq!(c.last().unwrap().1, 100.0);
        assert!(c.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}
