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
//!
//! Writes (op = write or mix, one thread): a write operation is one
//! `UPDATE t SET v = ? WHERE k = ?` of the key's next generation
//! (`rows::gen_tag`), on the worker's own read-write connection in WAL mode (a mix's
//! reads use the same connection, so they see its uncommitted writes). The sync policy
//! becomes transactions: `none` is one autocommit per UPDATE with synchronous = OFF
//! (nothing fsynced by the program); `every:N`, `interval:D` and `end` open a
//! transaction (BEGIN IMMEDIATE) at the first UPDATE after a commit, and the policy's
//! sync is its COMMIT with synchronous = FULL (in WAL mode FULL fsyncs the WAL at every
//! commit; NORMAL would not, so the commit would not be durable). After the cell the
//! written rows are read back through a new connection (`check_written`) and the
//! generated values put back, and the database is returned to its rollback journal.

use super::engine_writes::{self, Collected, EngineCheck, Written};
use super::{Backend, OpError, OpenCtx, OpenError, Worker};
use crate::datafile::database::Database;
use crate::datafile::rows::{self, KeyPicker};
use crate::datafile::written::Checked;
use crate::spec::backend::SqliteOptions;
use crate::spec::{SyncMethod, SyncPolicy, Touch};
use crate::{sys, units};
use rusqlite::{Connection, OpenFlags};

const LOOKUP: &str = "SELECT v FROM t WHERE k = ?1";
const UPDATE: &str = "UPDATE t SET v = ?1 WHERE k = ?2";

pub struct Sqlite {
    db: Database,
    o: SqliteOptions,
    block: u64,
    touch: Touch,
    seed: u64,
    notes: Vec<String>,
    /// The workload's sync policy, for a write workload (None: lookups only).
    writes: Option<SyncPolicy>,
    collected: Collected,
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
        if let Some(why) = engine_writes::refusal("sqlite", ctx.workload, ctx.threads) {
            return Err(OpenError::Unavailable(why));
        }
        let writes = ctx.workload.op.writes().then_some(ctx.workload.sync);
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
        if let Some(p) = writes {
            notes.push(format!(
                "writes: one UPDATE of a row's value per write operation on the thread's read-write connection, journal_mode = WAL; {}",
                match p {
                    SyncPolicy::None =>
                        "sync = none: one autocommit per UPDATE, synchronous = OFF (no fsync by the program)".to_string(),
                    p => format!(
                        "sync = {p}: a transaction (BEGIN IMMEDIATE) from the first UPDATE after a commit, the sync is its COMMIT with synchronous = FULL (fsync of the WAL; WAL checkpoints run inside commits, in the sync latency)"
                    ),
                }
            ));
        }
        Ok(Sqlite {
            db,
            o: o.clone(),
            block: ctx.workload.block,
            touch: ctx.workload.touch,
            seed: ctx.workload.seed,
            notes,
            writes,
            collected: Collected::default(),
        })
    }
}

/// A read-only connection with the backend's pragmas.
fn connect(db: &Database, o: &SqliteOptions) -> Result<Connection, OpenError> {
    connect_as(db, o, None)
}

/// A connection with the backend's pragmas: read-only, or (`writes`) read-write in WAL
/// mode with the synchronous setting of the sync policy.
fn connect_as(
    db: &Database,
    o: &SqliteOptions,
    writes: Option<SyncPolicy>,
) -> Result<Connection, OpenError> {
    let mode = if writes.is_some() {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let conn = Connection::open_with_flags(&db.target.path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| {
            OpenError::Failed(format!(
                "cannot open the SQLite database {}: {e}",
                db.target.path.display()
            ))
        })?;
    let mut pragmas = format!(
        "PRAGMA cache_size = -{}; PRAGMA mmap_size = {};",
        (o.cache / 1024).max(1),
        o.mmap
    );
    if let Some(p) = writes {
        let sync = if p == SyncPolicy::None { "OFF" } else { "FULL" };
        pragmas.push_str(&format!(
            " PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA busy_timeout = 10000;"
        ));
    }
    conn.execute_batch(&pragmas)
        .map_err(|e| OpenError::Failed(format!("{pragmas}: {e}")))?;
    Ok(conn)
}

struct SqliteWorker<'a> {
    conn: Connection,
    keys: KeyPicker,
    tag: u64,
    block: u64,
    all: bool,
    /// Write workloads: the worker's writes, whether UPDATEs run in transactions
    /// (sync != none), whether one is open, the value buffer, where the keys go.
    written: Written,
    transactions: bool,
    in_tx: bool,
    value: Vec<u8>,
    collected: Option<&'a Collected>,
}

impl Backend for Sqlite {
    fn worker(&self, index: usize) -> Result<Box<dyn Worker + '_>, OpenError> {
        let conn = connect_as(&self.db, &self.o, self.writes)?;
        // Prepared now, so the first measured lookup finds it in the cache.
        conn.prepare_cached(LOOKUP)
            .map_err(|e| OpenError::Failed(format!("cannot prepare the lookup: {e}")))?;
        if self.writes.is_some() {
            conn.prepare_cached(UPDATE)
                .map_err(|e| OpenError::Failed(format!("cannot prepare the UPDATE: {e}")))?;
        }
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
            written: Written::default(),
            transactions: self.writes.is_some_and(|p| p != SyncPolicy::None),
            in_tx: false,
            value: vec![0u8; rows::VALUE_LEN],
            collected: self.writes.map(|_| &self.collected),
        }))
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn check_written(&self) -> Option<EngineCheck> {
        self.writes?;
        let keys = self.collected.take();
        let tag = self.db.target.verify_tag.unwrap_or(0);
        Some(check_and_restore(&self.db, &keys, tag))
    }
}

/// After a write cell (every worker's connection closed, so SQLite checkpointed its
/// WAL into the database): drop the file's cached pages, read every written row back
/// through a new connection and compare each byte with its newest generation, then put
/// the generated values back in one transaction and return the database to its
/// rollback journal (journal_mode = DELETE), synced and out of the page cache.
pub(crate) fn check_and_restore(db: &Database, keys: &[(u64, u32)], tag: u64) -> EngineCheck {
    let path = &db.target.path;
    let mut notes = Vec::new();
    let drop_cache = || -> Result<(), String> {
        let f = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        f.sync_all()
            .map_err(|e| format!("cannot fsync {}: {e}", path.display()))?;
        sys::drop_file_cache(&f)
            .map_err(|e| format!("cannot drop the page cache of {}: {e}", path.display()))
    };
    let conn = drop_cache().and_then(|_| {
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(|e| {
            format!(
                "cannot open {} to check the written rows: {e}",
                path.display()
            )
        })
    });
    let conn = match conn {
        Ok(c) => c,
        Err(e) => {
            return EngineCheck {
                checked: Err(e.clone()),
                restored: Err(e),
                keep_marked: None,
                notes,
            }
        }
    };
    let checked = read_back(&conn, keys, tag);
    if let Ok(c) = &checked {
        notes.push(format!(
            "read back after the cell through a new SQLite connection (file's page cache dropped first): {} written rows, {} without their newest value{} (verified_pages and verify_errors count rows)",
            c.pages,
            c.errors,
            c.first_bad.map(|k| format!(", the first key {k}")).unwrap_or_default()
        ));
    }
    let restored = put_back(&conn, keys, tag);
    drop(conn);
    let restored = restored.and_then(|n| drop_cache().map(|_| n));
    EngineCheck {
        checked,
        restored: restored.map_err(|e| format!("putting the generated rows back: {e}")),
        keep_marked: None,
        notes,
    }
}

/// An SQLite error of a write as the operation's error (a full device as such).
fn read_back(conn: &Connection, keys: &[(u64, u32)], tag: u64) -> Result<Checked, String> {
    let mut st = conn.prepare(LOOKUP).map_err(|e| e.to_string())?;
    let mut c = Checked::default();
    for &(k, gen) in keys {
        c.pages += 1;
        let v: Option<Vec<u8>> = match st.query_row([k as i64], |r| r.get(0)) {
            Ok(v) => Some(v),
            Err(rusqlite::Error::QueryReturnedNoRows) => None,
            Err(e) => return Err(format!("reading key {k} back: {e}")),
        };
        let ok = v.is_some_and(|v| rows::check_value(&v, k, rows::gen_tag(tag, gen), true) == 0);
        if !ok {
            c.errors += 1;
            c.first_bad.get_or_insert(k);
        }
    }
    Ok(c)
}

fn put_back(conn: &Connection, keys: &[(u64, u32)], tag: u64) -> Result<u64, String> {
    conn.execute_batch("PRAGMA synchronous = FULL; BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    let mut v = vec![0u8; rows::VALUE_LEN];
    {
        let mut st = conn.prepare(UPDATE).map_err(|e| e.to_string())?;
        for &(k, _) in keys {
            rows::fill_value(&mut v, k, tag);
            st.execute(rusqlite::params![&v[..], k as i64])
                .map_err(|e| format!("restoring key {k}: {e}"))?;
        }
    }
    conn.execute_batch("COMMIT; PRAGMA journal_mode = DELETE;")
        .map_err(|e| e.to_string())?;
    Ok(keys.len() as u64)
}

#[cold]
fn write_error(what: &str, key: Option<u64>, e: rusqlite::Error) -> OpError {
    let what = match key {
        Some(k) => format!("{what} of key {k}"),
        None => what.to_string(),
    };
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.code == rusqlite::ErrorCode::DiskFull {
            return super::disk_full(&format!("sqlite {what}"), None);
        }
    }
    OpError(format!("sqlite: {what} failed: {e}"))
}

impl Drop for SqliteWorker<'_> {
    fn drop(&mut self) {
        // What the policy left uncommitted (every:N after its last sync) is committed
        // now, as the harness's own sync before the read-back; a failed commit leaves
        // those rows without their newest value, which the check then counts.
        if self.in_tx {
            let _ = self.conn.execute_batch("COMMIT");
            self.in_tx = false;
        }
        if let Some(c) = self.collected {
            c.add(&self.written);
        }
    }
}

impl Worker for SqliteWorker<'_> {
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
        let gen = self.written.key_gen(key);
        let diff = rows::check_value(v, key, rows::gen_tag(self.tag, gen), self.all);
        Ok(self.written.fold(offset, self.block, self.tag, diff))
    }

    fn write(&mut self, offset: u64, _data: &[u8]) -> Result<(), OpError> {
        let key = self.keys.key(offset);
        let gen = self.written.next_key_gen(key)?;
        rows::fill_value(&mut self.value, key, rows::gen_tag(self.tag, gen));
        if self.transactions && !self.in_tx {
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| write_error("BEGIN IMMEDIATE before the UPDATE", Some(key), e))?;
            self.in_tx = true;
        }
        let n = self
            .conn
            .prepare_cached(UPDATE)
            .map_err(|e| OpError(format!("sqlite: preparing the UPDATE failed: {e}")))?
            .execute(rusqlite::params![&self.value[..], key as i64])
            .map_err(|e| write_error("UPDATE", Some(key), e))?;
        if n != 1 {
            return Err(OpError(format!(
                "sqlite: the UPDATE of key {key} changed {n} rows instead of 1"
            )));
        }
        self.written.wrote(key, gen, offset);
        Ok(())
    }

    fn sync(&mut self, _method: SyncMethod) -> Result<(), OpError> {
        if self.in_tx {
            self.in_tx = false;
            self.conn
                .execute_batch("COMMIT")
                .map_err(|e| write_error("COMMIT", None, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datafile::database::{prepare, Engine};
    use crate::datafile::Origin;

    fn set(conn: &Connection, key: u64, tag: u64) {
        let mut v = vec![0u8; rows::VALUE_LEN];
        rows::fill_value(&mut v, key, tag);
        conn.execute(UPDATE, rusqlite::params![&v[..], key as i64])
            .unwrap();
    }

    #[test]
    fn the_read_back_finds_stale_and_corrupted_rows_and_restores() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            crate::spec::Workload::parse("size = \"1MiB\"\nblock = \"4KiB\"", "t", "t").unwrap();
        w.data_dir = dir.path().to_path_buf();
        let db = prepare(
            Engine::Sqlite,
            &w,
            dir.path(),
            Origin::Generated,
            &crate::ui::Quiet,
        )
        .unwrap();
        let tag = db.target.verify_tag.unwrap();
        {
            let conn = Connection::open(&db.target.path).unwrap();
            // Key 5: its 2nd generation, as claimed. Key 6: claimed written, never was
            // (a lost write). Key 7: a corrupted byte in its claimed generation.
            set(&conn, 5, rows::gen_tag(tag, 2));
            set(&conn, 7, rows::gen_tag(tag, 1));
            let mut v: Vec<u8> = conn.query_row(LOOKUP, [7i64], |r| r.get(0)).unwrap();
            v[500] ^= 0x10;
            conn.execute(UPDATE, rusqlite::params![&v[..], 7i64])
                .unwrap();
        }
        let chk = check_and_restore(&db, &[(5, 2), (6, 1), (7, 1)], tag);
        let c = chk.checked.unwrap();
        assert_eq!((c.pages, c.errors, c.first_bad), (3, 2, Some(6)));
        assert_eq!(chk.restored, Ok(3));
        // Everything is back as generated (and checks clean against generation 0).
        let again = check_and_restore(&db, &[(5, 0), (6, 0), (7, 0)], tag);
        assert_eq!(again.checked.unwrap().errors, 0);
        // And back in rollback-journal mode: a read-only connection opens it.
        let ro = connect(
            &db,
            &SqliteOptions {
                mmap: 0,
                cache: 1 << 20,
            },
        )
        .unwrap();
        let mode: String = ro
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
    }

    #[test]
    fn a_wrong_row_changes_the_fold() {
        let mut wr = Written::default();
        let (off, block, tag) = (8192, 4096, 99);
        assert_eq!(
            wr.fold(off, block, tag, 0),
            crate::datafile::page::expected_fold(off, block, tag)
        );
        assert_ne!(wr.fold(off, block, tag, 1), wr.fold(off, block, tag, 0));
        wr.wrote(3, 1, off);
        assert_eq!(wr.key_gen(3), 1);
        assert_eq!(wr.next_key_gen(3).unwrap(), 2);
        assert_eq!(
            wr.fold(off, block, tag, 0),
            crate::datafile::page::expected_fold_gen(off, block, tag, 1)
        );
    }
}
