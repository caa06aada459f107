//! Backend spec strings (`pread`, `direct`, `mmap:advice=random,populate`): the table of
//! kinds and options, and the typed form each backend is built from. The string as the
//! user wrote it (trimmed) is the backend's name in results and charts.

use super::options::{self, KindInfo, OptForm, OptInfo};
use crate::units;
use serde::Serialize;

pub const MMAP_ADVICE: &[&str] = &[
    "normal",
    "random",
    "sequential",
    "willneed",
    "hugepage",
    "nohugepage",
];

pub const HUGEPAGE_MODES: &[&str] = &["thp", "hugetlb", "anon-thp"];

pub const FIO_ENGINES: &[&str] = &["psync", "sync", "libaio", "io_uring", "mmap", "pvsync2"];

/// Highest `qd` a fio spec accepts (fio's own limit is far higher; this matches the
/// workload's `queue_depth` limit).
pub const FIO_MAX_QD: u32 = 4096;

pub const KINDS: &[KindInfo] = &[
    KindInfo {
        name: "pread",
        summary: "buffered pread(2) through the page cache into a private buffer",
        options: &[],
    },
    KindInfo {
        name: "direct",
        summary: "pread(2) on an O_DIRECT descriptor (bypasses the page cache); buffer and \
                  offsets aligned as the file system or device reports (statx DIO alignment, \
                  else the device's logical block size)",
        options: &[],
    },
    KindInfo {
        name: "mmap",
        summary: "read through a shared read-only mapping of the whole file (memmap2)",
        options: &[
            OptInfo {
                name: "advice",
                form: OptForm::Choice(MMAP_ADVICE),
                help: "madvise(2) applied to the whole mapping (default normal)",
            },
            OptInfo {
                name: "populate",
                form: OptForm::Flag,
                help: "MAP_POPULATE: fault the whole file in when mapping (not timed)",
            },
            OptInfo {
                name: "lock",
                form: OptForm::Flag,
                help: "mlock(2) the mapping before the run (needs RLIMIT_MEMLOCK or root)",
            },
            OptInfo {
                name: "prefault",
                form: OptForm::Flag,
                help: "touch one byte of every page before the run (not timed; see setup_ns)",
            },
        ],
    },
    KindInfo {
        name: "uring",
        summary: "io_uring reads and writes (io-uring crate) with qd operations in flight per \
                  thread, syncs as IORING_OP_FSYNC; latency is submit-to-completion",
        options: &[
            OptInfo {
                name: "qd",
                form: OptForm::Value("N"),
                help: "reads in flight per thread, 1..=4096 (default: the workload's queue_depth)",
            },
            OptInfo {
                name: "direct",
                form: OptForm::Flag,
                help: "O_DIRECT descriptor, aligned as the `direct` backend aligns",
            },
            OptInfo {
                name: "fixed",
                form: OptForm::Flag,
                help: "registered buffers, IORING_OP_READ_FIXED",
            },
            OptInfo {
                name: "regfile",
                form: OptForm::Flag,
                help: "registered file (IOSQE_FIXED_FILE)",
            },
            OptInfo {
                name: "sqpoll",
                form: OptForm::Flag,
                help: "IORING_SETUP_SQPOLL: a kernel thread polls the submission queue",
            },
            OptInfo {
                name: "sqpoll_idle",
                form: OptForm::Value("MS"),
                help: "with sqpoll: ms the kernel thread spins idle before it sleeps \
                       (default 1000)",
            },
            OptInfo {
                name: "batch",
                form: OptForm::Value("N"),
                help: "submit once N reads are queued, 1..=qd (default 1: submit each)",
            },
        ],
    },
    KindInfo {
        name: "bufferpool",
        summary: "a DBMS-style user-space page cache (clock eviction, lock-free hits) over \
                  O_DIRECT reads; one page = one block; writes dirty frames, written back \
                  on eviction and at each sync",
        options: &[
            OptInfo {
                name: "pool",
                form: OptForm::Value("SIZE"),
                help: "bytes of page frames (default: the workload's page_cache_limit, else 1/4 of the file), at least 2 blocks per \
                       thread",
            },
            OptInfo {
                name: "prefault",
                form: OptForm::Flag,
                help: "read the first pool-size worth of blocks into the pool before the run \
                       (not timed; see setup_ns): a pool as large as the file starts with every \
                       block resident",
            },
            OptInfo {
                name: "io",
                form: OptForm::Choice(BUFFERPOOL_IO),
                help: "how a miss reads its page: pread (O_DIRECT pread(2), the default)",
            },
        ],
    },
    KindInfo {
        name: "vmcache",
        summary: "a buffer manager after vmcache (Leis et al., SIGMOD 2023): one anonymous \
                  virtual region the size of the data, a state word per page (hits by address \
                  arithmetic, optimistic reads), misses read with O_DIRECT pread(2) straight \
                  into the page's address, clock eviction in batches released with one \
                  MADV_DONTNEED call; writes dirty pages, written back on eviction and at each \
                  sync. exmap (vmcache's kernel module) is not available: it is an out-of-tree \
                  module, not part of Linux",
        options: &[
            OptInfo {
                name: "pool",
                form: OptForm::Value("SIZE"),
                help: "memory budget (default: the workload's page_cache_limit, else 1/4 of the \
                       file), at least 2 blocks per thread",
            },
            OptInfo {
                name: "batch",
                form: OptForm::Value("N"),
                help: "pages evicted per batch, 1..=65536 (default 64; at most half the pool)",
            },
            OptInfo {
                name: "io",
                form: OptForm::Choice(VMCACHE_IO),
                help: "how a miss reads its page: pread (O_DIRECT pread(2), the default); uring \
                       is refused: a worker has one miss in flight at a time",
            },
            OptInfo {
                name: "release",
                form: OptForm::Choice(VMCACHE_RELEASE),
                help: "how a batch's memory goes back: process_madvise (default: one call per \
                       batch, Linux 6.13+; else madvise, noted) or madvise (one call per run of \
                       adjacent pages)",
            },
        ],
    },
    KindInfo {
        name: "hugepage",
        summary: "huge pages, to isolate the TLB's share: `thp` maps the file with \
                  MADV_HUGEPAGE + MADV_COLLAPSE; `hugetlb` and `anon-thp` copy the file into \
                  anonymous memory backed by 2 MiB pages at open (untimed) and read it from \
                  there. Every run notes the bytes really mapped with huge pages",
        options: &[
            OptInfo {
                name: "mode",
                form: OptForm::Choice(HUGEPAGE_MODES),
                help: "thp (default): file mapping + MADV_HUGEPAGE/MADV_COLLAPSE; hugetlb: \
                       MAP_HUGETLB copy from the reserved pool; anon-thp: anonymous copy + \
                       MADV_HUGEPAGE/MADV_COLLAPSE",
            },
            OptInfo {
                name: "reserve",
                form: OptForm::Flag,
                help: "hugetlb only: raise vm.nr_hugepages to what the file needs (root) and \
                       restore the old value afterwards",
            },
            OptInfo {
                name: "nocollapse",
                form: OptForm::Flag,
                help: "thp/anon-thp: skip MADV_COLLAPSE (huge pages only from the fault path \
                       and khugepaged; with thp a cold start stays cold)",
            },
        ],
    },
    KindInfo {
        name: "fio",
        summary: "external reference: runs fio (--output-format=json+) with the same file, \
                  block, pattern, threads (numjobs), duration and warm-up, and records its \
                  latency bins, totals and per-interval IOPS log in the same form",
        options: &[
            OptInfo {
                name: "engine",
                form: OptForm::Choice(FIO_ENGINES),
                help: "fio ioengine (default psync)",
            },
            OptInfo {
                name: "direct",
                form: OptForm::Flag,
                help: "direct=1 (O_DIRECT; not with the mmap engine)",
            },
            OptInfo {
                name: "qd",
                form: OptForm::Value("N"),
                help: "iodepth per job for libaio/io_uring (default: the workload's queue_depth)",
            },
        ],
    },
    KindInfo {
        name: "sqlite",
        summary: "a real engine: one point lookup by primary key per operation in an SQLite \
                  database the harness generates beside the data file (rusqlite, bundled \
                  SQLite; one read-only connection per thread); the block index picks the key",
        options: &[
            OptInfo {
                name: "mmap",
                form: OptForm::Value("SIZE"),
                help: "PRAGMA mmap_size: bytes SQLite reads through a mapping (default 0: \
                       xRead, i.e. pread(2), into its own page cache)",
            },
            OptInfo {
                name: "cache",
                form: OptForm::Value("SIZE"),
                help: "PRAGMA cache_size: SQLite's own page cache per connection (default 2MiB)",
            },
        ],
    },
    KindInfo {
        name: "lmdb",
        summary: "a real engine that always reads through mmap: one point lookup by key per \
                  operation in an LMDB database the harness generates beside the data file \
                  (heed, vendored LMDB; one read transaction per lookup)",
        options: &[OptInfo {
            name: "nordahead",
            form: OptForm::Flag,
            help: "MDB_NORDAHEAD: LMDB advises its mapping MADV_RANDOM (no fault read-around)",
        }],
    },
    KindInfo {
        name: "mock",
        summary: "for tests: no I/O. Each operation returns the fold a correct read would \
                  (so verification passes) after an optional busy-wait; errors, skips and \
                  slow operations on demand. Exercises the runner without a device",
        options: &[
            OptInfo {
                name: "latency",
                form: OptForm::Value("DURATION"),
                help: "busy-wait this long in every operation, e.g. 2us (default 0)",
            },
            OptInfo {
                name: "qd",
                form: OptForm::Value("N"),
                help: "operations in flight per thread, 1..=4096, completed in order \
                       (default 1: synchronous)",
            },
            OptInfo {
                name: "fail_at",
                form: OptForm::Value("N"),
                help: "each worker's Nth operation (counting the warm-up) fails",
            },
            OptInfo {
                name: "corrupt_at",
                form: OptForm::Value("N"),
                help: "each worker's Nth operation returns the wrong bytes",
            },
            OptInfo {
                name: "stall_every",
                form: OptForm::Value("N"),
                help: "every Nth operation of a worker is slow, as if it waited for a fault",
            },
            OptInfo {
                name: "stall",
                form: OptForm::Value("DURATION"),
                help: "how long a stalled operation busy-waits (default 1ms)",
            },
            OptInfo {
                name: "skip",
                form: OptForm::Value("REASON"),
                help: "refuse to open, as a backend this machine cannot run: status skipped",
            },
            OptInfo {
                name: "fail_open",
                form: OptForm::Value("REASON"),
                help: "fail to open: status failed",
            },
        ],
    },
];

/// How the buffer pool reads a missing page. Only `pread`: its workers handle one
/// operation at a time, so io_uring would be pread with extra steps (see README).
pub const BUFFERPOOL_IO: &[&str] = &["pread"];

/// How vmcache reads a missing page (`uring` is refused with the reason).
pub const VMCACHE_IO: &[&str] = &["pread", "uring"];

/// How vmcache gives an evicted batch's memory back.
pub const VMCACHE_RELEASE: &[&str] = &["process_madvise", "madvise"];

/// vmcache's default eviction batch (the paper's public code uses 64).
pub const VMCACHE_DEFAULT_BATCH: u32 = 64;

/// Default `sqpoll_idle` of the `uring` backend, ms.
pub const DEFAULT_SQPOLL_IDLE_MS: u32 = 1000;

/// A validated backend spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendSpec {
    /// The spec string, trimmed: the backend's name everywhere.
    pub name: String,
    #[serde(flatten)]
    pub kind: BackendKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BackendKind {
    Pread,
    Direct,
    Mmap(MmapOptions),
    Hugepage(HugepageOptions),
    Fio(FioOptions),
    Uring(UringOptions),
    Bufferpool(BufferpoolOptions),
    Vmcache(VmcacheOptions),
    Sqlite(SqliteOptions),
    Lmdb(LmdbOptions),
    Mock(MockOptions),
}

/// Default `cache` of the `sqlite` backend: SQLite's own default (2000 KiB), rounded.
pub const DEFAULT_SQLITE_CACHE: u64 = 2 * units::MIB;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqliteOptions {
    /// PRAGMA mmap_size in bytes (0: no mapping, reads with xRead).
    pub mmap: u64,
    /// PRAGMA cache_size in bytes.
    pub cache: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LmdbOptions {
    /// MDB_NORDAHEAD: madvise(MADV_RANDOM) on LMDB's mapping.
    pub nordahead: bool,
}

impl BackendKind {
    /// The real engines (sqlite, lmdb) read a database the harness generates, not the
    /// data file.
    pub fn is_engine(&self) -> bool {
        matches!(self, BackendKind::Sqlite(_) | BackendKind::Lmdb(_))
    }
}

/// The `mock` backend's behaviour (for tests; see `backend::mock`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MockOptions {
    /// Busy-wait per operation, ns.
    pub latency_ns: u64,
    /// Operations in flight per worker (1: synchronous `read`).
    pub qd: u32,
    /// Each worker's Nth operation (1-based, warm-up included) returns an error.
    pub fail_at: Option<u64>,
    /// Each worker's Nth operation returns a wrong fold.
    pub corrupt_at: Option<u64>,
    /// Every Nth operation of a worker busy-waits `stall_ns` more.
    pub stall_every: Option<u64>,
    pub stall_ns: u64,
    /// Open returns "unavailable" with this reason (status skipped).
    pub skip: Option<String>,
    /// Open fails with this reason (status failed).
    pub fail_open: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UringOptions {
    /// Reads in flight per thread; None = the workload's queue_depth.
    pub qd: Option<u32>,
    pub direct: bool,
    pub fixed: bool,
    pub regfile: bool,
    /// Some(idle ms) with `sqpoll`.
    pub sqpoll_idle_ms: Option<u32>,
    /// Submit once this many reads are queued.
    pub batch: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BufferpoolOptions {
    /// Bytes of frames; None = a quarter of the file.
    pub pool: Option<u64>,
    /// Read the blocks that fit into the pool before the run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub prefault: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VmcacheOptions {
    /// Memory budget in bytes; None = the workload's page_cache_limit, else 1/4 of the file.
    pub pool: Option<u64>,
    /// Pages evicted per batch.
    pub batch: u32,
    pub release: VmcacheRelease,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VmcacheRelease {
    ProcessMadvise,
    Madvise,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MmapOptions {
    pub advice: MmapAdvice,
    pub populate: bool,
    pub lock: bool,
    pub prefault: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MmapAdvice {
    Normal,
    Random,
    Sequential,
    Willneed,
    Hugepage,
    Nohugepage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HugepageMode {
    /// The file's own mapping with MADV_HUGEPAGE (+ MADV_COLLAPSE).
    Thp,
    /// An anonymous MAP_HUGETLB copy of the file (2 MiB pages from the reserved pool).
    Hugetlb,
    /// An anonymous copy with MADV_HUGEPAGE (+ MADV_COLLAPSE).
    AnonThp,
}

impl HugepageMode {
    pub fn as_str(self) -> &'static str {
        match self {
            HugepageMode::Thp => "thp",
            HugepageMode::Hugetlb => "hugetlb",
            HugepageMode::AnonThp => "anon-thp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HugepageOptions {
    pub mode: HugepageMode,
    /// hugetlb: raise vm.nr_hugepages for the run and restore it afterwards.
    pub reserve: bool,
    /// thp/anon-thp: apply MADV_COLLAPSE after MADV_HUGEPAGE.
    pub collapse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FioEngine {
    Psync,
    Sync,
    Libaio,
    IoUring,
    Mmap,
    Pvsync2,
}

impl FioEngine {
    /// The name fio knows the engine by.
    pub fn as_str(self) -> &'static str {
        match self {
            FioEngine::Psync => "psync",
            FioEngine::Sync => "sync",
            FioEngine::Libaio => "libaio",
            FioEngine::IoUring => "io_uring",
            FioEngine::Mmap => "mmap",
            FioEngine::Pvsync2 => "pvsync2",
        }
    }

    /// Engines that keep several I/Os in flight per job (iodepth applies).
    pub fn is_async(self) -> bool {
        matches!(self, FioEngine::Libaio | FioEngine::IoUring)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FioOptions {
    pub engine: FioEngine,
    pub direct: bool,
    /// iodepth per job; None: the workload's queue_depth (async engines only).
    pub qd: Option<u32>,
}

impl BackendSpec {
    pub fn parse(text: &str) -> Result<BackendSpec, String> {
        let o = options::parse(text, KINDS, "backend")?;
        let kind = match o.kind.as_str() {
            "pread" => BackendKind::Pread,
            "direct" => BackendKind::Direct,
            "mmap" => {
                let advice = match o.value("advice").unwrap_or("normal") {
                    "normal" => MmapAdvice::Normal,
                    "random" => MmapAdvice::Random,
                    "sequential" => MmapAdvice::Sequential,
                    "willneed" => MmapAdvice::Willneed,
                    "hugepage" => MmapAdvice::Hugepage,
                    "nohugepage" => MmapAdvice::Nohugepage,
                    other => return Err(format!("unknown mmap advice `{other}`")),
                };
                BackendKind::Mmap(MmapOptions {
                    advice,
                    populate: o.flag("populate"),
                    lock: o.flag("lock"),
                    prefault: o.flag("prefault"),
                })
            }
            "uring" => BackendKind::Uring(parse_uring(&o)?),
            "mock" => BackendKind::Mock(parse_mock(&o)?),
            "vmcache" => BackendKind::Vmcache(parse_vmcache(&o)?),
            "bufferpool" => {
                let pool = match o.value("pool") {
                    None => None,
                    Some(v) => {
                        let n = units::parse_size(v).map_err(|e| format!("pool={v}: {e}"))?;
                        if n == 0 {
                            return Err("pool=0: the buffer pool needs at least one frame".into());
                        }
                        Some(n)
                    }
                };
                BackendKind::Bufferpool(BufferpoolOptions {
                    pool,
                    prefault: o.flag("prefault"),
                })
            }
            "sqlite" => {
                let size = |key: &str, default: u64| match o.value(key) {
                    None => Ok(default),
                    Some(v) => units::parse_size(v).map_err(|e| format!("{key}={v}: {e}")),
                };
                let cache = size("cache", DEFAULT_SQLITE_CACHE)?;
                if cache < 64 * 1024 {
                    return Err(format!(
                        "cache={}: SQLite's page cache needs at least 64KiB (16 pages of 4 KiB)",
                        o.value("cache").unwrap_or_default()
                    ));
                }
                BackendKind::Sqlite(SqliteOptions {
                    mmap: size("mmap", 0)?,
                    cache,
                })
            }
            "lmdb" => BackendKind::Lmdb(LmdbOptions {
                nordahead: o.flag("nordahead"),
            }),
            "hugepage" => {
                let mode = match o.value("mode").unwrap_or("thp") {
                    "thp" => HugepageMode::Thp,
                    "hugetlb" => HugepageMode::Hugetlb,
                    "anon-thp" => HugepageMode::AnonThp,
                    other => return Err(format!("unknown hugepage mode `{other}`")),
                };
                let reserve = o.flag("reserve");
                let nocollapse = o.flag("nocollapse");
                if reserve && mode != HugepageMode::Hugetlb {
                    return Err(format!(
                        "`reserve` applies to `hugepage:mode=hugetlb` only (the hugetlb pool); \
                         mode={} takes transparent huge pages as they come",
                        mode.as_str()
                    ));
                }
                if nocollapse && mode == HugepageMode::Hugetlb {
                    return Err(
                        "`nocollapse` applies to mode=thp and mode=anon-thp; hugetlb pages are \
                         always huge"
                            .into(),
                    );
                }
                BackendKind::Hugepage(HugepageOptions {
                    mode,
                    reserve,
                    collapse: !nocollapse,
                })
            }
            "fio" => {
                let engine = match o.value("engine").unwrap_or("psync") {
                    "psync" => FioEngine::Psync,
                    "sync" => FioEngine::Sync,
                    "libaio" => FioEngine::Libaio,
                    "io_uring" => FioEngine::IoUring,
                    "mmap" => FioEngine::Mmap,
                    "pvsync2" => FioEngine::Pvsync2,
                    other => return Err(format!("unknown fio engine `{other}`")),
                };
                let direct = o.flag("direct");
                if direct && engine == FioEngine::Mmap {
                    return Err(
                        "`direct` does not apply to fio's mmap engine (a mapping always goes \
                         through the page cache)"
                            .into(),
                    );
                }
                let qd = match o.value("qd") {
                    None => None,
                    Some(v) => {
                        let n = v
                            .parse::<u32>()
                            .ok()
                            .filter(|n| (1..=FIO_MAX_QD).contains(n))
                            .ok_or_else(|| {
                                format!("qd=`{v}` must be a whole number from 1 to {FIO_MAX_QD}")
                            })?;
                        if !engine.is_async() {
                            return Err(format!(
                                "qd={n} needs an asynchronous fio engine (engine=libaio or \
                                 engine=io_uring); engine={} keeps one I/O in flight per job",
                                engine.as_str()
                            ));
                        }
                        Some(n)
                    }
                };
                BackendKind::Fio(FioOptions { engine, direct, qd })
            }
            other => return Err(format!("backend `{other}` is listed but not built")),
        };
        Ok(BackendSpec {
            name: text.trim().to_string(),
            kind,
        })
    }

    /// True when the backend reads through the page cache or a mapping of it, so a cold
    /// start (dropping the file's cached pages) changes what it measures and a
    /// page-cache limit applies to it. False for O_DIRECT readers and for backends that
    /// hold the data in their own anonymous memory (buffer pool, hugepage hugetlb and
    /// anon-thp): inside a page-cache cgroup that memory would be charged and could be
    /// OOM-killed.
    pub fn uses_page_cache(&self) -> bool {
        !matches!(
            self.kind,
            BackendKind::Direct
                | BackendKind::Bufferpool(_)
                | BackendKind::Vmcache(_)
                | BackendKind::Mock(_)
                | BackendKind::Uring(UringOptions { direct: true, .. })
                | BackendKind::Fio(FioOptions { direct: true, .. })
                | BackendKind::Hugepage(HugepageOptions {
                    mode: HugepageMode::Hugetlb | HugepageMode::AnonThp,
                    ..
                })
        )
    }
}

fn parse_count(o: &options::OptString, key: &str, max: u64) -> Result<Option<u32>, String> {
    let Some(v) = o.value(key) else {
        return Ok(None);
    };
    match v.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(Some(n as u32)),
        _ => Err(format!(
            "{key}={v}: expected a whole number from 1 to {max}"
        )),
    }
}

fn parse_vmcache(o: &options::OptString) -> Result<VmcacheOptions, String> {
    let pool = match o.value("pool") {
        None => None,
        Some(v) => {
            let n = units::parse_size(v).map_err(|e| format!("pool={v}: {e}"))?;
            if n == 0 {
                return Err(
                    "pool=0: vmcache needs a budget of at least one page per thread".into(),
                );
            }
            Some(n)
        }
    };
    let batch = parse_count(o, "batch", 65536)?.unwrap_or(VMCACHE_DEFAULT_BATCH);
    if o.value("io") == Some("uring") {
        return Err(
            "vmcache:io=uring is not offered: a vmcache worker has one miss in flight at a time \
             (the runner's workers are synchronous), so io_uring would be pread with extra steps; \
             use io=pread (the default)"
                .into(),
        );
    }
    let release = match o.value("release").unwrap_or("process_madvise") {
        "process_madvise" => VmcacheRelease::ProcessMadvise,
        "madvise" => VmcacheRelease::Madvise,
        other => return Err(format!("unknown vmcache release `{other}`")),
    };
    Ok(VmcacheOptions {
        pool,
        batch,
        release,
    })
}

fn parse_uring(o: &options::OptString) -> Result<UringOptions, String> {
    let qd = parse_count(o, "qd", super::MAX_QUEUE_DEPTH)?;
    let batch = parse_count(o, "batch", super::MAX_QUEUE_DEPTH)?.unwrap_or(1);
    if let Some(q) = qd {
        if batch > q {
            return Err(format!(
                "batch={batch} is larger than qd={q}: a batch could never fill; use batch <= qd"
            ));
        }
    }
    let sqpoll = o.flag("sqpoll");
    let sqpoll_idle_ms = match (sqpoll, o.value("sqpoll_idle")) {
        (false, None) => None,
        (false, Some(_)) => {
            return Err("sqpoll_idle is the idle time of the SQPOLL thread; add `sqpoll`".into())
        }
        (true, None) => Some(DEFAULT_SQPOLL_IDLE_MS),
        (true, Some(v)) => Some(v.parse::<u32>().map_err(|_| {
            format!(
                "sqpoll_idle={v}: expected milliseconds as a whole number, e.g. sqpoll_idle=1000"
            )
        })?),
    };
    Ok(UringOptions {
        qd,
        direct: o.flag("direct"),
        fixed: o.flag("fixed"),
        regfile: o.flag("regfile"),
        sqpoll_idle_ms,
        batch,
    })
}

fn parse_mock(o: &options::OptString) -> Result<MockOptions, String> {
    let duration = |key: &str, default: u64| match o.value(key) {
        None => Ok(default),
        Some(v) => units::parse_duration(v)
            .map(|d| d.as_nanos() as u64)
            .map_err(|e| format!("{key}={v}: {e}")),
    };
    let stall_every = parse_count(o, "stall_every", u64::from(u32::MAX))?.map(u64::from);
    if o.value("stall").is_some() && stall_every.is_none() {
        return Err("stall is how long every Nth operation waits; add stall_every=N".into());
    }
    Ok(MockOptions {
        latency_ns: duration("latency", 0)?,
        qd: parse_count(o, "qd", super::MAX_QUEUE_DEPTH)?.unwrap_or(1),
        fail_at: parse_count(o, "fail_at", u64::from(u32::MAX))?.map(u64::from),
        corrupt_at: parse_count(o, "corrupt_at", u64::from(u32::MAX))?.map(u64::from),
        stall_every,
        stall_ns: duration("stall", 1_000_000)?,
        skip: o.value("skip").map(str::to_string),
        fail_open: o.value("fail_open").map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        assert_eq!(
            BackendSpec::parse("pread").unwrap().kind,
            BackendKind::Pread
        );
        assert_eq!(
            BackendSpec::parse("direct").unwrap().kind,
            BackendKind::Direct
        );
        let m = BackendSpec::parse("mmap:advice=random,populate").unwrap();
        assert_eq!(m.name, "mmap:advice=random,populate");
        assert_eq!(
            m.kind,
            BackendKind::Mmap(MmapOptions {
                advice: MmapAdvice::Random,
                populate: true,
                lock: false,
                prefault: false
            })
        );
        let m = BackendSpec::parse("mmap").unwrap();
        assert!(matches!(
            m.kind,
            BackendKind::Mmap(MmapOptions {
                advice: MmapAdvice::Normal,
                ..
            })
        ));
        for a in MMAP_ADVICE {
            BackendSpec::parse(&format!("mmap:advice={a}")).unwrap();
        }
    }

    #[test]
    fn parses_uring_options() {
        let u = |t: &str| match BackendSpec::parse(t).unwrap().kind {
            BackendKind::Uring(o) => o,
            k => panic!("{k:?}"),
        };
        assert_eq!(
            u("uring"),
            UringOptions {
                qd: None,
                direct: false,
                fixed: false,
                regfile: false,
                sqpoll_idle_ms: None,
                batch: 1
            }
        );
        assert_eq!(
            u("uring:qd=32,direct,fixed,regfile,batch=8"),
            UringOptions {
                qd: Some(32),
                direct: true,
                fixed: true,
                regfile: true,
                sqpoll_idle_ms: None,
                batch: 8
            }
        );
        assert_eq!(
            u("uring:sqpoll").sqpoll_idle_ms,
            Some(DEFAULT_SQPOLL_IDLE_MS)
        );
        assert_eq!(u("uring:sqpoll,sqpoll_idle=5").sqpoll_idle_ms, Some(5));
        assert!(BackendSpec::parse("uring").unwrap().uses_page_cache());
        assert!(!BackendSpec::parse("hugepage:mode=anon-thp")
            .unwrap()
            .uses_page_cache());
        assert!(BackendSpec::parse("hugepage:mode=thp")
            .unwrap()
            .uses_page_cache());
        assert!(!BackendSpec::parse("uring:direct")
            .unwrap()
            .uses_page_cache());
        for bad in [
            "uring:qd=0",
            "uring:qd=4097",
            "uring:qd=x",
            "uring:qd=4,batch=8",
            "uring:batch=0",
            "uring:sqpoll_idle=10",
            "uring:sqpoll,sqpoll_idle=1s",
            "uring:direct=1",
        ] {
            assert!(BackendSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_vmcache_options() {
        let b = |s: &str| match BackendSpec::parse(s).unwrap().kind {
            BackendKind::Vmcache(o) => o,
            k => panic!("{k:?}"),
        };
        assert_eq!(b("vmcache").pool, None);
        assert_eq!(b("vmcache").batch, 64);
        assert_eq!(b("vmcache").release, VmcacheRelease::ProcessMadvise);
        let o = b("vmcache:pool=1MiB,batch=8,io=pread,release=madvise");
        assert_eq!(
            (o.pool, o.batch, o.release),
            (Some(1 << 20), 8, VmcacheRelease::Madvise)
        );
        assert!(!BackendSpec::parse("vmcache").unwrap().uses_page_cache());
        for bad in [
            "vmcache:pool=0",
            "vmcache:batch=0",
            "vmcache:batch=x",
            "vmcache:io=uring",
            "vmcache:io=aio",
            "vmcache:release=never",
        ] {
            let e = BackendSpec::parse(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(BackendSpec::parse("vmcache:io=uring")
            .unwrap_err()
            .contains("one miss in flight"));
    }

    #[test]
    fn parses_bufferpool_options() {
        let b = |t: &str| match BackendSpec::parse(t).unwrap().kind {
            BackendKind::Bufferpool(o) => o,
            k => panic!("{k:?}"),
        };
        assert_eq!(b("bufferpool").pool, None);
        assert_eq!(b("bufferpool:pool=1MiB").pool, Some(1 << 20));
        assert_eq!(b("bufferpool:pool=256MiB,io=pread").pool, Some(256 << 20));
        assert!(!BackendSpec::parse("bufferpool").unwrap().uses_page_cache());
        for bad in [
            "bufferpool:pool=0",
            "bufferpool:pool=1MB",
            "bufferpool:io=uring",
        ] {
            assert!(BackendSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_mock_options() {
        let m = |t: &str| match BackendSpec::parse(t).unwrap().kind {
            BackendKind::Mock(o) => o,
            k => panic!("{k:?}"),
        };
        assert_eq!(
            m("mock"),
            MockOptions {
                qd: 1,
                stall_ns: 1_000_000,
                ..MockOptions::default()
            }
        );
        let o = m("mock:latency=2us,qd=4,fail_at=10,corrupt_at=3,stall_every=5,stall=50us");
        assert_eq!(
            (o.latency_ns, o.qd, o.fail_at, o.corrupt_at),
            (2000, 4, Some(10), Some(3))
        );
        assert_eq!((o.stall_every, o.stall_ns), (Some(5), 50_000));
        let o = m("mock:skip=no such device");
        assert_eq!(o.skip.as_deref(), Some("no such device"));
        assert_eq!(
            m("mock:fail_open=broken").fail_open.as_deref(),
            Some("broken")
        );
        assert!(!BackendSpec::parse("mock").unwrap().uses_page_cache());
        for bad in [
            "mock:latency=2",
            "mock:qd=0",
            "mock:fail_at=0",
            "mock:stall=1ms",
        ] {
            assert!(BackendSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_engines() {
        let s = |t: &str| match BackendSpec::parse(t).unwrap().kind {
            BackendKind::Sqlite(o) => o,
            k => panic!("{k:?}"),
        };
        assert_eq!(
            s("sqlite"),
            SqliteOptions {
                mmap: 0,
                cache: DEFAULT_SQLITE_CACHE
            }
        );
        assert_eq!(s("sqlite:mmap=1GiB,cache=8MiB").mmap, 1 << 30);
        assert_eq!(s("sqlite:mmap=1GiB,cache=8MiB").cache, 8 << 20);
        let l = BackendSpec::parse("lmdb:nordahead").unwrap();
        assert_eq!(l.kind, BackendKind::Lmdb(LmdbOptions { nordahead: true }));
        assert!(l.kind.is_engine() && l.uses_page_cache());
        assert!(BackendSpec::parse("sqlite").unwrap().uses_page_cache());
        assert!(!BackendSpec::parse("mmap").unwrap().kind.is_engine());
        for bad in [
            "sqlite:mmap=x",
            "sqlite:cache=1KiB",
            "sqlite:wal",
            "lmdb:nordahead=1",
            "lmdb:mmap=1GiB",
        ] {
            assert!(BackendSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_unknown() {
        assert!(BackendSpec::parse("mmapp").is_err());
        assert!(BackendSpec::parse("direct:qd=4").is_err());
        assert!(BackendSpec::parse("mmap:advice=dontneed").is_err());
    }
    #[test]
    fn parses_hugepage_and_fio() {
        let h = BackendSpec::parse("hugepage").unwrap();
        assert_eq!(
            h.kind,
            BackendKind::Hugepage(HugepageOptions {
                mode: HugepageMode::Thp,
                reserve: false,
                collapse: true
            })
        );
        let h = BackendSpec::parse("hugepage:mode=hugetlb,reserve").unwrap();
        assert_eq!(
            h.kind,
            BackendKind::Hugepage(HugepageOptions {
                mode: HugepageMode::Hugetlb,
                reserve: true,
                collapse: true
            })
        );
        let h = BackendSpec::parse("hugepage:mode=anon-thp,nocollapse").unwrap();
        assert!(matches!(
            h.kind,
            BackendKind::Hugepage(HugepageOptions {
                mode: HugepageMode::AnonThp,
                collapse: false,
                ..
            })
        ));
        for m in HUGEPAGE_MODES {
            BackendSpec::parse(&format!("hugepage:mode={m}")).unwrap();
        }
        let f = BackendSpec::parse("fio").unwrap();
        assert_eq!(
            f.kind,
            BackendKind::Fio(FioOptions {
                engine: FioEngine::Psync,
                direct: false,
                qd: None
            })
        );
        assert!(f.uses_page_cache());
        let f = BackendSpec::parse("fio:engine=libaio,qd=8,direct").unwrap();
        assert_eq!(
            f.kind,
            BackendKind::Fio(FioOptions {
                engine: FioEngine::Libaio,
                direct: true,
                qd: Some(8)
            })
        );
        assert!(!f.uses_page_cache());
        for e in FIO_ENGINES {
            let f = BackendSpec::parse(&format!("fio:engine={e}")).unwrap();
            let BackendKind::Fio(o) = f.kind else {
                panic!("{e}")
            };
            assert_eq!(o.engine.as_str(), *e);
        }
    }

    #[test]
    fn rejects_misplaced_hugepage_and_fio_options() {
        let e = BackendSpec::parse("hugepage:mode=thp,reserve").unwrap_err();
        assert!(e.contains("mode=hugetlb"), "{e}");
        assert!(BackendSpec::parse("hugepage:mode=hugetlb,nocollapse").is_err());
        assert!(BackendSpec::parse("hugepage:mode=giant").is_err());
        let e = BackendSpec::parse("fio:engine=psync,qd=8").unwrap_err();
        assert!(e.contains("asynchronous"), "{e}");
        assert!(BackendSpec::parse("fio:engine=io_uring,qd=0").is_err());
        assert!(BackendSpec::parse("fio:engine=io_uring,qd=x").is_err());
        assert!(BackendSpec::parse("fio:engine=mmap,direct").is_err());
        assert!(BackendSpec::parse("fio:engine=posixaio").is_err());
    }
}
