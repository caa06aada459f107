//! A gate before the final sync of a write cell: every writing thread stops there after
//! its measured loop (before its own `sync = end` sync), so the harness can look at
//! the page cache as the program left it (which written pages the kernel already wrote
//! back on its own) before any sync cleans them. The time a thread waits at the gate is
//! taken out of its measured time.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The longest a worker waits for the gate to open (the harness opens it on every
/// path; this bounds a wait if it somehow does not).
const MAX_WAIT: Duration = Duration::from_secs(120);

struct State {
    arrived: usize,
    open: bool,
    /// The blocks the arrived workers wrote.
    written: Vec<u64>,
}

pub struct Gate {
    state: Mutex<State>,
    cv: Condvar,
    /// The longest a worker waits.
    max_wait: Duration,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new()
    }
}

impl Gate {
    pub fn new() -> Gate {
        Gate::holding(Duration::ZERO)
    }

    /// A gate the harness may keep closed for `hold` after every worker arrived
    /// (--hold-before-sync): workers wait up to that long beyond the usual bound.
    pub fn holding(hold: Duration) -> Gate {
        Gate {
            state: Mutex::new(State {
                arrived: 0,
                open: false,
                written: Vec::new(),
            }),
            cv: Condvar::new(),
            max_wait: MAX_WAIT + hold,
        }
    }

    /// A worker: arrive with the blocks it wrote, and wait until the gate opens.
    /// Returns the time waited.
    pub fn arrive(&self, written: impl Iterator<Item = u64>) -> Duration {
        let t0 = Instant::now();
        let Ok(mut s) = self.state.lock() else {
            return Duration::ZERO;
        };
        s.written.extend(written);
        s.arrived += 1;
        self.cv.notify_all();
        while !s.open && t0.elapsed() < self.max_wait {
            s = match self.cv.wait_timeout(s, Duration::from_millis(50)) {
                Ok((g, _)) => g,
                Err(_) => return t0.elapsed(),
            };
        }
        t0.elapsed()
    }

    /// Workers waiting at (or past) the gate.
    pub fn arrived(&self) -> usize {
        self.state.lock().map(|s| s.arrived).unwrap_or(0)
    }

    /// The harness: wait until `done()` says every worker arrived or returned, or
    /// `timeout` passed. True when they did.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(usize) -> bool) -> bool {
        let t0 = Instant::now();
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        while !done(s.arrived) {
            if t0.elapsed() >= timeout {
                return false;
            }
            s = match self.cv.wait_timeout(s, Duration::from_millis(5)) {
                Ok((g, _)) => g,
                Err(_) => return false,
            };
        }
        true
    }

    /// The blocks the arrived workers wrote (taken: asked once).
    pub fn take_written(&self) -> Vec<u64> {
        self.state
            .lock()
            .map(|mut s| std::mem::take(&mut s.written))
            .unwrap_or_default()
    }

    /// Let every worker through, now and later.
    pub fn open(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.open = true;
        }
        self.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn holds_workers_until_opened() {
        let g = Arc::new(Gate::new());
        let w: Vec<_> = (0..2)
            .map(|_| {
                let g = Arc::clone(&g);
                std::thread::spawn(move || g.arrive([1u64, 2].into_iter()))
            })
            .collect();
        assert!(g.wait_for(Duration::from_secs(10), |n| n == 2));
        assert!(w.iter().all(|h| !h.is_finished()), "held at the gate");
        assert_eq!(g.take_written(), vec![1, 2, 1, 2]);
        g.open();
        for h in w {
            assert!(h.join().unwrap() < MAX_WAIT);
        }
        // Open: a late worker passes at once.
        assert!(g.arrive(std::iter::empty()) < MAX_WAIT);
        assert!(!Gate::new().wait_for(Duration::from_millis(10), |n| n == 1));
    }
}
