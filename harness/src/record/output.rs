//! Result directories. A run's files are written into a temporary directory beside the
//! final one, each fsynced, then the directory is renamed into place: a result is never
//! overwritten, and a crash mid-write leaves earlier results intact.

use super::{hgrm, hlog, RecordError, RunRecord};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a result directory cannot be reserved, written or moved into place.
#[derive(Debug, thiserror::Error)]
pub enum ResultDirError {
    #[error("--out {}: already exists; faultline never overwrites results, give a new directory", .0.display())]
    Exists(PathBuf),
    #[error("cannot create the result directory {}; choose another with --out", .path.display())]
    CreateParent {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write in {}; choose another place with --out", .path.display())]
    CreateTemp {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {verb} {}", .path.display())]
    File {
        verb: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} appeared while the run was going; the result stays in {}", .dest.display(), .tmp.display())]
    Appeared { dest: PathBuf, tmp: PathBuf },
    #[error("cannot move the result into {}; it stays in {}", .dest.display(), .tmp.display())]
    Move {
        dest: PathBuf,
        tmp: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Record(#[from] RecordError),
}

type Result<T> = std::result::Result<T, ResultDirError>;

/// A reserved result directory. Until something is written into it, dropping it
/// removes the temporary directory (nothing was measured); once written, the temporary
/// directory stays where `commit` failed or was never reached, so no measurement is lost.
pub struct ResultDir {
    final_path: PathBuf,
    tmp: PathBuf,
    /// Remove `tmp` on drop: true until the first file is written.
    empty: std::cell::Cell<bool>,
}

impl Drop for ResultDir {
    fn drop(&mut self) {
        if self.empty.get() {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// `2026-11-21T220531Z`: sortable, no characters that trouble shells or other systems.
pub fn stamp(rfc3339: &str) -> String {
    rfc3339.replace(':', "")
}

impl ResultDir {
    /// Decide where the result goes and create the temporary directory now, so that an
    /// unwritable destination fails before anything is measured.
    pub fn reserve(
        out: Option<&Path>,
        workload: &str,
        started_at: &str,
        host: &str,
    ) -> Result<ResultDir> {
        Self::reserve_under(out, Path::new("results"), workload, started_at, host)
    }

    /// As `reserve`, with the default location `<base>/<name>/<UTC time>-<host>/`.
    pub fn reserve_under(
        out: Option<&Path>,
        base: &Path,
        name: &str,
        started_at: &str,
        host: &str,
    ) -> Result<ResultDir> {
        let final_path = match out {
            Some(p) => {
                if p.exists() {
                    let empty = p.is_dir()
                        && fs::read_dir(p)
                            .map(|mut d| d.next().is_none())
                            .unwrap_or(false);
                    if !empty {
                        return Err(ResultDirError::Exists(p.to_path_buf()));
                    }
                }
                p.to_path_buf()
            }
            None => {
                let base = base.join(sanitize(name));
                let name = format!("{}-{}", stamp(started_at), sanitize(host));
                let mut p = base.join(&name);
                let mut n = 2;
                while p.exists() {
                    p = base.join(format!("{name}-{n}"));
                    n += 1;
                }
                p
            }
        };
        let parent = final_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        fs::create_dir_all(&parent).map_err(|source| ResultDirError::CreateParent {
            path: parent.clone(),
            source,
        })?;
        let leaf = final_path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "result".into());
        let tmp = parent.join(format!(".{leaf}.tmp-{}", std::process::id()));
        fs::create_dir(&tmp).map_err(|source| ResultDirError::CreateTemp {
            path: parent.clone(),
            source,
        })?;
        Ok(ResultDir {
            final_path,
            tmp,
            empty: std::cell::Cell::new(true),
        })
    }

    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// The names of the files written so far, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.tmp)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.empty.set(false);
        let p = self.tmp.join(name);
        let fail = |verb| {
            let path = p.clone();
            move |source| ResultDirError::File { verb, path, source }
        };
        let mut f = File::create(&p).map_err(fail("create"))?;
        f.write_all(bytes).map_err(fail("write"))?;
        f.sync_all().map_err(fail("flush"))?;
        Ok(())
    }

    /// Rename the finished directory into place.
    pub fn commit(self) -> Result<PathBuf> {
        self.empty.set(false);
        File::open(&self.tmp).and_then(|d| d.sync_all()).ok();
        if self.final_path.exists() {
            // Only an empty directory given with --out can be here (checked in reserve);
            // rename(2) replaces an empty directory atomically.
            let empty = fs::read_dir(&self.final_path)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !empty {
                return Err(ResultDirError::Appeared {
                    dest: self.final_path.clone(),
                    tmp: self.tmp.clone(),
                });
            }
        }
        fs::rename(&self.tmp, &self.final_path).map_err(|source| ResultDirError::Move {
            dest: self.final_path.clone(),
            tmp: self.tmp.clone(),
            source,
        })?;
        if let Some(parent) = self.final_path.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            File::open(parent).and_then(|d| d.sync_all()).ok();
        }
        Ok(self.final_path.clone())
    }
}

/// A name safe as a single path component: backend specs keep `=` and `,`.
pub fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.=,".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        format!("_{out}")
    } else {
        out
    }
}

/// The .hgrm file name of one backend result.
pub fn hgrm_name(name: &str, threads: usize, repeat: u32, with_repeat: bool) -> String {
    if with_repeat {
        format!("{}.t{}.r{}.hgrm", sanitize(name), threads, repeat + 1)
    } else {
        format!("{}.t{}.hgrm", sanitize(name), threads)
    }
}

/// Write run.json, timeseries.csv, one .hgrm per measured backend cell and one interval
/// log (.hlog) per backend with per-interval histograms.
pub fn write_all(dir: &ResultDir, r: &RunRecord) -> Result<()> {
    dir.write_file("run.json", r.to_json()?.as_bytes())?;
    dir.write_file("timeseries.csv", super::csv::timeseries_csv(r).as_bytes())?;
    let with_repeat = r.backends.iter().any(|b| b.repeat > 0);
    for b in &r.backends {
        if let Some(h) = b.decode_histogram()? {
            let name = hgrm_name(&b.name, b.threads, b.repeat, with_repeat);
            dir.write_file(&name, hgrm::percentile_text(&h).as_bytes())?;
        }
    }
    for name in hlog::backends_with_intervals(r) {
        if let Some(bytes) = hlog::interval_log(r, name)? {
            dir.write_file(&hlog::hlog_name(name), &bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe() {
        assert_eq!(
            sanitize("mmap:advice=random,populate"),
            "mmap_advice=random,populate"
        );
        assert_eq!(sanitize("../x"), "_.._x");
        assert_eq!(hgrm_name("direct", 2, 0, false), "direct.t2.hgrm");
        assert_eq!(hgrm_name("direct", 2, 1, true), "direct.t2.r2.hgrm");
        assert_eq!(stamp("2026-11-21T22:05:31Z"), "2026-11-21T220531Z");
    }

    #[test]
    fn never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("r");
        let rd = ResultDir::reserve(Some(&out), "w", "2026-01-01T00:00:00Z", "h").unwrap();
        rd.write_file("run.json", b"{}").unwrap();
        assert!(!out.exists(), "nothing visible before commit");
        assert_eq!(rd.commit().unwrap(), out);
        assert_eq!(fs::read(out.join("run.json")).unwrap(), b"{}");
        let e = ResultDir::reserve(Some(&out), "w", "2026-01-01T00:00:00Z", "h")
            .err()
            .unwrap();
        assert!(e.to_string().contains("never overwrites"), "{e}");
        // An empty directory given with --out is fine.
        let empty = d.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let rd = ResultDir::reserve(Some(&empty), "w", "t", "h").unwrap();
        rd.write_file("a", b"1").unwrap();
        rd.commit().unwrap();
        assert!(empty.join("a").exists());
    }

    #[test]
    fn write_all_writes_every_file() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("r");
        let rd = ResultDir::reserve(Some(&out), "w", "t", "h").unwrap();
        let rec = crate::record::tests::sample_record();
        write_all(&rd, &rec).unwrap();
        rd.commit().unwrap();
        assert!(out.join("run.json").exists());
        assert!(out.join("timeseries.csv").exists());
        assert!(out.join("mmap_advice=random.t2.hgrm").exists());
        assert!(out.join("mmap_advice=random.hlog").exists());
        assert!(!out.join("direct.hlog").exists());
        assert!(
            !out.join("direct.t2.hgrm").exists(),
            "skipped backends have no histogram"
        );
    }
}
