//! The global reclaim regime (`reclaim = "global"`): a machine-wide page-cache limit.
//!
//! No memory cgroup: before each cell whose backend uses the page cache, huge pages are
//! reserved (`/proc/sys/vm/nr_hugepages`, pages of `Hugepagesize` from /proc/meminfo) so
//! that the whole machine has about `page_cache_limit + MARGIN` available
//! (MemAvailable). Reserved huge pages are neither free nor reclaimable, so when the
//! page cache fills what is left, kswapd (and, when it falls behind, the allocating
//! threads in direct reclaim) evicts, as on a machine whose memory is that small.
//!
//! The reservation is taken per cell and given back right after it: the pre-existing
//! `nr_hugepages` is recorded and restored (also after an error, a panic unwinding and
//! Ctrl-C, by `Drop`). Before the sysctl is written, a state file
//! `/run/faultline/hugepages/reservation` records `pid`, the old value and the value
//! set; it doubles as a lock (one reservation at a time on the machine). A guardian
//! process (`sh`, ignoring SIGINT/SIGTERM/SIGHUP) waits on a pipe from the harness: when
//! the harness dies without releasing (SIGKILL, a second Ctrl-C), the pipe closes and
//! the guardian restores the old value at once. Should the guardian not run either, the
//! next `faultline run` finds the state file of a dead process and restores it
//! (`clean_stale`).
//!
//! When the kernel cannot reserve enough huge pages (memory too fragmented for 2 MiB
//! runs, even after compaction), the rest is taken as locked anonymous memory: an
//! anonymous mapping of the shortfall, populated and `mlock`ed, held by the harness for
//! the cell. Locked pages are neither free nor reclaimable either (they sit on the
//! unevictable list), so the regime is the same; they go back to the machine when the
//! mapping is dropped, and with the process, so no state file is needed for them.
//! `locked_bytes` in the record says how much of the reservation was taken this way.
//!
//! Other users of huge pages are left alone: only the pages this run added are given
//! back. When the value found at restore time is not the one this run set (someone
//! else changed it meanwhile), the run's own increment is subtracted instead of writing
//! the old value over theirs.

use crate::units::{self, MIB};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where the reservation is recorded while it is held.
pub const STATE_DIR: &str = "/run/faultline/hugepages";
const STATE_FILE: &str = "reservation";
const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";
const COMPACT_MEMORY: &str = "/proc/sys/vm/compact_memory";
const DROP_CACHES: &str = "/proc/sys/vm/drop_caches";

/// Memory left available for the rest of the machine (other processes, the kernel's
/// own allocations) beyond the page-cache limit.
pub const MACHINE_MARGIN: u64 = 256 * MIB;
/// Memory left for the harness's own growth during a cell (histograms, time series,
/// thread stacks, probe buffers). Its resident size on the 2-CPU test VM stays below
/// 40 MiB in a run (run.json `process[].rss_bytes`); 128 MiB leaves room for more
/// threads.
pub const HARNESS_MARGIN: u64 = 128 * MIB;
/// The safety margin: MemAvailable is brought to `limit + MARGIN`, never lower.
pub const MARGIN: u64 = MACHINE_MARGIN + HARNESS_MARGIN;
/// How far above its target MemAvailable may stay (the kernel reserved fewer huge pages
/// than asked) before the reservation is refused: the page cache could grow this much
/// past the limit.
pub fn tolerance(limit: u64) -> u64 {
    64 * MIB + limit / 10
}
/// Writes of nr_hugepages before refusing; after a write that made no progress, memory
/// is compacted, and the `DROP_AT`th such retry also drops the clean page cache.
const ATTEMPTS: u32 = 12;
const DROP_AT: u32 = 3;

/// Why the global regime cannot be set up. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("reclaim = \"global\" reserves huge pages through {NR_HUGEPAGES}, which needs root; run as root or use reclaim = \"cgroup\"")]
    NotRoot,
    #[error("reclaim = \"global\": {0}; this kernel cannot reserve huge pages (CONFIG_HUGETLBFS); use reclaim = \"cgroup\"")]
    NoHugePages(String),
    #[error("reclaim = \"global\": cannot read /proc/meminfo: {0}")]
    Meminfo(String),
    #[error("reclaim = \"global\": the machine has only {} available (MemAvailable), less than page_cache_limit {} plus the safety margin {}; use a smaller page_cache_limit or free memory", units::format_size(*.available), units::format_size(*.limit), units::format_size(MARGIN))]
    TooLittle { available: u64, limit: u64 },
    #[error("reclaim = \"global\": the kernel reserved only {got} of {asked} huge pages after {ATTEMPTS} attempts with compaction and the page cache dropped (memory is fragmented or not reclaimable), so {} would stay available instead of about {}; use a larger page_cache_limit, free memory (e.g. stop other programs), or use reclaim = \"cgroup\"", units::format_size(*.available_after), units::format_size(*.target))]
    Short {
        asked: u64,
        got: u64,
        available_after: u64,
        target: u64,
    },
    #[error("reclaim = \"global\": after reserving huge pages only {} stayed available, less than the safety margin {}; the reservation was given back; use a larger page_cache_limit or free memory", units::format_size(*.0), units::format_size(MARGIN))]
    BelowMargin(u64),
    #[error("reclaim = \"global\": another faultline process (pid {0}) holds a huge-page reservation ({STATE_DIR}/{STATE_FILE}); wait for it to finish")]
    Busy(u32),
    #[error("reclaim = \"global\": {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ReserveError {
    let what = what.into();
    move |source| ReserveError::Io { what, source }
}

/// What /proc/meminfo says about available memory and the huge-page pool (bytes, and
/// pages of the default huge page size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemState {
    pub mem_available: u64,
    pub hugepages_total: u64,
    pub hugepages_free: u64,
    pub hugepage_size: u64,
}

/// Parses /proc/meminfo for `MemAvailable`, `HugePages_Total`, `HugePages_Free` and
/// `Hugepagesize`. A missing field is an error naming it.
pub fn parse_meminfo(text: &str) -> Result<MemState, String> {
    let field = |k: &str| {
        crate::env::meminfo_kb(text, k).ok_or_else(|| format!("/proc/meminfo has no {k} line"))
    };
    let size_kb = field("Hugepagesize")?;
    if size_kb == 0 {
        return Err("/proc/meminfo says Hugepagesize is 0 kB".into());
    }
    Ok(MemState {
        mem_available: field("MemAvailable")? * 1024,
        hugepages_total: field("HugePages_Total")?,
        hugepages_free: field("HugePages_Free")?,
        hugepage_size: size_kb * 1024,
    })
}

/// How many huge pages to add so that MemAvailable comes down to `limit + MARGIN`.
/// Refuses when the machine does not even have that much available.
pub fn plan(m: &MemState, limit: u64) -> Result<u64, ReserveError> {
    let target = limit.saturating_add(MARGIN);
    if m.mem_available < target {
        return Err(ReserveError::TooLittle {
            available: m.mem_available,
            limit,
        });
    }
    Ok((m.mem_available - target) / m.hugepage_size)
}

/// What a cell's reservation did, for run.json (bytes; pages of `hugepage_size`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReservationRecord {
    pub hugepage_size: u64,
    /// nr_hugepages before the reservation (restored afterwards).
    pub nr_hugepages_before: u64,
    pub pages_asked: u64,
    /// Pages the kernel really added.
    pub pages_reserved: u64,
    /// Writes of nr_hugepages it took (each after the first preceded by a compaction).
    pub attempts: u32,
    /// Whether the clean page cache was dropped (drop_caches = 1) to reach the target:
    /// the kernel's reclaim for huge pages leaves active file pages alone.
    pub dropped_caches: bool,
    /// Pages reserved after each attempt.
    #[serde(default)]
    pub reserved_per_attempt: Vec<u64>,
    pub mem_available_before: u64,
    /// MemAvailable with the reservation held, before the cell's backend opened.
    pub mem_available_after: u64,
    pub page_cache_limit: u64,
    pub margin: u64,
    /// nr_hugepages read back after the cell's release (equal to `nr_hugepages_before`
    /// unless another program changed it meanwhile).
    pub nr_hugepages_restored: Option<u64>,
    /// Bytes of locked anonymous memory that made up for huge pages the kernel could
    /// not reserve (0 when the huge pages sufficed).
    #[serde(default)]
    pub locked_bytes: u64,
}

/// The state file: who holds the reservation, the value before and the value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub pid: u32,
    pub old: u64,
    pub set: u64,
}

impl State {
    pub fn to_text(self) -> String {
        format!("pid={}\nold={}\nset={}\n", self.pid, self.old, self.set)
    }

    pub fn parse(text: &str) -> Result<State, String> {
        let get = |k: &str| -> Result<u64, String> {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .ok_or_else(|| format!("no `{k}=` line"))?
                .trim()
                .parse::<u64>()
                .map_err(|e| format!("`{k}`: {e}"))
        };
        Ok(State {
            pid: u32::try_from(get("pid")?).map_err(|e| format!("`pid`: {e}"))?,
            old: get("old")?,
            set: get("set")?,
        })
    }
}

/// The value to write back when `current` is found: the old value when nobody else
/// changed it (or the kernel gave fewer pages than recorded), else `current` less what
/// this run added.
pub fn restore_value(s: State, current: u64) -> u64 {
    if current <= s.set {
        s.old
    } else {
        current.saturating_sub(s.set.saturating_sub(s.old))
    }
}

fn state_path() -> PathBuf {
    Path::new(STATE_DIR).join(STATE_FILE)
}

fn read_u64(path: &str) -> Result<u64, ReserveError> {
    let t = std::fs::read_to_string(path).map_err(io_err(format!("cannot read {path}")))?;
    t.trim().parse::<u64>().map_err(|e| ReserveError::Io {
        what: format!("{path} holds `{}`", t.trim()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

fn write_nr(v: u64) -> Result<(), ReserveError> {
    std::fs::write(NR_HUGEPAGES, format!("{v}\n"))
        .map_err(io_err(format!("cannot write {v} to {NR_HUGEPAGES}")))
}

fn meminfo() -> Result<MemState, ReserveError> {
    let t = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| ReserveError::Meminfo(e.to_string()))?;
    parse_meminfo(&t).map_err(|e| {
        if e.contains("Huge") {
            ReserveError::NoHugePages(e)
        } else {
            ReserveError::Meminfo(e)
        }
    })
}

/// Whether process `pid` runs (a faultline binary: not a reused pid).
fn alive_faultline(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().contains("faultline"))
        .unwrap_or(false)
}

/// Checks that can be made before the run starts: root, a huge-page pool, and enough
/// memory available now for the limit plus the margin.
pub fn preflight(limit: u64) -> Result<(), ReserveError> {
    if crate::sys::uid() != 0 {
        return Err(ReserveError::NotRoot);
    }
    if !Path::new(NR_HUGEPAGES).exists() {
        return Err(ReserveError::NoHugePages(format!(
            "{NR_HUGEPAGES} is missing"
        )));
    }
    plan(&meminfo()?, limit).map(|_| ())
}

/// Give back the reservation of a faultline process that no longer runs (SIGKILL, a
/// second Ctrl-C, a crash) and whose guardian did not. Returns a note per action.
pub fn clean_stale() -> Vec<String> {
    let mut notes = Vec::new();
    let path = state_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return notes;
    };
    let s = match State::parse(&text) {
        Ok(s) => s,
        Err(e) => {
            notes.push(format!(
                "ignored the unreadable huge-page reservation record {} ({e}); check {NR_HUGEPAGES} and remove the file",
                path.display()
            ));
            return notes;
        }
    };
    if s.pid == std::process::id() || alive_faultline(s.pid) {
        return notes;
    }
    match read_u64(NR_HUGEPAGES) {
        Ok(cur) => {
            let back = restore_value(s, cur);
            if cur != back {
                if let Err(e) = write_nr(back) {
                    notes.push(format!(
                        "could not give back the huge pages reserved by faultline process {} ({e}); restore them with `echo {back} > {NR_HUGEPAGES}`",
                        s.pid
                    ));
                    return notes;
                }
                notes.push(format!(
                    "gave back the huge pages reserved by faultline process {}, which did not finish: {NR_HUGEPAGES} {cur} -> {back}",
                    s.pid
                ));
            }
        }
        Err(e) => notes.push(format!("{e}")),
    }
    let _ = std::fs::remove_file(&path);
    notes
}

/// A held reservation; dropping it gives the huge pages back.
pub struct Reservation {
    state: State,
    guardian: Option<Child>,
    pub record: ReservationRecord,
    released: bool,
    /// Locked anonymous memory making up for missing huge pages; unmapped on drop.
    locked: Option<memmap2::MmapMut>,
}

impl Reservation {
    /// Reserve huge pages so that about `limit + MARGIN` stays available. Refuses (with
    /// everything given back) when the kernel cannot reserve enough or the result
    /// would leave less than the margin.
    pub fn take(limit: u64) -> Result<Reservation, ReserveError> {
        if crate::sys::uid() != 0 {
            return Err(ReserveError::NotRoot);
        }
        for n in clean_stale() {
            eprintln!("note: {n}");
        }
        let old = read_u64(NR_HUGEPAGES)?;
        let before = meminfo()?;
        let asked = plan(&before, limit)?;
        std::fs::create_dir_all(STATE_DIR).map_err(io_err(format!("cannot create {STATE_DIR}")))?;
        let pid = std::process::id();
        let state = State {
            pid,
            old,
            set: old + asked,
        };
        // The state file is the lock: one reservation at a time on this machine.
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(state_path())
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(state_path())
                    .ok()
                    .and_then(|t| State::parse(&t).ok())
                    .map_or(0, |s| s.pid);
                return Err(ReserveError::Busy(holder));
            }
            Err(e) => {
                return Err(io_err(format!("cannot create {}", state_path().display()))(
                    e,
                ))
            }
        };
        f.write_all(state.to_text().as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err(format!("cannot write {}", state_path().display())))?;
        let mut r = Reservation {
            state,
            guardian: None,
            record: ReservationRecord {
                hugepage_size: before.hugepage_size,
                nr_hugepages_before: old,
                pages_asked: asked,
                mem_available_before: before.mem_available,
                mem_available_after: before.mem_available,
                page_cache_limit: limit,
                margin: MARGIN,
                ..Default::default()
            },
            released: false,
            locked: None,
        };
        if asked > 0 {
            r.raise(limit, before.hugepage_size)?;
        }
        r.state.set = read_u64(NR_HUGEPAGES)?;
        r.write_state()?;
        r.guardian = spawn_guardian(r.state);
        Ok(r)
    }

    /// Bring MemAvailable to the target: write the pool size, read MemAvailable back
    /// (it is an estimate, and freeing memory for huge pages also frees caches it did
    /// not count), and ask for more or give some back until it is within the tolerance.
    /// When an attempt makes no progress, compact memory first (and once drop the clean
    /// page cache: the kernel's reclaim for huge pages leaves active file pages alone).
    fn raise(&mut self, limit: u64, page: u64) -> Result<(), ReserveError> {
        let old = self.state.old;
        let target = limit + MARGIN;
        let tol = tolerance(limit);
        let mut got = old;
        let mut asked = self.state.set;
        let mut after = self.record.mem_available_before;
        let mut stalled = false;
        let mut attempts_since_drop = 0;
        for attempt in 1..=ATTEMPTS {
            if stalled {
                attempts_since_drop += 1;
                if !self.record.dropped_caches && attempts_since_drop >= DROP_AT - 1 {
                    let _ = std::process::Command::new("sync").status();
                    let _ = std::fs::write(DROP_CACHES, "1\n");
                    self.record.dropped_caches = true;
                }
                // Best effort: compaction makes contiguous ranges; it goes on in the
                // background for a moment.
                let _ = std::fs::write(COMPACT_MEMORY, "1\n");
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            self.record.attempts = attempt;
            if asked > self.state.set {
                // The record must cover every value written, for a killed run.
                self.state.set = asked;
                self.write_state()?;
            }
            write_nr(asked)?;
            let now = read_u64(NR_HUGEPAGES)?;
            stalled = now < asked && now <= got;
            got = now;
            self.record
                .reserved_per_attempt
                .push(got.saturating_sub(old));
            after = meminfo()?.mem_available;
            if after + tol / 2 < target && got > old {
                // Overshot: give back what took MemAvailable under the target.
                let back = (target - after).div_ceil(page).min(got - old);
                asked = got - back;
                continue;
            }
            if after <= target + tol {
                break;
            }
            // Still too much available: ask for the rest.
            asked = got + (after - target) / page;
            self.record.pages_asked = asked - old;
        }
        if after + tol / 2 < target && got > old {
            write_nr(asked)?;
            got = read_u64(NR_HUGEPAGES)?;
            after = meminfo()?.mem_available;
        }
        self.state.set = got;
        self.record.pages_reserved = got.saturating_sub(old);
        self.record.mem_available_after = after;
        if after < MARGIN {
            return Err(ReserveError::BelowMargin(after));
        }
        if after > target + tol {
            // Make up the shortfall with locked anonymous memory.
            if let Some(m) = lock_anon(after - target) {
                self.record.locked_bytes = m.len() as u64;
                self.locked = Some(m);
                after = meminfo()?.mem_available;
                self.record.mem_available_after = after;
                if after < MARGIN {
                    return Err(ReserveError::BelowMargin(after));
                }
            }
        }
        if after > target + tol {
            return Err(ReserveError::Short {
                asked: asked - old,
                got: got - old,
                available_after: after,
                target,
            });
        }
        Ok(())
    }

    fn write_state(&self) -> Result<(), ReserveError> {
        std::fs::write(state_path(), self.state.to_text())
            .map_err(io_err(format!("cannot write {}", state_path().display())))
    }

    /// Give the pages back now (also what `Drop` does). Returns nr_hugepages after.
    pub fn release(&mut self) -> Result<u64, ReserveError> {
        if self.released {
            return Ok(self.record.nr_hugepages_restored.unwrap_or(self.state.old));
        }
        let cur = read_u64(NR_HUGEPAGES)?;
        let back = restore_value(self.state, cur);
        if cur != back {
            write_nr(back)?;
        }
        let now = read_u64(NR_HUGEPAGES)?;
        self.locked = None;
        self.released = true;
        self.record.nr_hugepages_restored = Some(now);
        if let Some(mut g) = self.guardian.take() {
            if let Some(mut stdin) = g.stdin.take() {
                let _ = stdin.write_all(b"released\n");
            }
            let _ = g.wait();
        }
        let _ = std::fs::remove_file(state_path());
        Ok(now)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            eprintln!(
                "warning: could not give back the reserved huge pages ({e}); restore them with `echo {} > {NR_HUGEPAGES}`",
                self.state.old
            );
        }
    }
}

/// `len` bytes (rounded up to whole pages) of anonymous memory, populated and locked,
/// or None when the kernel refuses (RLIMIT_MEMLOCK without CAP_IPC_LOCK, no memory).
fn lock_anon(len: u64) -> Option<memmap2::MmapMut> {
    let page = 4096u64;
    let len = usize::try_from(len.div_ceil(page) * page).ok()?;
    let m = memmap2::MmapOptions::new()
        .len(len)
        .populate()
        .map_anon()
        .ok()?;
    m.lock().ok()?;
    Some(m)
}

/// A process that restores `nr_hugepages` if the harness dies holding the reservation:
/// it reads a line from a pipe whose other end only the harness holds; `released` means
/// the harness gave the pages back itself, end of file means it died.
fn spawn_guardian(s: State) -> Option<Child> {
    if s.set == s.old {
        return None;
    }
    let script = format!(
        "trap '' INT TERM HUP\n\
         read line\n\
         [ \"$line\" = released ] && exit 0\n\
         read cur < {NR_HUGEPAGES}\n\
         if [ \"$cur\" -le {set} ]; then echo {old} > {NR_HUGEPAGES}; \
         else echo $((cur - {added})) > {NR_HUGEPAGES}; fi\n\
         rm -f {state}\n",
        set = s.set,
        old = s.old,
        added = s.set - s.old,
        state = state_path().display(),
    );
    match Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("note: no guardian process for the huge-page reservation ({e}); if this run is killed, the next `faultline run` gives the pages back");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VmLck of this process, bytes.
    fn vm_locked() -> u64 {
        let t = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = t.lines().find(|l| l.starts_with("VmLck:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    }

    #[test]
    fn the_locked_top_up_is_locked_while_held_and_given_back_on_drop() {
        if crate::sys::uid() != 0 {
            crate::testkit::skip("root", "locking memory beyond RLIMIT_MEMLOCK needs root");
            return;
        }
        let want = 3 * MIB + 1; // rounded up to whole pages
        let before = vm_locked();
        let m = lock_anon(want).expect("root may lock memory");
        assert_eq!(m.len() as u64, 3 * MIB + 4096);
        let held = vm_locked();
        assert!(
            held >= before + 3 * MIB + 4096,
            "VmLck {before} -> {held} while holding the top-up"
        );
        drop(m);
        let after = vm_locked();
        assert!(
            after + 3 * MIB <= held,
            "VmLck {held} -> {after} after dropping the top-up"
        );
    }

    const VM: &str = include_str!("testdata/meminfo-vm.txt");
    const RESERVED: &str = include_str!("testdata/meminfo-hugepages-reserved.txt");

    #[test]
    fn meminfo_of_this_vm() {
        let m = parse_meminfo(VM).unwrap();
        assert_eq!(m.mem_available, 23435492 * 1024);
        assert_eq!(m.hugepages_total, 0);
        assert_eq!(m.hugepages_free, 0);
        assert_eq!(m.hugepage_size, 2 * MIB);
        let r = parse_meminfo(RESERVED).unwrap();
        assert_eq!(r.hugepages_total, 512);
        assert_eq!(r.hugepages_free, 512);
        assert!(r.mem_available < m.mem_available);
    }

    #[test]
    fn meminfo_errors_name_the_field() {
        let no_avail: String = VM
            .lines()
            .filter(|l| !l.starts_with("MemAvailable"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse_meminfo(&no_avail)
            .unwrap_err()
            .contains("MemAvailable"));
        let no_huge: String = VM
            .lines()
            .filter(|l| !l.starts_with("Hugepagesize"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse_meminfo(&no_huge)
            .unwrap_err()
            .contains("Hugepagesize"));
        assert!(parse_meminfo("").is_err());
        assert!(parse_meminfo("Hugepagesize: 0 kB\n")
            .unwrap_err()
            .contains("0 kB"));
    }

    #[test]
    fn plan_leaves_limit_plus_margin() {
        let m = parse_meminfo(VM).unwrap();
        let limit = units::GIB;
        let pages = plan(&m, limit).unwrap();
        let left = m.mem_available - pages * m.hugepage_size;
        assert!(left >= limit + MARGIN, "{left}");
        assert!(left < limit + MARGIN + m.hugepage_size, "{left}");
    }

    #[test]
    fn plan_refuses_when_the_margin_does_not_fit() {
        let m = parse_meminfo(RESERVED).unwrap();
        let e = plan(&m, m.mem_available).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ReserveError::TooLittle { .. }), "{msg}");
        assert!(
            msg.contains("safety margin") && msg.contains("smaller page_cache_limit"),
            "{msg}"
        );
        // Exactly limit + margin available: nothing to reserve, not an error.
        let exact = MemState {
            mem_available: units::GIB + MARGIN,
            ..m
        };
        assert_eq!(plan(&exact, units::GIB).unwrap(), 0);
    }

    #[test]
    fn refusal_messages_say_what_to_do() {
        let short = ReserveError::Short {
            asked: 100,
            got: 10,
            available_after: 10 * units::GIB,
            target: units::GIB,
        }
        .to_string();
        assert!(
            short.contains("only 10 of 100") && short.contains("reclaim = \"cgroup\""),
            "{short}"
        );
        let below = ReserveError::BelowMargin(100 * MIB).to_string();
        assert!(
            below.contains("given back") && below.contains("100MiB"),
            "{below}"
        );
        assert!(ReserveError::NotRoot.to_string().contains("root"));
        assert!(ReserveError::Busy(42).to_string().contains("pid 42"));
    }

    #[test]
    fn state_round_trip_and_errors() {
        let s = State {
            pid: 7,
            old: 3,
            set: 1003,
        };
        assert_eq!(State::parse(&s.to_text()), Ok(s));
        assert!(State::parse("pid=1\nold=2\n").unwrap_err().contains("set"));
        assert!(State::parse("pid=x\nold=2\nset=3\n")
            .unwrap_err()
            .contains("pid"));
        assert!(State::parse("pid=99999999999\nold=2\nset=3\n").is_err());
    }

    #[test]
    fn restore_keeps_other_users_pages() {
        let s = State {
            pid: 7,
            old: 3,
            set: 1003,
        };
        assert_eq!(restore_value(s, 1003), 3, "unchanged: the old value");
        assert_eq!(
            restore_value(s, 500),
            3,
            "the kernel gave fewer: the old value"
        );
        assert_eq!(restore_value(s, 3), 3);
        assert_eq!(
            restore_value(s, 1010),
            10,
            "someone added 7 meanwhile: only ours go"
        );
    }
}
