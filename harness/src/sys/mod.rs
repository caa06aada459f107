//! The only module with `unsafe` code: thin, documented wrappers over libc calls and
//! the few memmap2 entry points that are `unsafe`. Everything above this module is safe
//! Rust. Each wrapper returns `std::io::Result` and leaves interpretation to the caller.

pub mod calibrate;
pub mod counter;
pub mod cpuid;
pub mod lmdb;
pub mod madvise;
pub mod pagecache;
pub mod perf;
pub mod process;
pub mod shared_map;
pub mod sigbus;
pub mod write;

use std::alloc::{self, Layout};
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;

pub mod frames;
pub mod uring;
pub mod vmregion;

/// A zero-initialised heap buffer whose start address is a multiple of `align`, as
/// O_DIRECT needs. Allocated once, before any measured operation.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: AlignedBuf owns its allocation exclusively (like Vec<u8>); moving it to another
// thread moves that ownership, and shared references only allow reads.
unsafe impl Send for AlignedBuf {}
// SAFETY: see Send; &AlignedBuf gives only &[u8].
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// Allocate `len` zeroed bytes aligned to `align` (a power of two). `len` of 0 is
    /// rounded up to `align` so the allocation is never zero-sized.
    pub fn new(len: usize, align: usize) -> io::Result<AlignedBuf> {
        let size = len.max(align).max(1);
        let layout = Layout::from_size_align(size, align.max(1))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        // SAFETY: layout has a non-zero size (checked above) as alloc_zeroed requires.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or_else(|| {
            io::Error::new(io::ErrorKind::OutOfMemory, "aligned allocation failed")
        })?;
        Ok(AlignedBuf { ptr, layout })
    }

    pub fn len(&self) -> usize {
        self.layout.size()
    }

    pub fn is_empty(&self) -> bool {
        self.layout.size() == 0
    }

    /// The start of the buffer, without creating a reference to its bytes (for memory
    /// the kernel fills asynchronously; see `uring`).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr points to layout.size() initialised (zeroed) bytes owned by self,
        // valid for the lifetime of &self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref; &mut self guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: ptr was returned by alloc_zeroed with exactly this layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Ask the CPU to bring the cache line at `p` into its caches (a hint: never faults,
/// never changes memory; a no-op on other architectures).
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint to the cache; it does not dereference `p` in
    // the language's sense, cannot fault on an invalid address and writes nothing.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Direct-I/O alignment that the kernel reports for an open file (statx STATX_DIOALIGN,
/// Linux 6.1+). `None` when the kernel or file system does not report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DioAlign {
    pub mem_align: u32,
    pub offset_align: u32,
}

pub fn statx_dio_align(file: &File) -> io::Result<Option<DioAlign>> {
    // SAFETY: statx is plain data; all-zero bytes are a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let empty = c"";
    // SAFETY: fd is a valid open descriptor for the lifetime of `file`; the path is an
    // empty NUL-terminated string, used with AT_EMPTY_PATH to mean "this fd"; stx is a
    // valid, writable statx buffer.
    let rc = unsafe {
        libc::statx(
            file.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_DIOALIGN,
            &mut stx,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if stx.stx_mask & libc::STATX_DIOALIGN == 0 || stx.stx_dio_offset_align == 0 {
        return Ok(None);
    }
    Ok(Some(DioAlign {
        mem_align: stx.stx_dio_mem_align,
        offset_align: stx.stx_dio_offset_align,
    }))
}

/// Logical block size of a block device (ioctl BLKSSZGET).
pub fn block_logical_size(file: &File) -> io::Result<u32> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one c_int through the pointer, which points to a live
    // local; the fd is valid for the lifetime of `file`.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::BLKSSZGET, &mut size) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size as u32)
}

/// posix_fadvise over a byte range of an open file (`len` 0 = to the end).
pub fn fadvise(file: &File, offset: u64, len: u64, advice: libc::c_int) -> io::Result<()> {
    // SAFETY: posix_fadvise only reads its integer arguments; the fd is valid.
    let rc = unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            advice,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Drop the page cache of a file (POSIX_FADV_DONTNEED over the whole file). Pages
/// that are mapped or dirty stay; callers unmap first.
pub fn drop_file_cache(file: &File) -> io::Result<()> {
    fadvise(file, 0, 0, libc::POSIX_FADV_DONTNEED)
}

/// Reserve blocks for `len` bytes (fallocate mode 0). Fails with EOPNOTSUPP on file
/// systems without it; callers fall back to set_len.
pub fn fallocate(file: &File, len: u64) -> io::Result<()> {
    // SAFETY: fallocate only reads its integer arguments; the fd is valid.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Map `len` bytes of `file` read-only and shared, optionally with MAP_POPULATE.
///
/// The mapping reflects the file: if another process truncates or rewrites the file
/// while it is mapped, reads through the mapping see the new bytes or raise SIGBUS. The
/// harness only maps data files it verifies or user files it opens read-only, and
/// treats SIGBUS as a reported error of that backend.
pub fn map_readonly(file: &File, len: usize, populate: bool) -> io::Result<memmap2::Mmap> {
    let mut opts = memmap2::MmapOptions::new();
    opts.len(len);
    if populate {
        opts.populate();
    }
    // SAFETY: memmap2 requires that the underlying file is not modified or truncated
    // while mapped, or that the caller accepts seeing such changes. The harness owns the
    // data files it maps and never writes them during a run; for user-supplied files the
    // mapping is read-only and any truncation surfaces as SIGBUS, handled as a backend
    // failure rather than memory unsafety in safe code (reads are of plain bytes).
    unsafe { opts.map(file) }
}

/// Kernel identification from uname(2).
pub struct Uname {
    pub sysname: String,
    pub release: String,
    pub version: String,
    pub machine: String,
    pub nodename: String,
}

pub fn uname() -> io::Result<Uname> {
    // SAFETY: utsname is plain data; zeroed is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid writable utsname.
    let rc = unsafe { libc::uname(&mut u) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let field = |f: &[libc::c_char]| {
        // SAFETY: uname fills each field with a NUL-terminated string within its array;
        // the slice lives as long as `u`.
        unsafe { CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(Uname {
        sysname: field(&u.sysname),
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
        nodename: field(&u.nodename),
    })
}

/// File system magic number of the file system holding `path` (statfs f_type).
pub fn statfs_type(path: &Path) -> io::Result<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statfs is plain data; zeroed is valid.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path; s is a valid writable buffer.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut s) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(s.f_type as i64)
}

/// File system magic number of the file system holding the open `file` (fstatfs).
pub fn fstatfs_type(file: &File) -> io::Result<i64> {
    // SAFETY: statfs is plain data; zeroed is valid.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open for the borrow of `file`; s is a valid buffer.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), &mut s) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(s.f_type as i64)
}

/// FUSE's file system magic number (statfs f_type).
pub const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

/// Detach the file system mounted at `path` (umount2 MNT_DETACH: it disappears from the
/// tree at once and is cleaned up when no longer busy; never blocks on a dead server).
pub fn umount_detach(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: c is a valid NUL-terminated path; umount2 reads nothing else.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mount the ext4 file system on block device `dev` at `dir` (noatime: reads do not
/// write inode times).
pub fn mount_ext4(dev: &Path, dir: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let cstr = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    };
    let (d, m) = (cstr(dev)?, cstr(dir)?);
    let fstype = c"ext4";
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call;
    // no data argument (null).
    let rc = unsafe {
        libc::mount(
            d.as_ptr(),
            m.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOATIME,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Mount the FUSE control file system (fusectl) at `path` (normally
/// /sys/fs/fuse/connections), where each FUSE connection has an `abort` file.
pub fn mount_fusectl(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let name = c"fusectl";
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call;
    // fusectl takes no data argument (null).
    let rc = unsafe {
        libc::mount(
            name.as_ptr(),
            c.as_ptr(),
            name.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bytes available to unprivileged users on the file system holding `path` (statvfs).
pub fn free_space(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs is plain data; zeroed is valid.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path; s is a valid writable buffer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(s.f_bavail as u64 * s.f_frsize as u64)
}

/// The page size of this machine (sysconf _SC_PAGESIZE).
pub fn page_size() -> usize {
    // SAFETY: sysconf only reads its argument.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as usize
    } else {
        4096
    }
}

/// Number of online CPUs (sysconf _SC_NPROCESSORS_ONLN).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf only reads its argument.
    let v = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if v > 0 {
        v as usize
    } else {
        1
    }
}

/// Clock ticks per second of /proc times (sysconf _SC_CLK_TCK).
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads its argument.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as u64
    } else {
        100
    }
}

/// Keep large allocations (>= 128 KiB) on their own mappings, returned to the system
/// when freed. glibc otherwise raises this threshold after the first large free, and
/// the per-backend tables that later cells allocate and free (a buffer pool's page table
/// and latches, ~1 MiB each) then fragment the heap: the soak measured RSS growing by
/// ~1 MiB per buffer-pool cell without it, flat with it. A no-op where the C library
/// has no M_MMAP_THRESHOLD (non-glibc).
pub fn keep_large_allocations_mapped() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator parameters; called once at start-up,
    // before any threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Real user id (getuid never fails).
pub fn uid() -> u32 {
    // SAFETY: getuid has no arguments and cannot fail.
    unsafe { libc::getuid() }
}

/// Kernel thread id of the calling thread.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// CPU time the calling thread has used, ns (CLOCK_THREAD_CPUTIME_ID): what a short
/// calibration loop cost, unaffected by time the thread spent waiting for a CPU.
pub fn thread_cpu_ns() -> io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; the clock id is a constant Linux knows.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buf_is_aligned_and_zeroed() {
        for align in [512usize, 4096, 65536] {
            let b = AlignedBuf::new(10_000, align).unwrap();
            assert_eq!(b.as_ptr() as usize % align, 0);
            assert!(b.len() >= 10_000);
            assert!(b.iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn uname_reports_linux() {
        let u = uname().unwrap();
        assert_eq!(u.sysname, "Linux");
        assert!(!u.release.is_empty());
    }
}
