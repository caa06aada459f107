//! The legend: a column at the right of every chart, outside the plot, so it never hides
//! data however long the series names are. Below the entries go notes (what a marker
//! means, which counters are unavailable and why).

use super::canvas::{err, text, wrap, GREY};
use super::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    Line,
    Dashed,
    /// A vertical dashed marker line.
    Marker,
    Bar,
    Whisker,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub label: String,
    pub color: RGBColor,
    pub mark: Mark,
}

#[derive(Debug, Clone, Default)]
pub struct Legend {
    pub entries: Vec<Entry>,
    pub notes: Vec<String>,
}

impl Legend {
    pub fn add(&mut self, label: impl Into<String>, color: RGBColor, mark: Mark) {
        self.entries.push(Entry {
            label: label.into(),
            color,
            mark,
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

const ENTRY_SIZE: f64 = 14.0;
const NOTE_SIZE: f64 = 13.0;
const SWATCH: i32 = 30;
const MIN_W: i32 = 230;
const MAX_W: i32 = 380;

/// Draw `legend` in a column at the right of `body`; return the area left for the plot.
pub fn place<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    legend: &Legend,
) -> Result<DrawingArea<DB, Shift>> {
    let style = text(ENTRY_SIZE, BLACK);
    let mut widest = 0;
    for e in &legend.entries {
        let (w, _) = body.estimate_text_size(&e.label, &style).map_err(err)?;
        widest = widest.max(w as i32);
    }
    let col_w = (widest + SWATCH + 32).clamp(MIN_W, MAX_W);
    let (body_w, _) = body.dim_in_pixel();
    let (plot, col) = body.split_horizontally(body_w as i32 - col_w);
    let text_x = SWATCH + 16;
    let text_w = col_w - text_x - 8;
    let mut y = 24;
    for e in &legend.entries {
        let lines = wrap(&col, &e.label, &style, text_w)?;
        let mid = y + 8;
        swatch(&col, e, mid)?;
        for l in lines {
            col.draw(&Text::new(l, (text_x, y), style.clone()))
                .map_err(err)?;
            y += 18;
        }
        y += 6;
    }
    if !legend.notes.is_empty() {
        y += 10;
    }
    let note_style = text(NOTE_SIZE, GREY);
    for n in &legend.notes {
        for l in wrap(&col, n, &note_style, col_w - 24)? {
            col.draw(&Text::new(l, (6, y), note_style.clone()))
                .map_err(err)?;
            y += 17;
        }
        y += 8;
    }
    Ok(plot)
}

fn swatch<DB: DrawingBackend>(col: &DrawingArea<DB, Shift>, e: &Entry, mid: i32) -> Result<()> {
    let (x0, x1) = (8, 8 + SWATCH);
    let c = e.color;
    match e.mark {
        Mark::Line => col
            .draw(&PathElement::new(
                vec![(x0, mid), (x1, mid)],
                c.stroke_width(3),
            ))
            .map_err(err)?,
        Mark::Dashed => {
            for k in 0..3 {
                let a = x0 + k * 11;
                col.draw(&PathElement::new(
                    vec![(a, mid), (a + 7, mid)],
                    c.stroke_width(3),
                ))
                .map_err(err)?;
            }
        }
        Mark::Marker => {
            for k in 0..3 {
                let a = mid - 9 + k * 7;
                col.draw(&PathElement::new(
                    vec![(x0 + 15, a), (x0 + 15, a + 4)],
                    c.stroke_width(2),
                ))
                .map_err(err)?;
            }
        }
        Mark::Bar => col
            .draw(&Rectangle::new(
                [(x0 + 4, mid - 7), (x1 - 4, mid + 7)],
                c.filled(),
            ))
            .map_err(err)?,
        Mark::Whisker => {
            let s = c.stroke_width(2);
            col.draw(&PathElement::new(vec![(x0, mid), (x1, mid)], s))
                .map_err(err)?;
            col.draw(&PathElement::new(vec![(x0, mid - 6), (x0, mid + 6)], s))
                .map_err(err)?;
            col.draw(&PathElement::new(vec![(x1, mid - 6), (x1, mid + 6)], s))
                .map_err(err)?;
        }
    }
    Ok(())
}
