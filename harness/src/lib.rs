//! faultline: a benchmark and research harness for storage I/O that measures whether
//! a program should read its data through mmap or through explicit I/O.
//!
//! Data flow: a command (`cmd`) loads a workload (`spec`); `plan` orders its cells
//! (backend x thread count x repeat); the `runner` sets up the run once (data, cgroup,
//! probes) and runs each cell: cache state, open the `backend`, workers driven through
//! a `driver::Driver`, progress sampled every interval; the outcomes form one
//! `record::RunRecord`, from which every exporter (run.json, CSV, .hgrm, table, charts,
//! reports) is a pure function. Only `sys` is exempt from `deny(unsafe_code)`.

#![deny(unsafe_code)]

pub mod backend;
pub mod calibrate;
pub mod claim;
pub mod cmd;
pub mod datafile;
pub mod driver;
pub mod env;
pub mod interrupt;
pub mod plan;
pub mod plot;
pub mod probe;
pub mod record;
pub mod report;
pub mod runner;
pub mod spec;
pub mod stats;
#[allow(unsafe_code)]
pub mod sys;
pub mod table;
#[doc(hidden)]
pub mod testkit;
pub mod timing;
pub mod ui;
pub mod units;
