//! Kernel and device probes. Each probe samples its source at the start of the measured
//! phase, at every interval and at the end; the runner turns the readings into deltas.

pub mod counters;
pub mod device;
pub mod parse;

pub use counters::Counters;
