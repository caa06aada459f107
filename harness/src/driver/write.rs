//! The worker loop of a write workload (op = write or mix): which block to write or
//! read next, what to write into it, when to sync, and the latencies by kind.
//!
//! Every writing thread owns the blocks `b` with `b % threads == index` (its stripe):
//! offsets drawn from the pattern are moved to the nearest block of the stripe, and an
//! append cursor walks the stripe in order. So each block has one writer, whose write
//! generations (one u32 per block of the stripe) say exactly what the block must hold:
//! a read in a mix checks it got the newest generation, and after the cell every
//! written page is read back from the device and checked (`datafile::written`).
//!
//! Each written page holds `page::written_header(page, tag, gen)` and words derived
//! from it (`page::fill_written_page`). The content of a block is generated before its
//! timed write, as fio fills its buffers outside the I/O.

use super::Driver;
use crate::backend::{OpError, Worker};
use crate::datafile::page;
use crate::record::new_histogram;
use crate::spec::{Op, Pattern, SyncMethod, SyncPolicy};
use hdrhistogram::Histogram;
use std::time::Instant;

/// How a thread writes.
#[derive(Debug, Clone)]
pub struct WriteConfig {
    pub op: Op,
    pub read_pct: u32,
    pub sync: SyncPolicy,
    pub method: SyncMethod,
    pub append: bool,
    /// The tag written pages are derived from.
    pub tag: u64,
    /// Whether reads of blocks the run has not written can be verified (a generated
    /// target; a user's file has unknown content).
    pub verify_unwritten: bool,
    pub threads: usize,
    pub index: usize,
    pub nblocks: u64,
    pub block: u64,
    pub seed: u64,
}

/// Operations of one kind: count, bytes and latencies (measured phase only).
pub struct KindOut {
    pub ops: u64,
    pub bytes: u64,
    pub hist: Histogram<u64>,
}

impl KindOut {
    fn new() -> KindOut {
        KindOut {
            ops: 0,
            bytes: 0,
            hist: new_histogram(),
        }
    }

    fn record(&mut self, bytes: u64, ns: u64) {
        self.ops += 1;
        self.bytes += bytes;
        self.hist.saturating_record(ns.max(1));
    }

    fn reset(&mut self) {
        self.ops = 0;
        self.bytes = 0;
        self.hist.reset();
    }

    /// Add another thread's operations of this kind.
    pub fn add(&mut self, o: &KindOut) {
        self.ops += o.ops;
        self.bytes += o.bytes;
        // Same bounds, so add cannot fail.
        let _ = self.hist.add(&o.hist);
    }
}

/// What a writing thread did: by kind, and the generation of every block of its stripe
/// (0: never written), for the check after the cell.
pub struct WriteOut {
    pub read: KindOut,
    pub write: KindOut,
    pub sync: KindOut,
    /// What the program's syncs left at risk (warm-up included).
    pub exposure: Exposure,
    pub index: usize,
    pub threads: usize,
    pub gens: Vec<u32>,
}

impl WriteOut {
    /// An empty set of kinds, to add threads' results into.
    pub fn empty() -> WriteOut {
        WriteOut {
            read: KindOut::new(),
            write: KindOut::new(),
            sync: KindOut::new(),
            exposure: Exposure::default(),
            index: 0,
            threads: 1,
            gens: Vec::new(),
        }
    }

    /// Blocks this thread wrote at least once, as (block index, generation).
    pub fn written(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.gens
            .iter()
            .enumerate()
            .filter(|(_, &g)| g > 0)
            .map(|(j, &g)| (j as u64 * self.threads as u64 + self.index as u64, g))
    }
}

/// What a thread's own syncs left at risk: the most writes completed and not yet
/// covered by a completed sync at any moment, the longest time from a write's
/// completion to the completion of the sync that covered it, and the writes no sync of
/// the thread covered (after its last sync; the harness's own sync before the
/// read-back writes them). Counted over the whole loop, warm-up included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exposure {
    pub max_unsynced_writes: u64,
    pub max_unsynced_ns: u64,
    pub unsynced_at_end: u64,
    /// Syncs the thread made (warm-up included).
    pub syncs: u64,
}

impl Exposure {
    /// Add another thread's (maxima of the maxima, sums of the counts).
    pub fn add(&mut self, o: &Exposure) {
        self.max_unsynced_writes = self.max_unsynced_writes.max(o.max_unsynced_writes);
        self.max_unsynced_ns = self.max_unsynced_ns.max(o.max_unsynced_ns);
        self.unsynced_at_end += o.unsynced_at_end;
        self.syncs += o.syncs;
    }
}

/// A writing thread's state.
pub struct Writer {
    cfg: WriteConfig,
    /// Blocks in this thread's stripe.
    stripe: u64,
    cursor: u64,
    buf: crate::sys::AlignedBuf,
    rng: u64,
    since_sync: u64,
    last_sync: Instant,
    /// When the oldest write not yet covered by a sync completed.
    oldest_unsynced: Option<Instant>,
    /// Whether the driver was measuring at the last look (`observe_phase`).
    was_measuring: bool,
    out: WriteOut,
    /// Held here before the final sync (`final_sync`), and for how long.
    gate: Option<std::sync::Arc<super::final_sync::Gate>>,
    paused: std::time::Duration,
}

/// One operation a writing thread chose (the asynchronous loops, which issue it later
/// and finish it when its completion arrives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// The block's slot in this thread's stripe.
    pub slot: u64,
    /// Its byte offset in the file.
    pub offset: u64,
    /// A read (a mix's coin said read) or a write.
    pub read: bool,
}

impl Writer {
    pub fn new(cfg: WriteConfig) -> Result<Writer, String> {
        let (t, i) = (cfg.threads as u64, cfg.index as u64);
        if cfg.nblocks < t {
            return Err(format!(
                "{} threads write their own blocks, but the file has only {} block(s); use fewer threads or a larger --size",
                cfg.threads, cfg.nblocks
            ));
        }
        let stripe = (cfg.nblocks - i).div_ceil(t);
        let buf = crate::sys::AlignedBuf::new(cfg.block as usize, crate::sys::page_size())
            .map_err(|e| format!("cannot allocate a write buffer: {e}"))?;
        Ok(Writer {
            out: WriteOut {
                gens: vec![0; stripe as usize],
                index: cfg.index,
                threads: cfg.threads,
                ..WriteOut::empty()
            },
            stripe,
            cursor: 0,
            buf,
            rng: page::mix(cfg.seed ^ 0x006d_6978) | 1,
            since_sync: 0,
            last_sync: Instant::now(),
            oldest_unsynced: None,
            was_measuring: false,
            cfg,
            gate: None,
            paused: std::time::Duration::ZERO,
        })
    }

    /// Stop at `gate` after the measured loop, before the final sync.
    pub fn set_gate(&mut self, gate: std::sync::Arc<super::final_sync::Gate>) {
        self.gate = Some(gate);
    }

    /// How long the thread waited at the gate (not part of its measured time).
    pub fn paused(&self) -> std::time::Duration {
        self.paused
    }

    pub fn finish(mut self) -> WriteOut {
        self.out.exposure.unsynced_at_end = self.since_sync;
        self.out
    }

    /// A write completed: count it toward what is at risk.
    #[inline]
    fn wrote(&mut self) {
        if self.since_sync == 0 {
            self.oldest_unsynced = Some(Instant::now());
        }
        self.since_sync += 1;
        let e = &mut self.out.exposure;
        e.max_unsynced_writes = e.max_unsynced_writes.max(self.since_sync);
    }

    /// A sync completed: everything written before it is covered.
    fn synced(&mut self) {
        let now = Instant::now();
        if let Some(t) = self.oldest_unsynced.take() {
            let age = now.saturating_duration_since(t).as_nanos() as u64;
            let e = &mut self.out.exposure;
            e.max_unsynced_ns = e.max_unsynced_ns.max(age);
        }
        self.out.exposure.syncs += 1;
        self.since_sync = 0;
        self.last_sync = now;
    }

    /// Stop at the gate (if the cell set one) before the final sync: the harness looks
    /// at the page cache meanwhile. For loops of their own (asynchronous backends),
    /// called with nothing in flight, after the measured loop and before the final
    /// sync; the synchronous loop calls it itself.
    pub fn arrive_at_gate(&mut self) {
        if let Some(g) = self.gate.take() {
            self.paused = g.arrive(self.out.written().map(|(b, _)| b));
        }
    }

    /// The stripe slot of the next block: the append cursor, or the pattern's block
    /// moved into this thread's stripe.
    #[inline]
    fn next_slot(&mut self, drv: &mut Driver) -> u64 {
        if self.cfg.append {
            let j = self.cursor % self.stripe;
            self.cursor += 1;
            return j;
        }
        let b = drv.gen.next_block();
        (b / self.cfg.threads as u64).min(self.stripe - 1)
    }

    #[inline]
    fn offset(&self, slot: u64) -> u64 {
        (slot * self.cfg.threads as u64 + self.cfg.index as u64) * self.cfg.block
    }

    #[inline]
    fn coin_reads(&mut self) -> bool {
        if self.cfg.op != Op::Mix {
            return false;
        }
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x % 100) < self.cfg.read_pct as u64
    }

    /// Fill the write buffer with generation `gen` of the block at `offset`.
    fn fill(&mut self, offset: u64, gen: u32) {
        fill_block(&mut self.buf, offset, self.cfg.tag, gen);
    }

    /// Fill `buf` (one block) with generation `gen` of the block at `offset`, as a
    /// write of it must hold.
    pub fn fill_into(&self, buf: &mut [u8], offset: u64, gen: u32) {
        fill_block(buf, offset, self.cfg.tag, gen);
    }

    /// The sync method of the workload.
    pub fn method(&self) -> SyncMethod {
        self.cfg.method
    }

    /// When the warm-up ended since the last look, drop what the kinds recorded (the
    /// driver dropped its own).
    #[inline]
    pub fn observe_phase(&mut self, drv: &Driver) {
        if drv.measuring != self.was_measuring {
            self.was_measuring = drv.measuring;
            self.out.read.reset();
            self.out.write.reset();
            self.out.sync.reset();
        }
    }

    /// Choose the next operation: its block and whether it reads or writes.
    #[inline]
    pub fn plan(&mut self, drv: &mut Driver) -> Planned {
        let slot = self.next_slot(drv);
        Planned {
            slot,
            offset: self.offset(slot),
            read: self.coin_reads(),
        }
    }

    /// The generation a write of `p`'s block issued now writes (one more than the
    /// newest completed; the caller keeps one operation per block in flight).
    pub fn next_gen(&self, p: &Planned) -> Result<u32, OpError> {
        let gen = self.out.gens[p.slot as usize];
        gen.checked_add(1).ok_or_else(|| {
            OpError(format!(
                "block at offset {} was written 2^32 times; its write generation would wrap",
                p.offset
            ))
        })
    }

    /// A read of `p` completed with `fold` after `ns`: verify it against the newest
    /// generation of the block and count it.
    #[inline]
    pub fn read_done(&mut self, drv: &mut Driver, p: &Planned, fold: u64, ns: u64) {
        self.observe_phase(drv);
        let gen = self.out.gens[p.slot as usize];
        if (gen > 0 || self.cfg.verify_unwritten)
            && fold != page::expected_fold_gen(p.offset, self.cfg.block, self.cfg.tag, gen)
        {
            drv.verify_errors += 1;
            drv.first_bad_offset.get_or_insert(p.offset);
        }
        if drv.measuring {
            self.out.read.record(self.cfg.block, ns);
        }
        drv.record_op(ns);
    }

    /// A write of generation `gen` of `p`'s block completed after `ns`.
    #[inline]
    pub fn write_done(&mut self, drv: &mut Driver, p: &Planned, gen: u32, ns: u64) {
        self.observe_phase(drv);
        self.out.gens[p.slot as usize] = gen;
        self.wrote();
        if drv.measuring {
            self.out.write.record(self.cfg.block, ns);
        }
        drv.record_op(ns);
    }

    /// A sync completed after `ns`.
    pub fn sync_done(&mut self, drv: &Driver, ns: u64) {
        self.observe_phase(drv);
        if drv.measuring {
            self.out.sync.record(0, ns);
        }
        self.synced();
    }

    /// For a loop with writes in flight: is a sync due once the `issued` writes issued
    /// since the last sync have completed? (`every:N` counts issued writes, so that no
    /// more than N are written before their sync.)
    pub fn sync_due_issued(&self, issued: u64) -> bool {
        match self.cfg.sync {
            SyncPolicy::None | SyncPolicy::End => false,
            SyncPolicy::Every { writes } => issued >= writes,
            SyncPolicy::Interval { every } => issued > 0 && self.last_sync.elapsed() >= every,
        }
    }

    /// With sync = end: writes completed since the last sync, to sync at the end.
    pub fn end_sync_due(&self) -> bool {
        self.cfg.sync == SyncPolicy::End && self.since_sync > 0
    }

    fn due(&self) -> bool {
        match self.cfg.sync {
            SyncPolicy::None | SyncPolicy::End => false,
            SyncPolicy::Every { writes } => self.since_sync >= writes,
            SyncPolicy::Interval { every } => {
                self.since_sync > 0 && self.last_sync.elapsed() >= every
            }
        }
    }

    fn sync<W: Worker + ?Sized>(
        &mut self,
        drv: &Driver,
        w: &mut W,
        measuring: bool,
    ) -> Result<(), OpError> {
        let t0 = drv.clock.raw();
        w.sync(self.cfg.method)?;
        let ns = drv.clock.nanos(t0, drv.clock.raw());
        if measuring {
            self.out.sync.record(0, ns);
        }
        self.synced();
        Ok(())
    }

    /// The measured loop: every operation timed, syncs by the policy, and with
    /// sync = end one sync after the last write.
    pub fn run<W: Worker + ?Sized>(&mut self, drv: &mut Driver, w: &mut W) -> Result<(), OpError> {
        let block = self.cfg.block;
        while drv.should_continue() {
            self.observe_phase(drv);
            let slot = self.next_slot(drv);
            let off = self.offset(slot);
            let gen = self.out.gens[slot as usize];
            let ns = if self.coin_reads() {
                let t0 = drv.clock.raw();
                let r = w.read(off);
                let t1 = drv.clock.raw();
                let fold = r?;
                if (gen > 0 || self.cfg.verify_unwritten)
                    && fold != page::expected_fold_gen(off, block, self.cfg.tag, gen)
                {
                    drv.verify_errors += 1;
                    drv.first_bad_offset.get_or_insert(off);
                }
                let ns = drv.clock.nanos(t0, t1);
                if drv.measuring {
                    self.out.read.record(block, ns);
                }
                ns
            } else {
                let next = gen.checked_add(1).ok_or_else(|| {
                    OpError(format!(
                        "block at offset {off} was written 2^32 times; its write generation would wrap"
                    ))
                })?;
                self.fill(off, next);
                let t0 = drv.clock.raw();
                let r = w.write(off, &self.buf);
                let t1 = drv.clock.raw();
                r?;
                self.out.gens[slot as usize] = next;
                self.wrote();
                let ns = drv.clock.nanos(t0, t1);
                if drv.measuring {
                    self.out.write.record(block, ns);
                }
                ns
            };
            drv.record_op(ns);
            if self.due() {
                self.sync(drv, w, drv.measuring)?;
            }
        }
        self.arrive_at_gate();
        if self.cfg.sync == SyncPolicy::End && self.since_sync > 0 {
            self.sync(drv, w, drv.measuring)?;
        }
        Ok(())
    }
}

/// Fill `buf` (whole pages) with generation `gen` of the block at `offset`.
pub fn fill_block(buf: &mut [u8], offset: u64, tag: u64, gen: u32) {
    let first = offset / page::PAGE as u64;
    for (k, p) in buf.chunks_mut(page::PAGE).enumerate() {
        page::fill_written_page(p, first + k as u64, tag, gen);
    }
}

/// The write configuration of worker `index` of a cell, None for a read workload.
pub fn config(
    w: &crate::spec::Workload,
    target: &crate::datafile::Target,
    threads: usize,
    index: usize,
    seed: u64,
) -> Option<WriteConfig> {
    if !w.op.writes() {
        return None;
    }
    Some(WriteConfig {
        op: w.op,
        read_pct: w.read_pct,
        sync: w.sync,
        method: w.sync_method,
        append: w.pattern == Pattern::Append,
        tag: target.verify_tag.unwrap_or_else(|| page::file_tag(w.seed)),
        verify_unwritten: target.verify_tag.is_some(),
        threads,
        index,
        nblocks: target.size / w.block,
        block: w.block,
        seed,
    })
}
