//! Shared writable file mappings: byte access for the flush claim (memmap2's MmapMut,
//! whose flush/flush_range call msync(MS_SYNC)) and AtomicU64 access for the atomics
//! claim (a view of a raw mapping whose every access is an atomic instruction).

use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;

/// Map `len` bytes of `file` shared and writable: stores reach the file's page cache
/// and, after msync or writeback, the file.
///
/// Only for files the harness created itself (create_new, in its own directory) and
/// that no other program writes: memmap2 requires that nobody else modifies or
/// truncates the file while `&mut [u8]` references to the mapping exist.
pub fn map_shared_mut(file: &File, len: usize) -> io::Result<memmap2::MmapMut> {
    let mut opts = memmap2::MmapOptions::new();
    opts.len(len);
    // SAFETY: the callers pass a file the harness created with create_new in a
    // directory it owns, sized before mapping (`len` is within the file), and that only
    // this process writes while mapped; the harness never truncates it while mapped. A
    // truncation by someone else would raise SIGBUS (a crash, not silent corruption).
    unsafe { opts.map_mut(file) }
}

/// A shared mapping of a file used only as an array of `AtomicU64`.
pub struct AtomicMap {
    raw: memmap2::MmapRaw,
    words: usize,
}

// AtomicU64 has the size and alignment of u64 on every target that has it; the view
// below relies on both.
const _: () = assert!(std::mem::size_of::<AtomicU64>() == 8);
const _: () = assert!(std::mem::align_of::<AtomicU64>() == 8);

impl AtomicMap {
    /// Map the first `len` bytes (a multiple of 8, at most the file's size) of `file`,
    /// shared and writable.
    pub fn new(file: &File, len: usize) -> io::Result<AtomicMap> {
        if len == 0 || !len.is_multiple_of(8) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("an atomic mapping needs a non-zero multiple of 8 bytes, not {len}"),
            ));
        }
        let flen = file.metadata()?.len();
        if (len as u64) > flen {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the file holds {flen} bytes, fewer than the {len} to map"),
            ));
        }
        // map_raw creates no Rust references to the bytes; access goes through `words`.
        let raw = memmap2::MmapOptions::new().len(len).map_raw(file)?;
        Ok(AtomicMap {
            raw,
            words: len / 8,
        })
    }

    /// The mapping as `AtomicU64`s. Other processes that map the same file see the
    /// same words; atomic read-modify-write operations on them are atomic across
    /// processes because they are ordinary locked instructions on shared physical
    /// memory.
    pub fn words(&self) -> &[AtomicU64] {
        let ptr = self.raw.as_mut_ptr();
        debug_assert_eq!(ptr as usize % 8, 0);
        // SAFETY: mmap returns a page-aligned address, so `ptr` is 8-byte aligned as
        // AtomicU64 requires (the same size and alignment as u64, asserted above); the
        // mapping holds `words * 8` bytes, all initialised (file pages read as their
        // content, zero past data never written); the slice borrows `self`, so the
        // mapping outlives it. AtomicU64 permits shared mutation through `&`, and every
        // access to these bytes, in this process and in the harness's child processes
        // that map the same file (created by the harness with create_new, in its own
        // directory), is an atomic operation through such a view: no `&[u8]` or
        // `&mut [u8]` to the bytes is ever created, so there is no non-atomic access to
        // race with. A truncation of the file by another program would raise SIGBUS.
        unsafe { std::slice::from_raw_parts(ptr as *const AtomicU64, self.words) }
    }

    /// msync(MS_SYNC) the whole mapping.
    pub fn flush(&self) -> io::Result<()> {
        self.raw.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn atomic_view_is_shared_between_two_mappings() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .unwrap();
        f.set_len(4096).unwrap();
        let a = AtomicMap::new(&f, 4096).unwrap();
        let b = AtomicMap::new(&f, 4096).unwrap();
        a.words()[3].fetch_add(5, Ordering::SeqCst);
        assert_eq!(b.words()[3].load(Ordering::SeqCst), 5);
        assert_eq!(b.words().len(), 512);
        assert!(AtomicMap::new(&f, 8192).is_err());
        assert!(AtomicMap::new(&f, 12).is_err());
    }

    #[test]
    fn shared_mut_writes_reach_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .unwrap();
        f.set_len(8192).unwrap();
        let mut m = map_shared_mut(&f, 8192).unwrap();
        m[4096..4101].copy_from_slice(b"hello");
        m.flush_range(4096, 5).unwrap();
        drop(m);
        assert_eq!(&std::fs::read(&p).unwrap()[4096..4101], b"hello");
    }
}
