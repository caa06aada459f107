//! Huge pages, to isolate what the TLB costs: the same data, read from memory, backed
//! by 2 MiB pages instead of 4 KiB ones.
//!
//! * `mode=thp`: the file's own shared mapping (as `mmap`) with MADV_HUGEPAGE, then
//!   MADV_COLLAPSE (Linux 6.1+). File-backed huge pages need a kernel built with
//!   CONFIG_READ_ONLY_THP_FOR_FS or a file system with large folios; whatever happened
//!   is reported, never assumed.
//! * `mode=hugetlb`: an anonymous MAP_HUGETLB region (2 MiB pages from the reserved pool,
//!   the size rounded up to whole pages) filled with the file at open, untimed.
//!   `reserve` raises vm.nr_hugepages for the run and puts the old value back when the
//!   backend is dropped, also when opening fails.
//! * `mode=anon-thp`: an anonymous region with MADV_HUGEPAGE (+ MADV_COLLAPSE), filled
//!   with the file at open.
//!
//! Each open reads /proc/self/smaps_rollup before and after loading and notes how many
//! bytes really are mapped with huge pages: the advices are best effort.

use super::{Backend, MemoryWorker, OpenCtx, OpenError, Worker};
use crate::datafile::Target;
use crate::spec::backend::{HugepageMode, HugepageOptions};
use crate::spec::Touch;
use crate::sys::madvise::{madvise_huge, HugeAdvice};
use crate::{sys, units};
use memmap2::Advice;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The huge page size this backend uses (x86-64 and arm64 with 4 KiB base pages).
pub const HUGE_PAGE: u64 = 2 << 20;
const HUGE_PAGE_BITS: u8 = 21;
const THP_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";
const THP_DEFRAG: &str = "/sys/kernel/mm/transparent_hugepage/defrag";
const POOL_DIR: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";
const PROC_NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";
const LOAD_CHUNK: usize = 8 << 20;
/// Why a file mapping has no huge pages before the run.
const FAULT_PATH: &str = "nothing is faulted in before the run; with MADV_HUGEPAGE a fault \
     reads a 2 MiB folio and maps it whole where the file system has large folios, so see the \
     end-of-run line";

/// Huge-page lines of /proc/self/smaps_rollup (or of one mapping in /proc/self/smaps),
/// in bytes. A field the kernel does not print is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HugeUsage {
    /// AnonHugePages: anonymous memory mapped with transparent huge pages.
    pub anon_huge: Option<u64>,
    /// FilePmdMapped: file pages mapped with PMD (2 MiB) entries.
    pub file_pmd: Option<u64>,
    /// ShmemPmdMapped: shmem/tmpfs pages mapped with PMD entries.
    pub shmem_pmd: Option<u64>,
    /// Private_Hugetlb / Shared_Hugetlb: hugetlbfs pages mapped.
    pub private_hugetlb: Option<u64>,
    pub shared_hugetlb: Option<u64>,
}

/// Which smaps field measures a mode's mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugeField {
    AnonHugePages,
    FilePmdMapped,
    PrivateHugetlb,
}

impl HugeField {
    pub fn name(self) -> &'static str {
        match self {
            HugeField::AnonHugePages => "AnonHugePages",
            HugeField::FilePmdMapped => "FilePmdMapped",
            HugeField::PrivateHugetlb => "Private_Hugetlb",
        }
    }
}

impl HugeUsage {
    /// Parse `Key:   N kB` lines; other lines are ignored.
    pub fn parse(text: &str) -> HugeUsage {
        let mut u = HugeUsage::default();
        for line in text.lines() {
            let Some((key, rest)) = line.split_once(':') else {
                continue;
            };
            let slot = match key.trim() {
                "AnonHugePages" => &mut u.anon_huge,
                "FilePmdMapped" => &mut u.file_pmd,
                "ShmemPmdMapped" => &mut u.shmem_pmd,
                "Private_Hugetlb" => &mut u.private_hugetlb,
                "Shared_Hugetlb" => &mut u.shared_hugetlb,
                _ => continue,
            };
            let mut words = rest.split_whitespace();
            let (Some(n), unit) = (
                words.next().and_then(|n| n.parse::<u64>().ok()),
                words.next(),
            ) else {
                continue;
            };
            let mult = match unit {
                Some("kB") | Some("KB") | Some("kb") => 1024,
                None | Some("B") => 1,
                Some("MB") => 1 << 20,
                _ => continue,
            };
            *slot = Some(n.saturating_mul(mult));
        }
        u
    }

    /// The calling process's usage (/proc/self/smaps_rollup, Linux 4.14+).
    pub fn read_self() -> io::Result<HugeUsage> {
        std::fs::read_to_string("/proc/self/smaps_rollup").map(|t| HugeUsage::parse(&t))
    }

    pub fn get(&self, f: HugeField) -> Option<u64> {
        match f {
            HugeField::AnonHugePages => self.anon_huge,
            HugeField::FilePmdMapped => self.file_pmd,
            HugeField::PrivateHugetlb => self.private_hugetlb,
        }
    }

    /// All huge-page bytes mapped, of every kind the kernel reported.
    pub fn total(&self) -> u64 {
        [
            self.anon_huge,
            self.file_pmd,
            self.shmem_pmd,
            self.private_hugetlb,
            self.shared_hugetlb,
        ]
        .iter()
        .flatten()
        .sum()
    }
}

/// "huge pages mapped after loading: 512MiB of 512MiB (AnonHugePages)", saying plainly when it is 0.
pub fn mapped_note(when: &str, bytes: u64, of: u64, field: HugeField, why_zero: &str) -> String {
    let mut s = format!(
        "huge pages mapped {when}: {} of {} ({})",
        units::format_size(bytes),
        units::format_size(of),
        field.name()
    );
    if bytes == 0 {
        s.push_str(": none; the mapping is backed by 4 KiB pages");
        if !why_zero.is_empty() {
            s.push_str(" (");
            s.push_str(why_zero);
            s.push(')');
        }
    }
    s
}

/// The bracketed word of a sysfs THP setting ("always [madvise] never" -> "madvise").
pub fn thp_setting(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(&text[start..end])
}

/// Kernel release "6.18.44-..." -> (6, 18).
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    sys::uname()
        .ok()
        .and_then(|u| kernel_version(&u.release))
        .is_some_and(|v| v >= (major, minor))
}

/// Restores vm.nr_hugepages (2 MiB pool) to its old value when dropped.
struct PoolGuard {
    path: PathBuf,
    old: u64,
    now: u64,
}

impl PoolGuard {
    /// Write `want` into the pool size file and return the guard plus what the kernel
    /// really set (it reserves fewer pages when memory is fragmented).
    fn raise(path: &Path, old: u64, want: u64) -> Result<PoolGuard, String> {
        std::fs::write(path, format!("{want}\n"))
            .map_err(|e| format!("cannot write {want} to {}: {e}", path.display()))?;
        let now = read_u64(path).unwrap_or(want);
        Ok(PoolGuard {
            path: path.to_path_buf(),
            old,
            now,
        })
    }
}

impl Drop for PoolGuard {
    fn drop(&mut self) {
        if self.now == self.old {
            return;
        }
        if let Err(e) = std::fs::write(&self.path, format!("{}\n", self.old)) {
            eprintln!(
                "warning: could not restore {} to {}: {e}; restore it with `echo {} > {}`",
                self.path.display(),
                self.old,
                self.old,
                self.path.display()
            );
        }
    }
}

fn read_u64(path: &Path) -> io::Result<u64> {
    std::fs::read_to_string(path)?
        .trim()
        .parse::<u64>()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The hugetlb pool of 2 MiB pages as the kernel reports it.
struct Pool {
    total: u64,
    free: u64,
    reserved: u64,
    /// Where to write the pool size: /proc/sys/vm/nr_hugepages when 2 MiB is the
    /// default huge page size, else the per-size sysfs file.
    size_file: PathBuf,
}

impl Pool {
    fn read() -> Result<Pool, String> {
        let dir = Path::new(POOL_DIR);
        if !dir.exists() {
            return Err(format!(
                "this kernel has no 2 MiB hugetlb pages ({POOL_DIR} is missing; \
                 CONFIG_HUGETLBFS off or another base page size)"
            ));
        }
        let get = |f: &str| {
            read_u64(&dir.join(f)).map_err(|e| format!("cannot read {POOL_DIR}/{f}: {e}"))
        };
        let default_is_2m = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| crate::env::meminfo_kb(&m, "Hugepagesize"))
            == Some(2048);
        Ok(Pool {
            total: get("nr_hugepages")?,
            free: get("free_hugepages")?,
            reserved: get("resv_hugepages")?,
            size_file: if default_is_2m {
                PathBuf::from(PROC_NR_HUGEPAGES)
            } else {
                dir.join("nr_hugepages")
            },
        })
    }

    /// Pages a new mapping can still reserve.
    fn available(&self) -> u64 {
        self.free.saturating_sub(self.reserved)
    }
}

enum Memory {
    File(memmap2::Mmap),
    Anon(memmap2::MmapMut),
}

pub struct HugePage {
    // Field order is drop order: the SIGBUS registration goes before the mapping, the
    // mapping is unmapped before the pool shrinks back.
    _sigbus: Option<sys::sigbus::Registration>,
    mem: Memory,
    /// The mapped file, open while registered for SIGBUS recovery (`restore`).
    _file: std::fs::File,
    /// Where the data starts in `mem` (anonymous regions are over-allocated to start at
    /// a 2 MiB boundary).
    start: usize,
    len: usize,
    block: usize,
    touch: Touch,
    field: HugeField,
    /// Bytes of the region huge pages could cover (the mapping rounded as the mode does).
    region: u64,
    baseline: Option<HugeUsage>,
    mapped_at_open: Option<u64>,
    notes: Vec<String>,
    _pool: Option<PoolGuard>,
}

fn unavailable(e: impl std::fmt::Display) -> OpenError {
    OpenError::Unavailable(e.to_string())
}

fn failed(e: impl std::fmt::Display) -> OpenError {
    OpenError::Failed(e.to_string())
}

/// THP must not be `never` for the THP modes; returns a note with the settings.
fn thp_check() -> Result<String, OpenError> {
    let enabled = std::fs::read_to_string(THP_ENABLED).map_err(|e| {
        unavailable(format!(
            "this kernel has no transparent huge pages ({THP_ENABLED}: {e})"
        ))
    })?;
    let enabled = thp_setting(&enabled).unwrap_or("?").to_string();
    if enabled == "never" {
        return Err(unavailable(format!(
            "transparent huge pages are disabled ({THP_ENABLED} is `never`); enable them \
             with `echo madvise > {THP_ENABLED}`"
        )));
    }
    let defrag = std::fs::read_to_string(THP_DEFRAG)
        .ok()
        .and_then(|t| thp_setting(&t).map(str::to_string))
        .unwrap_or_else(|| "?".into());
    Ok(format!("THP settings: enabled={enabled}, defrag={defrag}"))
}

/// MADV_COLLAPSE: whether it succeeded, and a note that says what happened.
fn collapse(region: &[u8], what: &str, einval: &str) -> (bool, String) {
    let r = madvise_huge(region, HugeAdvice::Collapse);
    let note = match &r {
        Ok(()) => format!("MADV_COLLAPSE of the {what} succeeded"),
        Err(e) => {
            let why = match e.raw_os_error() {
                Some(libc::EINVAL) => einval,
                Some(libc::EAGAIN) => "EAGAIN: some pages were busy (transient)",
                Some(libc::ENOMEM) => "ENOMEM: no free 2 MiB blocks (memory fragmented)",
                _ => "",
            };
            format!(
                "MADV_COLLAPSE of the {what} failed: {e}{}{why}",
                if why.is_empty() { "" } else { "; " }
            )
        }
    };
    (r.is_ok(), note)
}

/// Copy the first `dst.len()` bytes of `file` into `dst`.
fn load(file: &File, dst: &mut [u8], path: &Path) -> Result<(), OpenError> {
    let mut done = 0usize;
    while done < dst.len() {
        let end = (done + LOAD_CHUNK).min(dst.len());
        match file.read_at(&mut dst[done..end], done as u64) {
            Ok(0) => {
                return Err(failed(format!(
                    "{} ended after {done} of {} bytes while loading it",
                    path.display(),
                    dst.len()
                )))
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                // The device failed a read: this backend needs every byte in its copy
                // before the run, so it cannot run on this device (not a harness bug).
                return Err(unavailable(format!(
                    "the copy of {} into memory at open failed at offset {}: {e}; a backend that copies the whole file first cannot run on a device that fails reads",
                    path.display(),
                    done
                )));
            }
            Err(e) => {
                return Err(failed(format!(
                    "reading {} into memory failed at offset {done}: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}

/// An anonymous region of `len` bytes rounded up to huge pages that starts on a
/// 2 MiB boundary: (mapping, offset of the region in it, region length).
fn anon_aligned(len: u64) -> Result<(memmap2::MmapMut, usize, usize), OpenError> {
    let region = len.div_ceil(HUGE_PAGE) * HUGE_PAGE;
    let total = usize::try_from(region + HUGE_PAGE)
        .map_err(|_| unavailable("the file is larger than the address space"))?;
    let map = memmap2::MmapOptions::new()
        .len(total)
        .map_anon()
        .map_err(|e| failed(format!("anonymous mapping of {total} bytes failed: {e}")))?;
    let addr = map.as_ptr() as usize;
    let hp = HUGE_PAGE as usize;
    let start = addr.next_multiple_of(hp) - addr;
    Ok((map, start, region as usize))
}

impl HugePage {
    pub fn open(ctx: &OpenCtx, o: &HugepageOptions) -> Result<HugePage, OpenError> {
        let t = ctx.target;
        if let Some(s) = &t.stripe {
            return Err(unavailable(format!(
                "hugepage maps or loads one file; the data is striped over {} devices (count > 1), which it does not handle: use count=1",
                s.devices.len()
            )));
        }
        let len = usize::try_from(t.size)
            .map_err(|_| unavailable("the file is larger than the address space"))?;
        let file = t.open_read().map_err(|e| failed(format!("{e:#}")))?;
        let mut notes = Vec::new();
        let baseline = HugeUsage::read_self();
        let src = Source {
            t,
            file: &file,
            len,
        };
        let Region {
            mem,
            start,
            region,
            field,
            why_zero,
            pool: pool_guard,
        } = match o.mode {
            HugepageMode::Thp => open_thp(src, o, &mut notes)?,
            HugepageMode::AnonThp => open_anon_thp(src, o, &mut notes)?,
            HugepageMode::Hugetlb => open_hugetlb(src, o, &mut notes)?,
        };
        // The file mapping (mode=thp) raises SIGBUS if the file is truncated under it.
        let sigbus = match &mem {
            Memory::File(m) => Some(
                sys::sigbus::register_file(m.as_ptr(), m.len(), &file, libc::MADV_HUGEPAGE)
                    .map_err(|e| failed(format!("cannot install the SIGBUS handler: {e}")))?,
            ),
            Memory::Anon(_) => None,
        };
        let mut hp = HugePage {
            _sigbus: sigbus,
            mem,
            _file: file,
            start,
            len,
            block: ctx.workload.block as usize,
            touch: ctx.workload.touch,
            field,
            region,
            baseline: baseline.as_ref().ok().copied(),
            mapped_at_open: None,
            notes,
            _pool: pool_guard,
        };
        match (&baseline, hp.huge_page_bytes()) {
            (Ok(_), Some(b)) => {
                hp.mapped_at_open = Some(b);
                let when = if o.mode == HugepageMode::Thp && !why_zero.is_empty() {
                    "at open (before any fault)"
                } else {
                    "after loading"
                };
                hp.notes.push(mapped_note(when, b, region, field, why_zero));
            }
            (Err(e), _) => hp.notes.push(format!(
                "cannot read /proc/self/smaps_rollup ({e}): huge pages mapped unknown"
            )),
            (Ok(_), None) => hp.notes.push(format!(
                "/proc/self/smaps_rollup has no {} line: huge pages mapped unknown",
                field.name()
            )),
        }
        Ok(hp)
    }

    fn data(&self) -> &[u8] {
        let all: &[u8] = match &self.mem {
            Memory::File(m) => m,
            Memory::Anon(m) => m,
        };
        &all[self.start..self.start + self.len]
    }
}

/// What a mode loads or maps: the data file, open, and its length in bytes.
#[derive(Clone, Copy)]
struct Source<'a> {
    t: &'a Target,
    file: &'a File,
    len: usize,
}

/// The memory a `hugepage` backend reads, as set up at open.
struct Region {
    mem: Memory,
    /// Where the data starts in `mem`, and the bytes that may be huge-page backed.
    start: usize,
    region: u64,
    /// The smaps_rollup line that counts them.
    field: HugeField,
    /// Why none may be mapped at open (empty when some must be).
    why_zero: &'static str,
    /// The huge-page reservation this backend made, restored on drop.
    pool: Option<PoolGuard>,
}

/// mode=thp: the file mapped with MADV_HUGEPAGE (and MADV_COLLAPSE when asked).
fn open_thp(
    src: Source,
    o: &HugepageOptions,
    notes: &mut Vec<String>,
) -> Result<Region, OpenError> {
    let Source { t, file, len } = src;
    notes.push(thp_check()?);
    let map = sys::map_readonly(file, len, false)
        .map_err(|e| failed(format!("mmap of {} failed: {e}", t.path.display())))?;
    map.advise(Advice::HugePage).map_err(|e| {
        unavailable(format!(
            "madvise(MADV_HUGEPAGE) on the mapping of {} failed: {e}",
            t.path.display()
        ))
    })?;
    notes.push("madvise(MADV_HUGEPAGE) applied to the file mapping".into());
    let aligned = (map.as_ptr() as usize).is_multiple_of(HUGE_PAGE as usize);
    if !aligned {
        notes.push(
            "the mapping does not start on a 2 MiB boundary, so the kernel can map \
                 at most the 2 MiB-aligned parts with huge pages"
                .into(),
        );
    }
    let why = if o.collapse {
        let einval = if kernel_at_least(6, 1) {
            "EINVAL: this kernel has MADV_COLLAPSE (Linux 6.1+) but cannot collapse \
                 this file mapping (file collapse needs CONFIG_READ_ONLY_THP_FOR_FS)"
        } else {
            "EINVAL: the kernel lacks MADV_COLLAPSE (Linux 6.1+)"
        };
        let (ok, note) = collapse(&map, "file mapping", einval);
        notes.push(note);
        if ok {
            notes.push(
                "MADV_COLLAPSE read the whole range into the page cache: the run \
                     starts warm whatever `start` says"
                    .into(),
            );
        }
        if ok {
            ""
        } else {
            FAULT_PATH
        }
    } else {
        FAULT_PATH
    };
    Ok(Region {
        mem: Memory::File(map),
        start: 0,
        region: len as u64,
        field: HugeField::FilePmdMapped,
        why_zero: why,
        pool: None,
    })
}

/// mode=anon-thp: the file copied into an aligned anonymous region with MADV_HUGEPAGE.
fn open_anon_thp(
    src: Source,
    o: &HugepageOptions,
    notes: &mut Vec<String>,
) -> Result<Region, OpenError> {
    let Source { t, file, len } = src;
    notes.push(thp_check()?);
    // The copy must fit in memory, or loading it would end in the OOM killer.
    let avail = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| crate::env::meminfo_kb(&m, "MemAvailable"))
        .map(|kb| kb * 1024);
    if let Some(avail) = avail.filter(|&a| a < t.size.div_ceil(HUGE_PAGE) * HUGE_PAGE) {
        return Err(unavailable(format!(
            "an anonymous copy of {} does not fit in the {} of memory available \
                 (MemAvailable); use a smaller --size",
            units::format_size(t.size),
            units::format_size(avail)
        )));
    }
    let (mut map, start, region) = anon_aligned(t.size)?;
    map.advise_range(Advice::HugePage, start, region)
        .map_err(|e| {
            unavailable(format!(
                "madvise(MADV_HUGEPAGE) on an anonymous region failed: {e}"
            ))
        })?;
    load(file, &mut map[start..start + len], &t.path)?;
    notes.push(format!(
            "loaded {} into an anonymous region of {} with MADV_HUGEPAGE at open (untimed); reads come from memory",
            units::format_size(t.size),
            units::format_size(region as u64)
        ));
    if o.collapse {
        notes.push(
            collapse(
                &map[start..start + region],
                "anonymous region",
                "EINVAL: the kernel lacks MADV_COLLAPSE (Linux 6.1+)",
            )
            .1,
        );
    }
    Ok(Region {
        mem: Memory::Anon(map),
        start,
        region: region as u64,
        field: HugeField::AnonHugePages,
        why_zero: "the kernel found no free 2 MiB blocks at fault time and MADV_COLLAPSE did \
             not help",
        pool: None,
    })
}

/// mode=hugetlb: the file copied into a MAP_HUGETLB region (reserving pages if asked).
fn open_hugetlb(
    src: Source,
    o: &HugepageOptions,
    notes: &mut Vec<String>,
) -> Result<Region, OpenError> {
    let Source { t, file, len } = src;
    let mut pool_guard = None;
    let pool = Pool::read().map_err(unavailable)?;
    let needed = t.size.div_ceil(HUGE_PAGE);
    let avail = pool.available();
    if avail < needed {
        let want = pool.total + (needed - avail);
        if !o.reserve {
            return Err(unavailable(format!(
                "needs {needed} huge pages of 2 MiB for {} but {avail} are free \
                     (nr_hugepages={}); reserve them with `hugepage:mode=hugetlb,reserve` \
                     (root; restored afterwards) or `echo {want} > {}`",
                units::format_size(t.size),
                pool.total,
                pool.size_file.display()
            )));
        }
        if sys::uid() != 0 {
            return Err(unavailable(format!(
                "`reserve` needs root to write {} (raise it to {want} as root, or run \
                     faultline as root)",
                pool.size_file.display()
            )));
        }
        let guard = PoolGuard::raise(&pool.size_file, pool.total, want).map_err(unavailable)?;
        let after = Pool::read().map_err(unavailable)?;
        if after.available() < needed {
            let got = guard.now;
            drop(guard);
            return Err(unavailable(format!(
                "asked the kernel for {want} huge pages of 2 MiB but it reserved only \
                     {got} (too little free or too fragmented memory); {needed} free are \
                     needed, {} are; nr_hugepages is back at {}",
                after.available(),
                pool.total
            )));
        }
        notes.push(format!(
            "reserved huge pages: {} {} -> {} (restored when the backend closes)",
            pool.size_file.display(),
            pool.total,
            guard.now
        ));
        pool_guard = Some(guard);
    } else if o.reserve {
        notes.push(format!(
            "reserve: {avail} huge pages were already free, {} left unchanged",
            pool.size_file.display()
        ));
    }
    let region = usize::try_from(needed * HUGE_PAGE)
        .map_err(|_| unavailable("the file is larger than the address space"))?;
    let mut map = memmap2::MmapOptions::new()
        .len(region)
        .huge(Some(HUGE_PAGE_BITS))
        .map_anon()
        .map_err(|e| {
            unavailable(format!(
                "mmap(MAP_HUGETLB) of {} failed: {e}; the pool has {} pages free",
                units::format_size(region as u64),
                Pool::read().map(|p| p.available()).unwrap_or(0)
            ))
        })?;
    load(file, &mut map[..len], &t.path)?;
    notes.push(format!(
            "loaded {} into a MAP_HUGETLB region of {} ({needed} pages of 2 MiB) at open (untimed); reads come from memory",
            units::format_size(t.size),
            units::format_size(region as u64)
        ));
    Ok(Region {
        mem: Memory::Anon(map),
        start: 0,
        region: region as u64,
        field: HugeField::PrivateHugetlb,
        why_zero: "smaps did not count the hugetlb pages",
        pool: pool_guard,
    })
}

impl Backend for HugePage {
    fn worker(&self, _index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        Ok(Box::new(MemoryWorker::new(
            self.data(),
            self.block,
            self.touch,
        )))
    }

    /// The open-time notes, plus the huge pages mapped now when that changed (called
    /// after the run, it tells what the run's faults added).
    fn notes(&self) -> Vec<String> {
        let mut n = self.notes.clone();
        if let (Some(at_open), Some(now)) = (self.mapped_at_open, self.huge_page_bytes()) {
            if now != at_open {
                n.push(mapped_note(
                    "at the end of the run",
                    now,
                    self.region,
                    self.field,
                    "",
                ));
            }
        }
        n
    }

    /// Bytes of this backend's memory mapped with huge pages now: the growth of the
    /// mode's smaps_rollup field since just before the mapping was made.
    fn huge_page_bytes(&self) -> Option<u64> {
        let base = self.baseline?.get(self.field)?;
        let now = HugeUsage::read_self().ok()?.get(self.field)?;
        Some(now.saturating_sub(base).min(self.region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLLUP: &str = "\
00400000-7fff6b7fe000 ---p 00000000 00:00 0                              [rollup]
Rss:              545104 kB
Pss:              543517 kB
Anonymous:        526708 kB
LazyFree:              0 kB
AnonHugePages:    524288 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:      2048 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:  1048576 kB
Swap:                  0 kB
";

    #[test]
    fn parses_smaps_rollup() {
        let u = HugeUsage::parse(ROLLUP);
        assert_eq!(u.anon_huge, Some(512 << 20));
        assert_eq!(u.file_pmd, Some(2 << 20));
        assert_eq!(u.shmem_pmd, Some(0));
        assert_eq!(u.private_hugetlb, Some(1 << 30));
        assert_eq!(u.shared_hugetlb, Some(0));
        assert_eq!(u.total(), (512 << 20) + (2 << 20) + (1 << 30));
        assert_eq!(u.get(HugeField::FilePmdMapped), Some(2 << 20));
    }

    #[test]
    fn missing_and_malformed_lines_are_none() {
        let u = HugeUsage::parse("AnonHugePages: x kB\nRss: 4 kB\nFilePmdMapped:\ngarbage\n");
        assert_eq!(u, HugeUsage::default());
        assert_eq!(u.total(), 0);
        assert_eq!(HugeUsage::parse(""), HugeUsage::default());
    }

    #[test]
    fn reads_this_process() {
        // Linux 4.14+ has smaps_rollup with AnonHugePages.
        let u = HugeUsage::read_self().unwrap();
        assert!(u.anon_huge.is_some());
    }

    #[test]
    fn notes_say_when_nothing_was_huge() {
        let n = mapped_note(
            "after loading",
            512 << 20,
            512 << 20,
            HugeField::AnonHugePages,
            "x",
        );
        assert_eq!(
            n,
            "huge pages mapped after loading: 512MiB of 512MiB (AnonHugePages)"
        );
        let n = mapped_note("after loading", 0, 4 << 20, HugeField::FilePmdMapped, "why");
        assert!(
            n.contains("0B of 4MiB") && n.contains("none") && n.contains("(why)"),
            "{n}"
        );
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v595"), Some((6, 18)));
        assert_eq!(kernel_version("5.4.0"), Some((5, 4)));
        assert_eq!(kernel_version("x"), None);
        assert!((6, 18) >= (6, 1) && (5, 19) < (6, 1));
    }

    #[test]
    fn thp_setting_reads_the_bracket() {
        assert_eq!(thp_setting("always [madvise] never\n"), Some("madvise"));
        assert_eq!(thp_setting("[never]"), Some("never"));
        assert_eq!(thp_setting("always madvise"), None);
    }
}
