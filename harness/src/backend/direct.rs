//! pread(2) on an O_DIRECT descriptor: no page cache, every operation goes to the
//! device. Buffer and offset alignment come from the kernel: statx(STATX_DIOALIGN) where
//! the file system reports it, else the block device's logical block size. Nothing is
//! assumed to be 4096.

use super::pread::read_block;
use super::{consume, Backend, Files, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::Target;
use crate::spec::Touch;
use crate::{sys, units};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

pub struct Direct {
    target: Target,
    block: usize,
    touch: Touch,
    mem_align: usize,
    offset_align: u64,
    source: &'static str,
    writes: bool,
}

/// The alignment O_DIRECT needs for this descriptor and where it was read from:
/// (buffer alignment, offset and length alignment, source).
///
/// Buffers are aligned to the larger of the two kernel-reported values, not just to
/// the memory alignment: a zram device reports a 512-byte memory alignment with a
/// 4096-byte logical block, and on Linux 6.18 an O_DIRECT read of a 4 KiB block into a
/// 512-aligned buffer that straddles two pages wrote past the buffer (heap corruption
/// seen in this harness). A buffer aligned to the logical block never straddles that way.
/// They are also aligned to at least the page size: a 4 KiB read into a buffer that
/// crosses a page boundary needs two memory segments, which made `direct` ~10% slower
/// than fio (whose buffers are page-aligned) on this project's virtio disk.
pub fn alignment(file: &File) -> Result<(usize, u64, &'static str), String> {
    if let Ok(Some(a)) = sys::statx_dio_align(file) {
        return Ok((
            (a.mem_align.max(a.offset_align) as usize).max(sys::page_size()),
            a.offset_align as u64,
            "statx STATX_DIOALIGN",
        ));
    }
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if meta.file_type().is_block_device() {
        let lbs = sys::block_logical_size(file).map_err(|e| format!("BLKSSZGET failed: {e}"))?;
        return Ok((
            lbs as usize,
            lbs as u64,
            "the device's logical block size (BLKSSZGET)",
        ));
    }
    // FUSE with direct_io hands the request to the server as it is: no alignment is
    // needed, and buffers are page-aligned as everywhere.
    if sys::fstatfs_type(file).ok() == Some(sys::FUSE_SUPER_MAGIC) {
        return Ok((
            sys::page_size(),
            512,
            "FUSE direct_io (no alignment needed; 512 B offsets, page-aligned buffers)",
        ));
    }
    // Regular file on a file system that does not report DIO alignment: use the
    // logical block size of the device that holds it.
    use std::os::unix::fs::MetadataExt;
    let dev = meta.dev();
    let (maj, min) = (libc::major(dev), libc::minor(dev));
    for rel in ["queue/logical_block_size", "../queue/logical_block_size"] {
        let p = format!("/sys/dev/block/{maj}:{min}/{rel}");
        if let Ok(s) = std::fs::read_to_string(&p) {
            if let Ok(v) = s.trim().parse::<u64>() {
                if v > 0 {
                    return Ok((
                        v as usize,
                        v,
                        "the logical block size of the device in sysfs",
                    ));
                }
            }
        }
    }
    Err("the kernel reports no direct I/O alignment for this file (no statx DIO alignment and no block device behind it)".into())
}

impl Direct {
    pub fn open(ctx: &OpenCtx) -> Result<Direct, OpenError> {
        let path = ctx.target.path.clone();
        let file = open_direct(&path)?;
        let (mem_align, offset_align, source) = alignment(&file).map_err(OpenError::Unavailable)?;
        let block = ctx.workload.block;
        check_block(block, offset_align, source, &path).map_err(OpenError::Failed)?;
        Ok(Direct {
            target: ctx.target.clone(),
            block: block as usize,
            touch: ctx.workload.touch,
            mem_align,
            offset_align,
            source,
            writes: ctx.workload.op.writes(),
        })
    }
}

/// A block (and so every offset, which is a multiple of it) must be a multiple of the
/// direct I/O alignment; otherwise the request is bad input, not a machine limitation.
pub fn check_block(
    block: u64,
    offset_align: u64,
    source: &str,
    path: &std::path::Path,
) -> Result<(), String> {
    if !block.is_multiple_of(offset_align) {
        return Err(format!(
            "block {} is not a multiple of the direct I/O alignment {} B of {} (from {source}); use --block {} or a multiple of it",
            units::format_size(block),
            offset_align,
            path.display(),
            units::format_size(offset_align)
        ));
    }
    Ok(())
}

/// Before anything is measured: can O_DIRECT read `block`-sized blocks of `path`?
/// Err only for bad input (misaligned block); a file system without O_DIRECT is left
/// to the backend, which skips with the reason.
pub fn preflight(path: &std::path::Path, block: u64) -> Result<(), String> {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    else {
        return Ok(());
    };
    match alignment(&file) {
        Ok((_, offset_align, source)) => check_block(block, offset_align, source, path),
        Err(_) => Ok(()),
    }
}

pub fn open_direct(path: &std::path::Path) -> Result<File, OpenError> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                OpenError::Unavailable(format!(
                    "the file system of {} does not support O_DIRECT ({e})",
                    path.display()
                ))
            } else {
                OpenError::Failed(format!("cannot open {} with O_DIRECT: {e}", path.display()))
            }
        })
}

struct DirectWorker {
    files: Files,
    buf: sys::AlignedBuf,
    len: usize,
    touch: Touch,
    mem_align: usize,
}

impl Backend for Direct {
    fn worker(&self, _index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        let files = Files::open(&self.target, |p| {
            if self.writes {
                super::pread::open_file(p, true, libc::O_DIRECT)
            } else {
                open_direct(p)
            }
        })?;
        let buf = sys::AlignedBuf::new(self.block, self.mem_align)
            .map_err(|e| OpenError::Failed(format!("cannot allocate an aligned buffer: {e}")))?;
        Ok(Box::new(DirectWorker {
            files,
            buf,
            len: self.block,
            touch: self.touch,
            mem_align: self.mem_align,
        }))
    }

    fn notes(&self) -> Vec<String> {
        let mut n = vec![format!(
            "O_DIRECT: buffer aligned to {} B, offsets and sizes to {} B (from {})",
            self.mem_align, self.offset_align, self.source
        )];
        n.extend(super::stripe_note(&self.target));
        n
    }
}

impl Worker for DirectWorker {
    #[inline]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        let buf = &mut self.buf[..self.len];
        let (file, at) = self.files.at(offset);
        read_block(file, buf, at)?;
        Ok(consume(buf, offset, self.touch))
    }

    /// O_DIRECT pwrite from an aligned buffer: `data` itself when it is aligned (the
    /// driver's page-aligned buffer usually is), else a copy in the worker's buffer.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), OpError> {
        let (file, at) = self.files.at(offset);
        if (data.as_ptr() as usize).is_multiple_of(self.mem_align) {
            return super::pread::write_block(file, data, at);
        }
        let buf = &mut self.buf[..data.len()];
        buf.copy_from_slice(data);
        super::pread::write_block(file, buf, at)
    }

    fn sync(&mut self, method: crate::spec::SyncMethod) -> Result<(), OpError> {
        self.files
            .all()
            .iter()
            .try_for_each(|f| super::pread::sync_file(f, method))
    }
}
