//! Buffered pread(2): the page cache does the caching and read-ahead; every operation
//! copies one block into the thread's own buffer. A write workload's writes are
//! buffered pwrite(2), its syncs fdatasync, fsync or sync_file_range of the file.

use super::{consume, Backend, Files, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::Target;
use crate::spec::{SyncMethod, Touch};
use std::fs::File;
use std::os::unix::fs::FileExt;

pub struct Pread {
    target: Target,
    block: usize,
    touch: Touch,
    writes: bool,
}

impl Pread {
    pub fn open(ctx: &OpenCtx) -> Result<Pread, OpenError> {
        let writes = ctx.workload.op.writes();
        // Fail before the run if the file cannot be opened at all.
        open_file(&ctx.target.path, writes, 0)?;
        Ok(Pread {
            target: ctx.target.clone(),
            block: ctx.workload.block as usize,
            touch: ctx.workload.touch,
            writes,
        })
    }
}

struct PreadWorker {
    files: Files,
    /// Page-aligned, as fio's buffers are: a block copied into a buffer that straddles
    /// pages touches one page more.
    buf: crate::sys::AlignedBuf,
    len: usize,
    touch: Touch,
}

impl Backend for Pread {
    fn notes(&self) -> Vec<String> {
        super::stripe_note(&self.target).into_iter().collect()
    }

    fn worker(&self, _index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        // One descriptor per thread, as fio's jobs have: threads then share no struct file.
        let files = Files::open(&self.target, |p| open_file(p, self.writes, 0))?;
        Ok(Box::new(PreadWorker {
            files,
            buf: crate::sys::AlignedBuf::new(self.block, crate::sys::page_size())
                .map_err(|e| OpenError::Failed(format!("cannot allocate a buffer: {e}")))?,
            len: self.block,
            touch: self.touch,
        }))
    }
}

impl Worker for PreadWorker {
    #[inline]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        let buf = &mut self.buf[..self.len];
        let (file, at) = self.files.at(offset);
        read_block(file, buf, at)?;
        Ok(consume(buf, offset, self.touch))
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), OpError> {
        let (file, at) = self.files.at(offset);
        write_block(file, data, at)
    }

    fn sync(&mut self, method: SyncMethod) -> Result<(), OpError> {
        self.files
            .all()
            .iter()
            .try_for_each(|f| sync_file(f, method))
    }
}

/// Open the target to read, or to read and write for a write workload, with extra
/// open(2) flags (O_DIRECT).
pub fn open_file(path: &std::path::Path, writes: bool, flags: i32) -> Result<File, OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(writes)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| {
            let how = if writes { "to write" } else { "" };
            OpenError::Failed(format!("cannot open {} {how}: {e}", path.display()))
        })
}

/// pwrite all of `data` at `offset`; ENOSPC and short writes are errors that say so.
#[inline]
pub fn write_block(file: &File, data: &[u8], offset: u64) -> Result<(), OpError> {
    let mut done = 0usize;
    while done < data.len() {
        match file.write_at(&data[done..], offset + done as u64) {
            Ok(0) => {
                return Err(OpError(format!(
                    "short write at offset {offset}: wrote {done} of {} bytes",
                    data.len()
                )))
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                return Err(super::disk_full("a write", Some(offset)))
            }
            Err(e) => return Err(OpError(format!("pwrite at offset {offset} failed: {e}"))),
        }
    }
    Ok(())
}

/// A sync of a file (the write backends without a mapping).
pub fn sync_file(file: &File, method: SyncMethod) -> Result<(), OpError> {
    let r = match method {
        SyncMethod::Fdatasync => file.sync_data(),
        SyncMethod::Fsync => file.sync_all(),
        SyncMethod::SyncFileRange => crate::sys::write::sync_file_range(file),
        SyncMethod::Msync | SyncMethod::MsyncAsync => {
            return Err(OpError(format!("{method} needs a mapping")))
        }
    };
    r.map_err(|e| {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            super::disk_full(&method.to_string(), None)
        } else {
            OpError(format!("{method} failed: {e}"))
        }
    })
}

/// pread the whole buffer at `offset`; a short read is an error that says so.
#[inline]
pub fn read_block(file: &File, buf: &mut [u8], offset: u64) -> Result<(), OpError> {
    let mut done = 0usize;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => {
                return Err(OpError(format!(
                "short read at offset {offset}: got {done} of {} bytes (was the file truncated?)",
                buf.len()
            )))
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(OpError(format!("pread at offset {offset} failed: {e}"))),
        }
    }
    Ok(())
}
