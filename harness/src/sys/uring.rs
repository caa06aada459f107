//! io_uring reads and writes through buffers the ring owns: a safe API over the
//! io-uring crate.
//!
//! Handing a buffer to the kernel is unsafe in the io-uring crate because the kernel
//! writes into it after `push` returns, until the read's completion is posted. Here the
//! invariant is enforced by ownership instead of by the caller:
//!
//! * `ReadRing` allocates one buffer *slot* per read it can have in flight and owns
//!   them for its whole life. Callers never get a pointer to a slot: they name a slot
//!   by index in `queue_read`, and get a `&[u8]` of it only from `reap`, i.e. after the
//!   kernel posted that slot's completion and before the slot can be queued again
//!   (`queue_read` needs `&mut self`, which the borrowed `Completion` prevents).
//! * A slot that is queued or in flight is marked busy; `queue_read` refuses it.
//! * Dropping the ring first waits for every read still in flight (`drain`). If that
//!   wait fails, the buffers are leaked rather than freed while the kernel may still
//!   write into them.
//!
//! The file is owned by the ring too, so its descriptor (or registered-file slot) stays
//! valid for every queued read.
//!
//! Writes use the same slots: the caller fills a free slot through `slot_mut` (a
//! `&mut [u8]` that borrows the ring, so it cannot outlive the slot being free) and
//! queues it with `queue_write`; from then until its completion is reaped the kernel
//! reads the slot and Rust code cannot reach it. A sync (`queue_sync`: IORING_OP_FSYNC,
//! with IORING_FSYNC_DATASYNC for fdatasync, or IORING_OP_SYNC_FILE_RANGE) uses no
//! slot; its completion carries `SYNC_SLOT`.

use super::AlignedBuf;
use io_uring::{opcode, squeue, types, IoUring, Probe};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// io_uring_enter flag: wait for completions (linux/io_uring.h; the io-uring crate does
/// not export its flag constants).
const IORING_ENTER_GETEVENTS: u32 = 1;

/// How to set up a `ReadRing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Reads in flight at most (one buffer slot each); the ring has at least this many
    /// submission entries.
    pub depth: u32,
    /// Bytes per read.
    pub read_len: u32,
    /// Alignment of every slot's start (O_DIRECT's memory alignment; 1 for none).
    pub buf_align: usize,
    /// Register the slots as fixed buffers and read with IORING_OP_READ_FIXED.
    pub fixed_buffers: bool,
    /// Register the file and address it by index (IOSQE_FIXED_FILE).
    pub fixed_file: bool,
    /// IORING_SETUP_SQPOLL with this idle time (ms) of the kernel's polling thread.
    pub sqpoll_idle_ms: Option<u32>,
    /// The ring will also write and sync (the probe checks IORING_OP_WRITE,
    /// WRITE_FIXED, FSYNC and SYNC_FILE_RANGE; the file must be open for writing).
    pub writes: bool,
}

/// The slot a sync's completion carries (a sync has no buffer).
pub const SYNC_SLOT: usize = usize::MAX;

/// How `queue_sync` makes the file's written data durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOp {
    /// IORING_OP_FSYNC (fsync(2)).
    Fsync,
    /// IORING_OP_FSYNC with IORING_FSYNC_DATASYNC (fdatasync(2)).
    Fdatasync,
    /// IORING_OP_SYNC_FILE_RANGE over the whole file with WAIT_BEFORE, WRITE and
    /// WAIT_AFTER (as `sys::write::sync_file_range`).
    SyncFileRange,
}

/// Why a ring could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingError {
    /// This kernel, its settings or a sandbox do not allow it: skip with the reason.
    Unavailable(String),
    /// Something that should have worked did not.
    Failed(String),
}

/// The value of `kernel.io_uring_disabled` (0 enabled, 1 privileged only, 2 disabled);
/// None when the sysctl does not exist (kernels before 6.6).
pub fn disabled_sysctl() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn setup_error(e: io::Error, cfg: &RingConfig) -> RingError {
    match e.raw_os_error() {
        Some(libc::EPERM) => RingError::Unavailable(match disabled_sysctl() {
            Some(0) => format!(
                "io_uring_setup was refused ({e}) although kernel.io_uring_disabled=0 allows \
                 it: a seccomp filter (e.g. a container runtime's) blocks io_uring"
            ),
            Some(1) => format!(
                "io_uring_setup was refused ({e}): kernel.io_uring_disabled=1 restricts \
                 io_uring to CAP_SYS_ADMIN and members of kernel.io_uring_group (or a seccomp \
                 filter blocks it)"
            ),
            Some(v) => format!("io_uring_setup was refused ({e}; kernel.io_uring_disabled={v})"),
            None => format!(
                "io_uring_setup was refused ({e}): a seccomp filter (e.g. a container \
                 runtime's) or the kernel's settings block io_uring"
            ),
        }),
        Some(libc::ENOSYS) => RingError::Unavailable(format!(
            "io_uring_setup does not exist here ({e}): the kernel is built without io_uring, \
             or a seccomp filter hides it"
        )),
        Some(libc::ENOMEM) => RingError::Unavailable(format!(
            "io_uring_setup failed ({e}): the locked-memory limit (ulimit -l) is too small for \
             a ring of {} entries",
            cfg.depth
        )),
        Some(libc::EINVAL) => RingError::Unavailable(format!(
            "the kernel refused the ring's setup flags{} ({e})",
            if cfg.sqpoll_idle_ms.is_some() {
                " (IORING_SETUP_SQPOLL)"
            } else {
                ""
            }
        )),
        _ => RingError::Failed(format!("io_uring_setup failed: {e}")),
    }
}

/// One finished read, write or sync, borrowed from the ring until the caller is done
/// with its bytes.
pub struct Completion<'a> {
    /// The slot the read or write was queued in; `SYNC_SLOT` for a sync.
    pub slot: usize,
    /// The kernel's result: bytes read, or a negative errno.
    pub result: i32,
    data: &'a [u8],
}

impl Completion<'_> {
    /// The bytes the read returned (empty when it failed; for a write, the slot's
    /// bytes up to the count written; empty for a sync).
    pub fn data(&self) -> &[u8] {
        self.data
    }

    /// The error of a failed read.
    pub fn error(&self) -> Option<io::Error> {
        (self.result < 0).then(|| io::Error::from_raw_os_error(-self.result))
    }
}

/// An io_uring instance reading (and writing) one file, or reading several (the devices
/// of a striped target), through `depth` buffer slots it owns.
pub struct ReadRing {
    // Field order matters for Drop: the ring (and with it the kernel's references to
    // the registered buffers and files) goes first, then the files, then the buffers.
    ring: IoUring,
    files: Vec<File>,
    /// Owner of the slots' memory; None once leaked (see Drop).
    mem: Option<AlignedBuf>,
    /// Start of the slots. Derived once from `mem`, which is never accessed through a
    /// reference afterwards: slot memory is only reached through this pointer.
    base: *mut u8,
    stride: usize,
    read_len: u32,
    busy: Box<[bool]>,
    in_flight: u32,
    /// A sync is queued or in flight (it counts in `in_flight`).
    sync_busy: bool,
    fixed_buffers: bool,
    fixed_file: bool,
}

// SAFETY: the only non-Send field is `base`, a pointer into `mem`, which the ring owns:
// moving the ring to another thread moves that ownership with it (like Vec<u8>). The
// kernel does not tie a ring to the thread that created it (no SINGLE_ISSUER or
// DEFER_TASKRUN is set up), and every method that touches the rings or the slots takes
// `&mut self`, so a ring is used by one thread at a time. Not Sync: no `&self` method
// is meant for concurrent use.
unsafe impl Send for ReadRing {}

impl ReadRing {
    /// Set up a ring for `file` as `cfg` asks, after probing that the kernel supports
    /// the operations it will use.
    pub fn new(file: File, cfg: &RingConfig) -> Result<ReadRing, RingError> {
        ReadRing::new_multi(vec![file], cfg)
    }

    /// Set up a ring reading from several files (index = position in `files`); the
    /// first is the one writes and syncs go to.
    pub fn new_multi(files: Vec<File>, cfg: &RingConfig) -> Result<ReadRing, RingError> {
        if files.is_empty() || files.len() > u32::MAX as usize {
            return Err(RingError::Failed("a ring needs at least one file".into()));
        }
        if cfg.depth == 0 || cfg.read_len == 0 {
            return Err(RingError::Failed(
                "a ring needs a depth and a read size above 0".into(),
            ));
        }
        if cfg.fixed_buffers && cfg.depth > u32::from(u16::MAX) {
            return Err(RingError::Unavailable(format!(
                "{} registered buffers exceed the {} a READ_FIXED can address",
                cfg.depth,
                u16::MAX
            )));
        }
        if disabled_sysctl() == Some(2) {
            return Err(RingError::Unavailable(
                "io_uring is disabled on this machine (sysctl kernel.io_uring_disabled=2)".into(),
            ));
        }
        let mut builder = IoUring::builder();
        if let Some(idle) = cfg.sqpoll_idle_ms {
            builder.setup_sqpoll(idle);
        }
        // With SQPOLL, room for a second round of entries: the kernel thread publishes
        // consumed entries only after its batch (see queue_read).
        let entries = if cfg.sqpoll_idle_ms.is_some() {
            cfg.depth.saturating_mul(2)
        } else {
            cfg.depth
        };
        let ring = builder.build(entries).map_err(|e| setup_error(e, cfg))?;
        if cfg.sqpoll_idle_ms.is_some()
            && !cfg.fixed_file
            && !ring.params().is_feature_sqpoll_nonfixed()
        {
            return Err(RingError::Unavailable(
                "this kernel's SQPOLL needs registered files (before Linux 5.11); add `regfile`"
                    .into(),
            ));
        }
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe).map_err(|e| {
            RingError::Unavailable(format!(
                "IORING_REGISTER_PROBE failed ({e}): the kernel is older than 5.6 or restricts \
                 io_uring"
            ))
        })?;
        if !probe.is_supported(opcode::Read::CODE) {
            return Err(RingError::Unavailable(
                "this kernel's io_uring does not support IORING_OP_READ".into(),
            ));
        }
        if cfg.fixed_buffers && !probe.is_supported(opcode::ReadFixed::CODE) {
            return Err(RingError::Unavailable(
                "this kernel's io_uring does not support IORING_OP_READ_FIXED".into(),
            ));
        }
        if cfg.writes {
            let mut need = vec![
                (opcode::Write::CODE, "IORING_OP_WRITE"),
                (opcode::Fsync::CODE, "IORING_OP_FSYNC"),
                (opcode::SyncFileRange::CODE, "IORING_OP_SYNC_FILE_RANGE"),
            ];
            if cfg.fixed_buffers {
                need.push((opcode::WriteFixed::CODE, "IORING_OP_WRITE_FIXED"));
            }
            if let Some((_, name)) = need.iter().find(|(c, _)| !probe.is_supported(*c)) {
                return Err(RingError::Unavailable(format!(
                    "this kernel's io_uring does not support {name}"
                )));
            }
        }

        let align = cfg.buf_align.max(1).next_power_of_two();
        let stride = (cfg.read_len as usize).next_multiple_of(align.max(64));
        let total = stride
            .checked_mul(cfg.depth as usize)
            .ok_or_else(|| RingError::Failed("ring buffers exceed the address space".into()))?;
        let mut mem = AlignedBuf::new(total, align.max(super::page_size()))
            .map_err(|e| RingError::Failed(format!("cannot allocate {total} B of buffers: {e}")))?;
        let base = mem.as_mut_ptr();

        if cfg.fixed_file {
            let fds: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
            ring.submitter().register_files(&fds).map_err(|e| {
                RingError::Unavailable(format!("IORING_REGISTER_FILES failed: {e}"))
            })?;
        }
        if cfg.fixed_buffers {
            let iovecs: Vec<libc::iovec> = (0..cfg.depth as usize)
                .map(|i| libc::iovec {
                    // In bounds: i * stride + read_len <= total.
                    iov_base: base.wrapping_add(i * stride).cast(),
                    iov_len: cfg.read_len as usize,
                })
                .collect();
            // SAFETY: every iovec lies inside `mem`, which this ReadRing owns and keeps
            // allocated until after `ring` is closed (field order; Drop leaks `mem` when
            // reads may still be in flight), so the registration never outlives it. If
            // this call fails, `mem` and `ring` are dropped together with nothing in
            // flight.
            unsafe { ring.submitter().register_buffers(&iovecs) }.map_err(|e| {
                let hint = if e.raw_os_error() == Some(libc::ENOMEM) {
                    " (the locked-memory limit, ulimit -l, is too small: raise it or run as root)"
                } else {
                    ""
                };
                RingError::Unavailable(format!(
                    "registering {} buffers of {} B failed: {e}{hint}",
                    cfg.depth, cfg.read_len
                ))
            })?;
        }
        Ok(ReadRing {
            ring,
            files,
            mem: Some(mem),
            base,
            stride,
            read_len: cfg.read_len,
            busy: vec![false; cfg.depth as usize].into_boxed_slice(),
            in_flight: 0,
            sync_busy: false,
            fixed_buffers: cfg.fixed_buffers,
            fixed_file: cfg.fixed_file,
        })
    }

    /// Buffer slots (reads that can be in flight at once).
    pub fn depth(&self) -> usize {
        self.busy.len()
    }

    /// Reads queued or in flight whose completion has not been reaped.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Reads queued but not yet taken by the kernel (not submitted); never more than
    /// `in_flight`. With SQPOLL this is an upper bound: the kernel thread publishes the
    /// entries it took only after its batch, possibly after their completions were
    /// already reaped.
    pub fn pending(&mut self) -> u32 {
        (self.ring.submission().len() as u32).min(self.in_flight)
    }

    /// True when the kernel runs an SQPOLL thread for this ring.
    pub fn is_sqpoll(&self) -> bool {
        self.ring.params().is_setup_sqpoll()
    }

    /// Queue a read of `read_len` bytes at `offset` into `slot`. Not submitted until
    /// `submit`/`submit_and_wait` (with SQPOLL the kernel thread may take it at once).
    pub fn queue_read(&mut self, slot: usize, offset: u64) -> Result<(), String> {
        self.queue_rw(slot, 0, offset, false)
    }

    /// Queue a read of file `file` (its index among the ring's files) at `offset`.
    pub fn queue_read_on(&mut self, slot: usize, file: usize, offset: u64) -> Result<(), String> {
        self.queue_rw(slot, file, offset, false)
    }

    /// Queue a write of the `read_len` bytes of `slot` (filled through `slot_mut`) at
    /// `offset`: IORING_OP_WRITE, or WRITE_FIXED with registered buffers. The ring
    /// must have been set up with `writes` (and its file open for writing).
    pub fn queue_write(&mut self, slot: usize, offset: u64) -> Result<(), String> {
        self.queue_rw(slot, 0, offset, true)
    }

    /// The bytes of a free slot, to fill before `queue_write`. Refused for a slot that
    /// is queued or in flight.
    pub fn slot_mut(&mut self, slot: usize) -> Result<&mut [u8], String> {
        match self.busy.get(slot) {
            None => Err(format!("slot {slot} does not exist")),
            Some(true) => Err(format!("slot {slot} is still in flight")),
            // SAFETY: the slot is not busy, so no queued or in-flight operation refers
            // to it (the kernel neither reads nor writes it), and the returned slice
            // borrows the ring mutably, so no operation can be queued into it (nor any
            // other slice of it made) while the slice lives. The range lies inside
            // `mem` (slot < depth, read_len <= stride), which the ring owns.
            Some(false) => Ok(unsafe {
                std::slice::from_raw_parts_mut(
                    self.base.add(slot * self.stride),
                    self.read_len as usize,
                )
            }),
        }
    }

    /// Queue a sync of the file; its completion carries `SYNC_SLOT`. One sync at a
    /// time. It is not ordered with writes in flight (no IOSQE_IO_DRAIN or link): a
    /// caller that wants it to cover its writes queues it once they completed.
    pub fn queue_sync(&mut self, how: SyncOp) -> Result<(), String> {
        if self.sync_busy {
            return Err("a sync is already in flight".into());
        }
        let fd = self.files[0].as_raw_fd();
        let entry = match (how, self.fixed_file) {
            (SyncOp::Fsync, true) => opcode::Fsync::new(types::Fixed(0)).build(),
            (SyncOp::Fsync, false) => opcode::Fsync::new(types::Fd(fd)).build(),
            (SyncOp::Fdatasync, true) => opcode::Fsync::new(types::Fixed(0))
                .flags(types::FsyncFlags::DATASYNC)
                .build(),
            (SyncOp::Fdatasync, false) => opcode::Fsync::new(types::Fd(fd))
                .flags(types::FsyncFlags::DATASYNC)
                .build(),
            (SyncOp::SyncFileRange, fixed) => {
                let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER;
                // Offset 0 and length 0: to the end of the file.
                if fixed {
                    opcode::SyncFileRange::new(types::Fixed(0), 0)
                        .flags(flags)
                        .build()
                } else {
                    opcode::SyncFileRange::new(types::Fd(fd), 0)
                        .flags(flags)
                        .build()
                }
            }
        }
        .user_data(SYNC_SLOT as u64);
        self.push(&entry)?;
        self.sync_busy = true;
        self.in_flight += 1;
        Ok(())
    }

    /// True while a sync is queued or in flight.
    pub fn sync_in_flight(&self) -> bool {
        self.sync_busy
    }

    fn queue_rw(
        &mut self,
        slot: usize,
        file: usize,
        offset: u64,
        write: bool,
    ) -> Result<(), String> {
        let Some(f) = self.files.get(file) else {
            return Err(format!("file {file} is not one of the ring's files"));
        };
        let fd = f.as_raw_fd();
        let fixed = types::Fixed(file as u32);
        match self.busy.get(slot) {
            None => return Err(format!("slot {slot} does not exist")),
            Some(true) => return Err(format!("slot {slot} is still in flight")),
            Some(false) => {}
        }
        // In bounds: slot < depth, so the slot lies inside the allocation.
        let buf = self.base.wrapping_add(slot * self.stride);
        let len = self.read_len;
        let i = slot as u16;
        let entry: squeue::Entry = match (write, self.fixed_buffers, self.fixed_file) {
            (false, true, true) => opcode::ReadFixed::new(fixed, buf, len, i)
                .offset(offset)
                .build(),
            (false, true, false) => opcode::ReadFixed::new(types::Fd(fd), buf, len, i)
                .offset(offset)
                .build(),
            (false, false, true) => opcode::Read::new(fixed, buf, len).offset(offset).build(),
            (false, false, false) => opcode::Read::new(types::Fd(fd), buf, len)
                .offset(offset)
                .build(),
            (true, true, true) => opcode::WriteFixed::new(fixed, buf, len, i)
                .offset(offset)
                .build(),
            (true, true, false) => opcode::WriteFixed::new(types::Fd(fd), buf, len, i)
                .offset(offset)
                .build(),
            (true, false, true) => opcode::Write::new(fixed, buf, len).offset(offset).build(),
            (true, false, false) => opcode::Write::new(types::Fd(fd), buf, len)
                .offset(offset)
                .build(),
        }
        .user_data(slot as u64);
        self.push(&entry)?;
        self.busy[slot] = true;
        self.in_flight += 1;
        Ok(())
    }

    /// Push one entry, waiting for queue space under SQPOLL.
    ///
    /// Every entry pushed here is one `queue_rw` or `queue_sync` built: a read or write
    /// of `read_len` bytes of a slot that is not busy (marked busy right after), or a
    /// sync with no buffer.
    fn push(&mut self, entry: &squeue::Entry) -> Result<(), String> {
        // SAFETY: a read or write entry points the kernel at `read_len` bytes of one
        // slot inside `mem`, which this ring owns; the slot was not busy and is marked
        // busy by the caller right after this returns, so no other operation is queued
        // into it and no `Completion` or `slot_mut` slice (the only ways Rust code
        // reaches a slot) refers to it until its completion is reaped. `mem` stays
        // allocated until every busy slot's completion was reaped (Drop drains, or
        // leaks `mem`). A sync entry carries no pointer. The descriptor (plain, or
        // registered at the file's index) belongs to one of `self.files`, which live as
        // long as the ring.
        // For READ_FIXED/WRITE_FIXED, buffer index `slot` was registered as exactly
        // this range.
        let mut pushed = unsafe { self.ring.submission().push(entry) };
        if pushed.is_err() && self.is_sqpoll() {
            // With SQPOLL the kernel thread publishes the queue head only after its
            // submission batch, so a completion can be reaped (and its slot reused)
            // while its entry still counts as queued. Wait for the thread to move on.
            retry_eintr(|| self.ring.submitter().squeue_wait())
                .map_err(|e| format!("waiting for submission-queue space failed: {e}"))?;
            // SAFETY: as above; the entry is the same.
            pushed = unsafe { self.ring.submission().push(entry) };
        }
        pushed.map_err(|_| "the submission queue is full".to_string())
    }

    /// Submit every queued read.
    pub fn submit(&mut self) -> io::Result<()> {
        retry_eintr(|| self.ring.submit()).map(drop)
    }

    /// Submit every queued read and wait until at least `want` completions are ready.
    pub fn submit_and_wait(&mut self, want: u32) -> io::Result<()> {
        let want = want.min(self.in_flight) as usize;
        retry_eintr(|| self.ring.submit_and_wait(want)).map(drop)
    }

    /// Wait until at least `want` completions are ready without submitting queued
    /// reads. `want` is capped at the reads the kernel already holds, so this cannot
    /// wait for a read that was never submitted.
    pub fn wait(&mut self, want: u32) -> io::Result<()> {
        let held = self.in_flight.saturating_sub(self.pending());
        let want = want.min(held);
        if want == 0 {
            return Ok(());
        }
        let ring = &self.ring;
        retry_eintr(|| {
            // SAFETY: io_uring_enter with to_submit = 0, GETEVENTS and no argument
            // pointer (None) only waits for completions; it reads no user memory.
            unsafe {
                ring.submitter()
                    .enter::<libc::sigset_t>(0, want, IORING_ENTER_GETEVENTS, None)
            }
        })
        .map(drop)
    }

    /// Take one completion, if one is ready. Its slot is free again once the returned
    /// `Completion` is dropped.
    pub fn reap(&mut self) -> Option<Completion<'_>> {
        loop {
            let cqe = self.ring.completion().next()?;
            let slot = cqe.user_data() as usize;
            if slot == SYNC_SLOT && self.sync_busy {
                self.sync_busy = false;
                self.in_flight -= 1;
                return Some(Completion {
                    slot,
                    result: cqe.result(),
                    data: &[],
                });
            }
            if !self.busy.get(slot).copied().unwrap_or(false) {
                // Not one of ours (cannot happen: every entry carries its slot).
                continue;
            }
            self.busy[slot] = false;
            self.in_flight -= 1;
            let result = cqe.result();
            let len = usize::try_from(result)
                .unwrap_or(0)
                .min(self.read_len as usize);
            // SAFETY: the kernel posted this slot's completion, so it no longer writes
            // the slot; the range lies inside `mem` (slot < depth, len <= read_len); the
            // returned borrow of `self` keeps the slot from being queued again (and
            // `mem` from being freed) while the slice lives. Other slots may be written
            // by the kernel meanwhile, but they do not overlap this one.
            let data =
                unsafe { std::slice::from_raw_parts(self.base.add(slot * self.stride), len) };
            return Some(Completion { slot, result, data });
        }
    }

    /// Submit what is queued and wait for every read in flight, discarding results.
    pub fn drain(&mut self) -> io::Result<()> {
        while self.in_flight > 0 {
            self.submit_and_wait(1)?;
            while self.reap().is_some() {}
        }
        Ok(())
    }
}

impl Drop for ReadRing {
    fn drop(&mut self) {
        if self.drain().is_err() {
            // Reads may still be in flight and would write into freed memory: leak the
            // buffers instead (a failed wait here is a kernel-side failure; never seen).
            std::mem::forget(self.mem.take());
        }
    }
}

fn retry_eintr(mut f: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    fn ring(f: File, depth: u32, fixed: bool, regfile: bool) -> Option<ReadRing> {
        let cfg = RingConfig {
            depth,
            read_len: 4096,
            buf_align: 1,
            fixed_buffers: fixed,
            fixed_file: regfile,
            sqpoll_idle_ms: None,
            writes: true,
        };
        match ReadRing::new(f, &cfg) {
            Ok(r) => Some(r),
            Err(RingError::Unavailable(why)) => {
                crate::testkit::skip("uring", &format!("io_uring test: {why}"));
                None
            }
            Err(RingError::Failed(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn reads_land_in_their_slots() {
        let bytes: Vec<u8> = (0..16 * 4096).map(|i| (i / 4096) as u8).collect();
        for (fixed, regfile) in [(false, false), (true, false), (false, true), (true, true)] {
            let Some(mut r) = ring(file_with(&bytes), 4, fixed, regfile) else {
                return;
            };
            for slot in 0..4 {
                r.queue_read(slot, (slot as u64 + 3) * 4096).unwrap();
            }
            assert!(r.queue_read(0, 0).is_err(), "a busy slot is refused");
            assert!(r.queue_read(4, 0).is_err(), "no slot 4");
            assert_eq!(r.pending(), 4);
            r.submit_and_wait(4).unwrap();
            let mut seen = 0;
            while let Some(c) = r.reap() {
                assert_eq!(c.result, 4096);
                assert!(c.data().iter().all(|&b| b == c.slot as u8 + 3));
                seen += 1;
            }
            assert_eq!(seen, 4);
            assert_eq!(r.in_flight(), 0);
        }
    }

    #[test]
    fn short_read_and_drop_with_reads_in_flight() {
        let Some(mut r) = ring(file_with(&[7u8; 6000]), 2, false, false) else {
            return;
        };
        r.queue_read(0, 4096).unwrap();
        r.submit_and_wait(1).unwrap();
        let c = r.reap().unwrap();
        assert_eq!(c.result, 6000 - 4096);
        assert_eq!(c.data().len(), 6000 - 4096);
        // Dropping with a queued, unsubmitted read and one in flight: Drop drains both.
        r.queue_read(0, 0).unwrap();
        r.submit().unwrap();
        r.queue_read(1, 0).unwrap();
        drop(r);
    }

    #[test]
    fn wait_never_waits_for_unsubmitted_reads() {
        let Some(mut r) = ring(file_with(&[1u8; 8192]), 2, false, false) else {
            return;
        };
        r.queue_read(0, 0).unwrap();
        // Nothing submitted: returns at once instead of blocking forever.
        r.wait(1).unwrap();
        assert_eq!(r.pending(), 1);
        r.submit().unwrap();
        r.wait(1).unwrap();
        assert!(r.reap().is_some());
    }

    #[test]
    fn writes_from_slots_then_sync_then_read_back() {
        for fixed in [false, true] {
            let Some(mut r) = ring(file_with(&[0u8; 4 * 4096]), 2, fixed, false) else {
                return;
            };
            r.slot_mut(0).unwrap().fill(0xa5);
            r.slot_mut(1).unwrap().fill(0x5a);
            r.queue_write(0, 4096).unwrap();
            r.queue_write(1, 3 * 4096).unwrap();
            assert!(r.slot_mut(0).is_err(), "a slot in flight cannot be reached");
            r.submit_and_wait(2).unwrap();
            let mut n = 0;
            while let Some(c) = r.reap() {
                assert_eq!(c.result, 4096);
                n += 1;
            }
            assert_eq!(n, 2);
            for how in [SyncOp::Fdatasync, SyncOp::Fsync, SyncOp::SyncFileRange] {
                r.queue_sync(how).unwrap();
                assert!(r.queue_sync(how).is_err(), "one sync at a time");
                r.submit_and_wait(1).unwrap();
                let c = r.reap().unwrap();
                assert_eq!((c.slot, c.result), (SYNC_SLOT, 0), "{how:?}");
                assert!(!r.sync_in_flight());
            }
            r.queue_read(0, 3 * 4096).unwrap();
            r.queue_read(1, 2 * 4096).unwrap();
            r.submit_and_wait(2).unwrap();
            while let Some(c) = r.reap() {
                let want = if c.slot == 0 { 0x5a } else { 0 };
                assert!(c.data().iter().all(|&b| b == want), "slot {}", c.slot);
            }
        }
    }
}
