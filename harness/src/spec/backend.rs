//! Backend spec strings (`pread`, `direct`, `mmap:advice=random,populate`): the table of
//! kinds and options, and the typed form each backend is built from. The string as the
//! user wrote it (trimmed) is the backend's name in results and charts.

use super::options::{self, KindInfo, OptForm, OptInfo};
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
];

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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MmapOptions {
    pub advice: MmapAdvice,
    pub populate: bool,
    pub lock: bool,
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
                })
            }
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
    /// start (dropping the file's cached pages) changes what it measures.
    pub fn uses_page_cache(&self) -> bool {
        !matches!(
            self.kind,
            BackendKind::Direct | BackendKind::Fio(FioOptions { direct: true, .. })
        )
    }
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
                lock: false
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

    #[test]
    fn rejects_unknown() {
        assert!(BackendSpec::parse("mmapp").is_err());
        assert!(BackendSpec::parse("direct:qd=4").is_err());
        assert!(BackendSpec::parse("mmap:advice=dontneed").is_err());
    }
}
