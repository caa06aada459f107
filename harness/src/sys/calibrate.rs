//! What `faultline calibrate` needs from the kernel and the CPU: the time-stamp counter,
//! a bare system call, raw mappings whose pages are touched one at a time (anonymous
//! or of a file) and whose protection can be changed, CPU affinity of the calling
//! thread, and the calling thread's fault counts.
//!
//! `Region` hands out no Rust references to the mapped bytes: every access is a single
//! volatile load or store through the raw pointer, so changing the protection or
//! advice of the mapping while another thread reads it is sound.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// The time-stamp counter (rdtsc), x86_64 only.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc reads a counter register; it has no memory effects and every
    // x86_64 CPU has it (the caller checks /proc/cpuinfo's `tsc` flag first anyway).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// What the hypervisor says about itself through CPUID: its signature (leaf
/// 0x40000000, e.g. "KVMKVMKVM") and, for KVM, whether it offers the paravirtual TLB
/// flush (leaf 0x40000001, EAX bit 9, KVM_FEATURE_PV_TLB_FLUSH). None outside a VM
/// (CPUID.1:ECX bit 31 clear) and on other architectures.
pub fn hypervisor() -> Option<(String, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        // CPUID is safe to execute on every x86_64 CPU (core::arch marks it safe).
        let l1 = __cpuid(1);
        if l1.ecx & (1 << 31) == 0 {
            return None;
        }
        // With the hypervisor bit set, leaves 0x40000000.. are the hypervisor's.
        let h = __cpuid(0x4000_0000);
        let mut sig = Vec::with_capacity(12);
        for r in [h.ebx, h.ecx, h.edx] {
            sig.extend_from_slice(&r.to_le_bytes());
        }
        let sig: String = String::from_utf8_lossy(&sig)
            .trim_matches(char::from(0))
            .to_string();
        let pv_flush = if sig == "KVMKVMKVM" && h.eax >= 0x4000_0001 {
            // Leaf 0x40000001 exists (the maximum leaf above says so).
            let f = __cpuid(0x4000_0001);
            f.eax & (1 << 9) != 0
        } else {
            false
        };
        Some((sig, pv_flush))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// getppid(2): the cheapest real system call (glibc does not cache it).
#[inline(always)]
pub fn getppid() -> i32 {
    // SAFETY: getppid has no arguments and cannot fail.
    unsafe { libc::getppid() }
}

/// Minor and major faults of the calling thread so far (getrusage RUSAGE_THREAD).
pub fn thread_faults() -> io::Result<(u64, u64)> {
    // SAFETY: rusage is plain data; all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid, writable rusage; RUSAGE_THREAD describes the caller.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((ru.ru_minflt.max(0) as u64, ru.ru_majflt.max(0) as u64))
}

/// The CPUs the calling thread may run on (sched_getaffinity).
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid, writable cpu_set_t of the size passed; pid 0 is the caller.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let n = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET only reads the set; every index is below its size in bits.
    Ok((0..n)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Restrict the calling thread to `cpus` (sched_setaffinity).
pub fn set_affinity(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let n = 8 * std::mem::size_of::<libc::cpu_set_t>();
    for &c in cpus {
        if c >= n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CPU {c} is beyond the affinity mask"),
            ));
        }
        // SAFETY: c is below the set's size in bits (checked above); set is writable.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: set is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A private anonymous or shared file mapping, unmapped on drop, accessed one page at a
/// time through volatile loads and stores only.
pub struct Region {
    ptr: *mut u8,
    len: usize,
    page: usize,
}

// SAFETY: Region owns its mapping; the raw pointer is only used for volatile single-byte
// accesses and for mprotect/madvise/munmap of the whole mapping, which the kernel
// serialises. Moving it to another thread moves that ownership.
unsafe impl Send for Region {}
// SAFETY: shared use only reads (volatile loads); writes need `&mut self`, so a store
// never races with another thread's load. Protection changes (`&self`) only change
// whether an access faults, never the bytes.
unsafe impl Sync for Region {}

impl Region {
    /// `len` bytes (rounded up to pages) of private anonymous memory, not yet backed.
    pub fn anon(len: usize) -> io::Result<Region> {
        let page = super::page_size();
        let len = len.div_ceil(page).max(1) * page;
        // SAFETY: a fresh anonymous private mapping at an address the kernel picks:
        // it aliases nothing.
        unsafe {
            Region::map(
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
            )
        }
    }

    /// The first `len` bytes of `file` (a regular file or block device of at least
    /// that size), mapped shared and read-only.
    pub fn file(file: &File, len: usize) -> io::Result<Region> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map 0 bytes",
            ));
        }
        // SAFETY: a new shared read-only mapping of an open descriptor at an address the
        // kernel picks. The bytes are only read with volatile loads, so a change of the
        // file underneath cannot invalidate a Rust reference (there is none); reading
        // past a truncated end raises SIGBUS (a crash, not undefined behaviour in Rust).
        unsafe { Region::map(len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd()) }
    }

    /// mmap(2) at an address the kernel picks.
    ///
    /// # Safety
    /// `prot`, `flags` and `fd` must describe a mapping that aliases no Rust reference
    /// (anonymous, or a file read only through this Region's volatile accesses).
    unsafe fn map(len: usize, prot: i32, flags: i32, fd: i32) -> io::Result<Region> {
        // SAFETY: the caller guarantees the mapping aliases nothing Rust refers to; a
        // null hint lets the kernel choose the address, so nothing existing is replaced.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region {
            ptr: p.cast(),
            len,
            page: super::page_size(),
        })
    }

    pub fn pages(&self) -> usize {
        self.len.div_ceil(self.page)
    }

    /// madvise(2) over the whole region with an advice that never changes the bytes a
    /// later access reads (MADV_RANDOM, MADV_NOHUGEPAGE, ...).
    pub fn advise(&self, advice: libc::c_int) -> io::Result<()> {
        if ![
            libc::MADV_RANDOM,
            libc::MADV_SEQUENTIAL,
            libc::MADV_NORMAL,
            libc::MADV_NOHUGEPAGE,
            libc::MADV_HUGEPAGE,
        ]
        .contains(&advice)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only advice that keeps the contents is allowed",
            ));
        }
        // SAFETY: the range is exactly this mapping; the allowed advices only change
        // read-ahead and huge-page policy, never the contents.
        let rc = unsafe { libc::madvise(self.ptr.cast(), self.len, advice) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Make page `page` read-only (`writable` false) or writable again (anonymous
    /// regions only: a shared read-only file mapping cannot become writable).
    pub fn protect_page(&self, page: usize, writable: bool) -> io::Result<()> {
        self.check(page)?;
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: the range is one page inside this mapping. The page stays readable
        // in both states, so concurrent volatile loads never fault; writes need
        // `&mut self` and cannot happen concurrently with this call.
        let rc = unsafe { libc::mprotect(self.ptr.add(page * self.page).cast(), self.page, prot) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn check(&self, page: usize) -> io::Result<()> {
        if page >= self.pages() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("page {page} is outside the {}-page region", self.pages()),
            ));
        }
        Ok(())
    }

    /// Read the first byte of page `page` (faulting it in if needed). Panics on an
    /// index outside the region (a bug of the caller, never user input).
    #[inline(always)]
    pub fn read(&self, page: usize) -> u8 {
        assert!(page < self.pages(), "page {page} outside the region");
        // SAFETY: the address is inside the mapping, which is readable for its whole
        // life (protect_page never removes PROT_READ) and lives as long as &self.
        unsafe { std::ptr::read_volatile(self.ptr.add(page * self.page)) }
    }

    /// Write one byte at the start of page `page` of an anonymous region (faulting
    /// it in if needed). Panics on an index outside the region.
    #[inline(always)]
    pub fn write(&mut self, page: usize, v: u8) {
        assert!(page < self.pages(), "page {page} outside the region");
        // SAFETY: the address is inside this private writable mapping (callers only
        // write anonymous regions, created read-write; protect_page takes &self and
        // cannot run concurrently with &mut self), alive as long as &mut self.
        unsafe { std::ptr::write_volatile(self.ptr.add(page * self.page), v) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly the mapping created in the constructor; no
        // reference into it exists (all access is through methods borrowing self).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anon_region_reads_back_and_faults_are_counted() {
        let mut r = Region::anon(3 * 4096 + 1).unwrap();
        assert!(r.pages() >= 4);
        let (min0, _) = thread_faults().unwrap();
        for p in 0..r.pages() {
            r.write(p, p as u8 + 1);
        }
        let (min1, _) = thread_faults().unwrap();
        assert!(min1 >= min0 + r.pages() as u64, "{min0} -> {min1}");
        assert_eq!(r.read(2), 3);
        r.protect_page(2, false).unwrap();
        assert_eq!(r.read(2), 3);
        r.protect_page(2, true).unwrap();
        r.write(2, 9);
        assert_eq!(r.read(2), 9);
        assert!(r.protect_page(99, true).is_err());
        assert!(
            r.advise(libc::MADV_DONTNEED).is_err(),
            "destructive advice refused"
        );
        r.advise(libc::MADV_RANDOM).unwrap();
    }

    #[test]
    fn affinity_round_trips() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        set_affinity(&cpus[..1]).unwrap();
        assert_eq!(allowed_cpus().unwrap(), &cpus[..1]);
        set_affinity(&cpus).unwrap();
        assert_eq!(allowed_cpus().unwrap(), cpus);
    }

    #[test]
    fn getppid_is_a_process() {
        assert!(getppid() > 0);
    }
}
