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
