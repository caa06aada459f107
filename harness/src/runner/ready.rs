//! A readiness signal for tests, so they need not sleep to hit a phase of a run: when
//! the environment variable `FAULTLINE_READY_FILE` names a file, the runner appends one
//! line to it when a cell's measured phase begins and at every sample of it:
//!
//! ```text
//! measuring <backend spec> x<threads> r<repeat> ops=<measured operations so far>
//! ```
//!
//! Unset (the normal case), it does nothing. A test that must act while a backend is
//! being measured (truncate its file, send Ctrl-C) waits for a line naming that backend
//! with `ops` above 0.

use std::io::Write;
use std::path::PathBuf;

/// The environment variable that turns the signal on.
pub const ENV: &str = "FAULTLINE_READY_FILE";

pub struct Ready {
    path: Option<PathBuf>,
    cell: String,
}

impl Ready {
    pub fn from_env(spec: &str, threads: usize, repeat: u32) -> Ready {
        Ready {
            path: std::env::var_os(ENV).map(PathBuf::from),
            cell: format!("{spec} x{threads} r{repeat}"),
        }
    }

    /// Append `measuring <cell> ops=<ops>`; errors are ignored (a test hook must never
    /// disturb a run).
    pub fn mark(&self, ops: u64) {
        let Some(p) = &self.path else { return };
        let line = format!("measuring {} ops={ops}\n", self.cell);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            // One write of the whole line: a reader never sees half of one.
            let _ = f.write_all(line.as_bytes());
        }
    }
}
