//! `uring`: reads through io_uring with `qd` reads in flight per thread, each thread on
//! its own ring and descriptor. Options: `direct` (O_DIRECT, aligned as `direct`
//! aligns), `fixed` (registered buffers, READ_FIXED), `regfile` (registered file),
//! `sqpoll` (a kernel thread polls the submission queue), `batch=N` (submit once N
//! reads are queued).
//!
//! The worker drives the loop itself (`Worker::run`): refill every free slot with a
//! read, submit, wait for completions, fold and verify each completed block exactly as
//! the synchronous backends do (`consume`), and hand it to the `Driver`. Latency is
//! submit-to-completion: from when the read is queued (the thread's submit time stamp
//! per slot) to when the worker reaps its completion. With `batch` > 1 it includes the
//! time a read waited in the unsubmitted batch: the application asked for it then.
//!
//! A write workload (op = write or mix) runs `run_writes`: the same ring and slots, a
//! write filled into its slot (the block's next generation, `driver::write`) and
//! queued as IORING_OP_WRITE (WRITE_FIXED with `fixed`), `qd` operations in flight.
//! One operation per block is in flight at a time (a block drawn while its previous
//! write or read is in flight waits for it), so each block's generations complete in
//! order and a read knows what it must find. A sync is drained, then issued: once the
//! policy says one is due, no more operations are issued, the ones in flight complete,
//! and then one IORING_OP_FSYNC (IORING_FSYNC_DATASYNC for fdatasync) or
//! IORING_OP_SYNC_FILE_RANGE is submitted and waited for; so it covers exactly the
//! writes completed before it, as fio quiesces an async engine before its fsync. Its
//! latency is its own submit-to-completion. `every:N` counts issued writes. When the
//! measured loop ends, the worker drains what is in flight and then waits at the cell's
//! gate before its final sync (`Writer::arrive_at_gate`), so the harness can count the
//! written pages the kernel already wrote back (`written_back_before_sync`).
//!
//! Before the run, `open` sets up every thread's ring (so an unsupported kernel, a
//! sysctl or seccomp refusal, a missing opcode or a too-small locked-memory limit skip
//! the backend with the reason before anything is measured); each worker takes its own.

use super::direct::{alignment, open_direct};
use super::{consume, Backend, OpError, OpenCtx, OpenError, Worker};
use crate::driver::write::{Planned, Writer};
use crate::driver::Driver;
use crate::spec::backend::UringOptions;
use crate::spec::{SyncMethod, Touch};
use crate::sys::uring::{ReadRing, RingConfig, RingError, SyncOp, SYNC_SLOT};
use crate::units;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

pub struct Uring {
    /// One ring per worker thread, set up by `open` and taken by `worker(i)`.
    rings: Mutex<Vec<Option<ReadRing>>>,
    stripe: crate::datafile::stripe::Stripe,
    cfg: RingConfig,
    batch: u32,
    touch: Touch,
    notes: Vec<String>,
}

fn ring_error(e: RingError) -> OpenError {
    match e {
        RingError::Unavailable(r) => OpenError::Unavailable(r),
        RingError::Failed(r) => OpenError::Failed(r),
    }
}

impl Uring {
    pub fn open(ctx: &OpenCtx, o: &UringOptions) -> Result<Uring, OpenError> {
        let path = ctx.target.path.clone();
        let qd = o.qd.unwrap_or(ctx.workload.queue_depth).max(1);
        if o.batch > qd {
            return Err(OpenError::Failed(format!(
                "batch={} is larger than the queue depth {qd} (the workload's queue_depth): a \
                 batch could never fill; use batch <= qd",
                o.batch
            )));
        }
        let block = ctx.workload.block;
        let read_len = u32::try_from(block).map_err(|_| {
            OpenError::Unavailable(format!(
                "block {} is larger than one io_uring read can be (4 GiB - 1)",
                units::format_size(block)
            ))
        })?;
        let mut notes = Vec::new();
        let writes = ctx.workload.op.writes();
        let buf_align = if o.direct {
            let file = open_direct(&path)?;
            let (mem_align, offset_align, source) =
                alignment(&file).map_err(OpenError::Unavailable)?;
            if !block.is_multiple_of(offset_align) {
                return Err(OpenError::Unavailable(format!(
                    "block {} is not a multiple of the direct I/O alignment {offset_align} B of {} \
                     (from {source}); use a block of {} or a multiple of it",
                    units::format_size(block),
                    path.display(),
                    units::format_size(offset_align)
                )));
            }
            notes.push(format!(
                "O_DIRECT: buffers aligned to {mem_align} B, offsets and sizes to {offset_align} B \
                 (from {source})"
            ));
            mem_align
        } else {
            1
        };
        let cfg = RingConfig {
            depth: qd,
            read_len,
            buf_align,
            fixed_buffers: o.fixed,
            fixed_file: o.regfile,
            sqpoll_idle_ms: o.sqpoll_idle_ms,
            writes,
        };
        // Every thread's ring is set up here, before the run, so that whatever the
        // kernel refuses (setup, an opcode, registering buffers against the
        // locked-memory limit of all rings together) skips the backend with the reason
        // instead of failing a worker. Each thread has its own descriptor.
        let mut rings = Vec::with_capacity(ctx.threads);
        for _ in 0..ctx.threads {
            // One descriptor per device of a striped target (one otherwise; a write
            // workload has one: striped targets are read-only).
            let files = ctx
                .target
                .paths()
                .into_iter()
                .map(|p| open_file(p, o.direct, writes))
                .collect::<Result<Vec<_>, _>>()?;
            rings.push(Some(ReadRing::new_multi(files, &cfg).map_err(ring_error)?));
        }
        notes.extend(super::stripe_note(ctx.target));
        let what = if writes {
            "operations (reads and writes)"
        } else {
            "reads"
        };
        let mut how = vec![format!(
            "io_uring: one ring per thread, {qd} {what} in flight, {}",
            if o.batch == 1 {
                "each read submitted at once".to_string()
            } else {
                format!("submitted in batches of {}", o.batch)
            }
        )];
        if o.fixed {
            how.push(if writes {
                "registered buffers (READ_FIXED, WRITE_FIXED)".into()
            } else {
                "registered buffers (READ_FIXED)".into()
            });
        }
        if o.regfile {
            how.push("registered file".into());
        }
        if let Some(idle) = o.sqpoll_idle_ms {
            how.push(format!(
                "SQPOLL (one kernel polling thread per ring, idle after {idle} ms; its CPU time \
                 is not the worker's)"
            ));
        }
        notes.insert(0, how.join(", "));
        notes.push(
            "latency is submit-to-completion: from queueing the operation to reaping it".into(),
        );
        if writes {
            notes.push(
                "writes: one operation per block in flight; a due sync waits until the operations in flight completed, then one IORING_OP_FSYNC (DATASYNC for fdatasync) or SYNC_FILE_RANGE is submitted and waited for".into(),
            );
        }
        Ok(Uring {
            stripe: ctx.target.stripe_map(),
            rings: Mutex::new(rings),
            cfg,
            batch: o.batch,
            touch: ctx.workload.touch,
            notes,
        })
    }
}

impl Backend for Uring {
    fn worker(&self, index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        let ring = self
            .rings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(index)
            .and_then(Option::take)
            .ok_or_else(|| {
                OpenError::Failed(format!("no io_uring ring was set up for worker {index}"))
            })?;
        let depth = ring.depth();
        Ok(Box::new(UringWorker {
            ring,
            stripe: self.stripe,
            free: (0..depth).rev().collect(),
            offsets: vec![0; depth].into_boxed_slice(),
            started: vec![0; depth].into_boxed_slice(),
            batch: self.batch,
            len: self.cfg.read_len as usize,
            touch: self.touch,
        }))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn queue_depth(&self) -> u32 {
        self.cfg.depth
    }
}

fn open_file(path: &Path, direct: bool, writes: bool) -> Result<File, OpenError> {
    match (direct, writes) {
        (true, false) => open_direct(path),
        (true, true) => super::pread::open_file(path, true, libc::O_DIRECT),
        (false, _) => super::pread::open_file(path, writes, 0),
    }
}

/// A free slot's marker in `UringWorker::planned`.
const FREE: u64 = u64::MAX;

struct UringWorker {
    ring: ReadRing,
    stripe: crate::datafile::stripe::Stripe,
    /// Slots with no read in flight (a stack; allocated once with room for all).
    free: Vec<usize>,
    /// Per slot: the offset its read is for, and when it was queued (raw clock ticks of
    /// the driver's clock).
    offsets: Box<[u64]>,
    started: Box<[u64]>,
    batch: u32,
    len: usize,
    touch: Touch,
}

/// The io_uring form of a sync method (msync has no mapping here: refused before).
fn sync_op(m: SyncMethod) -> Result<SyncOp, OpError> {
    match m {
        SyncMethod::Fdatasync => Ok(SyncOp::Fdatasync),
        SyncMethod::Fsync => Ok(SyncOp::Fsync),
        SyncMethod::SyncFileRange => Ok(SyncOp::SyncFileRange),
        SyncMethod::Msync | SyncMethod::MsyncAsync => {
            Err(OpError(format!("uring has no mapping to {m}")))
        }
    }
}

fn io_error(what: &str, off: u64, e: std::io::Error) -> OpError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        super::disk_full(&format!("an io_uring {what}"), Some(off))
    } else {
        OpError(format!("io_uring {what} at offset {off} failed: {e}"))
    }
}

impl UringWorker {
    /// The loop of a write workload (see the module docs).
    fn write_loop(&mut self, drv: &mut Driver, wr: &mut Writer) -> Result<(), OpError> {
        let fail = |what: &str, e: std::io::Error| OpError(format!("io_uring {what} failed: {e}"));
        let sync = sync_op(wr.method())?;
        let depth = self.ring.depth();
        // Per slot: the operation in flight (its offset FREE when the slot is free), and
        // the generation a write writes.
        let mut planned = vec![
            Planned {
                slot: 0,
                offset: FREE,
                read: true
            };
            depth
        ];
        let mut gens = vec![0u32; depth];
        // An operation drawn while its block was in flight, issued once it is not.
        let mut held: Option<Planned> = None;
        let mut issued_since_sync = 0u64;
        loop {
            let mut held_back = false;
            while !wr.sync_due_issued(issued_since_sync) {
                let Some(&slot) = self.free.last() else { break };
                if !drv.should_issue(u64::from(self.ring.in_flight())) {
                    held_back = true;
                    break;
                }
                let p = match held.take() {
                    Some(p) => p,
                    None => wr.plan(drv),
                };
                if planned.iter().any(|q| q.offset == p.offset) {
                    held = Some(p);
                    break;
                }
                if p.read {
                    self.ring.queue_read(slot, p.offset).map_err(OpError)?;
                } else {
                    let gen = wr.next_gen(&p)?;
                    wr.fill_into(self.ring.slot_mut(slot).map_err(OpError)?, p.offset, gen);
                    self.ring.queue_write(slot, p.offset).map_err(OpError)?;
                    gens[slot] = gen;
                    issued_since_sync += 1;
                }
                self.free.pop();
                planned[slot] = p;
                self.started[slot] = drv.clock().raw();
                if self.ring.pending() >= self.batch && !self.free.is_empty() {
                    self.ring.submit().map_err(|e| fail("submit", e))?;
                }
            }
            let in_flight = self.ring.in_flight();
            if in_flight == 0 {
                // Everything issued has completed: a due sync now covers it all.
                let stopping = !wr.sync_due_issued(issued_since_sync);
                if stopping {
                    // The end of the measured loop, nothing in flight: wait at the
                    // cell's gate (the harness looks at the page cache) before the
                    // final sync, as the synchronous loop does.
                    wr.arrive_at_gate();
                }
                if !stopping || wr.end_sync_due() {
                    self.sync(drv, wr, sync)?;
                    issued_since_sync = 0;
                    if !stopping {
                        continue;
                    }
                }
                return Ok(());
            }
            let pending = self.ring.pending();
            let held_in = in_flight.saturating_sub(pending);
            let draining = held_back || held.is_some() || wr.sync_due_issued(issued_since_sync);
            if pending > 0 && (pending >= self.batch || held_in == 0 || draining) {
                self.ring
                    .submit_and_wait(1)
                    .map_err(|e| fail("submit", e))?;
            } else {
                self.ring
                    .wait(self.batch.saturating_sub(pending).max(1))
                    .map_err(|e| fail("wait", e))?;
            }
            while let Some(c) = self.ring.reap() {
                let end = drv.clock().raw();
                let slot = c.slot;
                let Some(p) = planned.get(slot).copied() else {
                    continue;
                };
                let ns = drv.clock().nanos(self.started[slot], end);
                let what = if p.read { "read" } else { "write" };
                if let Some(e) = c.error() {
                    return Err(io_error(what, p.offset, e));
                }
                if c.data().len() < self.len {
                    return Err(OpError(format!(
                        "short {what} at offset {}: {} of {} bytes",
                        p.offset,
                        c.data().len(),
                        self.len
                    )));
                }
                if p.read {
                    let fold = consume(c.data(), p.offset, self.touch);
                    wr.read_done(drv, &p, fold, ns);
                } else {
                    wr.write_done(drv, &p, gens[slot], ns);
                }
                planned[slot].offset = FREE;
                self.free.push(slot);
            }
        }
    }

    /// Submit one sync with nothing else in flight, wait for it, record it.
    fn sync(&mut self, drv: &Driver, wr: &mut Writer, how: SyncOp) -> Result<(), OpError> {
        self.ring.queue_sync(how).map_err(OpError)?;
        let t0 = drv.clock().raw();
        self.ring
            .submit_and_wait(1)
            .map_err(|e| OpError(format!("io_uring submit of a sync failed: {e}")))?;
        let c = self
            .ring
            .reap()
            .ok_or_else(|| OpError("io_uring returned no completion for a sync".into()))?;
        let end = drv.clock().raw();
        if c.slot != SYNC_SLOT {
            return Err(OpError(format!(
                "io_uring: a completion of slot {} arrived while only a sync was in flight",
                c.slot
            )));
        }
        if let Some(e) = c.error() {
            if e.raw_os_error() == Some(libc::ENOSPC) {
                return Err(super::disk_full(&format!("an io_uring {how:?}"), None));
            }
            return Err(OpError(format!("io_uring {how:?} failed: {e}")));
        }
        wr.sync_done(drv, drv.clock().nanos(t0, end));
        Ok(())
    }

    fn run_loop(&mut self, drv: &mut Driver) -> Result<(), OpError> {
        let fail = |what: &str, e: std::io::Error| OpError(format!("io_uring {what} failed: {e}"));
        loop {
            // Refill every free slot the driver lets us use.
            let mut held_back = false;
            while let Some(&slot) = self.free.last() {
                if !drv.should_issue(u64::from(self.ring.in_flight())) {
                    held_back = true;
                    break;
                }
                let off = drv.next_offset();
                let (dev, at) = self.stripe.locate(off);
                self.ring.queue_read_on(slot, dev, at).map_err(OpError)?;
                self.free.pop();
                self.offsets[slot] = off;
                self.started[slot] = drv.clock().raw();
                if self.ring.pending() >= self.batch && !self.free.is_empty() {
                    self.ring.submit().map_err(|e| fail("submit", e))?;
                }
            }
            let in_flight = self.ring.in_flight();
            if in_flight == 0 {
                // Nothing in flight and the driver allows no more: done.
                return Ok(());
            }
            let pending = self.ring.pending();
            let held = in_flight.saturating_sub(pending);
            if pending > 0 && (pending >= self.batch || held == 0 || held_back) {
                // Submit what is queued and wait for one completion in one system call.
                self.ring
                    .submit_and_wait(1)
                    .map_err(|e| fail("submit", e))?;
            } else {
                // A partial batch waits for completions that can fill it.
                self.ring
                    .wait(self.batch.saturating_sub(pending).max(1))
                    .map_err(|e| fail("wait", e))?;
            }
            while let Some(c) = self.ring.reap() {
                let end = drv.clock().raw();
                let slot = c.slot;
                let off = self.offsets[slot];
                let ns = drv.clock().nanos(self.started[slot], end);
                let failure = if let Some(e) = c.error() {
                    // A negative completion result (-EIO ...).
                    Some(OpError(format!(
                        "io_uring read at offset {off} failed: {e}"
                    )))
                } else if c.data().len() < self.len {
                    Some(OpError(format!(
                        "short read at offset {off}: got {} of {} bytes (was the file truncated?)",
                        c.data().len(),
                        self.len
                    )))
                } else {
                    None
                };
                if let Some(e) = failure {
                    // The slot is free again either way; under on_error = continue the
                    // other reads in flight go on.
                    self.free.push(slot);
                    drv.failed(off, e, Some(ns))?;
                    continue;
                }
                let fold = consume(c.data(), off, self.touch);
                self.free.push(slot);
                drv.complete(off, fold, ns);
            }
        }
    }
}

impl Worker for UringWorker {
    /// One read, submitted and waited for. The runner calls `run`, not this; it keeps
    /// the worker a complete `Worker` (e.g. for one-off reads in tests).
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        if self.ring.in_flight() > 0 {
            return Err(OpError(
                "io_uring worker: a single read while reads are in flight".into(),
            ));
        }
        let slot = *self
            .free
            .last()
            .ok_or_else(|| OpError("no free io_uring slot".into()))?;
        let (dev, at) = self.stripe.locate(offset);
        self.ring.queue_read_on(slot, dev, at).map_err(OpError)?;
        self.ring
            .submit_and_wait(1)
            .map_err(|e| OpError(format!("io_uring submit failed: {e}")))?;
        let c = self
            .ring
            .reap()
            .ok_or_else(|| OpError("io_uring returned no completion".into()))?;
        if let Some(e) = c.error() {
            return Err(OpError(format!(
                "io_uring read at offset {offset} failed: {e}"
            )));
        }
        if c.data().len() < self.len {
            return Err(OpError(format!(
                "short read at offset {offset}: got {} of {} bytes (was the file truncated?)",
                c.data().len(),
                self.len
            )));
        }
        Ok(consume(c.data(), offset, self.touch))
    }

    fn run(&mut self, drv: &mut Driver) -> Result<(), OpError> {
        let r = self.run_loop(drv);
        if r.is_err() {
            // Reap whatever is still in flight before returning (the ring would also do
            // it when dropped): its buffers stay owned until then.
            let _ = self.ring.drain();
            self.free.clear();
            self.free.extend((0..self.ring.depth()).rev());
        }
        r
    }

    fn run_writes(&mut self, drv: &mut Driver, wr: &mut Writer) -> Result<(), OpError> {
        let r = self.write_loop(drv, wr);
        if r.is_err() {
            let _ = self.ring.drain();
            self.free.clear();
            self.free.extend((0..self.ring.depth()).rev());
        }
        r
    }
}
