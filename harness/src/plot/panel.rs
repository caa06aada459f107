//! One x/y panel of lines: the building block of the time-series and latency charts.
//! A chart fills in the data (already in data units); the panel maps it through the axis
//! scales, draws the grid, axis labels, lines, vertical markers, and a note in the middle
//! when a panel has nothing to show.

use super::axes::Scale;
use super::canvas::{err, text, wrap, GREY, GRID};
use super::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub struct Line {
    /// (x, y) in data units; non-finite points are left out.
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub dashed: bool,
}

/// A vertical dashed line at `x` with a label near the top of the panel.
pub struct VMark {
    pub x: f64,
    pub color: RGBColor,
    pub label: String,
}

pub struct Panel {
    pub caption: Option<String>,
    pub x: Scale,
    pub y: Scale,
    pub x_desc: String,
    pub y_desc: String,
    /// Tick positions in data units instead of the scale's own.
    pub x_ticks: Option<Vec<f64>>,
    pub x_fmt: fn(f64) -> String,
    pub y_fmt: fn(f64) -> String,
    pub lines: Vec<Line>,
    pub marks: Vec<VMark>,
    /// Drawn in the middle of the panel when it has no lines (e.g. "unavailable: why").
    pub empty: Option<String>,
    /// A dot on every point of lines with few points (time series: the samples).
    pub dots: bool,
}

/// Lines with at most this many points also get a dot per point, so a short run's few
/// samples are visible as samples.
const DOTS_UP_TO: usize = 40;

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<()> {
    let mut b = ChartBuilder::on(area);
    b.margin_top(8)
        .margin_right(24)
        .margin_left(8)
        .margin_bottom(4)
        .x_label_area_size(48)
        .y_label_area_size(78);
    if let Some(c) = &p.caption {
        b.caption(c, text(16.0, BLACK));
    }
    let (xs, ys) = (p.x, p.y);
    let mut chart = b
        .build_cartesian_2d(xs.coord_with(p.x_ticks.as_deref()), ys.coord())
        .map_err(err)?;
    let x_fmt = p.x_fmt;
    let y_fmt = p.y_fmt;
    chart
        .configure_mesh()
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc.as_str())
        .x_label_formatter(&|a| x_fmt(xs.value(*a)))
        .y_label_formatter(&|a| y_fmt(ys.value(*a)))
        .label_style(text(13.0, BLACK))
        .axis_desc_style(text(15.0, BLACK))
        .bold_line_style(GRID)
        .light_line_style(RGBColor(244, 244, 244))
        .draw()
        .map_err(err)?;

    for l in &p.lines {
        let pts: Vec<(f64, f64)> = l
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| (xs.axis(*x), ys.axis(*y)))
            .collect();
        let style = l.color.stroke_width(2);
        if l.dashed {
            chart
                .draw_series(DashedLineSeries::new(pts.clone(), 9, 6, style))
                .map_err(err)?;
        } else {
            chart
                .draw_series(LineSeries::new(pts.clone(), style))
                .map_err(err)?;
        }
        if p.dots && pts.len() <= DOTS_UP_TO {
            chart
                .draw_series(pts.iter().map(|pt| Circle::new(*pt, 3, l.color.filled())))
                .map_err(err)?;
        }
    }

    let (y0, y1) = (ys.range().start, ys.range().end);
    for (k, m) in p.marks.iter().enumerate() {
        if !xs.contains(m.x) {
            continue;
        }
        let x = xs.axis(m.x);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x, y0), (x, y1)],
                7,
                5,
                m.color.stroke_width(2),
            ))
            .map_err(err)?;
        // Labels of marks in the right part of the panel go to the left of the line.
        let right_part = (x - xs.range().start) > 0.6 * (xs.range().end - xs.range().start);
        let (dx, anchor) = if right_part {
            (-5, HPos::Right)
        } else {
            (5, HPos::Left)
        };
        let style = text(13.0, m.color).pos(Pos::new(anchor, VPos::Top));
        let label =
            EmptyElement::at((x, y1)) + Text::new(m.label.clone(), (dx, 4 + 18 * k as i32), style);
        chart.draw_series(std::iter::once(label)).map_err(err)?;
    }

    if p.lines.is_empty() {
        if let Some(note) = &p.empty {
            let mid = ((xs.range().start + xs.range().end) / 2.0, (y0 + y1) / 2.0);
            let style = text(15.0, GREY).pos(Pos::new(HPos::Center, VPos::Center));
            let (w, _) = area.dim_in_pixel();
            let lines = wrap(area, note, &style, w as i32 - 220)?;
            let n = lines.len() as i32;
            for (i, l) in lines.into_iter().enumerate() {
                let dy = (2 * i as i32 - (n - 1)) * 10;
                let e = EmptyElement::at(mid) + Text::new(l, (0, dy), style.clone());
                chart.draw_series(std::iter::once(e)).map_err(err)?;
            }
        }
    }
    Ok(())
}
