//! latency-heatmap: one panel per backend, x = the sampling intervals (time), y =
//! latency buckets on a log scale (8 per decade), colour = operations recorded in that
//! interval and bucket (a log colour scale, drawn under the panels). Where a backend's
//! latency distribution splits (cache hits and page faults) or moves (the page cache
//! filled), the bands show when.

use super::axes::{self, Scale};
use super::canvas::{err, frame, text, Chart, GREY, GRID};
use super::context::Context;
use super::latency_over_time::{drawable, missing_reason};
use super::legend::{self, Legend};
use super::rates;
use super::{Prepared, Result};
use crate::record::{decode_histogram, BackendResult};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const TITLE: &str = "Latency heatmap";

/// Latency buckets per decade.
const PER_DECADE: f64 = 8.0;

/// One backend's cells: (interval start s, end s, bucket index, operations).
pub struct Map {
    pub label: String,
    pub cells: Vec<(f64, f64, i32, u64)>,
    pub t_max: f64,
}

pub struct Heatmap {
    pub context: String,
    pub legend: Legend,
    pub maps: Vec<Map>,
    /// Lowest and highest bucket index over all maps.
    pub buckets: (i32, i32),
    /// Most operations in one cell (the top of the colour scale).
    pub max_count: u64,
}

/// The bucket of a latency in ns: floor(log10(ns) * PER_DECADE).
fn bucket(ns: u64) -> i32 {
    ((ns.max(1) as f64).log10() * PER_DECADE).floor() as i32
}

/// The lower edge of bucket `k` in ns.
fn edge(k: i32) -> f64 {
    10f64.powf(k as f64 / PER_DECADE)
}

/// The cells of one result: every interval's histogram spread over the buckets.
pub fn cells(b: &BackendResult) -> Vec<(f64, f64, i32, u64)> {
    let mut out = Vec::new();
    for s in rates::steps(b) {
        let Some(h) =
            s.iv.histogram
                .as_deref()
                .and_then(|e| decode_histogram(e).ok())
        else {
            continue;
        };
        let mut row: Vec<(i32, u64)> = Vec::new();
        for v in h.iter_recorded() {
            let k = bucket(v.value_iterated_to());
            match row.last_mut() {
                Some(last) if last.0 == k => last.1 += v.count_at_value(),
                _ => row.push((k, v.count_at_value())),
            }
        }
        out.extend(row.into_iter().map(|(k, n)| (s.start_s, s.end_s, k, n)));
    }
    out
}

pub fn prepare(ctx: &Context) -> Prepared<Heatmap> {
    let mut legend = Legend::default();
    let mut maps = Vec::new();
    let mut missing = Vec::new();
    for g in ctx.measured() {
        let Some(b) = g.measured().find(|b| drawable(b)) else {
            if let Some(b) = g.measured().next() {
                missing.push(format!("{} ({})", g.label, missing_reason(b)));
            }
            continue;
        };
        let mut label = g.label.clone();
        if g.results.len() > 1 {
            label.push_str(&format!(
                " (repeat {} of {})",
                b.repeat + 1,
                g.results.len()
            ));
        }
        maps.push(Map {
            label,
            cells: cells(b),
            t_max: rates::end_s(b),
        });
    }
    if maps.is_empty() {
        let why = if missing.is_empty() {
            "no backend measured anything".to_string()
        } else {
            format!("no per-interval latency: {}", missing.join("; "))
        };
        return Prepared::Skip(why);
    }
    let all = maps.iter().flat_map(|m| m.cells.iter());
    let lo = all.clone().map(|c| c.2).min().unwrap_or(0);
    let hi = all.clone().map(|c| c.2).max().unwrap_or(0);
    let max_count = all.map(|c| c.3).max().unwrap_or(1).max(1);
    legend.note(format!(
        "One column per sampling interval, one row per latency bucket ({PER_DECADE} per \
         decade); the colour is the operations recorded in it (log scale, under the panels)."
    ));
    legend.note("White: no operation in that bucket.");
    if ctx.has_repeats() {
        legend.note("With repeats, the first is shown.");
    }
    if !missing.is_empty() {
        legend.note(format!("Not drawn: {}.", missing.join("; ")));
    }
    Prepared::Draw(Heatmap {
        context: ctx.title_line(),
        legend,
        maps,
        buckets: (lo, hi),
        max_count,
    })
}

/// Viridis at 0..=1 (5 anchors, linear between them).
fn viridis(x: f64) -> RGBColor {
    const A: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = x.clamp(0.0, 1.0) * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f64;
    let (a, b) = (A[i], A[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The colour of `n` operations on a log scale up to `max` (1 is the darkest).
fn color(n: u64, max: u64) -> RGBColor {
    let top = (max.max(2) as f64).ln();
    viridis((n.max(1) as f64).ln() / top)
}

const SCALE_H: u32 = 64;

impl Chart for Heatmap {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let body = frame(root, TITLE, &self.context)?;
        let plot = legend::place(&body, &self.legend)?;
        let (_, h) = plot.dim_in_pixel();
        let (panels, scale) = plot.split_vertically(h.saturating_sub(SCALE_H));
        let areas = panels.split_evenly((self.maps.len().max(1), 1));
        let y = Scale {
            log: true,
            lo: edge(self.buckets.0),
            hi: edge(self.buckets.1 + 1),
        };
        for (m, area) in self.maps.iter().zip(areas.iter()) {
            self.panel(area, m, y)?;
        }
        self.color_scale(&scale)
    }
}

impl Heatmap {
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        m: &Map,
        ys: Scale,
    ) -> Result<()> {
        let xs = Scale::from_zero(m.t_max);
        let mut chart = ChartBuilder::on(area)
            .margin_top(8)
            .margin_right(24)
            .margin_left(8)
            .margin_bottom(4)
            .x_label_area_size(40)
            .y_label_area_size(78)
            .caption(&m.label, text(15.0, BLACK))
            .build_cartesian_2d(xs.coord(), ys.coord())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time since the measured phase began (s)")
            .y_desc("latency (µs, log)")
            .x_label_formatter(&|a| axes::trim(xs.value(*a)))
            .y_label_formatter(&|a| axes::format_us(ys.value(*a) / 1e3))
            .label_style(text(12.0, BLACK))
            .axis_desc_style(text(13.0, BLACK))
            .bold_line_style(GRID)
            .light_line_style(RGBColor(244, 244, 244))
            .draw()
            .map_err(err)?;
        let max = self.max_count;
        chart
            .draw_series(m.cells.iter().map(|&(t0, t1, k, n)| {
                Rectangle::new(
                    [
                        (xs.axis(t0), ys.axis(edge(k))),
                        (xs.axis(t1), ys.axis(edge(k + 1))),
                    ],
                    color(n, max).filled(),
                )
            }))
            .map_err(err)?;
        Ok(())
    }

    /// A horizontal bar from 1 operation to the most in one cell, log scale, labelled.
    fn color_scale<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let (w, _) = area.dim_in_pixel();
        let (x0, x1, y0, y1) = (94i32, (w as i32 - 24).max(200), 10i32, 26i32);
        let steps = 120;
        for i in 0..steps {
            let a = x0 + (x1 - x0) * i / steps;
            let b = x0 + (x1 - x0) * (i + 1) / steps;
            let c = viridis(i as f64 / (steps - 1) as f64);
            area.draw(&Rectangle::new([(a, y0), (b, y1)], c.filled()))
                .map_err(err)?;
        }
        area.draw(&Rectangle::new([(x0, y0), (x1, y1)], GREY.stroke_width(1)))
            .map_err(err)?;
        let top = (self.max_count.max(2) as f64).ln();
        let mut v = 1u64;
        let style = text(12.0, BLACK).pos(Pos::new(HPos::Center, VPos::Top));
        loop {
            let x = x0 + ((x1 - x0) as f64 * (v as f64).ln() / top) as i32;
            area.draw(&Text::new(
                axes::format_si(v as f64),
                (x, y1 + 3),
                style.clone(),
            ))
            .map_err(err)?;
            match v.checked_mul(10).filter(|n| *n <= self.max_count) {
                Some(n) => v = n,
                None => break,
            }
        }
        let label = text(13.0, BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        area.draw(&Text::new("operations", (x0 - 6, (y0 + y1) / 2), label))
            .map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn one_map_per_backend_whose_cells_hold_every_operation() {
        let runs = [fixture::run("a", true)];
        let ctx = Context::new(&runs);
        let Prepared::Draw(h) = prepare(&ctx) else {
            panic!("drawn")
        };
        assert_eq!(h.maps.len(), 3);
        assert!(h.maps[0].label.contains("repeat 1 of 2"));
        let b = ctx.groups[0].results[0];
        let hist = b.decode_histogram().unwrap().unwrap();
        let in_cells: u64 = h.maps[0].cells.iter().map(|c| c.3).sum();
        assert_eq!(in_cells, hist.len());
        assert!(h.buckets.0 < h.buckets.1);
        assert!(h.max_count >= 1);
    }

    #[test]
    fn buckets_and_colours() {
        assert_eq!(bucket(1), 0);
        assert_eq!(bucket(1000), 24);
        assert!((edge(24) - 1000.0).abs() < 1e-6);
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(color(1, 100), viridis(0.0));
        assert_eq!(color(100, 100), viridis(1.0));
    }
}
