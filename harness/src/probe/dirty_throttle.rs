//! The time writers were throttled in balance_dirty_pages: the
//! `writeback:balance_dirty_pages` tracepoint, read through a tracefs instance of this
//! run (`instances/faultline-<pid>`, created at the run's start and removed at its
//! end), limited to this process and the threads it creates (`set_event_pid` with
//! `options/event-fork`). Every event is a writer over its dirty rate limit looking at
//! the dirty limits; its `pause` field (ms, `pause * 1000 / HZ` in
//! include/trace/events/writeback.h) is how long the writer then sleeps, and a pause
//! of 0 or less means it did not sleep. The events are drained from `trace_pipe`
//! (non-blocking) at each interval of a write cell.
//!
//! tracefs is mounted for the run by the TLB probe (`probe::tlb`) when it is missing.
//! The instance is recorded in `/run/faultline/tracefs/<pid>` before it is created; a
//! run killed with SIGKILL leaves it behind, and the next run removes it
//! (`clean_stale`), as it does the FUSE mounts.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where instances are recorded (one file per run, holding the instance's path).
pub const RECORDS: &str = "/run/faultline/tracefs";
const EVENT: &str = "events/writeback/balance_dirty_pages";
const PREFIX: &str = "faultline-";

/// Throttling of the measured threads over some span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    /// balance_dirty_pages events (a writer over its rate limit checked the limits).
    pub events: u64,
    /// Events that paused the writer (pause > 0).
    pub pauses: u64,
    /// The sum of those pauses, ns (the tracepoint reports ms).
    pub paused_ns: u64,
}

impl Throttle {
    pub fn add(&mut self, o: &Throttle) {
        self.events += o.events;
        self.pauses += o.pauses;
        self.paused_ns += o.paused_ns;
    }
}

/// The `pause` (ms) of one trace_pipe line of the event, None for other lines.
pub fn pause_ms(line: &str) -> Option<i64> {
    let rest = &line[line.find("balance_dirty_pages:")?..];
    rest.split_whitespace()
        .find_map(|t| t.strip_prefix("pause="))
        .and_then(|v| v.parse().ok())
}

/// Add the events of complete lines in `text` to `t`.
pub fn count(text: &str, t: &mut Throttle) {
    for p in text.lines().filter_map(pause_ms) {
        t.events += 1;
        if p > 0 {
            t.pauses += 1;
            t.paused_ns += p as u64 * 1_000_000;
        }
    }
}

/// The run's tracefs instance with the event enabled.
pub struct ThrottleTrace {
    dir: PathBuf,
    pipe: Option<File>,
    carry: Vec<u8>,
    record: Option<PathBuf>,
}

impl ThrottleTrace {
    /// Create the instance under `root` (a mounted tracefs) and enable the event for
    /// this process and its future threads. Err is the reason, for the record.
    pub fn start(root: &Path) -> Result<ThrottleTrace, String> {
        if !root.join(EVENT).is_dir() {
            return Err(format!(
                "no writeback:balance_dirty_pages tracepoint ({} missing)",
                root.join(EVENT).display()
            ));
        }
        if crate::sys::uid() != 0 {
            return Err("reading the writeback:balance_dirty_pages tracepoint needs root (a tracefs instance)".into());
        }
        let pid = std::process::id();
        let dir = root.join("instances").join(format!("{PREFIX}{pid}"));
        let record = Path::new(RECORDS).join(pid.to_string());
        std::fs::create_dir_all(RECORDS)
            .and_then(|_| std::fs::write(&record, dir.to_string_lossy().as_bytes()))
            .map_err(|e| format!("cannot record the tracefs instance in {RECORDS}: {e}"))?;
        let mut t = ThrottleTrace {
            dir: dir.clone(),
            pipe: None,
            carry: Vec::new(),
            record: Some(record),
        };
        std::fs::create_dir(&dir)
            .map_err(|e| format!("cannot create the tracefs instance {}: {e}", dir.display()))?;
        let set = |file: &str, v: &str| {
            std::fs::write(dir.join(file), v)
                .map_err(|e| format!("cannot write {}: {e}", dir.join(file).display()))
        };
        set("options/event-fork", "1")?;
        set("set_event_pid", &pid.to_string())?;
        set("buffer_size_kb", "4096")?;
        set(&format!("{EVENT}/enable"), "1")?;
        let pipe = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dir.join("trace_pipe"))
            .map_err(|e| format!("cannot open {}: {e}", dir.join("trace_pipe").display()))?;
        t.pipe = Some(pipe);
        Ok(t)
    }

    /// The events since the last drain.
    pub fn drain(&mut self) -> Result<Throttle, String> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Err("the trace pipe is closed".into());
        };
        let mut t = Throttle::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.carry.extend_from_slice(&buf[..n]);
                    if let Some(end) = self.carry.iter().rposition(|&b| b == b'\n') {
                        let text = String::from_utf8_lossy(&self.carry[..=end]).into_owned();
                        count(&text, &mut t);
                        self.carry.drain(..=end);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("cannot read the trace pipe: {e}")),
            }
        }
        Ok(t)
    }

    /// Events the ring buffer dropped since the instance was created (the `overrun`
    /// of every CPU); 0 means none were lost.
    pub fn lost(&self) -> Option<u64> {
        let cpus = std::fs::read_dir(self.dir.join("per_cpu")).ok()?;
        let mut n = 0;
        for c in cpus.flatten() {
            let s = std::fs::read_to_string(c.path().join("stats")).ok()?;
            n += s
                .lines()
                .find_map(|l| l.strip_prefix("overrun:"))
                .and_then(|v| v.trim().parse::<u64>().ok())?;
        }
        Some(n)
    }
}

impl Drop for ThrottleTrace {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join(EVENT).join("enable"), "0");
        self.pipe = None;
        if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
            if let Some(r) = self.record.take() {
                let _ = std::fs::remove_file(r);
            }
        }
    }
}

/// Remove the tracefs instances recorded by faultline processes that no longer run.
/// Returns a note per instance removed (or that could not be).
pub fn clean_stale() -> Vec<String> {
    let mut notes = Vec::new();
    let Ok(dir) = std::fs::read_dir(RECORDS) else {
        return notes;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || crate::env::fuse::process_is_faultline(pid) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let inst = PathBuf::from(text.trim());
        // Only ever an instance this tool made: .../instances/faultline-<pid>.
        let ours = inst
            .file_name()
            .is_some_and(|n| n.to_string_lossy() == format!("{PREFIX}{pid}"))
            && inst
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "instances");
        if !ours {
            continue;
        }
        if inst.exists() {
            let _ = std::fs::write(inst.join(EVENT).join("enable"), "0");
            if let Err(err) = std::fs::remove_dir(&inst) {
                if err.kind() == std::io::ErrorKind::NotFound {
                    // Another faultline run removed it meanwhile.
                    let _ = std::fs::remove_file(e.path());
                    continue;
                }
                notes.push(format!(
                    "could not remove the stale tracefs instance {} of faultline process {pid}: {err}; remove it with: rmdir {}",
                    inst.display(),
                    inst.display()
                ));
                continue;
            }
            notes.push(format!(
                "removed the stale tracefs instance {} left by faultline process {pid}",
                inst.display()
            ));
        }
        let _ = std::fs::remove_file(e.path());
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = "\
           faultline-4242    [001] ..... 81234.000001: balance_dirty_pages: bdi 253:0: limit=1211904 setpoint=1060416 dirty=1100000 wb_setpoint=1060000 wb_dirty=1099000 dirty_ratelimit=2048 task_ratelimit=1024 dirtied=32 dirtied_pause=32 paused=0 pause=12 period=12 think=0 cgroup_ino=1
           faultline-4242    [001] ..... 81234.000501: balance_dirty_pages: bdi 253:0: limit=1211904 setpoint=1060416 dirty=1100000 wb_setpoint=1060000 wb_dirty=1099000 dirty_ratelimit=2048 task_ratelimit=1024 dirtied=32 dirtied_pause=32 paused=4 pause=-3 period=12 think=0 cgroup_ino=1
           faultline-4242    [000] ..... 81234.000900: writeback_dirty_folio: bdi 253:0: ino=12 index=4
           faultline-4242    [001] ..... 81234.001001: balance_dirty_pages: bdi 253:0: limit=1 setpoint=1 dirty=1 wb_setpoint=1 wb_dirty=1 dirty_ratelimit=1 task_ratelimit=1 dirtied=1 dirtied_pause=1 paused=0 pause=200 period=200 think=0 cgroup_ino=1
";

    #[test]
    fn counts_pauses_not_paused() {
        assert_eq!(pause_ms(LINES.lines().next().unwrap()), Some(12));
        assert_eq!(pause_ms(LINES.lines().nth(2).unwrap()), None);
        let mut t = Throttle::default();
        count(LINES, &mut t);
        assert_eq!(
            t,
            Throttle {
                events: 3,
                pauses: 2,
                paused_ns: 212_000_000
            }
        );
    }

    #[test]
    fn traces_this_process_when_root() {
        let Some(root) = crate::probe::tlb::root() else {
            crate::testkit::skip("tracefs", "tracefs is not mounted");
            return;
        };
        match ThrottleTrace::start(&root) {
            Ok(mut t) => {
                let dir = t.dir.clone();
                assert!(dir.is_dir());
                assert!(t.drain().is_ok());
                assert_eq!(t.lost(), Some(0));
                drop(t);
                assert!(!dir.exists(), "the instance is removed on drop");
            }
            Err(e) => crate::testkit::skip("tracefs", &e),
        }
    }
}
