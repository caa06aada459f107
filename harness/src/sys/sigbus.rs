//! SIGBUS recovery for file mappings. Reading a mapping past the end of a truncated
//! file (or a page the device failed to read) raises SIGBUS, which would kill the whole
//! run. The handler installed here checks whether the faulting address lies in a
//! mapping the harness registered; if so it maps an anonymous zero page over the
//! faulting page (so the interrupted load completes), counts the hit (process-wide and
//! for the faulting thread) and returns. The backend sees its thread's count move after
//! its operation and reports the error with the offset; the other backends still run.
//! A mapping registered with its file (`register_file`) can have the failed page mapped
//! from the file again (`restore`), so a run that goes on after an error
//! (`on_error = "continue"`) reads that page from the device again next time instead of
//! the zero page. A SIGBUS anywhere else gets the default action (the process dies, as
//! without the handler).

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 64;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicUsize = AtomicUsize::new(0);
/// Registered ranges: start address and length (0 = free slot).
static STARTS: [AtomicUsize; SLOTS] = [EMPTY; SLOTS];
static LENS: [AtomicUsize; SLOTS] = [EMPTY; SLOTS];
#[allow(clippy::declare_interior_mutable_const)]
const NO_FD: AtomicI32 = AtomicI32::new(-1);
/// Per slot: the mapped file's descriptor (-1: not restorable) and the madvise advice
/// the mapping had (0: none), for `restore`.
static FDS: [AtomicI32; SLOTS] = [NO_FD; SLOTS];
static ADVICE: [AtomicI32; SLOTS] = [EMPTY_I32; SLOTS];
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_I32: AtomicI32 = AtomicI32::new(0);

thread_local! {
    // Const-initialised, no destructor: reading and writing them in the signal handler
    // is a plain access to this thread's TLS block (no lazy initialisation).
    static THREAD_HITS: Cell<u64> = const { Cell::new(0) };
    static THREAD_ADDR: Cell<usize> = const { Cell::new(0) };
}
static HITS: AtomicU64 = AtomicU64::new(0);
static LAST_ADDR: AtomicUsize = AtomicUsize::new(0);
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();

/// Number of SIGBUS faults recovered so far (process-wide).
#[inline]
pub fn hits() -> u64 {
    HITS.load(Ordering::Relaxed)
}

/// The faulting address of the most recent recovered SIGBUS.
pub fn last_addr() -> usize {
    LAST_ADDR.load(Ordering::Relaxed)
}

/// SIGBUS faults recovered on the calling thread so far.
#[inline(always)]
pub fn thread_hits() -> u64 {
    THREAD_HITS.with(Cell::get)
}

/// The faulting address of the calling thread's most recent recovered SIGBUS.
pub fn thread_last_addr() -> usize {
    THREAD_ADDR.with(Cell::get)
}

extern "C" fn handler(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // Only async-signal-safe work here: atomics and the mmap/sigaction system calls.
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers; si_addr is
    // the faulting address for SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    for i in 0..SLOTS {
        let start = STARTS[i].load(Ordering::Acquire);
        let len = LENS[i].load(Ordering::Acquire);
        if len != 0 && addr >= start && addr < start + len {
            let page = PAGE.load(Ordering::Relaxed);
            let at = addr & !(page - 1);
            // SAFETY: `at` is a page-aligned address inside a mapping the harness owns
            // and registered; replacing that one page with an anonymous read-only zero
            // page (MAP_FIXED) only changes what the faulting read returns.
            let r = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if r != libc::MAP_FAILED {
                LAST_ADDR.store(addr, Ordering::Relaxed);
                THREAD_ADDR.with(|c| c.set(addr));
                THREAD_HITS.with(|c| c.set(c.get() + 1));
                HITS.fetch_add(1, Ordering::Release);
                return;
            }
            break;
        }
    }
    // Not ours (or the remap failed): restore the default action; returning re-runs the
    // faulting instruction, which then terminates the process as it would have.
    // SAFETY: sigaction with a zeroed struct and SIG_DFL is valid and signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

fn install() -> io::Result<()> {
    let mut result = Ok(());
    INSTALL.call_once(|| {
        PAGE.store(super::page_size(), Ordering::Relaxed);
        // SAFETY: a zeroed sigaction is valid; we set a SA_SIGINFO handler with the
        // matching three-argument signature and an empty mask.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            result = Err(io::Error::last_os_error());
        }
    });
    result
}

/// A registered mapping; unregistered on drop (drop it before unmapping).
pub struct Registration {
    slot: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        LENS[self.slot].store(0, Ordering::Release);
        FDS[self.slot].store(-1, Ordering::Release);
        ADVICE[self.slot].store(0, Ordering::Release);
        STARTS[self.slot].store(0, Ordering::Release);
    }
}

/// Register `len` bytes at `ptr` (a file mapping) for SIGBUS recovery.
pub fn register(ptr: *const u8, len: usize) -> io::Result<Registration> {
    install()?;
    for i in 0..SLOTS {
        if STARTS[i]
            .compare_exchange(0, ptr as usize, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            LENS[i].store(len, Ordering::Release);
            return Ok(Registration { slot: i });
        }
    }
    Err(io::Error::other("too many registered mappings"))
}

/// Register a shared read-only mapping of `file` from offset 0 (`len` bytes at `ptr`,
/// madvise `advice` or 0) for SIGBUS recovery, with what `restore` needs to map a
/// failed page from the file again. `file` must stay open while registered (drop the
/// registration first).
pub fn register_file(
    ptr: *const u8,
    len: usize,
    file: &std::fs::File,
    advice: libc::c_int,
) -> io::Result<Registration> {
    use std::os::fd::AsRawFd;
    let r = register(ptr, len)?;
    ADVICE[r.slot].store(advice, Ordering::Release);
    FDS[r.slot].store(file.as_raw_fd(), Ordering::Release);
    Ok(r)
}

/// Map the page at `addr` (inside a mapping registered with `register_file`, where a
/// recovered SIGBUS left a zero page) from the file again, with the mapping's advice,
/// so the next read of it faults and reads the file. Err when `addr` is in no such
/// mapping or the remap fails.
pub fn restore(addr: usize) -> io::Result<()> {
    let page = PAGE.load(Ordering::Relaxed);
    for i in 0..SLOTS {
        let start = STARTS[i].load(Ordering::Acquire);
        let len = LENS[i].load(Ordering::Acquire);
        if len == 0 || addr < start || addr >= start + len {
            continue;
        }
        let fd: RawFd = FDS[i].load(Ordering::Acquire);
        if fd < 0 {
            return Err(io::Error::other(
                "the mapping was registered without its file",
            ));
        }
        let at = addr & !(page - 1);
        let off = (at - start) as libc::off_t;
        // SAFETY: `at` is a page-aligned address inside a read-only shared file mapping
        // the harness owns and registered with `fd` (kept open while registered), mapped
        // from file offset 0; MAP_FIXED replaces only that page (the zero page the
        // handler put there) with the same file page, so the mapping is as it was.
        let r = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_FIXED | libc::MAP_SHARED,
                fd,
                off,
            )
        };
        if r == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let advice = ADVICE[i].load(Ordering::Acquire);
        if advice != 0 {
            // SAFETY: advisory only (the advices registered keep the contents), on the
            // page just mapped.
            unsafe { libc::madvise(at as *mut libc::c_void, page, advice) };
        }
        return Ok(());
    }
    Err(io::Error::other("the address is in no registered mapping"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_truncated_mapping_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![1u8; 4 * 4096]).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let m = super::super::map_readonly(&f, 4 * 4096, false).unwrap();
        let reg = register(m.as_ptr(), m.len()).unwrap();
        assert_eq!(m[0], 1);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(4096)
            .unwrap();
        let before = hits();
        // Page 2 is now past the end of the file: SIGBUS, recovered as a zero page.
        let v = std::hint::black_box(m[2 * 4096 + 5]);
        assert_eq!(v, 0);
        assert_eq!(hits(), before + 1);
        let a = last_addr();
        assert!(a >= m.as_ptr() as usize + 2 * 4096 && a < m.as_ptr() as usize + 3 * 4096);
        drop(reg);
    }

    #[test]
    fn a_restored_page_reads_the_file_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![7u8; 4 * 4096]).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let m = super::super::map_readonly(&f, 4 * 4096, false).unwrap();
        let reg = register_file(m.as_ptr(), m.len(), &f, 0).unwrap();
        let w = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        w.set_len(2 * 4096).unwrap();
        let before = thread_hits();
        assert_eq!(std::hint::black_box(m[3 * 4096]), 0);
        assert_eq!(thread_hits(), before + 1);
        // The file grows back: the restored page reads it, no longer the zero page.
        use std::os::unix::fs::FileExt;
        w.write_at(&[9u8; 4096], 3 * 4096).unwrap();
        restore(thread_last_addr()).unwrap();
        assert_eq!(std::hint::black_box(m[3 * 4096]), 9);
        assert_eq!(thread_hits(), before + 1, "no SIGBUS after restore");
        drop(reg);
    }
}
