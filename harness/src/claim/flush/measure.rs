//! One variant of the flush claim: create its file, write records for the given time
//! under the flush policy, look at what the kernel wrote back on its own, make the rest
//! durable, and verify the file.

use super::book::{Book, Records};
use super::verify::verify;
use super::{FlushArgs, Method, ObservePoint, OdirectProbe, Policy, VariantResult, Writeback};
use crate::claim::pageflags::{self, PageStates};
use crate::datafile::page::mix;
use crate::record::{encode_histogram, latency_of, new_histogram};
use crate::{interrupt, sys};
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(super) fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// The kernel's writeback settings (/proc/sys/vm/dirty_*).
pub(super) fn vm_dirty_settings() -> BTreeMap<String, String> {
    let keys = [
        "dirty_expire_centisecs",
        "dirty_writeback_centisecs",
        "dirty_background_ratio",
        "dirty_background_bytes",
        "dirty_ratio",
        "dirty_bytes",
    ];
    keys.iter()
        .map(|k| {
            let v = std::fs::read_to_string(format!("/proc/sys/vm/{k}"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            (k.to_string(), v)
        })
        .collect()
}

fn vmstat() -> BTreeMap<String, u64> {
    std::fs::read_to_string("/proc/vmstat")
        .map(|t| crate::probe::parse::parse_vmstat(&t))
        .unwrap_or_default()
}

/// Whether page states can be read here: try on a page of our own.
pub(super) fn page_states_readable() -> Result<(), String> {
    let v = vec![1u8; 4096 * 2];
    let st = pageflags::states(v.as_ptr() as usize, 4096)?;
    std::hint::black_box(&v);
    if st.is_empty() {
        return Err("no page states".into());
    }
    Ok(())
}

/// Where a variant writes: a mapping or a descriptor.
enum Sink {
    Map(memmap2::MmapMut),
    Fd,
}

/// The result of a variant that has not run yet.
fn empty_result(
    method: Method,
    policy: Policy,
    repeat: u32,
    file: Option<PathBuf>,
) -> VariantResult {
    VariantResult {
        name: format!("{}/{}", method.name(), policy.name()),
        repeat,
        method,
        policy,
        ok: false,
        error: None,
        records: 0,
        bytes: 0,
        laps: 0,
        write_phase_ns: 0,
        final_flush_ns: 0,
        final_flush_needed: false,
        records_per_sec: 0.0,
        mib_per_sec: 0.0,
        records_per_sec_writing: 0.0,
        policy_flushes: 0,
        write_latency_ns: None,
        write_histogram: None,
        flush_latency_ns: None,
        flush_histogram: None,
        max_at_risk_bytes: 0,
        max_unflushed_age_ns: 0,
        writeback: Writeback::default(),
        verify: Default::default(),
        file,
    }
}

/// Run one variant in a new file of its own (`index` makes the name unique), removed
/// afterwards unless `--keep`.
pub(super) fn variant(
    a: &FlushArgs,
    dir: &Path,
    (policy, method): (Policy, Method),
    repeat: u32,
    index: u32,
) -> VariantResult {
    let name = format!("{}-{}", method.name(), policy.name());
    let path = dir.join(format!(
        "faultline-flush-{}-{:02}-{}.dat",
        std::process::id(),
        index,
        crate::record::output::sanitize(&name)
    ));
    let mut r = empty_result(method, policy, repeat, a.keep.then(|| path.clone()));
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()));
    let mut errors: Vec<String> = Vec::new();
    match created {
        Err(e) => errors.push(format!("{e:#}")),
        Ok(file) => {
            if let Err(e) = measure(a, &file, &path, &mut r) {
                errors.push(format!("{e:#}"));
            }
            drop(file);
            // Only a file this variant created is removed.
            if !a.keep {
                if let Err(e) = std::fs::remove_file(&path) {
                    errors.push(format!("cannot remove {}: {e}", path.display()));
                }
            }
        }
    }
    r.error = (!errors.is_empty()).then(|| errors.join("; "));
    r.ok = r.error.is_none() && r.verify.passed;
    r
}

/// What the writing phase leaves: the books, the records written, its time, and the
/// latency of every write (flush included) and of the flushes alone.
struct Written {
    book: Book,
    records: u64,
    elapsed: Duration,
    start: Instant,
    writes: Histogram<u64>,
    flushes: Histogram<u64>,
}

fn measure(a: &FlushArgs, file: &File, path: &Path, r: &mut VariantResult) -> Result<()> {
    let slots = a.size / a.record;
    // Allocate the blocks up front (both methods alike), and make the empty file
    // durable, so the measured flushes only write records.
    if sys::fallocate(file, a.size).is_err() {
        file.set_len(a.size)
            .with_context(|| format!("cannot size {}", path.display()))?;
    }
    file.sync_all()
        .with_context(|| format!("cannot fsync {}", path.display()))?;
    let records = Records::new(a.record as usize, run_tag(), slots);
    let mut sink = match r.method {
        Method::Mmap => Sink::Map(
            sys::shared_map::map_shared_mut(file, a.size as usize)
                .with_context(|| format!("cannot map {}", path.display()))?,
        ),
        Method::Pwrite => Sink::Fd,
    };
    let vm0 = vmstat();
    let mut w = write_phase(a, &mut sink, file, path, &records, r.policy)?;
    let n = w.records;
    r.policy_flushes = w.book.flushes;
    r.records = n;
    r.bytes = n * a.record;
    r.laps = n / slots;
    r.writeback = writeback(a, &sink, file, path, &w.book, r.policy, &vm0);
    // The final flush: everything written becomes durable.
    let mut final_flush = Duration::ZERO;
    if w.book.unflushed_bytes > 0 {
        let tf = Instant::now();
        flush(&sink, file, &w.book)?;
        final_flush = tf.elapsed();
        w.book.flushed(ns(w.start.elapsed()));
        r.final_flush_needed = true;
    }
    drop(sink);
    rates(r, &w, final_flush, a.record);
    if !w.writes.is_empty() {
        r.write_latency_ns = Some(latency_of(&w.writes));
        r.write_histogram = Some(encode_histogram(&w.writes)?);
    }
    if !w.flushes.is_empty() {
        r.flush_latency_ns = Some(latency_of(&w.flushes));
        r.flush_histogram = Some(encode_histogram(&w.flushes)?);
    }
    r.verify = verify(path, &records, slots, n)?;
    Ok(())
}

/// A tag unique to this variant's run: records from anything else fail the check.
fn run_tag() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    mix(std::process::id() as u64 ^ mix(now))
}

/// Throughput over the writing phase plus the final flush, and over writing alone.
fn rates(r: &mut VariantResult, w: &Written, final_flush: Duration, record: u64) {
    r.write_phase_ns = ns(w.elapsed);
    r.final_flush_ns = ns(final_flush);
    r.max_at_risk_bytes = w.book.max_at_risk_bytes;
    r.max_unflushed_age_ns = w.book.max_unflushed_age_ns;
    let n = w.records as f64;
    let total = (w.elapsed + final_flush).as_secs_f64();
    if total > 0.0 {
        r.records_per_sec = n / total;
        r.mib_per_sec = n * record as f64 / total / 1048576.0;
    }
    if w.elapsed.as_secs_f64() > 0.0 {
        r.records_per_sec_writing = n / w.elapsed.as_secs_f64();
    }
}

/// Append records round the ring for `--duration`, flushing when the policy says so.
fn write_phase(
    a: &FlushArgs,
    sink: &mut Sink,
    file: &File,
    path: &Path,
    records: &Records,
    policy: Policy,
) -> Result<Written> {
    let slots = a.size / a.record;
    let rlen = a.record as usize;
    let mut buf = vec![0u8; rlen];
    let (mut writes, mut flushes) = (new_histogram(), new_histogram());
    let start = Instant::now();
    let deadline = start + a.duration;
    let mut book = Book::new(policy, slots * a.record, 0);
    let mut n: u64 = 0;
    while !(n.is_multiple_of(64) && interrupt::requested()) && Instant::now() < deadline {
        records.build(n + 1, &mut buf);
        let off = (n % slots) * a.record;
        let t0 = Instant::now();
        match &mut *sink {
            Sink::Map(m) => m[off as usize..off as usize + rlen].copy_from_slice(&buf),
            Sink::Fd => file
                .write_all_at(&buf, off)
                .with_context(|| format!("pwrite to {}", path.display()))?,
        }
        let tw = Instant::now();
        let mut end = tw;
        if book.wrote(off, a.record, ns(tw - start)) {
            flush(sink, file, &book)?;
            end = Instant::now();
            flushes.saturating_record(ns(end - tw).max(1));
            book.flushed(ns(end - start));
        }
        writes.saturating_record(ns(end - t0).max(1));
        n += 1;
    }
    Ok(Written {
        book,
        records: n,
        elapsed: start.elapsed(),
        start,
        writes,
        flushes,
    })
}

/// A view of the variant's pages: the mapping written through (mmap), or a read-only
/// mapping of the same page cache (pwrite: reading a byte per page maps the cached page
/// without changing its dirty state).
struct PageView<'a> {
    base: usize,
    len: usize,
    touch: Option<&'a [u8]>,
}

impl PageView<'_> {
    /// The states of the pages of `span`, summarized.
    fn sample(&self, span: (u64, u64)) -> Result<PageStates, String> {
        if self.base == 0 {
            return Err("cannot map the file to look at its pages".into());
        }
        let lo = (span.0 as usize / 4096) * 4096;
        let hi = (span.1 as usize).min(self.len);
        if let Some(t) = self.touch {
            let x = (lo..hi).step_by(4096).fold(0u8, |x, p| x ^ t[p]);
            std::hint::black_box(x);
        }
        pageflags::states(self.base + lo, hi - lo).map(|s| pageflags::summarize(&s))
    }
}

/// Before the final flush: which of the pages written since the last flush did the
/// kernel already write back? (And for manual, with `--observe`, over time.)
fn writeback(
    a: &FlushArgs,
    sink: &Sink,
    file: &File,
    path: &Path,
    book: &Book,
    policy: Policy,
    vm0: &BTreeMap<String, u64>,
) -> Writeback {
    let mut wb = Writeback {
        at_risk_bytes: book.at_risk_bytes(),
        span: book.dirty_span(),
        ..Default::default()
    };
    let probe_map = match sink {
        Sink::Fd => sys::map_readonly(file, a.size as usize, false).ok(),
        Sink::Map(_) => None,
    };
    let view = match (sink, &probe_map) {
        (Sink::Map(m), _) => PageView {
            base: m.as_ptr() as usize,
            len: m.len(),
            touch: None,
        },
        (Sink::Fd, Some(m)) => PageView {
            base: m.as_ptr() as usize,
            len: m.len(),
            touch: Some(m),
        },
        (Sink::Fd, None) => PageView {
            base: 0,
            len: 0,
            touch: None,
        },
    };
    match wb.span.map(|span| view.sample(span)) {
        Some(Ok(s)) => wb.pages = Some(s),
        Some(Err(e)) => wb.reason = Some(e),
        None => wb.reason = Some("nothing was written since the last flush".into()),
    }
    wb.vmstat = vmstat_change(vm0, &vmstat());
    if let (Policy::Manual, Some(span)) = (policy, wb.span) {
        if !a.observe.is_zero() && wb.pages.is_some() {
            wb.observed = observe(&view, span, a.observe);
        }
        wb.odirect_probe = odirect_probe(path, view.base, span, view.len);
    }
    wb
}

/// nr_dirty and nr_writeback now, and the change of nr_dirtied and nr_written.
fn vmstat_change(
    vm0: &BTreeMap<String, u64>,
    vm1: &BTreeMap<String, u64>,
) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for k in ["nr_dirty", "nr_writeback"] {
        if let Some(v) = vm1.get(k) {
            m.insert(k.to_string(), *v as i64);
        }
    }
    for k in ["nr_dirtied", "nr_written"] {
        if let (Some(a0), Some(a1)) = (vm0.get(k), vm1.get(k)) {
            m.insert(format!("{k}_delta"), *a1 as i64 - *a0 as i64);
        }
    }
    m
}

/// Keep the data unflushed for `how_long`, sampling the pages' states every second.
fn observe(view: &PageView, span: (u64, u64), how_long: Duration) -> Vec<ObservePoint> {
    let mut out = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < how_long && !interrupt::requested() {
        std::thread::sleep(Duration::from_secs(1).min(how_long));
        if let Ok(s) = view.sample(span) {
            out.push(ObservePoint {
                t_s: t0.elapsed().as_secs_f64(),
                pages: s,
            });
        }
    }
    out
}

/// Flush everything written since the last flush.
fn flush(sink: &Sink, file: &File, book: &Book) -> Result<()> {
    match sink {
        Sink::Map(m) => {
            if let Some((lo, hi)) = book.dirty_span() {
                m.flush_range(lo as usize, (hi - lo) as usize)
                    .context("msync(MS_SYNC) failed")?;
            }
        }
        Sink::Fd => file.sync_data().context("fdatasync failed")?,
    }
    Ok(())
}

/// Read one dirty page of the span with O_DIRECT and see whether that read cleaned it
/// (Linux writes back the dirty cached pages of the range before a direct read).
fn odirect_probe(
    path: &Path,
    base: usize,
    span: (u64, u64),
    maplen: usize,
) -> Option<OdirectProbe> {
    if base == 0 {
        return None;
    }
    let lo = (span.0 as usize / 4096) * 4096;
    let hi = (span.1 as usize).min(maplen);
    let states = pageflags::states(base + lo, hi - lo).ok()?;
    let i = states.iter().position(|s| *s == pageflags::State::Dirty)?;
    let off = (lo + i * 4096) as u64;
    let mut p = OdirectProbe {
        page_offset: off,
        dirty_before: true,
        dirty_after: None,
        note: String::new(),
    };
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            p.note = format!("O_DIRECT open failed: {e}");
            return Some(p);
        }
    };
    let mut buf = match sys::AlignedBuf::new(4096, 4096) {
        Ok(b) => b,
        Err(e) => {
            p.note = format!("no aligned buffer: {e}");
            return Some(p);
        }
    };
    if let Err(e) = f.read_exact_at(&mut buf[..4096], off) {
        p.note = format!("O_DIRECT read failed: {e}");
        return Some(p);
    }
    p.dirty_after = pageflags::states(base + off as usize, 4096)
        .ok()
        .and_then(|s| s.first().copied())
        .map(|s| s == pageflags::State::Dirty || s == pageflags::State::Writeback);
    p.note = match p.dirty_after {
        Some(false) => "the O_DIRECT read wrote the dirty page back first: re-reading with O_DIRECT cannot show what is on disk without changing it".into(),
        Some(true) => "the page stayed dirty after the O_DIRECT read".into(),
        None => "the page state after the read could not be read".into(),
    };
    Some(p)
}
