//! The drawing surface shared by every chart: 1200x800, the bundled font, the title
//! block, and rendering one chart to SVG or PNG bytes.
//!
//! Text is laid out and (for PNG) rasterised with DejaVu Sans, embedded in the binary and
//! registered with plotters' pure-Rust ab_glyph font backend: no fontconfig or freetype
//! on the machine. SVG files name the font family "sans-serif" and leave drawing the text
//! to the viewer.

use super::{PlotError, Result};
use plotters::backend::RGBPixel;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle, TextStyle};
use std::sync::OnceLock;

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 800;
pub const FONT: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Height of the title block at the top of every chart.
const TITLE_H: u32 = 74;

pub const GREY: RGBColor = RGBColor(90, 90, 90);
pub const GRID: RGBColor = RGBColor(225, 225, 225);

/// A chart that can draw itself on any plotters backend.
pub trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Turn a plotters error into a `PlotError`.
pub fn err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Register the bundled font once per process.
fn font_ready() -> Result<()> {
    static READY: OnceLock<bool> = OnceLock::new();
    let ok = *READY.get_or_init(|| register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok());
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// A text style in the chart font.
pub fn text(size: f64, color: RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(&color)
}

pub fn svg<C: Chart>(c: &C) -> Result<Vec<u8>> {
    font_ready()?;
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
        c.draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(s.into_bytes())
}

pub fn png<C: Chart>(c: &C) -> Result<Vec<u8>> {
    font_ready()?;
    let mut buf = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut buf, (WIDTH, HEIGHT))
            .map_err(err)?;
        let root = backend.into_drawing_area();
        c.draw(&root)?;
        root.present().map_err(err)?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        let mut w = enc.write_header()?;
        w.write_image_data(&buf)?;
        w.finish()?;
    }
    Ok(out)
}

/// Clear the canvas, draw the title and the context line, and return the area below.
pub fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    context: &str,
) -> Result<DrawingArea<DB, Shift>> {
    root.fill(&WHITE).map_err(err)?;
    let (top, body) = root.split_vertically(TITLE_H);
    top.draw(&Text::new(title.to_string(), (24, 12), text(26.0, BLACK)))
        .map_err(err)?;
    let style = text(15.0, GREY);
    let line = fit(&top, context, &style, WIDTH as i32 - 48)?;
    top.draw(&Text::new(line, (24, 46), style)).map_err(err)?;
    Ok(body)
}

/// Width of `s` in pixels.
pub fn width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
) -> Result<i32> {
    let (w, _) = area.estimate_text_size(s, style).map_err(err)?;
    Ok(w as i32)
}

/// `s`, shortened with "…" until it fits in `max` pixels.
pub fn fit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
    max: i32,
) -> Result<String> {
    if width(area, s, style)? <= max {
        return Ok(s.to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    let mut n = chars.len();
    while n > 1 {
        n -= 1;
        let t: String = chars[..n].iter().collect::<String>() + "…";
        if width(area, &t, style)? <= max {
            return Ok(t);
        }
    }
    Ok("…".into())
}

/// `s` broken into lines of at most `max` pixels (at spaces; a long word is cut).
pub fn wrap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
    max: i32,
) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split(' ') {
        let candidate = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if width(area, &candidate, style)? <= max || cur.is_empty() {
            cur = candidate;
        } else {
            lines.push(std::mem::take(&mut cur));
            cur = word.to_string();
        }
        if width(area, &cur, style)? > max {
            lines.push(fit(area, &cur, style, max)?);
            cur.clear();
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    Ok(lines)
}
