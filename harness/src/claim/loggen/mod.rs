//! The generated log of the logscan claim: realistic timestamped text lines of varying
//! length, about 1% of them containing `ERROR`, produced by a deterministic PRNG so
//! the exact number of matching lines is known before any variant runs.
//!
//! The file is generated in independent chunks of `CHUNK` bytes (each seeded by its
//! index, each ending with a newline), so generation runs in parallel and any chunk can
//! be regenerated to check an existing file. Like the data file, it is created once in
//! the data directory, named after its size and content tag, and reused; its line
//! counts are stored beside it in a small JSON file.

mod text;

pub use text::generate_chunk;

use crate::datafile::page::mix;
use crate::ui::Reporter;
use crate::{sys, units};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Changes whenever the generated text changes, so old files are not reused.
pub const FORMAT_VERSION: u64 = 1;
/// Bytes per independently generated chunk.
pub const CHUNK: usize = 4 << 20;
/// The longest generated line, newline included.
pub const MAX_LINE: usize = 1200;
/// The shortest filler line that closes a chunk.
const MIN_FILL: usize = 96;
/// The substring the scanners count lines with.
pub const NEEDLE: &[u8] = b"ERROR";
/// Maximum gap between two lines' timestamps (microseconds).
const MAX_GAP_US: u64 = 1000;
/// Every line is at least this long, so a chunk has at most CHUNK / MIN_LINE lines.
const MIN_LINE: u64 = 40;
/// Time span reserved for one chunk: timestamps increase across chunk boundaries.
const CHUNK_SPAN_US: u64 = (CHUNK as u64 / MIN_LINE) * MAX_GAP_US;
/// 2026-01-01T00:00:00Z in microseconds since the Unix epoch.
const BASE_US: u64 = 1_767_225_600 * 1_000_000;

/// The content tag of a log with this seed.
pub fn log_tag(seed: u64) -> u64 {
    mix(seed ^ mix(FORMAT_VERSION.wrapping_add(0x6c6f_6773_6361_6e00)))
}

/// Lines in a chunk and how many of them contain `ERROR`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub lines: u64,
    pub error_lines: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.lines += o.lines;
        self.error_lines += o.error_lines;
    }
}

/// Check a requested log size: a whole number of 4 KiB pages.
pub fn check_size(size: u64) -> Result<()> {
    if size < 4096 || !size.is_multiple_of(4096) {
        bail!(
            "--size {}: the log size must be a multiple of 4KiB and at least 4KiB, e.g. 64MiB or 2GiB",
            units::format_size(size)
        );
    }
    Ok(())
}

fn chunks(size: u64) -> u64 {
    size.div_ceil(CHUNK as u64)
}

fn chunk_len(size: u64, index: u64) -> usize {
    (size - index * CHUNK as u64).min(CHUNK as u64) as usize
}

/// What is stored beside the log: its identity and its exact counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMeta {
    pub format_version: u64,
    pub size: u64,
    pub seed: u64,
    pub tag: u64,
    pub chunk: u64,
    pub lines: u64,
    pub error_lines: u64,
}

/// A generated log ready to scan.
#[derive(Debug, Clone, Serialize)]
pub struct LogFile {
    pub path: PathBuf,
    pub size: u64,
    pub seed: u64,
    pub tag: u64,
    /// Lines in the file and lines containing ERROR, known from generation.
    pub lines: u64,
    pub error_lines: u64,
    /// True when this run created the file (false: reused).
    pub created: bool,
    pub create_secs: Option<f64>,
}

pub fn file_name(size: u64, tag: u64) -> String {
    format!(
        "faultline-log-{}-{:016x}.log",
        units::format_size(size),
        tag
    )
}

fn meta_path(log: &Path) -> PathBuf {
    log.with_extension("log.json")
}

/// The log of `size` bytes for `seed` in `dir`: reused when present and intact,
/// created otherwise.
pub fn prepare(dir: &Path, size: u64, seed: u64, ui: &dyn Reporter) -> Result<LogFile> {
    check_size(size)?;
    let tag = log_tag(seed);
    crate::datafile::create_data_dir(dir)?;
    let path = dir.join(file_name(size, tag));
    if path.exists() {
        let meta = check_existing(&path, size, seed, tag)?;
        return Ok(LogFile {
            path,
            size,
            seed,
            tag,
            lines: meta.lines,
            error_lines: meta.error_lines,
            created: false,
            create_secs: None,
        });
    }
    let t0 = Instant::now();
    let counts = create(&path, size, seed, tag, ui)?;
    Ok(LogFile {
        path,
        size,
        seed,
        tag,
        lines: counts.lines,
        error_lines: counts.error_lines,
        created: true,
        create_secs: Some(t0.elapsed().as_secs_f64()),
    })
}

/// An existing log must have its metadata, the right size, and the right bytes in
/// the first, a middle and the last chunk (regenerated and compared).
fn check_existing(path: &Path, size: u64, seed: u64, tag: u64) -> Result<LogMeta> {
    let damaged = |why: String| {
        anyhow::anyhow!(
            "log {} exists but {why}; it is damaged or not from this faultline version: delete it (and {}) to have it created again",
            path.display(),
            meta_path(path).display()
        )
    };
    let mp = meta_path(path);
    let text = std::fs::read_to_string(&mp).map_err(|e| {
        damaged(format!(
            "its counts file {} cannot be read ({e})",
            mp.display()
        ))
    })?;
    let meta: LogMeta = serde_json::from_str(&text)
        .map_err(|e| damaged(format!("its counts file is not valid ({e})")))?;
    let want = (FORMAT_VERSION, size, seed, tag, CHUNK as u64);
    if (
        meta.format_version,
        meta.size,
        meta.seed,
        meta.tag,
        meta.chunk,
    ) != want
    {
        return Err(damaged("its counts file describes another log".into()));
    }
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata()?.len();
    if len != size {
        return Err(damaged(format!("holds {len} bytes instead of {size}")));
    }
    let n = chunks(size);
    let mut want = Vec::new();
    let mut got = Vec::new();
    let mut idx = vec![0, n / 2, n - 1];
    idx.dedup();
    for i in idx {
        let l = chunk_len(size, i);
        generate_chunk(tag, i, l, &mut want);
        got.resize(l, 0);
        f.read_exact_at(&mut got, i * CHUNK as u64)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if got != want {
            return Err(damaged(format!(
                "chunk {i} does not hold the expected text"
            )));
        }
    }
    Ok(meta)
}

/// Generate the log into `<name>.partial` in parallel, fsync, drop it from the page
/// cache, write the counts file, rename both into place. Partial files are removed on
/// error or interruption.
fn create(path: &Path, size: u64, seed: u64, tag: u64, ui: &dyn Reporter) -> Result<Counts> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let free = sys::free_space(parent).unwrap_or(u64::MAX);
    if free < size {
        bail!(
            "not enough space for the log in {}: it needs {} and {} is free; use --data-dir on a larger file system or a smaller --size",
            parent.display(),
            units::format_size(size),
            units::format_size(free)
        );
    }
    let partial = path.with_extension("log.partial");
    let meta_partial = path.with_extension("log.json.partial");
    for p in [&partial, &meta_partial] {
        if p.exists() {
            bail!(
                "{} is left over from an interrupted creation; delete it and run again",
                p.display()
            );
        }
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let result = fill(&file, &partial, size, tag, ui).and_then(|counts| {
        let meta = LogMeta {
            format_version: FORMAT_VERSION,
            size,
            seed,
            tag,
            chunk: CHUNK as u64,
            lines: counts.lines,
            error_lines: counts.error_lines,
        };
        let mut m = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&meta_partial)
            .with_context(|| format!("cannot create {}", meta_partial.display()))?;
        std::io::Write::write_all(&mut m, serde_json::to_string_pretty(&meta)?.as_bytes())?;
        m.sync_all()?;
        std::fs::rename(&partial, path)
            .with_context(|| format!("cannot rename {} into place", partial.display()))?;
        std::fs::rename(&meta_partial, meta_path(path))
            .with_context(|| format!("cannot rename {} into place", meta_partial.display()))?;
        Ok(counts)
    });
    match result {
        Ok(c) => {
            if let Ok(d) = File::open(parent) {
                let _ = d.sync_all();
            }
            Ok(c)
        }
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(&partial);
            let _ = std::fs::remove_file(&meta_partial);
            // A log renamed into place without its counts file would be refused later;
            // remove it too.
            if !meta_path(path).exists() {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}

/// Generate the log into `file` with the data file's fill routine (chunk `i` of the log
/// is fill chunk `i`: both are `CHUNK` bytes), counting its lines.
fn fill(file: &File, path: &Path, size: u64, tag: u64, ui: &dyn Reporter) -> Result<Counts> {
    const _: () = assert!(CHUNK == crate::datafile::FILL_CHUNK);
    let lines = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    crate::datafile::preallocate(file, path, size)?;
    crate::datafile::fill(file, path, size, "the log", ui, |off, buf| {
        let mut text = Vec::with_capacity(buf.len());
        let c = generate_chunk(tag, off / CHUNK as u64, buf.len(), &mut text);
        buf.copy_from_slice(&text);
        lines.fetch_add(c.lines, Ordering::Relaxed);
        errors.fetch_add(c.error_lines, Ordering::Relaxed);
        Ok(())
    })?;
    Ok(Counts {
        lines: lines.load(Ordering::Relaxed),
        error_lines: errors.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::text::push_timestamp;
    use super::*;

    /// Count independently of the generator's bookkeeping: split the text into lines
    /// with std and search with str::contains.
    fn naive(text: &[u8]) -> Counts {
        let s = std::str::from_utf8(text).expect("the log is valid UTF-8");
        let mut c = Counts::default();
        for l in s.lines() {
            c.lines += 1;
            if l.contains("ERROR") {
                c.error_lines += 1;
            }
        }
        c
    }

    #[test]
    fn chunk_counts_match_a_naive_scan() {
        let tag = log_tag(7);
        let mut buf = Vec::new();
        let mut total = Counts::default();
        for i in 0..3 {
            let c = generate_chunk(tag, i, CHUNK, &mut buf);
            assert_eq!(buf.len(), CHUNK);
            assert_eq!(*buf.last().unwrap(), b'\n');
            assert_eq!(naive(&buf), c, "chunk {i}");
            total += c;
        }
        // About 1% of lines contain ERROR.
        let frac = total.error_lines as f64 / total.lines as f64;
        assert!((0.007..0.013).contains(&frac), "{frac} of {total:?}");
    }

    #[test]
    fn lines_vary_in_length_and_respect_the_bounds() {
        let mut buf = Vec::new();
        generate_chunk(log_tag(1), 0, CHUNK, &mut buf);
        let lens: Vec<usize> = buf
            .split_inclusive(|&b| b == b'\n')
            .map(|l| l.len())
            .collect();
        let min = *lens.iter().min().unwrap();
        let max = *lens.iter().max().unwrap();
        assert!(min >= MIN_LINE as usize, "{min}");
        assert!(max <= MAX_LINE, "{max}");
        assert!(max > 500, "some long lines: {max}");
        let mean = buf.len() as f64 / lens.len() as f64;
        assert!((80.0..250.0).contains(&mean), "mean line {mean}");
        // Lower-case "error" occurs (errors=...), and must not be counted.
        assert!(memchr::memmem::find(&buf, b"errors=").is_some());
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        generate_chunk(log_tag(3), 5, 8192, &mut a);
        generate_chunk(log_tag(3), 5, 8192, &mut b);
        generate_chunk(log_tag(4), 5, 8192, &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 8192);
    }

    #[test]
    fn small_chunks_end_exactly() {
        let mut buf = Vec::new();
        for len in [4096usize, 4096 + 8, 5000, 12288, 1300 + 96] {
            let c = generate_chunk(log_tag(2), 0, len, &mut buf);
            assert_eq!(buf.len(), len);
            assert_eq!(naive(&buf), c, "len {len}");
        }
    }

    #[test]
    fn timestamps_are_civil_and_increase() {
        let mut v = Vec::new();
        push_timestamp(&mut v, BASE_US);
        assert_eq!(
            std::str::from_utf8(&v).unwrap(),
            "2026-01-01T00:00:00.000000Z"
        );
        v.clear();
        // 2028-02-29T12:34:56.789012Z
        push_timestamp(&mut v, 1_835_440_496_789_012);
        assert_eq!(
            std::str::from_utf8(&v).unwrap(),
            "2028-02-29T12:34:56.789012Z"
        );
        // Chunk k's last timestamp is before chunk k+1's first.
        let mut a = Vec::new();
        let mut b = Vec::new();
        generate_chunk(log_tag(1), 0, CHUNK, &mut a);
        generate_chunk(log_tag(1), 1, 8192, &mut b);
        let last = a[..a.len() - 1]
            .rsplit(|&c| c == b'\n')
            .next()
            .unwrap()
            .get(..27)
            .unwrap()
            .to_vec();
        assert!(last < b[..27].to_vec());
    }

    #[test]
    fn generated_log_is_pinned() {
        // The log is reused when its name matches, so its bytes must never change
        // without a new FORMAT_VERSION: this pins them (more than one chunk).
        let d = tempfile::tempdir().unwrap();
        let log = prepare(d.path(), CHUNK as u64 + 8192, 3, &crate::ui::Quiet).unwrap();
        let h = crate::datafile::tests::fnv64(&std::fs::read(&log.path).unwrap());
        assert_eq!(h, 0xa1f0_cd90_9e31_695d, "{h:#018x}");
        assert_eq!((log.lines, log.error_lines), (28899, 287));
    }

    #[test]
    fn file_is_created_reused_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let size = CHUNK as u64 + 8192;
        let a = prepare(d.path(), size, 11, &crate::ui::Quiet).unwrap();
        assert!(a.created);
        let text = std::fs::read(&a.path).unwrap();
        assert_eq!(text.len() as u64, size);
        let c = naive(&text);
        assert_eq!((c.lines, c.error_lines), (a.lines, a.error_lines));
        let b = prepare(d.path(), size, 11, &crate::ui::Quiet).unwrap();
        assert!(!b.created);
        assert_eq!((b.lines, b.error_lines), (a.lines, a.error_lines));
        // Damage the last chunk: refused with advice.
        let f = OpenOptions::new().write(true).open(&a.path).unwrap();
        f.write_all_at(b"X", size - 10).unwrap();
        drop(f);
        let e = prepare(d.path(), size, 11, &crate::ui::Quiet)
            .unwrap_err()
            .to_string();
        assert!(e.contains("delete it"), "{e}");
        assert!(check_size(5000).is_err());
        assert!(check_size(0).is_err());
    }
}
