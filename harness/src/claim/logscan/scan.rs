//! The four ways to count the lines containing ERROR, each run in a child process
//! (`faultline claim logscan --variant V --file F`), and what the child reports.

use super::Variant;
use crate::claim::loggen::{Counts, NEEDLE};
use crate::sys;
use anyhow::{Context, Result};
use memchr::memmem;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

/// Buffer of the bufreader-memmem variant.
pub const BIG_BUF: usize = 1 << 20;

/// What a child prints: counts, the scan time, and its memory at the end of the scan
/// (while the data is still held).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildReport {
    pub variant: Variant,
    pub bytes: u64,
    pub lines: u64,
    pub count: u64,
    /// From opening the file to releasing the buffer or mapping.
    pub elapsed_ns: u64,
    /// VmRSS before opening the file (the program itself).
    pub rss_before_bytes: Option<u64>,
    /// VmHWM, RssAnon and RssFile at the end of the scan, data still held.
    pub hwm_bytes: Option<u64>,
    pub rss_anon_bytes: Option<u64>,
    pub rss_file_bytes: Option<u64>,
}

/// Count lines (a final line without newline counts) and lines containing the needle,
/// one memmem search per line.
pub fn count_lines(buf: &[u8], finder: &memmem::Finder) -> Counts {
    let mut c = Counts::default();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', buf) {
        c.lines += 1;
        if finder.find(&buf[start..nl]).is_some() {
            c.error_lines += 1;
        }
        start = nl + 1;
    }
    if start < buf.len() {
        c.lines += 1;
        if finder.find(&buf[start..]).is_some() {
            c.error_lines += 1;
        }
    }
    c
}

struct Snapshot {
    hwm: Option<u64>,
    anon: Option<u64>,
    file: Option<u64>,
}

fn snapshot() -> Snapshot {
    let s = crate::claim::self_status_bytes();
    Snapshot {
        hwm: s.get("VmHWM").copied(),
        anon: s.get("RssAnon").copied(),
        file: s.get("RssFile").copied(),
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

/// The naive version: a String per line, UTF-8 validated, searched with str::contains.
fn scan_lines(path: &Path) -> Result<(Counts, Snapshot)> {
    let r = BufReader::new(open(path)?);
    let mut c = Counts::default();
    for line in r.lines() {
        let line = line.with_context(|| format!("reading {} line by line", path.display()))?;
        c.lines += 1;
        if line.contains("ERROR") {
            c.error_lines += 1;
        }
    }
    Ok((c, snapshot()))
}

/// fill_buf over a large buffer; a line split across two fills is carried in one
/// reused Vec.
fn scan_bufreader_memmem(path: &Path) -> Result<(Counts, Snapshot)> {
    let mut r = BufReader::with_capacity(BIG_BUF, open(path)?);
    let finder = memmem::Finder::new(NEEDLE);
    let mut c = Counts::default();
    let mut carry: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let buf = r
            .fill_buf()
            .with_context(|| format!("reading {}", path.display()))?;
        let n = buf.len();
        if n == 0 {
            break;
        }
        match memchr::memrchr(b'\n', buf) {
            None => carry.extend_from_slice(buf),
            Some(last) => {
                let mut start = 0;
                if !carry.is_empty() {
                    let first = memchr::memchr(b'\n', buf).unwrap_or(last);
                    carry.extend_from_slice(&buf[..first]);
                    c.lines += 1;
                    if finder.find(&carry).is_some() {
                        c.error_lines += 1;
                    }
                    carry.clear();
                    start = first + 1;
                }
                if start <= last {
                    c += count_lines(&buf[start..=last], &finder);
                }
                carry.extend_from_slice(&buf[last + 1..]);
            }
        }
        r.consume(n);
    }
    if !carry.is_empty() {
        c.lines += 1;
        if finder.find(&carry).is_some() {
            c.error_lines += 1;
        }
    }
    Ok((c, snapshot()))
}

fn scan_read_all(path: &Path) -> Result<(Counts, Snapshot)> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let c = count_lines(&data, &memmem::Finder::new(NEEDLE));
    let s = snapshot();
    drop(data);
    Ok((c, s))
}

fn scan_mmap(path: &Path) -> Result<(Counts, Snapshot)> {
    let f = open(path)?;
    let len = f.metadata()?.len() as usize;
    if len == 0 {
        return Ok((Counts::default(), snapshot()));
    }
    let map = sys::map_readonly(&f, len, false)
        .with_context(|| format!("cannot map {}", path.display()))?;
    map.advise(memmap2::Advice::Sequential)
        .context("madvise(MADV_SEQUENTIAL) failed")?;
    let c = count_lines(&map, &memmem::Finder::new(NEEDLE));
    let s = snapshot();
    drop(map);
    Ok((c, s))
}

/// Scan `path` with `v` in this process.
pub fn scan(v: Variant, path: &Path) -> Result<ChildReport> {
    let before = crate::claim::self_status_bytes().get("VmRSS").copied();
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("cannot access {}", path.display()))?
        .len();
    let t0 = Instant::now();
    let (c, s) = match v {
        Variant::BufreaderLines => scan_lines(path)?,
        Variant::BufreaderMemmem => scan_bufreader_memmem(path)?,
        Variant::ReadAll => scan_read_all(path)?,
        Variant::Mmap => scan_mmap(path)?,
    };
    let elapsed_ns = t0.elapsed().as_nanos() as u64;
    Ok(ChildReport {
        variant: v,
        bytes,
        lines: c.lines,
        count: c.error_lines,
        elapsed_ns,
        rss_before_bytes: before,
        hwm_bytes: s.hwm,
        rss_anon_bytes: s.anon,
        rss_file_bytes: s.file,
    })
}
