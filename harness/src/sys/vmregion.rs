//! The memory of the `vmcache` backend: one anonymous virtual region the size of the
//! data (MAP_NORESERVE, so only the pages that are resident cost memory), and a state
//! word per page, with the only `unsafe` of that backend.
//!
//! Page `i` lives at `base + i * page_len`, always: a hit is address arithmetic, no
//! table. Its state word (one `AtomicU64`) packs a state in the top 8 bits and a version
//! in the low 56, after vmcache (Leis et al., SIGMOD 2023):
//!
//! * `UNLOCKED` (0): resident, nobody holds it;
//! * `1..=MAX_SHARED`: resident, held by that many shared (read-only) latches;
//! * `LOCKED`: held exclusively (being loaded, written, written back or evicted);
//! * `MARKED`: resident and unlocked, chosen by the clock as an eviction candidate;
//!   any access clears the mark (second chance);
//! * `EVICTED`: not resident; its memory is released (reads as zeros).
//!
//! The version is raised by one every time an exclusive latch is released, so a reader
//! that did not latch (an optimistic read) can tell afterwards whether the page changed
//! while it read: it compares the version before and after.
//!
//! A page's bytes are reachable through a guard only: `SharedPage` (read-only, any
//! number at once) or `ExclusivePage` (read-write, alone), handed over with
//! Release/Acquire on the state word, as in `sys::frames`; or through `read_optimistic`,
//! which validates the version after the read and throws the result away if the page
//! was latched exclusively in between (see its safety argument).
//!
//! Eviction: the caller latches a batch of pages exclusively and hands the guards to
//! `release`, which gives their memory back to the kernel (MADV_DONTNEED; one
//! `process_madvise(2)` call for the whole batch where the kernel allows it, else one
//! `madvise(2)` per run of adjacent pages) and only then marks them `EVICTED`.

use std::io;
use std::sync::atomic::{fence, AtomicU64, Ordering};

const STATE_SHIFT: u32 = 56;
const VERSION_MASK: u64 = (1 << STATE_SHIFT) - 1;
const UNLOCKED: u64 = 0;
/// Most shared latches one page can hold at once.
pub const MAX_SHARED: u64 = 252;
const LOCKED: u64 = 253;
const MARKED: u64 = 254;
const EVICTED: u64 = 255;

#[inline]
fn state(w: u64) -> u64 {
    w >> STATE_SHIFT
}

#[inline]
fn version(w: u64) -> u64 {
    w & VERSION_MASK
}

#[inline]
fn word(state: u64, version: u64) -> u64 {
    (state << STATE_SHIFT) | (version & VERSION_MASK)
}

/// Clear the clock's mark of a page about to be read (second chance); losing this race
/// to another reader or the clock is harmless.
#[cold]
#[inline(never)]
fn unmark(s: &AtomicU64, w: u64) {
    let _ = s.compare_exchange(
        w,
        word(UNLOCKED, version(w)),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
}

/// An optimistic read that began at word `w` and ended at word `now` is valid: the
/// version did not move and the page is not latched exclusively or evicted now.
#[cold]
#[inline(never)]
fn validates(w: u64, now: u64) -> bool {
    version(now) == version(w) && state(now) != LOCKED && state(now) != EVICTED
}

/// How memory of evicted pages is given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// One process_madvise(2) with an iovec per run of adjacent pages: one system call
    /// per batch (Linux 6.13+ accepts MADV_DONTNEED for the calling process).
    ProcessMadvise,
    /// madvise(2) MADV_DONTNEED once per run of adjacent pages of the batch.
    Madvise,
}

impl Release {
    pub fn name(self) -> &'static str {
        match self {
            Release::ProcessMadvise => "process_madvise(2)",
            Release::Madvise => "madvise(2)",
        }
    }
}

/// What `try_shared` found.
pub enum Shared<'a> {
    Latched(SharedPage<'a>),
    /// Not resident: the caller loads it.
    Evicted,
    /// Latched exclusively by someone (or too many shared latches): wait and retry.
    Busy,
}

/// The state words, in their own anonymous mapping advised `MADV_HUGEPAGE` and aligned
/// to 2 MiB: a hit loads the state word of a random page besides the page itself, and
/// with 4 KiB pages that load needs its own TLB entry (one per 512 pages' words), which
/// the data's TLB misses keep evicting; a 2 MiB page covers 262144 pages' words.
struct StateWords {
    /// The mapping (unaligned start and length, for munmap).
    map: *mut libc::c_void,
    map_len: usize,
    words: *const AtomicU64,
    len: usize,
    huge: Option<io::Error>,
}

const HUGE: usize = 2 << 20;

impl StateWords {
    fn new(n: usize, init: u64) -> io::Result<StateWords> {
        let bytes = n
            .checked_mul(8)
            .and_then(|b| b.checked_next_multiple_of(HUGE))
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "too many pages"))?;
        let map_len = bytes + HUGE;
        // SAFETY: a new anonymous private mapping at an address the kernel picks; plain
        // integer arguments. It is zero-filled and owned by the returned StateWords.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let start = (map as usize).next_multiple_of(HUGE);
        // SAFETY: [start, start + bytes) lies inside the mapping just made (map_len has
        // one huge page of slack for the alignment), not yet shared with anyone;
        // MADV_HUGEPAGE changes how it is backed, not what it holds.
        let huge = if unsafe {
            libc::madvise(start as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE)
        } != 0
        {
            Some(io::Error::last_os_error())
        } else {
            None
        };
        let words = start as *const AtomicU64;
        let w = StateWords {
            map,
            map_len,
            words,
            len: n,
            huge,
        };
        for a in w.iter() {
            a.store(init, Ordering::Relaxed);
        }
        Ok(w)
    }
}

impl std::ops::Deref for StateWords {
    type Target = [AtomicU64];
    #[inline]
    fn deref(&self) -> &[AtomicU64] {
        // SAFETY: `words` is 2 MiB-aligned inside the live mapping and `len * 8` bytes
        // of it follow (bytes >= len * 8); the mapping is zero-initialised memory, a
        // valid AtomicU64 bit pattern, shared only through atomics; it lives as long as
        // self (unmapped in drop).
        unsafe { std::slice::from_raw_parts(self.words, self.len) }
    }
}

impl Drop for StateWords {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new; no reference into it outlives self (every
        // slice borrows self).
        unsafe {
            libc::munmap(self.map, self.map_len);
        }
    }
}

pub struct VmRegion {
    base: *mut u8,
    len: usize,
    page_len: usize,
    states: StateWords,
    release: Release,
    /// A pidfd of this process for process_madvise (closed on drop), when used.
    pidfd: Option<libc::c_int>,
    nohugepage: Option<io::Error>,
}

// SAFETY: the region owns its mapping and its state words' mapping (like a Vec<u8>);
// moving it to another thread moves that ownership.
unsafe impl Send for VmRegion {}
// SAFETY: page bytes are reached only through SharedPage/ExclusivePage, whose latch
// protocol (module docs) makes every access shared-read-only or exclusive with
// Release/Acquire hand-over, or through read_optimistic, which never hands out a result
// computed from bytes that changed; states are atomics.
unsafe impl Sync for VmRegion {}

impl VmRegion {
    /// Reserve `pages` pages of `page_len` bytes (a multiple of the system page size) of
    /// anonymous memory, all `EVICTED`. `release` is the preferred way to give memory
    /// back; if it is `ProcessMadvise` and the kernel refuses it, `Madvise` is used (see
    /// `release()`).
    pub fn new(pages: usize, page_len: usize, release: Release) -> io::Result<VmRegion> {
        let sys_page = super::page_size();
        if pages == 0 || page_len == 0 || !page_len.is_multiple_of(sys_page) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a region needs at least one page of a multiple of {sys_page} bytes (asked: {pages} pages of {page_len})"
                ),
            ));
        }
        let len = pages.checked_mul(page_len).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "region exceeds the address space",
            )
        })?;
        // SAFETY: an anonymous private mapping at an address the kernel picks touches no
        // existing memory; the arguments are plain integers. MAP_NORESERVE: no swap is
        // reserved, memory is allocated page by page when first written.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // 4 KiB pages only: a transparent huge page would make one load allocate 2 MiB
        // and one eviction split it.
        // SAFETY: [p, p + len) is the mapping just made, not yet shared with anyone;
        // MADV_NOHUGEPAGE changes how it is backed, not what it holds.
        let nohugepage = if unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) } != 0 {
            Some(io::Error::last_os_error())
        } else {
            None
        };
        let mut r = VmRegion {
            base: p as *mut u8,
            len,
            page_len,
            states: match StateWords::new(pages, word(EVICTED, 0)) {
                Ok(s) => s,
                Err(e) => {
                    // SAFETY: the region mapping made above, not referenced by anyone.
                    unsafe { libc::munmap(p, len) };
                    return Err(e);
                }
            },
            release: Release::Madvise,
            pidfd: None,
            nohugepage,
        };
        if release == Release::ProcessMadvise {
            r.try_process_madvise();
        }
        Ok(r)
    }

    /// Open a pidfd of this process and check that process_madvise(MADV_DONTNEED) is
    /// accepted on the region (on a page not yet touched: nothing is lost).
    fn try_process_madvise(&mut self) {
        // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
        if fd < 0 {
            return;
        }
        let fd = fd as libc::c_int;
        self.pidfd = Some(fd);
        let iov = [libc::iovec {
            iov_base: self.base as *mut libc::c_void,
            iov_len: self.page_len,
        }];
        if self.process_madvise(&iov).is_ok() {
            self.release = Release::ProcessMadvise;
        }
    }

    fn process_madvise(&self, iov: &[libc::iovec]) -> io::Result<()> {
        let Some(fd) = self.pidfd else {
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        };
        let mut done = 0usize;
        let want: usize = iov.iter().map(|v| v.iov_len).sum();
        let mut from = 0usize;
        while done < want {
            // SAFETY: every iovec names whole pages of this region that the caller
            // holds exclusively (or, at open, a page nobody uses); MADV_DONTNEED on
            // them replaces their contents by zeros, which no reference observes
            // (exclusive guards are consumed; optimistic readers validate the version,
            // which is raised before the latch is released). The iovec array lives
            // for the call.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_process_madvise,
                    fd,
                    iov[from..].as_ptr(),
                    iov.len() - from,
                    libc::MADV_DONTNEED,
                    0,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut n = n as usize;
            if n == 0 {
                return Err(io::Error::other("process_madvise advised no bytes"));
            }
            done += n;
            // A partial call stops at an iovec boundary only if the kernel says so;
            // skip the whole iovecs it covered.
            while from < iov.len() && n >= iov[from].iov_len {
                n -= iov[from].iov_len;
                from += 1;
            }
            if n != 0 {
                return Err(io::Error::other("process_madvise stopped inside an iovec"));
            }
        }
        Ok(())
    }

    /// How this region gives memory back.
    pub fn release_method(&self) -> Release {
        self.release
    }

    /// Why MADV_HUGEPAGE on the state words was refused, if it was (they are then
    /// backed by 4 KiB pages).
    pub fn states_hugepage_error(&self) -> Option<&io::Error> {
        self.states.huge.as_ref()
    }

    /// Bytes of memory the state words take (rounded up to whole 2 MiB pages).
    pub fn states_bytes(&self) -> usize {
        (self.states.len * 8).next_multiple_of(HUGE)
    }

    /// Why MADV_NOHUGEPAGE was refused, if it was (THP compiled out: harmless).
    pub fn nohugepage_error(&self) -> Option<&io::Error> {
        self.nohugepage.as_ref()
    }

    pub fn pages(&self) -> usize {
        self.states.len()
    }

    pub fn page_len(&self) -> usize {
        self.page_len
    }

    /// True when page `i` is resident (for tests and the closing flush).
    pub fn is_resident(&self, i: usize) -> bool {
        self.states
            .get(i)
            .is_some_and(|s| state(s.load(Ordering::Relaxed)) != EVICTED)
    }

    #[inline]
    fn page_ptr(&self, i: usize) -> *mut u8 {
        // In bounds for every i < pages (callers check): i * page_len < len.
        self.base.wrapping_add(i * self.page_len)
    }

    /// Take a shared latch on resident page `i`; clears the clock's mark.
    #[inline]
    pub fn try_shared(&self, i: usize) -> Shared<'_> {
        let Some(s) = self.states.get(i) else {
            return Shared::Busy;
        };
        let mut w = s.load(Ordering::Relaxed);
        loop {
            let st = state(w);
            let next = match st {
                EVICTED => return Shared::Evicted,
                LOCKED => return Shared::Busy,
                MARKED => word(1, version(w)),
                n if n < MAX_SHARED => word(n + 1, version(w)),
                _ => return Shared::Busy,
            };
            match s.compare_exchange_weak(w, next, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Shared::Latched(SharedPage { region: self, i }),
                Err(now) => w = now,
            }
        }
    }

    /// Read resident page `i` without latching it: `f` runs on its bytes and its result
    /// is returned only if no exclusive latch was taken on the page from before the read
    /// until after it (the version did not move). `Err(true)`: the page is not resident
    /// (load it); `Err(false)`: it is or was latched exclusively (retry).
    ///
    /// Only for regions whose pages no Rust code writes while others may read them
    /// optimistically: the backend uses it for read-only workloads, where the bytes
    /// change only by the kernel (a load's read(2) into the page, an eviction's
    /// MADV_DONTNEED), both under the exclusive latch.
    #[inline(always)]
    pub fn read_optimistic<R>(&self, i: usize, f: impl FnOnce(&[u8]) -> R) -> Result<R, bool> {
        self.reader().read_optimistic(i, f)
    }

    /// What an optimistic read needs of this region, by value (`Reader`).
    #[inline]
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            states: &self.states[..],
            base: self.base,
            page_len: self.page_len,
        }
    }

    /// Latch evicted page `i` exclusively to load it. None if it is not evicted (anymore).
    #[inline]
    pub fn try_lock_evicted(&self, i: usize) -> Option<ExclusivePage<'_>> {
        let s = self.states.get(i)?;
        let w = s.load(Ordering::Relaxed);
        if state(w) != EVICTED {
            return None;
        }
        s.compare_exchange(
            w,
            word(LOCKED, version(w)),
            Ordering::Acquire,
            Ordering::Relaxed,
        )
        .ok()
        .map(|_| ExclusivePage {
            region: self,
            i,
            loaded: false,
        })
    }

    /// Latch resident page `i` exclusively (a writer). None while it is latched or
    /// evicted.
    #[inline]
    pub fn try_lock_resident(&self, i: usize) -> Option<ExclusivePage<'_>> {
        let s = self.states.get(i)?;
        let w = s.load(Ordering::Relaxed);
        if state(w) != UNLOCKED && state(w) != MARKED {
            return None;
        }
        s.compare_exchange(
            w,
            word(LOCKED, version(w)),
            Ordering::Acquire,
            Ordering::Relaxed,
        )
        .ok()
        .map(|_| ExclusivePage {
            region: self,
            i,
            loaded: true,
        })
    }

    /// The clock's step at resident page `i`: an unlocked page is marked (and keeps its
    /// second chance until the hand comes back); a page still marked since then is
    /// latched exclusively and returned. Latched pages are skipped.
    #[inline]
    pub fn clock_step(&self, i: usize) -> Option<ExclusivePage<'_>> {
        let s = self.states.get(i)?;
        let w = s.load(Ordering::Relaxed);
        match state(w) {
            UNLOCKED => {
                let _ = s.compare_exchange(
                    w,
                    word(MARKED, version(w)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                None
            }
            MARKED => s
                .compare_exchange(
                    w,
                    word(LOCKED, version(w)),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .ok()
                .map(|_| ExclusivePage {
                    region: self,
                    i,
                    loaded: true,
                }),
            _ => None,
        }
    }

    /// Give the memory of the latched pages `batch` back to the kernel and mark them
    /// evicted. Returns the number of system calls made. On an error the pages are
    /// marked evicted all the same (their memory may be partly released) and the error
    /// is returned.
    pub fn release(&self, batch: &mut Vec<ExclusivePage<'_>>) -> io::Result<usize> {
        if batch.is_empty() {
            return Ok(0);
        }
        batch.sort_unstable_by_key(|p| p.i);
        // Runs of adjacent pages become one range each.
        let mut iov: Vec<libc::iovec> = Vec::with_capacity(batch.len());
        for p in batch.iter() {
            debug_assert!(std::ptr::eq(p.region, self));
            let start = self.page_ptr(p.i);
            match iov.last_mut() {
                Some(last) if (last.iov_base as *mut u8).wrapping_add(last.iov_len) == start => {
                    last.iov_len += self.page_len
                }
                _ => iov.push(libc::iovec {
                    iov_base: start as *mut libc::c_void,
                    iov_len: self.page_len,
                }),
            }
        }
        let result = match self.release {
            Release::ProcessMadvise => iov
                // IOV_MAX (1024) ranges per call.
                .chunks(1024)
                .try_fold(0, |calls, chunk| {
                    self.process_madvise(chunk).map(|()| calls + 1)
                }),
            Release::Madvise => iov.iter().try_fold(0, |calls, v| {
                // SAFETY: the range is whole pages of this region latched exclusively
                // by the guards in `batch` (no shared latch, no other exclusive holder;
                // optimistic readers validate, see read_optimistic); MADV_DONTNEED
                // makes them read as zeros, which no live reference observes.
                let rc = unsafe { libc::madvise(v.iov_base, v.iov_len, libc::MADV_DONTNEED) };
                if rc != 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(calls + 1)
                }
            }),
        };
        // Evicted whether or not the memory went back: a page the call may have zeroed
        // must be loaded again before anyone reads it.
        for p in batch.drain(..) {
            let i = p.i;
            std::mem::forget(p);
            let s = &self.states[i];
            let v = version(s.load(Ordering::Relaxed));
            s.store(word(EVICTED, v + 1), Ordering::Release);
        }
        result
    }

    /// Give back the memory of one exclusively latched page whose load failed, and
    /// mark it evicted.
    fn drop_one(&self, i: usize) {
        // SAFETY: page i is latched exclusively by the guard being dropped; see release.
        unsafe {
            libc::madvise(
                self.page_ptr(i) as *mut libc::c_void,
                self.page_len,
                libc::MADV_DONTNEED,
            );
        }
        let s = &self.states[i];
        let v = version(s.load(Ordering::Relaxed));
        s.store(word(EVICTED, v + 1), Ordering::Release);
    }
}

impl Drop for VmRegion {
    fn drop(&mut self) {
        // SAFETY: [base, base + len) is the mapping made in new; no guard outlives the
        // region (they borrow it), so nothing refers to it any more.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
        if let Some(fd) = self.pidfd {
            // SAFETY: fd is the pidfd this region opened and owns.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

/// A region's optimistic read, by value: the state words, the base and the page
/// length copied out of the region, so a caller that keeps it (a worker) reaches a page
/// with one load fewer per field than through `&VmRegion`. It borrows the region, which
/// outlives it. See `VmRegion::read_optimistic`.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    states: &'a [AtomicU64],
    /// The region's base, which lives as long as `states` (both the region's).
    base: *const u8,
    page_len: usize,
}

impl Reader<'_> {
    /// `VmRegion::read_optimistic`, with the same contract.
    #[inline(always)]
    pub fn read_optimistic<R>(&self, i: usize, f: impl FnOnce(&[u8]) -> R) -> Result<R, bool> {
        let Some(s) = self.states.get(i) else {
            return Err(false);
        };
        let w = s.load(Ordering::Acquire);
        // One comparison for the common case (unlocked or shared: every state below
        // LOCKED); the others, out of line.
        if w >= word(LOCKED, 0) {
            match state(w) {
                EVICTED => return Err(true),
                LOCKED => return Err(false),
                _ => unmark(s, w),
            }
        }
        // SAFETY: the range is page i of the region's mapping (i < states.len(), the
        // region's page count; `base` and `page_len` are the region's, which outlives
        // this Reader's borrow). No Rust reference writes it concurrently (the
        // contract of VmRegion::read_optimistic): the only
        // changes are made by the kernel under page i's exclusive latch (read(2) into
        // it, MADV_DONTNEED), which leave plain bytes (a page of the file, zeros, or a
        // mix while in progress); reading those cannot fault (the mapping stays for
        // the region's life) and `f` only computes on them. Whether they were stable is
        // decided below: an exclusive latch taken after the first load raises the
        // version on release, or is still held at the second load, and then the result
        // is discarded. The Acquire fence orders the reads of `f` before that load.
        let r = f(unsafe {
            std::slice::from_raw_parts(self.base.wrapping_add(i * self.page_len), self.page_len)
        });
        fence(Ordering::Acquire);
        let now = s.load(Ordering::Relaxed);
        // The word unchanged (the common case, one comparison), or only its shared count
        // or the clock's mark changed: no exclusive latch came or went.
        if now == w || validates(w, now) {
            Ok(r)
        } else {
            Err(false)
        }
    }
}

/// A shared latch on a resident page: its bytes cannot change while it lives.
pub struct SharedPage<'a> {
    region: &'a VmRegion,
    i: usize,
}

impl SharedPage<'_> {
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: this guard holds a shared latch on page i, so no ExclusivePage (the
        // only source of &mut to these bytes, and the only state in which the kernel
        // refills or releases them) exists until it is dropped. The Acquire CAS that
        // took the latch synchronised with the last exclusive holder's Release. The
        // range is page i of the mapping, which outlives the guard.
        unsafe { std::slice::from_raw_parts(self.region.page_ptr(self.i), self.region.page_len) }
    }
}

impl Drop for SharedPage<'_> {
    #[inline]
    fn drop(&mut self) {
        // The state byte is the shared count (>= 1 while we hold one): subtracting one
        // from it leaves the version alone.
        self.region.states[self.i].fetch_sub(1 << STATE_SHIFT, Ordering::Release);
    }
}

/// An exclusive latch on a page: the only access to it.
pub struct ExclusivePage<'a> {
    region: &'a VmRegion,
    i: usize,
    /// The page holds its data (resident); false while a load has not completed.
    loaded: bool,
}

impl<'a> ExclusivePage<'a> {
    pub fn index(&self) -> usize {
        self.i
    }

    /// The page's bytes, to read into or write.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: this guard holds the exclusive latch of page i (no shared latch
        // exists, none can be taken), and the slice borrows the guard mutably: the only
        // reference to these bytes. The range is page i of the mapping.
        unsafe {
            std::slice::from_raw_parts_mut(self.region.page_ptr(self.i), self.region.page_len)
        }
    }

    /// Say that the page now holds its data (a load or a whole-page write completed):
    /// dropping the guard then leaves it resident.
    pub fn set_loaded(&mut self) {
        self.loaded = true;
    }

    /// Release the exclusive latch and keep a shared one, in one store (the version is
    /// raised: optimistic readers of the old bytes retry).
    pub fn downgrade(self) -> SharedPage<'a> {
        let (region, i) = (self.region, self.i);
        std::mem::forget(self);
        let s = &region.states[i];
        let v = version(s.load(Ordering::Relaxed));
        s.store(word(1, v + 1), Ordering::Release);
        SharedPage { region, i }
    }
}

impl Drop for ExclusivePage<'_> {
    fn drop(&mut self) {
        if self.loaded {
            let s = &self.region.states[self.i];
            let v = version(s.load(Ordering::Relaxed));
            s.store(word(UNLOCKED, v + 1), Ordering::Release);
        } else {
            // A load that did not complete: whatever was read is given back.
            self.region.drop_one(self.i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_release() {
        let ps = super::super::page_size();
        let r = VmRegion::new(4, ps, Release::ProcessMadvise).unwrap();
        assert!(matches!(r.try_shared(0), Shared::Evicted));
        assert!(r.read_optimistic(0, |_| ()) == Err(true));
        let mut x = r.try_lock_evicted(0).unwrap();
        assert!(r.try_lock_evicted(0).is_none());
        assert!(matches!(r.try_shared(0), Shared::Busy));
        x.data_mut().fill(7);
        x.set_loaded();
        let s = x.downgrade();
        assert!(s.data().iter().all(|&b| b == 7));
        assert!(r.clock_step(0).is_none(), "latched pages are skipped");
        drop(s);
        assert_eq!(r.read_optimistic(0, |d| d[5]), Ok(7));
        assert!(r.clock_step(0).is_none(), "first pass marks");
        assert_eq!(r.read_optimistic(0, |d| d[0]), Ok(7), "an access unmarks");
        assert!(r.clock_step(0).is_none(), "marked again");
        let victim = r.clock_step(0).expect("still marked: evicted");
        let mut batch = vec![victim];
        let calls = r.release(&mut batch).unwrap();
        assert_eq!(calls, 1);
        assert!(!r.is_resident(0));
        // Its memory reads as zeros again once loaded without data.
        let mut x = r.try_lock_evicted(0).unwrap();
        assert!(x.data_mut().iter().all(|&b| b == 0));
        drop(x); // load abandoned: evicted again
        assert!(!r.is_resident(0));
        // A failed-load guard leaves the page loadable.
        assert!(r.try_lock_evicted(0).is_some());
        assert!(VmRegion::new(1, 100, Release::Madvise).is_err());
    }

    #[test]
    fn madvise_release_of_adjacent_pages_is_one_call() {
        let ps = super::super::page_size();
        let r = VmRegion::new(8, ps, Release::Madvise).unwrap();
        let mut batch = Vec::new();
        for i in [1usize, 2, 3, 6] {
            let mut x = r.try_lock_evicted(i).unwrap();
            x.data_mut()[0] = 1;
            x.set_loaded();
            batch.push(x);
        }
        assert_eq!(r.release(&mut batch).unwrap(), 2, "pages 1-3 and 6");
        assert!((0..8).all(|i| !r.is_resident(i)));
    }
}
