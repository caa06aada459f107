//! Terminal output of a run, behind one `Reporter`: progress bars and per-cell lines on
//! stderr (bars only when stderr is a terminal), nothing at all when quiet. What a run
//! prints at its end (the table or JSON on stdout) is the command's, not the reporter's.

use crate::record::BackendResult;
use crate::units;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Where a run's progress goes. Every method has a no-op default, so a front end (or a
/// test) implements only what it shows.
pub trait Reporter: Sync {
    /// The run's header: workload, data, device.
    fn header(&self, _text: &str) {}
    /// A fact about the run's setup worth a line (a cgroup limit, ...).
    fn note(&self, _text: &str) {}
    /// A bar counting bytes written (data file or device fill).
    fn bytes_bar(&self, _total: u64, _message: &str) -> ProgressBar {
        ProgressBar::hidden()
    }
    /// A bar for one cell: elapsed against planned time (a spinner for an op quota).
    fn cell_bar(&self, _planned: Option<Duration>, _label: &str) -> ProgressBar {
        ProgressBar::hidden()
    }
    /// One cell finished.
    fn cell_done(&self, _b: &BackendResult) {}
}

/// Prints nothing.
pub struct Quiet;

impl Reporter for Quiet {}

/// Lines on stderr, and progress bars when stderr is a terminal.
pub struct Console;

impl Reporter for Console {
    fn header(&self, text: &str) {
        eprintln!("{text}");
    }
    fn note(&self, text: &str) {
        eprintln!("  {text}");
    }
    fn bytes_bar(&self, total: u64, message: &str) -> ProgressBar {
        bytes_bar(total, message)
    }
    fn cell_bar(&self, planned: Option<Duration>, label: &str) -> ProgressBar {
        cell_bar(planned.map(|d| d.as_millis() as u64), label)
    }
    fn cell_done(&self, b: &BackendResult) {
        eprintln!("{}", cell_line(b));
    }
}

/// The reporter for a command's `--quiet` flag.
pub fn reporter(quiet: bool) -> &'static dyn Reporter {
    if quiet {
        &Quiet
    } else {
        &Console
    }
}

/// The one-line result of a cell: throughput and median/p99 latency, or why it did not run.
pub fn cell_line(b: &BackendResult) -> String {
    use crate::record::Status;
    let head = format!("  {:<28} x{:<3}", b.name, b.threads);
    let why = b.reason.as_deref().unwrap_or("");
    match b.status {
        Status::Ok => {
            let pct = |f: fn(&crate::record::Latency) -> u64| {
                b.latency_ns
                    .as_ref()
                    .map(|l| units::format_ns(f(l) as f64))
                    .unwrap_or_default()
            };
            format!(
                "{head} {:>9} ops/s {:>9.1} MiB/s  p50 {:>8}  p99 {:>8}",
                units::format_count(b.ops_per_sec),
                b.bytes_per_sec / 1048576.0,
                pct(|l| l.p50),
                pct(|l| l.p99),
            )
        }
        Status::Skipped => format!("{head} skipped: {why}"),
        Status::Failed => format!("{head} FAILED: {why}"),
    }
}

/// Bars draw on stderr when it is a terminal, nowhere otherwise.
fn target() -> ProgressDrawTarget {
    if !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}

/// A bar counting bytes, e.g. while the data file is written.
fn bytes_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// A bar for one measured backend: elapsed time against the planned time, with live
/// throughput in the message.
fn cell_bar(total_ms: Option<u64>, message: &str) -> ProgressBar {
    let bar = match total_ms {
        Some(t) => {
            let b = ProgressBar::with_draw_target(Some(t), target());
            b.set_style(
                ProgressStyle::with_template("{prefix:>28} [{bar:24}] {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        }
        None => {
            let b = ProgressBar::with_draw_target(None, target());
            b.set_style(
                ProgressStyle::with_template("{prefix:>28} {spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b
        }
    };
    bar.set_prefix(message.to_string());
    bar
}

/// Wait for scoped worker threads while a bar shows `done`, then collect their results
/// (a panicked worker becomes an error naming `what`).
pub fn join_with_progress<T>(
    handles: Vec<std::thread::ScopedJoinHandle<'_, anyhow::Result<T>>>,
    bar: &ProgressBar,
    done: &std::sync::atomic::AtomicU64,
    what: &str,
) -> Vec<anyhow::Result<T>> {
    while !handles.iter().all(|h| h.is_finished()) {
        bar.set_position(done.load(std::sync::atomic::Ordering::Relaxed));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("a {what} thread panicked")))
        })
        .collect()
}
