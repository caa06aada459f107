//! latency-percentiles: the percentile spectrum of each backend's latency, HdrHistogram
//! style: x is the percentile on a log "nines" axis (x = 1/(1-q), so 90%, 99%, 99.9%
//! are equally spaced), y the latency at that percentile on a log axis in µs. Tails
//! (page faults, device reads behind a cache hit rate) show as a rise to the right.

use super::axes::{self, Scale};
use super::context::Context;
use super::figure::Figure;
use super::latency;
use super::legend::{Legend, Mark};
use super::panel::{Line, Panel};
use super::Prepared;
use hdrhistogram::Histogram;

pub const TITLE: &str = "Latency percentile spectrum";

/// Points (1/(1-q), latency in µs) of `h`, up to x = the number of operations (the
/// largest quantile the data resolves), ending at the maximum.
pub fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let n = h.len() as f64;
    let mut out: Vec<(f64, f64)> = Vec::new();
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        if q >= 1.0 {
            continue;
        }
        let x = 1.0 / (1.0 - q);
        if x > n {
            break;
        }
        out.push((x, v.value_iterated_to() as f64 / 1e3));
    }
    if n >= 1.0 && out.last().is_none_or(|p| p.0 < n) {
        out.push((n.max(1.0), h.max() as f64 / 1e3));
    }
    out
}

/// The x axis of a percentile spectrum: "nines" (1/(1-q)) on a log scale up to the
/// largest count, with ticks at 1, 2, 10, 100, ...
pub fn nines_axis(x_max: f64) -> (Scale, Vec<f64>) {
    let x = Scale {
        log: true,
        lo: 1.0,
        hi: x_max * 1.5,
    };
    let mut ticks = vec![1.0, 2.0];
    let mut t = 10.0;
    while t <= x.hi {
        ticks.push(t);
        t *= 10.0;
    }
    (x, ticks)
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
    let mut lines = Vec::new();
    let (mut x_max, mut y_min, mut y_max) = (10.0f64, f64::INFINITY, 0.0f64);
    for (g, h) in &hists {
        let pts = spectrum(h);
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
        let floor = if g.measured().any(|b| b.timing_floor_note().is_some()) {
            " (p50 at the timing floor)"
        } else {
            ""
        };
        legend.add(
            format!(
                "{}: p50 {}, p99 {}, p99.9 {}, max {}{floor}",
                g.label,
                q(0.5),
                q(0.99),
                q(0.999),
                axes::format_latency_ns(h.max() as f64)
            ),
            g.color,
            Mark::Line,
        );
    }
    legend.notes = notes;
    legend.note(
        "x: percentile on a \"nines\" scale, 1/(1-q); each line ends at its maximum, at \
         x = the number of operations.",
    );
    if ctx.has_repeats() {
        legend.note("Repeats are merged into one histogram per backend.");
    }
    let (x, ticks) = nines_axis(x_max);
    Prepared::Draw(Figure {
        title: TITLE.into(),
        context: ctx.title_line(),
        legend,
        panels: vec![Panel {
            caption: None,
            x,
            y: Scale::log(y_min, y_max),
            x_desc: "percentile".into(),
            y_desc: "latency (µs, log scale)".into(),
            x_ticks: Some(ticks),
            x_fmt: axes::format_nines,
            y_fmt: axes::format_us,
            lines,
            marks: Vec::new(),
            empty: None,
            dots: false,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn spectrum_rises_to_the_max() {
        let r = fixture::record(true);
        let h = r.backends[0].decode_histogram().unwrap().unwrap();
        let s = spectrum(&h);
        assert!(s.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        let last = s.last().unwrap();
        assert_eq!(last.0, h.len() as f64);
        assert_eq!(last.1, h.max() as f64 / 1e3);
        assert_eq!(s[0].0, 1.0);
    }

    #[test]
    fn repeats_merge() {
        let runs = [fixture::run("a", true)];
        let Prepared::Draw(f) = prepare(&Context::new(&runs)) else {
            panic!("drawn")
        };
        assert_eq!(f.panels[0].lines.len(), 3);
        assert!(f.legend.entries[0].label.starts_with("pread: p50 "));
    }
}
