//! `lmdb`: the engine that always reads through mmap. Each operation is one point
//! lookup by key in the LMDB database the harness generated (`datafile::database`): a
//! read transaction, one `mdb_get`, the value read in place in LMDB's mapping, the
//! transaction ended. The environment is opened once per cell, read-only and without
//! a lock table (nothing writes it); `nordahead` sets MDB_NORDAHEAD, with which LMDB
//! advises its mapping MADV_RANDOM (its own answer to fault read-around).
//!
//! Writes (op = write or mix): a write operation is one write transaction with one
//! `mdb_put` of the key's next generation (`rows::gen_tag`), committed; the
//! environment is opened read-write with its lock table and MDB_NOSYNC, so a commit
//! writes the pages (pwrite; LMDB copies on write) without flushing, and the policy's
//! sync is `mdb_env_sync(force)` (fdatasync of the file). `none` never syncs, `end` once
//! per thread at the end. LMDB's write lock admits one writer at a time: with several
//! threads the wait for it is inside the write's latency. A mix's read is a read
//! transaction that sees the thread's committed writes. After the cell the written rows
//! are read back through the environment and the generated values put back
//! (`check_written`).
//!
//! A SIGBUS in LMDB's mapping (a truncated file, a failed device) is not recovered
//! (the mapping is LMDB's, not registered with `sys::sigbus`): the harness never
//! truncates the file while it is open.

use super::engine_writes::{self, Collected, EngineCheck, Written};
use super::sqlite::engine_db;
use super::{Backend, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::database::Database;
use crate::datafile::rows::{self, KeyPicker};
use crate::datafile::written::Checked;
use crate::spec::backend::LmdbOptions;
use crate::spec::{SyncMethod, Touch};
use crate::sys::lmdb::{open_env, LmdbOpen};
use heed::types::Bytes;

pub struct Lmdb {
    db: Database,
    env: Option<heed::Env<heed::WithoutTls>>,
    table: heed::Database<Bytes, Bytes>,
    block: u64,
    touch: Touch,
    seed: u64,
    notes: Vec<String>,
    writes: bool,
    collected: Collected,
}

impl Lmdb {
    pub fn open(ctx: &OpenCtx, o: &LmdbOptions) -> Result<Lmdb, OpenError> {
        let db = engine_db(ctx, "lmdb")?.clone();
        if let Some(why) = engine_writes::refusal("lmdb", ctx.workload, ctx.threads) {
            return Err(OpenError::Unavailable(why));
        }
        let writes = ctx.workload.op.writes();
        let map = usize::try_from(db.map_size).map_err(|_| {
            OpenError::Unavailable("the LMDB map is larger than the address space".into())
        })?;
        let env = open_env(
            &db.target.path,
            map,
            if writes {
                LmdbOpen::Write {
                    nordahead: o.nordahead,
                }
            } else {
                LmdbOpen::Read {
                    nordahead: o.nordahead,
                }
            },
        )
        .map_err(|e| {
            OpenError::Failed(format!(
                "cannot open the LMDB database {}: {e}",
                db.target.path.display()
            ))
        })?;
        let table = {
            let rtxn = env
                .read_txn()
                .map_err(|e| OpenError::Failed(format!("LMDB read transaction: {e}")))?;
            env.open_database::<Bytes, Bytes>(&rtxn, None)
                .map_err(|e| OpenError::Failed(format!("LMDB: cannot open the table: {e}")))?
                .ok_or_else(|| OpenError::Failed("LMDB: the database has no table".into()))?
        };
        let mut notes = vec![db.note()];
        notes.push(format!(
            "environment opened {}{}; one read transaction per lookup",
            if writes {
                format!(
                    "read-write with MDB_NOSYNC (sync = {}: one write transaction with one put per write, committed without a flush; the policy's sync is mdb_env_sync(force), an fdatasync)",
                    ctx.workload.sync
                )
            } else {
                "read-only (MDB_RDONLY, MDB_NOLOCK)".to_string()
            },
            if o.nordahead {
                ", MDB_NORDAHEAD: LMDB advises its mapping MADV_RANDOM"
            } else {
                ", read-ahead left on (the mapping keeps MADV_NORMAL)"
            }
        ));
        Ok(Lmdb {
            db,
            env: Some(env),
            table,
            block: ctx.workload.block,
            touch: ctx.workload.touch,
            seed: ctx.workload.seed,
            notes,
            writes,
            collected: Collected::default(),
        })
    }
}

impl Drop for Lmdb {
    fn drop(&mut self) {
        // Close the environment now (heed would close it when its last handle goes),
        // so the next cell may open the same file again.
        if let Some(env) = self.env.take() {
            env.prepare_for_closing().wait();
        }
        if self.writes {
            // The lock table a write environment made beside the file (MDB_NOSUBDIR).
            let mut lock = self.db.target.path.as_os_str().to_owned();
            lock.push("-lock");
            let _ = std::fs::remove_file(std::path::PathBuf::from(lock));
        }
    }
}

struct LmdbWorker<'a> {
    env: &'a heed::Env<heed::WithoutTls>,
    table: heed::Database<Bytes, Bytes>,
    keys: KeyPicker,
    tag: u64,
    block: u64,
    all: bool,
    written: Written,
    value: Vec<u8>,
    collected: Option<&'a Collected>,
}

impl Backend for Lmdb {
    fn worker(&self, index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        let env = self
            .env
            .as_ref()
            .ok_or_else(|| OpenError::Failed("the LMDB environment is closed".into()))?;
        let nblocks = self.db.target.size / self.block;
        Ok(Box::new(LmdbWorker {
            env,
            table: self.table,
            keys: KeyPicker::new(
                self.seed ^ ((index as u64) << 32),
                self.db.rows,
                nblocks,
                self.block,
            ),
            tag: self.db.target.verify_tag.unwrap_or(0),
            block: self.block,
            all: self.touch == Touch::All,
            written: Written::default(),
            value: vec![0u8; rows::VALUE_LEN],
            collected: self.writes.then_some(&self.collected),
        }))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn check_written(&self) -> Option<EngineCheck> {
        if !self.writes {
            return None;
        }
        let keys = self.collected.take();
        let tag = self.db.target.verify_tag.unwrap_or(0);
        let Some(env) = self.env.as_ref() else {
            let e = "the LMDB environment is closed".to_string();
            return Some(EngineCheck {
                checked: Err(e.clone()),
                restored: Err(e),
                keep_marked: None,
                notes: Vec::new(),
            });
        };
        Some(check_and_restore(env, self.table, &self.db, &keys, tag))
    }
}

/// After a write cell (every worker done): sync the environment, drop the file's
/// cached pages that are not mapped, read every written row back through a read
/// transaction and compare each byte with its newest generation, then put the
/// generated values back in one write transaction and sync.
fn check_and_restore(
    env: &heed::Env<heed::WithoutTls>,
    table: heed::Database<Bytes, Bytes>,
    db: &Database,
    keys: &[(u64, u32)],
    tag: u64,
) -> EngineCheck {
    let path = &db.target.path;
    let mut notes = Vec::new();
    let synced = env
        .force_sync()
        .map_err(|e| format!("mdb_env_sync before the read-back: {e}"))
        .and_then(|_| {
            let f = std::fs::File::open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            crate::sys::drop_file_cache(&f)
                .map_err(|e| format!("cannot drop the page cache of {}: {e}", path.display()))
        });
    if let Err(e) = synced {
        return EngineCheck {
            checked: Err(e.clone()),
            restored: Err(e),
            keep_marked: None,
            notes,
        };
    }
    let checked = read_back(env, table, keys, tag);
    if let Ok(c) = &checked {
        notes.push(format!(
            "read back after the cell through LMDB (after mdb_env_sync and a drop of the file's cached pages; pages still mapped stay cached): {} written rows, {} without their newest value{} (verified_pages and verify_errors count rows)",
            c.pages,
            c.errors,
            c.first_bad.map(|k| format!(", the first key {k}")).unwrap_or_default()
        ));
    }
    let restored = put_back(env, table, keys, tag);
    let grown = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if grown > db.target.size {
        notes.push(format!(
            "the LMDB file grew from {} to {} bytes (LMDB copies written pages on write; the old ones are reused from its free list)",
            db.target.size, grown
        ));
    }
    EngineCheck {
        checked,
        restored: restored.map_err(|e| format!("putting the generated rows back: {e}")),
        keep_marked: Some(
            "LMDB wrote the rows into new pages (copy on write), so its pages are no longer in the generated order and the file may have grown: the rows hold their generated values again for the rest of this run, and the next run builds the database anew".into(),
        ),
        notes,
    }
}

fn read_back(
    env: &heed::Env<heed::WithoutTls>,
    table: heed::Database<Bytes, Bytes>,
    keys: &[(u64, u32)],
    tag: u64,
) -> Result<Checked, String> {
    let rtxn = env.read_txn().map_err(|e| e.to_string())?;
    let mut c = Checked::default();
    for &(k, gen) in keys {
        c.pages += 1;
        let v = table
            .get(&rtxn, &k.to_be_bytes())
            .map_err(|e| format!("reading key {k} back: {e}"))?;
        let ok = v.is_some_and(|v| rows::check_value(v, k, rows::gen_tag(tag, gen), true) == 0);
        if !ok {
            c.errors += 1;
            c.first_bad.get_or_insert(k);
        }
    }
    Ok(c)
}

fn put_back(
    env: &heed::Env<heed::WithoutTls>,
    table: heed::Database<Bytes, Bytes>,
    keys: &[(u64, u32)],
    tag: u64,
) -> Result<u64, String> {
    // In transactions of 256 puts, so the pages each frees are reused by the next
    // (one transaction over every written row would copy them all at once).
    let mut v = vec![0u8; rows::VALUE_LEN];
    for part in keys.chunks(256) {
        let mut wtxn = env.write_txn().map_err(|e| e.to_string())?;
        for &(k, _) in part {
            rows::fill_value(&mut v, k, tag);
            table
                .put(&mut wtxn, &k.to_be_bytes(), &v)
                .map_err(|e| format!("restoring key {k}: {e}"))?;
        }
        wtxn.commit().map_err(|e| e.to_string())?;
    }
    env.force_sync().map_err(|e| e.to_string())?;
    Ok(keys.len() as u64)
}

#[cold]
fn write_error(what: &str, key: u64, e: heed::Error) -> OpError {
    if let heed::Error::Io(io) = &e {
        if io.raw_os_error() == Some(libc::ENOSPC) {
            return super::disk_full(&format!("lmdb {what} of key {key}"), None);
        }
    }
    OpError(format!("lmdb: {what} of key {key} failed: {e}"))
}

impl Drop for LmdbWorker<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.collected {
            c.add(&self.written);
        }
    }
}

impl Worker for LmdbWorker<'_> {
    #[inline]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        let key = self.keys.key(offset);
        let txn = self
            .env
            .read_txn()
            .map_err(|e| OpError(format!("lmdb: read transaction failed: {e}")))?;
        let v = self
            .table
            .get(&txn, &key.to_be_bytes())
            .map_err(|e| OpError(format!("lmdb: lookup of key {key} failed: {e}")))?
            .ok_or_else(|| OpError(format!("lmdb: key {key} is missing from the table")))?;
        let gen = self.written.key_gen(key);
        let diff = rows::check_value(v, key, rows::gen_tag(self.tag, gen), self.all);
        drop(txn);
        Ok(self.written.fold(offset, self.block, self.tag, diff))
    }

    fn write(&mut self, offset: u64, _data: &[u8]) -> Result<(), OpError> {
        let key = self.keys.key(offset);
        let gen = self.written.next_key_gen(key)?;
        rows::fill_value(&mut self.value, key, rows::gen_tag(self.tag, gen));
        let mut txn = self
            .env
            .write_txn()
            .map_err(|e| write_error("write transaction", key, e))?;
        self.table
            .put(&mut txn, &key.to_be_bytes(), &self.value)
            .map_err(|e| write_error("put", key, e))?;
        txn.commit().map_err(|e| write_error("commit", key, e))?;
        self.written.wrote(key, gen, offset);
        Ok(())
    }

    fn sync(&mut self, _method: SyncMethod) -> Result<(), OpError> {
        self.env
            .force_sync()
            .map_err(|e| OpError(format!("lmdb: mdb_env_sync failed: {e}")))
    }
}
