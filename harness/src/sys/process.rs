//! Child processes: waiting for one with its own resource usage (wait4), so that each
//! measured child's CPU time and faults are its own (`getrusage(RUSAGE_CHILDREN)` would
//! sum or maximise over all children waited for so far), and a clock whose readings
//! can be compared between processes.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};

/// Resource usage of one finished child process (from wait4's rusage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChildUsage {
    /// Peak resident set size in bytes (ru_maxrss, which Linux reports in KiB).
    pub max_rss_bytes: u64,
    pub user_ns: u64,
    pub system_ns: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
}

/// CLOCK_MONOTONIC in nanoseconds. Unlike `Instant`, readings can be sent to another
/// process on the same machine and compared there.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; clock_gettime only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec.max(0) as u64 * 1_000_000_000 + ts.tv_nsec.max(0) as u64
}

fn timeval_ns(t: libc::timeval) -> u64 {
    (t.tv_sec.max(0) as u64) * 1_000_000_000 + (t.tv_usec.max(0) as u64) * 1_000
}

/// Wait for `child` to exit and return its exit status and its own resource usage.
///
/// Reaps the child: do not call `Child::wait` on it afterwards (it would fail with
/// ECHILD). Read its piped output before calling this, or a child that fills the pipe
/// never exits.
pub fn wait_with_usage(child: &Child) -> io::Result<(ExitStatus, ChildUsage)> {
    let pid = child.id() as libc::pid_t;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain data; all-zero bytes are a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: status and ru are valid, writable locals; pid names our own child,
        // which has not been reaped yet (the caller does not wait for it otherwise).
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if rc == pid {
            let usage = ChildUsage {
                max_rss_bytes: (ru.ru_maxrss.max(0) as u64) * 1024,
                user_ns: timeval_ns(ru.ru_utime),
                system_ns: timeval_ns(ru.ru_stime),
                minor_faults: ru.ru_minflt.max(0) as u64,
                major_faults: ru.ru_majflt.max(0) as u64,
            };
            return Ok((ExitStatus::from_raw(status), usage));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    // wait_with_usage reaps the child (wait4); clippy cannot see that.
    #[allow(clippy::zombie_processes)]
    fn usage_of_one_child() {
        let c = Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn()
            .expect("sh runs");
        let (st, u) = wait_with_usage(&c).unwrap();
        assert_eq!(st.code(), Some(3));
        assert!(u.max_rss_bytes > 0, "{u:?}");
    }

    #[test]
    fn monotonic_advances() {
        let a = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = monotonic_ns();
        assert!(a > 0 && b >= a + 2_000_000, "{a} {b}");
    }
}
