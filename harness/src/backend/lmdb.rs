//! `lmdb`: the engine that always reads through mmap. Each operation is one point
//! lookup by key in the LMDB database the harness generated (`datafile::database`): a
//! read transaction, one `mdb_get`, the value read in place in LMDB's mapping, the
//! transaction ended. The environment is opened once per cell, read-only and without
//! a lock table (nothing writes it); `nordahead` sets MDB_NORDAHEAD, with which LMDB
//! advises its mapping MADV_RANDOM (its own answer to fault read-around).
//!
//! A SIGBUS in LMDB's mapping (a truncated file, a failed device) is not recovered
//! (the mapping is LMDB's, not registered with `sys::sigbus`): the harness never
//! truncates the file while it is open.

use super::sqlite::engine_db;
use super::{Backend, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::database::Database;
use crate::datafile::rows::{self, KeyPicker};
use crate::spec::backend::LmdbOptions;
use crate::spec::Touch;
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
}

impl Lmdb {
    pub fn open(ctx: &OpenCtx, o: &LmdbOptions) -> Result<Lmdb, OpenError> {
        let db = engine_db(ctx, "lmdb")?.clone();
        let map = usize::try_from(db.map_size).map_err(|_| {
            OpenError::Unavailable("the LMDB map is larger than the address space".into())
        })?;
        let env = open_env(
            &db.target.path,
            map,
            LmdbOpen::Read {
                nordahead: o.nordahead,
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
            "environment opened read-only (MDB_RDONLY, MDB_NOLOCK){}; one read transaction per lookup",
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
    }
}

struct LmdbWorker<'a> {
    env: &'a heed::Env<heed::WithoutTls>,
    table: heed::Database<Bytes, Bytes>,
    keys: KeyPicker,
    tag: u64,
    block: u64,
    all: bool,
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
        }))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
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
        let diff = rows::check_value(v, key, self.tag, self.all);
        drop(txn);
        Ok(rows::fold_for(offset, self.block, self.tag, diff))
    }
}
