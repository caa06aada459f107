//! `sqlite`: a real engine's two read paths. Each operation is one point lookup by
//! primary key (`SELECT v FROM t WHERE k = ?`) in the database the harness generated
//! (`datafile::database`), through a read-only connection of the worker's own (opened
//! on its thread before the start barrier). `mmap=SIZE` sets PRAGMA mmap_size: 0 (the
//! default) reads pages with xRead, i.e. pread(2), into SQLite's page cache; above 0
//! SQLite reads the first SIZE bytes of the file through a shared mapping instead.
//! `cache=SIZE` sets PRAGMA cache_size (SQLite's own page cache per connection).
//!
//! The block the access pattern picked names the key (`rows::KeyPicker`), and the
//! value read is checked against its key (`rows::check_value`): a wrong row is counted
//! as a wrong read.

use super::{Backend, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::database::Database;
use crate::datafile::rows::{self, KeyPicker};
use crate::spec::backend::SqliteOptions;
use crate::spec::Touch;
use crate::units;
use rusqlite::{Connection, OpenFlags};

const LOOKUP: &str = "SELECT v FROM t WHERE k = ?1";

pub struct Sqlite {
    db: Database,
    o: SqliteOptions,
    block: u64,
    touch: Touch,
    seed: u64,
    notes: Vec<String>,
}

/// The engines need their generated database and one lookup per 4 KiB block.
pub fn engine_db<'a>(ctx: &OpenCtx<'a>, name: &str) -> Result<&'a Database, OpenError> {
    let db = ctx.db.ok_or_else(|| {
        OpenError::Unavailable(format!(
            "{name} reads a database the harness generates beside its data file; this run has none (a --file, a fuse device or striped zram devices hold no file system for it): run without --file, or with --device zram (count=1)"
        ))
    })?;
    if ctx.workload.block != rows::DB_PAGE {
        return Err(OpenError::Unavailable(format!(
            "{name}: one operation is one point lookup, which reads one 4 KiB leaf page; use block = \"4KiB\" (this workload has {})",
            units::format_size(ctx.workload.block)
        )));
    }
    Ok(db)
}

impl Sqlite {
    pub fn open(ctx: &OpenCtx, o: &SqliteOptions) -> Result<Sqlite, OpenError> {
        let db = engine_db(ctx, "sqlite")?.clone();
        // Open once here, so a database that cannot be opened fails before the run.
        let probe = connect(&db, o)?;
        let mmap_now: i64 = probe
            .query_row("PRAGMA mmap_size", [], |r| r.get(0))
            .map_err(|e| OpenError::Failed(format!("PRAGMA mmap_size: {e}")))?;
        drop(probe);
        let mut notes = vec![db.note()];
        notes.push(format!(
            "one read-only connection per thread; PRAGMA cache_size {} per connection; PRAGMA mmap_size {} asked, {} in effect{}",
            units::format_size(o.cache),
            units::format_size(o.mmap),
            units::format_size(mmap_now.max(0) as u64),
            if o.mmap == 0 {
                ": pages are read with pread(2) into SQLite's page cache".to_string()
            } else if (mmap_now as u64) < db.target.size {
                format!(
                    ": only the first {} of the {} file is mapped, the rest is read with pread(2)",
                    units::format_size(mmap_now.max(0) as u64),
                    units::format_size(db.target.size)
                )
            } else {
                ": the whole file is read through SQLite's mapping".to_string()
            }
        ));
        notes.push(
            "a lookup runs the prepared statement from the connection's statement cache (prepare_cached)".into(),
        );
        Ok(Sqlite {
            db,
            o: o.clone(),
            block: ctx.workload.block,
            touch: ctx.workload.touch,
            seed: ctx.workload.seed,
            notes,
        })
    }
}

/// A read-only connection with the backend's pragmas.
fn connect(db: &Database, o: &SqliteOptions) -> Result<Connection, OpenError> {
    let conn = Connection::open_with_flags(
        &db.target.path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        OpenError::Failed(format!(
            "cannot open the SQLite database {}: {e}",
            db.target.path.display()
        ))
    })?;
    let pragmas = format!(
        "PRAGMA cache_size = -{}; PRAGMA mmap_size = {};",
        (o.cache / 1024).max(1),
        o.mmap
    );
    conn.execute_batch(&pragmas)
        .map_err(|e| OpenError::Failed(format!("{pragmas}: {e}")))?;
    Ok(conn)
}

struct SqliteWorker {
    conn: Connection,
    keys: KeyPicker,
    tag: u64,
    block: u64,
    all: bool,
}

impl Backend for Sqlite {
    fn worker(&self, index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        let conn = connect(&self.db, &self.o)?;
        // Prepared now, so the first measured lookup finds it in the cache.
        conn.prepare_cached(LOOKUP)
            .map_err(|e| OpenError::Failed(format!("cannot prepare the lookup: {e}")))?;
        let tag = self.db.target.verify_tag.unwrap_or(0);
        let nblocks = self.db.target.size / self.block;
        Ok(Box::new(SqliteWorker {
            conn,
            keys: KeyPicker::new(
                self.seed ^ ((index as u64) << 32),
                self.db.rows,
                nblocks,
                self.block,
            ),
            tag,
            block: self.block,
            all: self.touch == Touch::All,
        }))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

impl Worker for SqliteWorker {
    #[inline]
    fn read(&mut self, offset: u64) -> Result<u64, OpError> {
        let key = self.keys.key(offset);
        let mut st = self
            .conn
            .prepare_cached(LOOKUP)
            .map_err(|e| OpError(format!("sqlite: preparing the lookup failed: {e}")))?;
        let mut q = st
            .query([key as i64])
            .map_err(|e| OpError(format!("sqlite: lookup of key {key} failed: {e}")))?;
        let row = q
            .next()
            .map_err(|e| OpError(format!("sqlite: lookup of key {key} failed: {e}")))?
            .ok_or_else(|| OpError(format!("sqlite: key {key} is missing from the table")))?;
        let v = row
            .get_ref(0)
            .and_then(|v| v.as_blob().map_err(Into::into))
            .map_err(|e| OpError(format!("sqlite: the value of key {key}: {e}")))?;
        let diff = rows::check_value(v, key, self.tag, self.all);
        Ok(rows::fold_for(offset, self.block, self.tag, diff))
    }
}
