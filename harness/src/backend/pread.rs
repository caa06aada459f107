//! Buffered pread(2): the page cache does the caching and read-ahead; every operation
//! copies one block into the thread's own buffer.

use super::{consume, Backend, OpError, OpenCtx, OpenError, Worker};
use crate::spec::Touch;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

pub struct Pread {
    path: PathBuf,
    block: usize,
    touch: Touch,
}

impl Pread {
    pub fn open(ctx: &OpenCtx) -> Result<Pread, OpenError> {
        // Fail before the run if the file cannot be opened at all.
        File::open(&ctx.target.path).map_err(|e| {
            OpenError::Failed(format!("cannot open {}: {e}", ctx.target.path.display()))
        })?;
        Ok(Pread {
            path: ctx.target.path.clone(),
            block: ctx.workload.block as usize,
            touch: ctx.workload.touch,
        })
    }
}

struct PreadWorker {
    file: File,
    /// Page-aligned, as fio's buffers are: a block copied into a buffer that straddles
    /// pages touches one page more.
    buf: crate::sys::AlignedBuf,
    len: usize,
    touch: Touch,
}

impl Backend for Pread {
    fn worker(&self, _index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        // One descriptor per thread, as fio's jobs have: threads then share no struct file.
        let file = File::open(&self.path)
            .map_err(|e| OpenError::Failed(format!("cannot open {}: {e}", self.path.display())))?;
        Ok(Box::new(PreadWorker {
            file,
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
        read_block(&self.file, buf, offset)?;
        Ok(consume(buf, offset, self.touch))
    }
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
