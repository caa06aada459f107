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
        !matches!(self.kind, BackendKind::Direct)
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
    fn rejects_unknown() {
        assert!(BackendSpec::parse("mmapp").is_err());
        assert!(BackendSpec::parse("direct:qd=4").is_err());
        assert!(BackendSpec::parse("mmap:advice=dontneed").is_err());
    }
}
