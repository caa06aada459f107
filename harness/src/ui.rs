//! Terminal progress: bars on stderr, hidden when stderr is not a terminal or when the
//! user asked for quiet output.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

fn target(quiet: bool) -> ProgressDrawTarget {
    if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}

/// A bar counting bytes, e.g. while the data file is written.
pub fn bytes_bar(total: u64, message: &str, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target(quiet));
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
pub fn cell_bar(total_ms: Option<u64>, message: &str, quiet: bool) -> ProgressBar {
    let bar = match total_ms {
        Some(t) => {
            let b = ProgressBar::with_draw_target(Some(t), target(quiet));
            b.set_style(
                ProgressStyle::with_template("{prefix:>28} [{bar:24}] {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        }
        None => {
            let b = ProgressBar::with_draw_target(None, target(quiet));
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
