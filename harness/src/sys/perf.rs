//! perf_event_open(2) for the calling thread: software counters (page faults),
//! tracepoint counters with a filter (tlb:tlb_flush by reason), and a sampling event
//! with a ring buffer whose head tells, with one memory load, whether the thread took
//! the sampled (every Nth) major fault since the last look.
//!
//! Cost (measured on this project's 2-CPU KVM guest, zram, 512 MiB cgroup limit, 2
//! threads, random 4 KiB mmap reads; see docs/results-and-probes.md): a counting
//! software event costs nothing measurable; a sampling event costs about 3% when its
//! records have nowhere to go (no ring mapped, or the ring full) and about 15% of the
//! CPU per operation when every major fault writes a record into the ring
//! (sample_period = 1): the kernel's perf output path runs inside every fault. With
//! sample_period = 16 or more it is within noise. Hence `FaultRing::major_faults(N)`.

use perf_event_open_sys as perf;
use perf_event_open_sys::bindings::{perf_event_attr, perf_event_mmap_page};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// A counting perf event of the calling thread.
pub struct PerfCounter {
    file: File,
}

fn open(attr: &mut perf_event_attr) -> io::Result<File> {
    attr.size = std::mem::size_of::<perf_event_attr>() as u32;
    // SAFETY: attr is a fully initialised perf_event_attr (zeroed, then fields set) with
    // the correct size; pid 0 / cpu -1 measures the calling thread on any CPU; no group.
    // The requested measurement only counts events and has no side effects.
    let fd = unsafe {
        perf::perf_event_open(attr, 0, -1, -1, perf::bindings::PERF_FLAG_FD_CLOEXEC as _)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor returned by the kernel that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn zeroed_attr() -> perf_event_attr {
    // SAFETY: perf_event_attr is plain old data; all-zero is its documented default.
    unsafe { std::mem::zeroed() }
}

impl PerfCounter {
    /// A software event (PERF_TYPE_SOFTWARE, e.g. PERF_COUNT_SW_PAGE_FAULTS_MIN) of the
    /// calling thread, user-space events only (works with perf_event_paranoid <= 2).
    pub fn software(config: u64) -> io::Result<PerfCounter> {
        let mut a = zeroed_attr();
        a.type_ = perf::bindings::PERF_TYPE_SOFTWARE;
        a.config = config;
        a.set_exclude_kernel(1);
        a.set_exclude_hv(1);
        Ok(PerfCounter {
            file: open(&mut a)?,
        })
    }

    /// A tracepoint (by its tracefs id) of the calling thread, optionally filtered
    /// (e.g. "reason == 1").
    pub fn tracepoint(id: u64, filter: Option<&str>) -> io::Result<PerfCounter> {
        let mut a = zeroed_attr();
        a.type_ = perf::bindings::PERF_TYPE_TRACEPOINT;
        a.config = id;
        a.set_disabled(1);
        let c = PerfCounter {
            file: open(&mut a)?,
        };
        if let Some(f) = filter {
            let cf = CString::new(f).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            // SAFETY: the fd is a perf event we own; SET_FILTER reads a NUL-terminated
            // string that lives for the duration of the call.
            let rc = unsafe { perf::ioctls::SET_FILTER(c.file.as_raw_fd(), cf.as_ptr() as *mut _) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: ENABLE on a perf event fd we own; the argument is unused (0).
        let rc = unsafe { perf::ioctls::ENABLE(c.file.as_raw_fd(), 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(c)
    }

    /// A hardware event (PERF_TYPE_HARDWARE, e.g. cycles), to test whether hardware
    /// counters are readable here.
    pub fn hardware(config: u64) -> io::Result<PerfCounter> {
        let mut a = zeroed_attr();
        a.type_ = perf::bindings::PERF_TYPE_HARDWARE;
        a.config = config;
        a.set_exclude_kernel(1);
        a.set_exclude_hv(1);
        Ok(PerfCounter {
            file: open(&mut a)?,
        })
    }

    /// The current count. Readable from any thread.
    pub fn read(&self) -> io::Result<u64> {
        let mut b = [0u8; 8];
        (&self.file).read_exact(&mut b)?;
        Ok(u64::from_ne_bytes(b))
    }
}

/// Major page faults of the calling thread, counted (every fault) and sampled into a
/// small ring buffer (one record per `period` faults). `head()` moves whenever a sampled
/// fault happened: the worker compares it before and after an operation, at the cost of
/// one atomic load.
pub struct FaultRing {
    counter: PerfCounter,
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by FaultRing and freed only in Drop; all accesses to the
// kernel-shared control page go through atomics, so concurrent use from several threads
// (the worker reading the head, the sampler reading the count via the fd) is sound.
unsafe impl Send for FaultRing {}
// SAFETY: see Send.
unsafe impl Sync for FaultRing {}

impl FaultRing {
    /// Sample one major fault in `period` (at least 1). The count stays exact.
    pub fn major_faults(period: u64) -> io::Result<FaultRing> {
        let mut a = zeroed_attr();
        a.type_ = perf::bindings::PERF_TYPE_SOFTWARE;
        a.config = perf::bindings::PERF_COUNT_SW_PAGE_FAULTS_MAJ as u64;
        a.__bindgen_anon_1.sample_period = period.max(1);
        a.sample_type = perf::bindings::PERF_SAMPLE_TID as u64;
        // Never wake anyone: the ring is only polled.
        a.__bindgen_anon_2.wakeup_events = u32::MAX;
        a.set_exclude_kernel(1);
        a.set_exclude_hv(1);
        let counter = PerfCounter {
            file: open(&mut a)?,
        };
        let page = super::page_size();
        // One control page plus 2^1 data pages.
        let len = page * 3;
        // SAFETY: mapping a perf event fd we own, shared and read-write as the perf ABI
        // requires for the control page (the kernel writes records, we write data_tail).
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                counter.file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(FaultRing {
            counter,
            base: base as *mut u8,
            len,
        })
    }

    fn field(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: base points to the live control page (first page of the mapping, valid
        // until Drop); offset is that of a u64 field of perf_event_mmap_page, which the
        // kernel aligns to 8 bytes; the kernel and we only access it as a whole u64, so
        // viewing it as an AtomicU64 is sound.
        unsafe { &*(self.base.add(offset) as *const AtomicU64) }
    }

    /// Bytes of records the kernel has written so far (moves on every major fault).
    #[inline]
    pub fn head(&self) -> u64 {
        self.field(std::mem::offset_of!(perf_event_mmap_page, data_head))
            .load(Ordering::Acquire)
    }

    /// Tell the kernel the records up to `head` are consumed, so the ring never fills.
    #[inline]
    pub fn consume(&self, head: u64) {
        self.field(std::mem::offset_of!(perf_event_mmap_page, data_tail))
            .store(head, Ordering::Release)
    }

    /// Major faults counted so far.
    pub fn count(&self) -> io::Result<u64> {
        self.counter.read()
    }
}

impl Drop for FaultRing {
    fn drop(&mut self) {
        // SAFETY: base/len describe the mapping created in major_faults; nothing refers
        // to it after this (field() borrows self).
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}

/// Mount tracefs at `dir` (root only).
pub fn mount_tracefs(dir: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: all strings are valid NUL-terminated C strings living across the call; no
    // data argument.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unmount what `mount_tracefs` mounted.
pub fn umount(dir: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: target is a valid NUL-terminated path.
    let rc = unsafe { libc::umount(target.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_fault_counter_counts_first_touches() {
        let c = match PerfCounter::software(perf::bindings::PERF_COUNT_SW_PAGE_FAULTS_MIN as u64) {
            Ok(c) => c,
            Err(e) => {
                crate::testkit::skip(
                    "perf",
                    &format!("minor_fault_counter: perf_event_open refused: {e}"),
                );
                return;
            }
        };
        let before = c.read().unwrap();
        let v = vec![1u8; 64 << 20];
        std::hint::black_box(&v);
        let after = c.read().unwrap();
        // 64 MiB of fresh memory: thousands of first-touch faults (fewer with THP).
        assert!(after > before, "{before} -> {after}");
    }

    #[test]
    fn fault_ring_head_moves_on_major_faults() {
        let r = match FaultRing::major_faults(1) {
            Ok(r) => r,
            Err(e) => {
                crate::testkit::skip("perf", &format!("fault_ring: perf_event_open refused: {e}"));
                return;
            }
        };
        let h0 = r.head();
        assert_eq!(r.count().unwrap(), 0);
        // Read a file through a mapping after dropping its cache: major faults.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![7u8; 1 << 20]).unwrap();
        let f = File::open(&p).unwrap();
        f.sync_all().unwrap();
        super::super::drop_file_cache(&f).unwrap();
        let m = super::super::map_readonly(&f, 1 << 20, false).unwrap();
        let mut sum = 0u64;
        for i in (0..(1 << 20)).step_by(4096) {
            sum += m[i] as u64;
        }
        assert_eq!(sum, 7 * 256);
        let n = r.count().unwrap();
        if n == 0 {
            crate::testkit::skip(
                "perf",
                "fault_ring: the reads were served without major faults (cache not dropped?)",
            );
            return;
        }
        assert!(r.head() > h0);
        r.consume(r.head());
    }
}
