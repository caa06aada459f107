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
        summary: "io_uring reads (io-uring crate) with qd operations in flight per thread; \
                  latency is submit-to-completion",
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
                  O_DIRECT reads; one page = one block",
        options: &[
            OptInfo {
                name: "pool",
                form: OptForm::Value("SIZE"),
                help: "bytes of page frames (default: the workload's page_cache_limit, else 1/4 of the file), at least 2 blocks per \
                       thread",
            },
            OptInfo {
                name: "io",
                form: OptForm::Choice(BUFFERPOOL_IO),
                help: "how a miss reads its page: pread (O_DIRECT pread(2), the default)",
            },
        ],
    },
];

/// How the buffer pool reads a missing page. Only `pread`: its workers handle one
/// operation at a time, so io_uring would be pread with extra steps (see README).
pub const BUFFERPOOL_IO: &[&str] = &["pread"];

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
    Uring(UringOptions),
    Bufferpool(BufferpoolOptions),
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
                BackendKind::Bufferpool(BufferpoolOptions { pool })
            }
            other => return Err(format!("backend `{other}` is listed but not built")),
        };
        Ok(BackendSpec {
            name: text.trim().to_string(),
            kind,
        })
    }

    /// True when the backend reads through the page cache or a mapping of it, so a cold
    /// start (dropping the file's cached pages) changes what it measures.
    pub fn uses_page_cache(&self) -> bool {
        !matches!(
            self.kind,
            BackendKind::Direct
                | BackendKind::Bufferpool(_)
                | BackendKind::Uring(UringOptions { direct: true, .. })
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
    fn rejects_unknown() {
        assert!(BackendSpec::parse("mmapp").is_err());
        assert!(BackendSpec::parse("direct:qd=4").is_err());
        assert!(BackendSpec::parse("mmap:advice=dontneed").is_err());
    }
}
