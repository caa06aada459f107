//! Reading finished runs back: the markdown report, the HTML report (`page` is its
//! model, `html` renders it), the comparison of two sets of runs
//! (regression tracking), and the exports for continuous-benchmarking services.
//!
//! Everything here except `load` is a pure function from records to text, so each
//! output is tested on fixed records. Repeats of one backend at one thread count (and
//! the same backend in several records of the same workload) are pooled into one
//! `aggregate::Row`: the mean with its min-max spread.

pub mod aggregate;
pub mod compare;
pub mod export;
pub mod html;
pub mod kinds;
pub mod load;
pub mod markdown;
pub mod metric;
pub mod model;
pub mod page;
pub mod stalls;
pub mod verdict;

pub use aggregate::{Row, Spread};
pub use compare::{compare, Comparison};
pub use markdown::report_markdown;
