//! What the engine backends (`sqlite`, `lmdb`) need to write: a worker's record of the
//! keys it updated and the blocks it wrote (the write driver's unit), the values of a
//! written row (`rows::gen_tag`), and the collection of every worker's keys for the
//! check after the cell, which reads each written row back through the engine.
//!
//! The write driver (`driver::write::Writer`) picks a block of the thread's stripe and
//! a generation for it, as for the other backends; the engine worker turns the block
//! into one of its keys (`rows::KeyPicker`) and writes that row's next generation. So a
//! block's generation is the number of writes to it (what the driver checks a mix's
//! read against) and a key's generation the number of writes to that key (what the
//! row must hold).

use super::OpError;
use crate::datafile::page;
use std::collections::HashMap;
use std::sync::Mutex;

/// One worker's writes: the generation of every key and block it wrote.
#[derive(Debug, Default)]
pub struct Written {
    keys: HashMap<u64, u32>,
    blocks: HashMap<u64, u32>,
}

impl Written {
    /// The newest generation of `key` (0: as generated).
    #[inline]
    pub fn key_gen(&self, key: u64) -> u32 {
        self.keys.get(&key).copied().unwrap_or(0)
    }

    /// The generation the next write of `key` writes.
    #[inline]
    pub fn next_key_gen(&self, key: u64) -> Result<u32, OpError> {
        self.key_gen(key)
            .checked_add(1)
            .ok_or_else(|| OpError(format!("key {key} was written 2^32 times")))
    }

    /// A write of generation `gen` of `key`, in the block at `block_offset`, completed.
    #[inline]
    pub fn wrote(&mut self, key: u64, gen: u32, block_offset: u64) {
        self.keys.insert(key, gen);
        *self.blocks.entry(block_offset).or_insert(0) += 1;
    }

    /// The fold a read of the block at `offset` must return when the row check found
    /// `diff` (0: right): the fold the write driver expects of the block's generation.
    #[inline]
    pub fn fold(&self, offset: u64, block: u64, tag: u64, diff: u64) -> u64 {
        let gen = self.blocks.get(&offset).copied().unwrap_or(0);
        page::expected_fold_gen(offset, block, tag, gen) ^ diff
    }
}

/// Every worker's written keys, handed over when a worker is dropped (after its last
/// operation and the harness's own commit of what it left uncommitted).
#[derive(Debug, Default)]
pub struct Collected(Mutex<HashMap<u64, u32>>);

impl Collected {
    pub fn add(&self, w: &Written) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (&k, &g) in &w.keys {
            let e = all.entry(k).or_insert(0);
            *e = (*e).max(g);
        }
    }

    /// The written keys and their newest generations, in key order.
    pub fn take(&self) -> Vec<(u64, u32)> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(u64, u32)> = all.drain().collect();
        v.sort_unstable();
        v
    }
}

/// What an engine's check after a write cell found and did.
#[derive(Debug, Clone)]
pub struct EngineCheck {
    /// The written rows read back through the engine: rows compared (in `pages`),
    /// rows that did not hold their newest value.
    pub checked: Result<crate::datafile::written::Checked, String>,
    /// The generated values put back (rows), so the next cell reads the database as
    /// generated; Err leaves the database marked, to be built again.
    pub restored: Result<u64, String>,
    /// Why the database stays marked although its rows were put back (LMDB: its pages
    /// moved), so the next run builds it again; None: unmarked.
    pub keep_marked: Option<String>,
    pub notes: Vec<String>,
}

/// The reason an engine refuses a write workload (None: it runs it).
pub fn refusal(engine: &str, w: &crate::spec::Workload, threads: usize) -> Option<String> {
    if !w.op.writes() {
        return None;
    }
    if w.sync_method != crate::spec::SyncMethod::Fdatasync {
        return Some(format!(
            "{engine} makes its writes durable with its own calls (SQLite: its commit with synchronous = FULL; LMDB: mdb_env_sync), so sync_method = {} has no meaning for it; leave sync_method at its default (fdatasync)",
            w.sync_method
        ));
    }
    if w.pattern == crate::spec::Pattern::Append {
        return Some(format!(
            "{engine} updates rows in place by key; pattern = \"append\" (a log) has no meaning for it: use random, zipf or hotset"
        ));
    }
    if engine == "sqlite" && threads > 1 {
        return Some(
            "sqlite writes with one thread only: SQLite admits one writer at a time, and a transaction held across several UPDATEs (sync = every:N, interval, end) would leave the other threads' time to SQLite's busy handler, which sleeps (1 to 100 ms), not waits on the lock, so their latencies would measure its sleep schedule; use threads = 1 (lmdb, one write transaction per operation, takes several writer threads)"
                .into(),
        );
    }
    None
}
