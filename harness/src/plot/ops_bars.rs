//! ops-bars: operations per second per backend (and thread count), one horizontal bar
//! each, with whiskers from the slowest to the fastest repeat where the workload had
//! repeats. Backends that did not run are listed with their reason.

use super::axes::{self, Scale};
use super::canvas::{err, fit, frame, text, width, Chart, GREY, GRID};
use super::context::Context;
use super::legend::{self, Legend, Mark};
use super::Prepared;
use super::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const TITLE: &str = "Throughput per backend";

#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub color: RGBColor,
    /// Mean, slowest and fastest ops/s over the measured repeats.
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
    /// Set when nothing was measured: why.
    pub not_run: Option<String>,
}

pub struct OpsBars {
    pub title: String,
    /// The x axis and the unit after each value ("operations per second", "ops/s").
    pub x_desc: String,
    pub unit: String,
    pub context: String,
    pub legend: Legend,
    pub bars: Vec<Bar>,
}

pub fn prepare(ctx: &Context) -> Prepared<OpsBars> {
    if ctx.measured().next().is_none() {
        return Prepared::Skip("no backend measured anything".into());
    }
    let mut bars = Vec::new();
    for g in &ctx.groups {
        let v: Vec<f64> = g.measured().map(|b| b.ops_per_sec).collect();
        let not_run = v.is_empty().then(|| g.not_measured_reason());
        let mean = if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        };
        bars.push(Bar {
            label: g.label.clone(),
            color: g.color,
            mean,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(0.0, f64::max),
            runs: v.len(),
            not_run,
        });
    }
    let mut legend = Legend::default();
    let repeats = bars.iter().any(|b| b.runs > 1);
    if repeats {
        legend.add("mean over the repeats", GREY, Mark::Bar);
        legend.add("slowest to fastest repeat", BLACK, Mark::Whisker);
    } else {
        legend.add("operations per second", GREY, Mark::Bar);
        legend.note("One run per backend: no error bars (run with --repeats N to see the spread).");
    }
    legend.note("Operations per second over each backend's whole measured phase (ops / elapsed).");
    Prepared::Draw(OpsBars {
        title: TITLE.into(),
        x_desc: "operations per second".into(),
        unit: "ops/s".into(),
        context: ctx.title_line(),
        legend,
        bars,
    })
}

impl Chart for OpsBars {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let body = frame(root, &self.title, &self.context)?;
        let plot = legend::place(&body, &self.legend)?;
        let n = self.bars.len();
        let label_style = text(14.0, BLACK);
        let (plot_w, _) = plot.dim_in_pixel();
        let max_label = (plot_w as i32 / 3).max(120);
        let mut labels = Vec::with_capacity(n);
        let mut widest = 0;
        for b in &self.bars {
            let l = fit(&plot, &b.label, &label_style, max_label)?;
            widest = widest.max(width(&plot, &l, &label_style)?);
            labels.push(l);
        }
        let top = self
            .bars
            .iter()
            .map(|b| b.max.max(b.mean))
            .fold(0.0, f64::max);
        // Room on the right for the value labels.
        let x = Scale::from_zero(top * 1.35);
        let y_of = |i: usize| (n - 1 - i) as f64;
        let mut chart = ChartBuilder::on(&plot)
            .margin_top(16)
            .margin_right(24)
            .margin_left(8)
            .x_label_area_size(48)
            .y_label_area_size(widest as u32 + 24)
            .build_cartesian_2d(
                x.coord(),
                Scale::linear(-0.6, n as f64 - 0.4)
                    .coord_with(Some(&(0..n).map(|i| i as f64).collect::<Vec<_>>())),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(self.x_desc.as_str())
            .x_label_formatter(&|v| axes::format_si(*v))
            .y_label_formatter(&|v| {
                let k = v.round();
                if k < 0.0 || k >= n as f64 {
                    return String::new();
                }
                labels.get(n - 1 - k as usize).cloned().unwrap_or_default()
            })
            .label_style(label_style.clone())
            .axis_desc_style(text(15.0, BLACK))
            .bold_line_style(GRID)
            .draw()
            .map_err(err)?;
        // Half the bar height, in category units.
        let h = 0.36;
        for (i, b) in self.bars.iter().enumerate() {
            let y = y_of(i);
            let value_style = text(13.0, BLACK).pos(Pos::new(HPos::Left, VPos::Center));
            if let Some(why) = &b.not_run {
                let t = EmptyElement::at((0.0, y))
                    + Text::new(
                        format!("did not run: {why}"),
                        (8, 0),
                        text(13.0, GREY).pos(Pos::new(HPos::Left, VPos::Center)),
                    );
                chart.draw_series(std::iter::once(t)).map_err(err)?;
                continue;
            }
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - h), (b.mean, y + h)],
                    b.color.filled(),
                )))
                .map_err(err)?;
            let mut label = format!("{} {}", axes::format_si(b.mean), self.unit);
            let mut right = b.mean;
            if b.runs > 1 {
                let s = BLACK.stroke_width(2);
                let cap = h * 0.35;
                chart
                    .draw_series([
                        PathElement::new(vec![(b.min, y), (b.max, y)], s),
                        PathElement::new(vec![(b.min, y - cap), (b.min, y + cap)], s),
                        PathElement::new(vec![(b.max, y - cap), (b.max, y + cap)], s),
                    ])
                    .map_err(err)?;
                label = format!(
                    "{label} ({}–{}, {} runs)",
                    axes::format_si(b.min),
                    axes::format_si(b.max),
                    b.runs
                );
                right = b.max;
            }
            let t = EmptyElement::at((right, y)) + Text::new(label, (8, 0), value_style);
            chart.draw_series(std::iter::once(t)).map_err(err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn bars_have_spread_and_skips() {
        let runs = [fixture::run("a", true)];
        let Prepared::Draw(c) = prepare(&Context::new(&runs)) else {
            panic!("drawn")
        };
        assert_eq!(c.bars.len(), 4);
        let pread = &c.bars[0];
        assert_eq!(pread.runs, 2);
        assert!(pread.min < pread.mean && pread.mean < pread.max);
        assert_eq!(c.bars[3].not_run.as_deref(), Some("no huge pages reserved"));
    }
}
