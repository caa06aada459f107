//! The file a workload reads: either a data file the harness generates (once, then
//! reused while its size and content tag match) or an existing file or block device the
//! user names, opened read-only with verification off.

pub mod database;
pub mod page;
pub mod rows;
pub mod stripe;
pub mod written;

use crate::spec::Workload;
use crate::ui::Reporter;
use crate::{interrupt, sys, units};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// What the backends read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub path: PathBuf,
    /// Bytes the workload may read, from offset 0.
    pub size: u64,
    pub origin: Origin,
    /// The content tag when every read is verified; None when verification is off.
    pub verify_tag: Option<u64>,
    /// True when this run created the file (false: reused or the user's).
    pub created: bool,
    /// Seconds spent creating it, when it was created.
    pub create_secs: Option<f64>,
    /// Striped over several devices (`--device zram:...,count=N`); `path` is then the
    /// first of them. None for one file or device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe: Option<stripe::Striping>,
}

/// Where the target comes from; in run.json as `generated`, `file`, `block_device` or
/// `zram`, and shown the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The harness's data file (created by this run or reused).
    Generated,
    /// The user's file, read-only.
    File,
    /// The user's block device, read-only.
    BlockDevice,
    /// A data file on a zram device hot-added for the run.
    Zram,
    /// The file of a fault-injecting FUSE device mounted for the run.
    Fuse,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Generated => "generated",
            Origin::File => "file",
            Origin::BlockDevice => "block_device",
            Origin::Zram => "zram",
            Origin::Fuse => "fuse",
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl Target {
    pub fn verifies(&self) -> bool {
        self.verify_tag.is_some()
    }

    pub fn open_read(&self) -> Result<File> {
        File::open(&self.path).with_context(|| format!("cannot open {}", self.path.display()))
    }

    /// Every file or device the target is stored on (one unless striped).
    pub fn paths(&self) -> Vec<&Path> {
        match &self.stripe {
            Some(s) => s.devices.iter().map(PathBuf::as_path).collect(),
            None => vec![self.path.as_path()],
        }
    }

    /// The map from logical offsets to (device, device offset).
    pub fn stripe_map(&self) -> stripe::Stripe {
        match &self.stripe {
            Some(s) => stripe::Stripe::new(s.devices.len(), s.unit),
            None => stripe::Stripe::SINGLE,
        }
    }
}

/// Resolve the workload's target: a user file, or the generated data file (created if
/// missing). `size_from_file`: when a user file is given without an explicit size, read
/// the whole file.
pub fn prepare(w: &Workload, ui: &dyn Reporter) -> Result<Target> {
    match &w.file {
        Some(path) => {
            let t = user_target(path, w)?;
            if w.op.writes() {
                check_user_write(&t, w)?;
                ui.note(&format!(
                    "--allow-write: this run overwrites blocks in the first {} of {} with its own pages; the old content is not kept",
                    units::format_size(t.size),
                    t.path.display()
                ));
            }
            Ok(t)
        }
        None => generated_target(w, ui),
    }
}

/// A write workload on the user's file (`--file` with `--allow-write`; the workload
/// check refuses it without): only a regular file the user running the harness owns.
/// Block devices are refused: a write run uses a zram device the harness creates
/// (`--device zram`) instead.
fn check_user_write(t: &Target, w: &Workload) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !w.allow_write {
        bail!(
            "--file {}: a write workload needs --allow-write to overwrite it",
            t.path.display()
        );
    }
    if t.origin == Origin::BlockDevice {
        bail!(
            "--file {}: a write workload does not write to block devices given with --file (it could hold a file system or another program's data); use --device zram for an emulated device the harness creates",
            t.path.display()
        );
    }
    let meta = std::fs::metadata(&t.path)
        .with_context(|| format!("--file {}: cannot access it", t.path.display()))?;
    let me = sys::uid();
    if meta.uid() != me {
        bail!(
            "--file {}: it is owned by uid {}, not by you (uid {me}); a write workload only overwrites your own files",
            t.path.display(),
            meta.uid()
        );
    }
    Ok(())
}

fn user_target(path: &Path, w: &Workload) -> Result<Target> {
    let meta = std::fs::metadata(path).with_context(|| {
        format!(
            "--file {}: cannot access it; give an existing file or block device",
            path.display()
        )
    })?;
    let ft = meta.file_type();
    if ft.is_dir() {
        bail!(
            "--file {}: is a directory; give a file or a block device",
            path.display()
        );
    }
    let is_bdev = ft.is_block_device();
    if !(ft.is_file() || is_bdev) {
        bail!(
            "--file {}: is neither a regular file nor a block device",
            path.display()
        );
    }
    let mut f = File::open(path).with_context(|| {
        format!(
            "--file {}: cannot open it for reading (block devices usually need root or the disk group)",
            path.display()
        )
    })?;
    let len = if is_bdev {
        f.seek(SeekFrom::End(0))
            .with_context(|| format!("--file {}: cannot read the device size", path.display()))?
    } else {
        meta.len()
    };
    let size = if w.size_given { w.size } else { len };
    if size > len {
        bail!(
            "--file {}: the workload reads {} but the {} holds only {}; use a smaller --size",
            path.display(),
            units::format_size(size),
            if is_bdev { "device" } else { "file" },
            units::format_size(len)
        );
    }
    if size < w.block {
        bail!(
            "--file {}: it holds {} which is less than one block ({}); use a smaller --block or a larger file",
            path.display(),
            units::format_size(size),
            units::format_size(w.block)
        );
    }
    Ok(Target {
        path: path.to_path_buf(),
        size,
        origin: if is_bdev {
            Origin::BlockDevice
        } else {
            Origin::File
        },
        verify_tag: None,
        created: false,
        create_secs: None,
        stripe: None,
    })
}

/// Create the data directory (where generated files live) if missing.
pub fn create_data_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the data directory {}; choose another with --data-dir",
            dir.display()
        )
    })
}

/// The file name of a generated data file: size and tag in the name, so files of
/// different sizes or contents never collide.
pub fn data_file_name(size: u64, tag: u64) -> String {
    format!("faultline-{}-{:016x}.dat", units::format_size(size), tag)
}

fn generated_target(w: &Workload, ui: &dyn Reporter) -> Result<Target> {
    let tag = page::file_tag(w.seed);
    let dir = &w.data_dir;
    create_data_dir(dir)?;
    let path = dir.join(data_file_name(w.size, tag));
    // Several runs may want the same file at once: one creates it, the others wait
    // for it and then reuse it. The lock file stays (it is empty and harmless).
    let lock_path = path.with_extension("dat.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot create the lock file {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    let marker = written::marker(&path);
    if marker.exists() {
        // A write cell changed the file and did not restore it (interrupted, killed):
        // create it again.
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| {
                format!(
                    "cannot remove {}, which a write run left changed; delete it to have it created again",
                    path.display()
                )
            })?;
        }
        ui.note(&format!(
            "{}: a write run left it changed (marker {}); creating it again",
            path.display(),
            marker.display()
        ));
    }
    if path.exists() {
        check_existing(&path, w.size, tag)?;
        return Ok(Target {
            path,
            size: w.size,
            origin: Origin::Generated,
            verify_tag: Some(tag),
            created: false,
            create_secs: None,
            stripe: None,
        });
    }
    let t0 = Instant::now();
    create(&path, w.size, tag, ui)?;
    if marker.exists() {
        std::fs::remove_file(&marker)
            .with_context(|| format!("cannot remove the marker {}", marker.display()))?;
    }
    Ok(Target {
        path,
        size: w.size,
        origin: Origin::Generated,
        verify_tag: Some(tag),
        created: true,
        create_secs: Some(t0.elapsed().as_secs_f64()),
        stripe: None,
    })
}

/// A data file with the right name must have the right size and content. Checks the
/// first, the last and 62 pages spread over the file, every byte of them.
fn check_existing(path: &Path, size: u64, tag: u64) -> Result<()> {
    let f =
        File::open(path).with_context(|| format!("cannot open data file {}", path.display()))?;
    let len = f.metadata()?.len();
    if len != size {
        bail!(
            "data file {} exists but holds {} bytes instead of {}; it is damaged or not from faultline: delete it to have it created again",
            path.display(),
            len,
            size
        );
    }
    let pages = size / page::PAGE as u64;
    let mut buf = vec![0u8; page::PAGE];
    let samples = 64u64.min(pages);
    for i in 0..samples {
        let p = if samples <= 1 {
            0
        } else {
            i * (pages - 1) / (samples - 1)
        };
        f.read_exact_at(&mut buf, p * page::PAGE as u64)
            .with_context(|| format!("cannot read data file {}", path.display()))?;
        if let Some(bad) = page::check_pages(&buf, p, tag) {
            bail!(
                "data file {} exists but page {} does not hold the expected content (tag {:016x}); delete it to have it created again",
                path.display(),
                bad,
                tag
            );
        }
    }
    Ok(())
}

/// Create the data file: preallocate, then write it with parallel large O_DIRECT writes
/// (buffered where the file system refuses O_DIRECT), fsync, rename into place. A
/// partial file is removed on any error or interruption.
fn create(path: &Path, size: u64, tag: u64, ui: &dyn Reporter) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let free = sys::free_space(parent).unwrap_or(u64::MAX);
    if free < size {
        bail!(
            "not enough space for the data file in {}: it needs {} and {} is free; use --data-dir on a larger file system or a smaller --size",
            parent.display(),
            units::format_size(size),
            units::format_size(free)
        );
    }
    let partial = path.with_extension("dat.partial");
    if partial.exists() {
        // The caller holds the creation lock, so no one is writing this: it is what an
        // interrupted (killed) creation left behind.
        std::fs::remove_file(&partial)
            .with_context(|| format!("cannot remove the stale {}", partial.display()))?;
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let result = write_pattern(&file, &partial, size, tag, ui);
    if let Err(e) = result {
        drop(file);
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, path).with_context(|| {
        let _ = std::fs::remove_file(&partial);
        format!("cannot rename {} into place", partial.display())
    })?;
    if let Ok(d) = File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Fill a block device (an emulated zram device this run created) with the pattern.
/// Only ever called on a device the harness itself hot-added.
pub fn fill_device(path: &Path, size: u64, seed: u64, ui: &dyn Reporter) -> Result<Target> {
    let tag = page::file_tag(seed);
    let t0 = Instant::now();
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} for writing", path.display()))?;
    fill_pattern(&file, path, size, tag, ui)?;
    Ok(Target {
        path: path.to_path_buf(),
        size,
        origin: Origin::Zram,
        verify_tag: Some(tag),
        created: true,
        create_secs: Some(t0.elapsed().as_secs_f64()),
        stripe: None,
    })
}

/// Fill `devices` (zram devices this run created) with the pattern of `size` logical
/// bytes striped over them in units of `unit` bytes: each device holds its stripes,
/// each page with the header of its logical page.
pub fn fill_striped(
    devices: &[PathBuf],
    unit: u64,
    size: u64,
    seed: u64,
    ui: &dyn Reporter,
) -> Result<Target> {
    let tag = page::file_tag(seed);
    let t0 = Instant::now();
    let map = stripe::Stripe::new(devices.len(), unit);
    let n = devices.len() as u64;
    for (d, path) in devices.iter().enumerate() {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {} for writing", path.display()))?;
        let bytes = map.bytes_on(d, size);
        fill(&file, path, bytes, "the striped data", ui, |off, buf| {
            for (i, pg) in buf.chunks_mut(page::PAGE).enumerate() {
                let o = off + (i * page::PAGE) as u64;
                let logical = ((o / unit) * n + d as u64) * unit + o % unit;
                page::fill_page(pg, logical / page::PAGE as u64, tag);
            }
            Ok(())
        })?;
    }
    Ok(Target {
        path: devices[0].clone(),
        size,
        origin: Origin::Zram,
        verify_tag: Some(tag),
        created: true,
        create_secs: Some(t0.elapsed().as_secs_f64()),
        stripe: Some(stripe::Striping {
            devices: devices.to_vec(),
            unit,
        }),
    })
}

/// The target of a fault-injecting FUSE device: its one file, served with the pattern
/// of `seed` (generated by the server on every read, nothing written).
pub fn fuse_target(dev: &crate::env::fuse::FuseDevice, size: u64, seed: u64) -> Target {
    Target {
        path: dev.file.clone(),
        size,
        origin: Origin::Fuse,
        verify_tag: Some(page::file_tag(seed)),
        created: true,
        create_secs: None,
        stripe: None,
    }
}

fn write_pattern(file: &File, path: &Path, size: u64, tag: u64, ui: &dyn Reporter) -> Result<()> {
    preallocate(file, path, size)?;
    fill_pattern(file, path, size, tag, ui)
}

/// Allocate `size` bytes for `path` (fallocate; set_len where that is not supported).
pub fn preallocate(file: &File, path: &Path, size: u64) -> Result<()> {
    match sys::fallocate(file, size) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
            bail!(
                "no space left to create {} ({}); use --data-dir on a larger file system or a smaller --size",
                path.display(),
                units::format_size(size)
            )
        }
        Err(_) => file
            .set_len(size)
            .with_context(|| format!("cannot size {}", path.display()))?,
    }
    Ok(())
}

/// Write the data file's pattern over `size` bytes of `path` (already open as `file`).
fn fill_pattern(file: &File, path: &Path, size: u64, tag: u64, ui: &dyn Reporter) -> Result<()> {
    fill(file, path, size, "the data file", ui, |off, buf| {
        for (i, pg) in buf.chunks_mut(page::PAGE).enumerate() {
            page::fill_page(pg, off / page::PAGE as u64 + i as u64, tag);
        }
        Ok(())
    })
}

/// The file-fill routine of every file the harness generates (data files, the claims'
/// log): `size` bytes of `path` (already open for writing as `file`), produced in
/// chunks of `FILL_CHUNK` bytes (the last one shorter) by `produce(offset, chunk)`, on
/// up to 4 threads, with a progress bar on `ui`. Written with O_DIRECT where the
/// file system allows it (buffered otherwise), fsynced, and dropped from the page cache
/// either way. Preallocation is the caller's (`preallocate`; not for block devices).
/// `what` names the file in errors ("the data file").
pub fn fill<F>(
    file: &File,
    path: &Path,
    size: u64,
    what: &str,
    ui: &dyn Reporter,
    produce: F,
) -> Result<()>
where
    F: Fn(u64, &mut [u8]) -> Result<()> + Sync,
{
    let direct = open_direct(path, size);
    let writer: &File = direct.as_ref().unwrap_or(file);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let nchunks = size.div_ceil(FILL_CHUNK as u64);
    let threads = sys::online_cpus().clamp(1, 4);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let bar = ui.bytes_bar(size, &format!("creating {name}"));
    let write_chunks = || -> Result<()> {
        let mut buf = sys::AlignedBuf::new(FILL_CHUNK, 4096)?;
        loop {
            if failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            if interrupt::requested() {
                failed.store(true, Ordering::Relaxed);
                bail!("interrupted while creating {what}; nothing was kept");
            }
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= nchunks {
                return Ok(());
            }
            let off = c * FILL_CHUNK as u64;
            let len = (size - off).min(FILL_CHUNK as u64) as usize;
            let written = produce(off, &mut buf[..len]).and_then(|()| {
                writer
                    .write_all_at(&buf[..len], off)
                    .map_err(|e| write_error(e, path))
            });
            if let Err(e) = written {
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
            done.fetch_add(len as u64, Ordering::Relaxed);
        }
    };
    let errors: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(write_chunks)).collect();
        crate::ui::join_with_progress(handles, &bar, &done, "writer")
    });
    bar.finish_and_clear();
    errors.into_iter().collect::<Result<()>>()?;
    writer
        .sync_all()
        .with_context(|| format!("cannot flush {}", path.display()))?;
    // Written with O_DIRECT or not, leave none of it in the page cache.
    let _ = sys::drop_file_cache(file);
    Ok(())
}

/// Bytes `fill` asks its producer for at a time.
pub const FILL_CHUNK: usize = 4 << 20;

/// `path` opened for O_DIRECT writes when the file system takes them in `FILL_CHUNK`
/// pieces from 4 KiB-aligned memory; None otherwise. O_DIRECT keeps the generated bytes
/// out of the page cache (the first cold run then needs no flush) and is the fastest
/// way to write them.
fn open_direct(path: &Path, size: u64) -> Option<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
        .filter(|f| {
            sys::statx_dio_align(f).ok().flatten().is_some_and(|a| {
                (FILL_CHUNK as u32).is_multiple_of(a.offset_align)
                    && size.is_multiple_of(a.offset_align as u64)
                    && a.mem_align <= 4096
            })
        })
}

fn write_error(e: std::io::Error, path: &Path) -> anyhow::Error {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        anyhow::anyhow!(
            "no space left while creating {}; use --data-dir on a larger file system or a smaller --size",
            path.display()
        )
    } else {
        anyhow::Error::new(e).context(format!("writing {}", path.display()))
    }
}

/// Drop the target's cached pages (posix_fadvise DONTNEED): the default cold start.
pub fn drop_cache(t: &Target) -> Result<()> {
    for p in t.paths() {
        let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
        sys::drop_file_cache(&f)
            .with_context(|| format!("cannot drop the page cache of {}", p.display()))?;
    }
    Ok(())
}

/// Read the target once through the page cache: a warm start. On a device that fails
/// reads (EIO), a chunk that fails is read page by page and its failing pages are left
/// out of the cache.
pub fn warm_cache(t: &Target) -> Result<()> {
    let map = t.stripe_map();
    for (d, p) in t.paths().into_iter().enumerate() {
        warm_one(p, map.bytes_on(d, t.size))?;
    }
    Ok(())
}

fn warm_one(path: &Path, size: u64) -> Result<()> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let _ = sys::fadvise(&f, 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    let what = || format!("cannot read {} to warm the cache", path.display());
    while off < size {
        let n = (buf.len() as u64).min(size - off) as usize;
        match f.read_exact_at(&mut buf[..n], off) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                for p in (0..n).step_by(page::PAGE) {
                    let len = page::PAGE.min(n - p);
                    match f.read_exact_at(&mut buf[p..p + len], off + p as u64) {
                        Err(e) if e.raw_os_error() != Some(libc::EIO) => {
                            return Err(e).with_context(what)
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => return Err(e).with_context(what),
        }
        off += n as u64;
        if interrupt::requested() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn workload(dir: &Path, size: &str) -> Workload {
        let mut w =
            Workload::parse(&format!("size = \"{size}\"\nblock = \"4KiB\""), "t", "t").unwrap();
        w.data_dir = dir.to_path_buf();
        w
    }

    #[test]
    fn origins_are_written_and_shown_by_name() {
        for o in [
            Origin::Generated,
            Origin::File,
            Origin::BlockDevice,
            Origin::Zram,
            Origin::Fuse,
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.name()));
            assert_eq!(serde_json::from_str::<Origin>(&json).unwrap(), o);
            assert_eq!(o.to_string(), o.name());
        }
        assert_eq!(Origin::BlockDevice.to_string(), "block_device");
    }

    #[test]
    fn creates_verifiable_file_then_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path(), "9MiB");
        let t = prepare(&w, &crate::ui::Quiet).unwrap();
        assert!(t.created);
        assert_eq!(std::fs::metadata(&t.path).unwrap().len(), 9 << 20);
        let data = std::fs::read(&t.path).unwrap();
        assert_eq!(page::check_pages(&data, 0, t.verify_tag.unwrap()), None);
        let again = prepare(&w, &crate::ui::Quiet).unwrap();
        assert!(!again.created);
        assert_eq!(again.path, t.path);
    }

    /// FNV-1a, 64 bit: a fixed hash to pin generated bytes across refactorings.
    pub(crate) fn fnv64(data: &[u8]) -> u64 {
        data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    #[test]
    fn generated_bytes_are_pinned() {
        // A data file is reused when its size and tag match, so its bytes must never
        // change without a new tag: this pins them (5 MiB: more than one fill chunk).
        let dir = tempfile::tempdir().unwrap();
        let t = prepare(&workload(dir.path(), "5MiB"), &crate::ui::Quiet).unwrap();
        let h = fnv64(&std::fs::read(&t.path).unwrap());
        assert_eq!(h, 0x6d39_c4d5_ca12_374d, "{h:#018x}");
    }

    #[test]
    fn concurrent_creators_share_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path(), "8MiB");
        let results: Vec<Target> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| prepare(&w, &crate::ui::Quiet).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|t| t.created).count(), 1);
        assert!(results.iter().all(|t| t.path == results[0].path));
        // A stale partial file from a killed creation is replaced.
        std::fs::remove_file(&results[0].path).unwrap();
        std::fs::write(results[0].path.with_extension("dat.partial"), b"junk").unwrap();
        assert!(prepare(&w, &crate::ui::Quiet).unwrap().created);
    }

    #[test]
    fn refuses_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(dir.path(), "1MiB");
        let t = prepare(&w, &crate::ui::Quiet).unwrap();
        let f = OpenOptions::new().write(true).open(&t.path).unwrap();
        f.write_all_at(&[0u8; 8], 4096 * 255).unwrap();
        drop(f);
        let e = prepare(&w, &crate::ui::Quiet).unwrap_err().to_string();
        assert!(e.contains("does not hold the expected content"), "{e}");
    }

    #[test]
    fn user_file_is_read_only_and_unverified() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.bin");
        std::fs::write(&p, vec![7u8; 64 * 1024]).unwrap();
        let mut w = workload(dir.path(), "4KiB");
        w.file = Some(p.clone());
        w.size_given = false;
        let t = prepare(&w, &crate::ui::Quiet).unwrap();
        assert_eq!(t.size, 64 * 1024);
        assert!(!t.verifies());
        assert_eq!(std::fs::read(&p).unwrap(), vec![7u8; 64 * 1024]);
        w.file = Some(dir.path().to_path_buf());
        assert!(prepare(&w, &crate::ui::Quiet)
            .unwrap_err()
            .to_string()
            .contains("directory"));
        w.file = Some(dir.path().join("missing"));
        assert!(prepare(&w, &crate::ui::Quiet)
            .unwrap_err()
            .to_string()
            .contains("cannot access"));
        w.file = Some(p);
        w.size_given = true;
        w.size = 1 << 20;
        assert!(prepare(&w, &crate::ui::Quiet)
            .unwrap_err()
            .to_string()
            .contains("holds only"));
    }
}
