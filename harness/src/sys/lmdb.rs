//! Opening an LMDB environment (heed). LMDB maps its database file; heed marks the
//! open `unsafe` because the mapping is undefined behaviour if the file is changed
//! under it, and the flag setter because MDB_NOLOCK leaves concurrency to the caller.

use std::path::Path;

/// How an environment is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LmdbOpen {
    /// To build a new database file at a `.partial` path (one writer, this thread).
    Build,
    /// To read a finished database; `nordahead` sets MDB_NORDAHEAD (LMDB then advises
    /// its mapping MADV_RANDOM).
    Read { nordahead: bool },
    /// To read and write a finished database (a write workload): with its lock table,
    /// MDB_NOSYNC (a commit does not flush; the caller syncs with `mdb_env_sync` at its
    /// sync policy's points), MDB_NORDAHEAD as for reading.
    Write { nordahead: bool },
}

/// Open the environment stored in the one file `path` (MDB_NOSUBDIR) with a map of
/// `map_size` bytes, for reading transactions without thread-local reader slots.
pub fn open_env(
    path: &Path,
    map_size: usize,
    how: LmdbOpen,
) -> heed::Result<heed::Env<heed::WithoutTls>> {
    let mut o = heed::EnvOpenOptions::new().read_txn_without_tls();
    o.map_size(map_size).max_dbs(1).max_readers(4096);
    let mut flags = heed::EnvFlags::NO_SUB_DIR;
    match how {
        LmdbOpen::Build => {}
        LmdbOpen::Read { nordahead } => {
            flags |= heed::EnvFlags::READ_ONLY | heed::EnvFlags::NO_LOCK;
            if nordahead {
                flags |= heed::EnvFlags::NO_READ_AHEAD;
            }
        }
        LmdbOpen::Write { nordahead } => {
            flags |= heed::EnvFlags::NO_SYNC;
            if nordahead {
                flags |= heed::EnvFlags::NO_READ_AHEAD;
            }
        }
    }
    // SAFETY: MDB_NOLOCK is set only on read-only environments (MDB_RDONLY) of a
    // database file this harness finished building: no process writes it while it is
    // open (the builder holds the creation lock and writes a `.partial` file that is
    // renamed into place only when complete), so readers need no lock table. A write
    // environment keeps its lock table. MDB_NOSYNC only drops the flush at commit (a
    // crash may lose or tear the last commits; nothing here survives a crash): the
    // writer calls mdb_env_sync at its sync points and before the read-back.
    unsafe {
        o.flags(flags);
    }
    // SAFETY: the file is one this harness built: while it is mapped nobody modifies
    // or truncates it (readers open it read-only; the builder is the only writer of
    // its `.partial` file, and holds the creation lock until it is renamed). heed
    // itself guards against the same path being opened twice at once in this process.
    unsafe { o.open(path) }
}
