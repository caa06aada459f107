//! A figure: title block, legend column, and one or more panels stacked vertically. Most
//! charts are a figure; a chart module only computes the data that goes in.

use super::canvas::{frame, Chart};
use super::legend::{self, Legend};
use super::panel::{self, Panel};
use super::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct Figure {
    pub title: String,
    pub context: String,
    pub legend: Legend,
    /// Top to bottom; they share the height equally.
    pub panels: Vec<Panel>,
}

impl Chart for Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let body = frame(root, &self.title, &self.context)?;
        let plot = legend::place(&body, &self.legend)?;
        let n = self.panels.len().max(1);
        let areas = plot.split_evenly((n, 1));
        for (p, area) in self.panels.iter().zip(areas.iter()) {
            panel::draw(area, p)?;
        }
        Ok(())
    }
}
