//! Finding and reading run.json files named on the command line: a result directory,
//! a run.json path, or a directory that holds result directories (all of them are read,
//! e.g. the rounds of scripts/ci-bench.sh).

use crate::record::{RecordError, RunRecord};
use std::path::{Path, PathBuf};

/// Why the run.json files named on the command line cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot access it; give a result directory (results/<workload>/<time>-<host>/) or its run.json", .0.display())]
    Access(PathBuf, #[source] std::io::Error),
    #[error("cannot read the directory {}", .0.display())]
    ReadDir(PathBuf, #[source] std::io::Error),
    #[error("{}: holds no run.json; give a result directory (results/<workload>/<time>-<host>/), its run.json, or a directory of result directories", .0.display())]
    NoRuns(PathBuf),
    #[error("cannot read {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    #[error("{}: not a faultline run.json (give the run.json that `faultline run` wrote)", .0.display())]
    NotARun(PathBuf, #[source] RecordError),
}

type Result<T> = std::result::Result<T, LoadError>;

/// How deep to look for run.json below a directory that is not itself a result.
const MAX_DEPTH: usize = 4;

/// One run.json, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub record: RunRecord,
}

/// Read the records `path` names. A directory without run.json is searched (up to
/// four levels; hidden directories, such as a run still being written, are skipped).
pub fn load(path: &Path) -> Result<Vec<Loaded>> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::Access(path.into(), e))?;
    let files = if meta.is_file() {
        vec![path.to_path_buf()]
    } else {
        let mut found = Vec::new();
        find_runs(path, 0, &mut found).map_err(|e| LoadError::ReadDir(path.into(), e))?;
        if found.is_empty() {
            return Err(LoadError::NoRuns(path.into()));
        }
        found.sort();
        found
    };
    files.into_iter().map(|p| read_one(&p)).collect()
}

/// Read every path in order; the records keep that order.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Loaded>> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(load(p)?);
    }
    Ok(out)
}

fn read_one(path: &Path) -> Result<Loaded> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read(path.into(), e))?;
    let record = RunRecord::from_json(&text).map_err(|e| LoadError::NotARun(path.into(), e))?;
    Ok(Loaded {
        path: path.to_path_buf(),
        record,
    })
}

fn find_runs(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let direct = dir.join("run.json");
    if direct.is_file() {
        found.push(direct);
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.file_type()?.is_dir() {
            find_runs(&entry.path(), depth + 1, found)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_result_dirs_and_files_and_explains_failures() {
        let d = tempfile::tempdir().unwrap();
        let rec = crate::record::tests::sample_record();
        let json = rec.to_json().unwrap();
        for sub in ["a/r1", "a/r2", "a/.r3.tmp-1"] {
            std::fs::create_dir_all(d.path().join(sub)).unwrap();
            std::fs::write(d.path().join(sub).join("run.json"), &json).unwrap();
        }
        let all = load(&d.path().join("a")).unwrap();
        assert_eq!(all.len(), 2, "hidden (unfinished) runs are skipped");
        assert!(all[0].path.ends_with("r1/run.json"));
        assert_eq!(load(&d.path().join("a/r2")).unwrap().len(), 1);
        assert_eq!(load(&d.path().join("a/r2/run.json")).unwrap().len(), 1);

        std::fs::create_dir_all(d.path().join("empty")).unwrap();
        let e = load(&d.path().join("empty")).unwrap_err();
        assert!(format!("{e:#}").contains("holds no run.json"), "{e:#}");
        let e = load(&d.path().join("missing")).unwrap_err();
        assert!(format!("{e:#}").contains("cannot access"), "{e:#}");
        std::fs::write(d.path().join("bad.json"), "{\"x\": 1}").unwrap();
        let e = load(&d.path().join("bad.json")).unwrap_err();
        assert!(
            format!("{e:#}").contains("not a faultline run.json"),
            "{e:#}"
        );
    }
}
