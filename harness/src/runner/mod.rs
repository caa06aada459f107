//! Runs a plan: the run's setup (data file or device, memory cgroup, probes: `setup`),
//! then one cell after another (`cell`: cache state, open the backend, start the workers
//! behind a barrier, warm up, sample every interval, stop, merge), each turned into a
//! `BackendResult` of the run's record.

mod cell;
mod overhead;
pub mod ready;
pub mod setup;
#[cfg(test)]
mod tests;
mod writeback;

pub use cell::{run_cell, Cell};
pub use setup::Setup;

use crate::interrupt;
use crate::plan;
use crate::record::{BackendResult, ProcessSnapshot, RunRecord};
use crate::ui::Reporter;
use anyhow::Result;

/// Run every cell of the workload's plan into `rec`, in plan order. Returns true when
/// the user interrupted the run (the record then holds the cells measured so far).
pub fn run_plan(setup: &mut Setup, rec: &mut RunRecord, ui: &dyn Reporter) -> Result<bool> {
    if setup.workload.probe_overhead > 0 {
        return overhead::run_plan(setup, rec, ui);
    }
    let w = setup.workload.clone();
    rec.process.push(ProcessSnapshot::take(0));
    for c in plan::cells(w.backends.len(), &w.threads, w.repeats) {
        if interrupt::requested() {
            return Ok(true);
        }
        let spec = &w.backends[c.variant];
        let outcome = setup.run_cell(spec, c.threads, c.repeat, ui)?;
        let interrupted = outcome.interrupted;
        let b =
            BackendResult::from_outcome(spec, outcome, c.repeat, w.block, setup.target.verifies())?;
        ui.cell_done(&b);
        rec.backends.push(b);
        rec.process.push(ProcessSnapshot::take(rec.backends.len()));
        if interrupted {
            return Ok(true);
        }
    }
    Ok(false)
}
