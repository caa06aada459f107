//! faultline: a benchmark and research harness for storage I/O that measures whether
//! a program should read its data through mmap or through explicit I/O.
//!
//! Data flow: a workload (`spec`) is resolved into cells (backend x thread count x
//! repeat); for each cell the `runner` sets the cache state, opens the `backend`, runs
//! the workers and samples their progress; the outcomes form one `record::RunRecord`,
//! from which every exporter (run.json, CSV, .hgrm, table) is a pure function.

pub mod app;
pub mod backend;
pub mod claim;
pub mod cli;
pub mod datafile;
pub mod env;
pub mod interrupt;
pub mod plan;
pub mod plot;
pub mod probe;
pub mod record;
pub mod report;
pub mod runner;
pub mod spec;
pub mod sys;
pub mod table;
pub mod ui;
pub mod units;
