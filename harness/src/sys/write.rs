//! Writes through a shared writable mapping, and the sync calls std does not wrap.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

/// A shared, writable mapping of a data file that several worker threads store into.
///
/// Each writing thread owns a disjoint set of blocks (see `driver::write`), so no two
/// threads store to the same bytes; reads of a block come from the thread that owns
/// it. The bytes are plain data with no invariants, and the kernel may write them back
/// to the file at any time: that is what the mapping backend measures.
pub struct SharedMap {
    map: memmap2::MmapRaw,
}

impl SharedMap {
    /// Map `len` bytes of `file` (opened read-write) shared and writable, optionally
    /// with MAP_POPULATE.
    pub fn new(file: &File, len: usize, populate: bool) -> io::Result<SharedMap> {
        let mut opts = memmap2::MmapOptions::new();
        opts.len(len);
        if populate {
            opts.populate();
        }
        // map_raw is safe: it hands out a raw pointer, and every access below is
        // bounds-checked against `len`.
        let map = opts.map_raw(file)?;
        Ok(SharedMap { map })
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.map.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The mapped bytes, for reading.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the pointer and length describe one live mapping owned by `self`
        // (it outlives the returned slice). The bytes may change while the slice is
        // held (stores by the owning thread of another block, the file itself), which
        // the harness accepts as it does for any shared file mapping: they are plain
        // bytes read by value, and the readers check what they read.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr(), self.map.len()) }
    }

    /// Copy `data` into the mapping at `offset`. Err when it does not fit.
    pub fn store(&self, offset: usize, data: &[u8]) -> Result<(), String> {
        offset
            .checked_add(data.len())
            .filter(|&e| e <= self.map.len())
            .ok_or_else(|| format!("offset {offset} is outside the mapping"))?;
        // SAFETY: `offset..offset + data.len()` lies inside the live mapping (checked
        // above), which is writable (PROT_WRITE, MAP_SHARED); `data` is a separate
        // buffer, so the ranges do not overlap. Only the thread that owns a block stores
        // into it (see the type's documentation).
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.map.as_mut_ptr().add(offset),
                data.len(),
            )
        };
        Ok(())
    }

    pub fn advise(&self, advice: memmap2::Advice) -> io::Result<()> {
        self.map.advise(advice)
    }

    /// mlock(2) the whole mapping.
    pub fn lock(&self) -> io::Result<()> {
        self.map.lock()
    }

    /// msync(MS_SYNC) of the whole mapping.
    pub fn flush(&self) -> io::Result<()> {
        self.map.flush()
    }

    /// msync(MS_ASYNC) of the whole mapping.
    pub fn flush_async(&self) -> io::Result<()> {
        self.map.flush_async()
    }
}

/// sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER) over the whole file: write its
/// dirty pages back and wait; no metadata, no device cache flush.
pub fn sync_file_range(file: &File) -> io::Result<()> {
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: sync_file_range only reads its integer arguments; the fd is valid for
    // the lifetime of `file`.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, flags) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
