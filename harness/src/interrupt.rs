//! Ctrl-C handling: the first SIGINT or SIGTERM asks the run to stop cleanly (the
//! current backend stops, the partial result is written and marked incomplete, and
//! everything the run changed is undone); a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Install the handlers (idempotent).
pub fn install() -> std::io::Result<()> {
    let f = flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the flag is set terminates with status 130.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(f))?;
        signal_hook::flag::register(sig, Arc::clone(f))?;
    }
    Ok(())
}

/// True once the user asked to stop.
pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// For tests: ask to stop as if Ctrl-C was pressed.
pub fn request() {
    flag().store(true, Ordering::Relaxed);
}
