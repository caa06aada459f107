//! A fault-injecting device: a FUSE file system the harness mounts for the run (served
//! by threads of this process, `fuser`), holding one read-only file with the workload's
//! data in the verifiable page format, generated on the fly. Reads that touch chosen
//! pages fail with EIO; reads that touch other chosen pages are answered after a delay.
//! Opens with O_DIRECT get FUSE's direct I/O (FOPEN_DIRECT_IO: no page cache), others
//! read through the page cache.
//!
//! The mount point is a private directory under the temporary directory, recorded in
//! `/run/faultline/fuse/<pid>-<n>` before mounting and unmounted (lazily, so a stuck
//! server cannot block it) when the device is dropped: on a normal end, an error and
//! Ctrl-C; a server that does not stop then has its connection aborted. A harness
//! killed with SIGKILL leaves the mount behind, and cannot even finish exiting while
//! one of its reads is in its own (killed) server: the kernel waits for the answer. The
//! next `faultline run` finds the record (the process no longer runs as faultline),
//! aborts the connection (which releases the killed process) and removes the mount
//! (`clean_stale`).

use crate::datafile::page;
use crate::units;
use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    INodeNo, LockOwner, MountOption, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEntry,
    ReplyOpen, ReplyWrite, Request, WriteFlags,
};
use serde::Serialize;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Where mounts are recorded (one file per mount, holding the mount point).
pub const RECORDS: &str = "/run/faultline/fuse";
/// The name of the one file in the file system.
pub const FILE_NAME: &str = "data";
/// Longest delay a spec may ask for: every wait of the harness stays bounded.
pub const MAX_DELAY: Duration = Duration::from_secs(10);
/// Server threads: enough that a stalled read does not hold up the others.
const SERVER_THREADS: usize = 16;
const PAGE: u64 = page::PAGE as u64;

/// What `--device fuse:...` asks for. Offsets are bytes (in run.json too); a page is
/// 4 KiB, and an offset names the page that holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FuseSpec {
    /// Bytes of the served file (default: the workload's size).
    pub size: Option<u64>,
    /// Fail reads of every Nth page (pages N-1, 2N-1, ...).
    pub eio_every: Option<u64>,
    /// Fail reads of the pages holding these offsets.
    pub eio_at: Vec<u64>,
    /// Delay reads of every Nth page (pages N-1, 2N-1, ...) by `delay_ns`.
    pub delay_every: Option<u64>,
    /// Delay reads of the pages holding these offsets by `delay_ns`.
    pub delay_at: Vec<u64>,
    pub delay_ns: Option<u64>,
}

impl FuseSpec {
    /// The short form for headers: `fuse:64MiB,eio_every=1000`.
    pub fn describe(&self, size: u64) -> String {
        let mut s = format!("fuse:{}", units::format_size(self.size.unwrap_or(size)));
        let offs = |v: &[u64]| {
            v.iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(";")
        };
        if let Some(n) = self.eio_every {
            s.push_str(&format!(",eio_every={n}"));
        }
        if !self.eio_at.is_empty() {
            s.push_str(&format!(",eio_at={}", offs(&self.eio_at)));
        }
        if let Some(n) = self.delay_every {
            s.push_str(&format!(",delay_every={n}"));
        }
        if !self.delay_at.is_empty() {
            s.push_str(&format!(",delay_at={}", offs(&self.delay_at)));
        }
        if let Some(d) = self.delay_ns {
            s.push_str(&format!(
                ",delay={}",
                units::format_duration(Duration::from_nanos(d))
            ));
        }
        s
    }

    /// Checks against the workload's size (offsets inside the file).
    pub fn check(&self, size: u64) -> Result<(), String> {
        let file = self.size.unwrap_or(size);
        if file < size {
            return Err(format!(
                "the fuse device ({}) is smaller than `size` ({}); use fuse:{} or more",
                units::format_size(file),
                units::format_size(size),
                units::format_size(size)
            ));
        }
        for (key, v) in [("eio_at", &self.eio_at), ("delay_at", &self.delay_at)] {
            if let Some(o) = v.iter().find(|&&o| o >= size) {
                return Err(format!(
                    "fuse {key}: offset {o} is past the end of the data ({} bytes); give offsets below it",
                    size
                ));
            }
        }
        Ok(())
    }
}

const KEYS: &str = "eio_every=N, eio_at=OFF;OFF..., delay_every=N, delay_at=OFF;OFF..., delay=D";

/// Parse the part of a device spec after `fuse`: `[:SIZE][,key=value...]`.
pub fn parse_spec(rest: &str) -> Result<FuseSpec, String> {
    let mut parts = rest.split(',');
    let head = parts.next().unwrap_or("");
    let mut spec = FuseSpec::default();
    match head.strip_prefix(':') {
        Some(size) if !size.is_empty() => {
            spec.size = Some(units::parse_size(size).map_err(|e| format!("fuse size: {e}"))?);
        }
        Some(_) => return Err("fuse: give a size after the colon (fuse:256MiB) or leave the colon out".into()),
        None if head.is_empty() => {}
        None => return Err(format!("`fuse{head}` is not a device spec; use fuse, fuse:SIZE or fuse:SIZE,key=value,... with {KEYS}")),
    }
    let mut seen = BTreeSet::new();
    for part in parts {
        let part = part.trim();
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!(
                "fuse option `{part}` has no value; options are {KEYS}"
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        if !seen.insert(key.to_string()) {
            return Err(format!("fuse option `{key}` is given twice; give it once"));
        }
        match key {
            "eio_every" => spec.eio_every = Some(every(key, value)?),
            "delay_every" => spec.delay_every = Some(every(key, value)?),
            "eio_at" => spec.eio_at = offsets(key, value)?,
            "delay_at" => spec.delay_at = offsets(key, value)?,
            "delay" => {
                let d = units::parse_duration(value).map_err(|e| format!("fuse delay: {e}"))?;
                if d.is_zero() || d > MAX_DELAY {
                    return Err(format!(
                        "fuse delay {value} is out of range; use more than 0 and at most {}",
                        units::format_duration(MAX_DELAY)
                    ));
                }
                spec.delay_ns = Some(d.as_nanos() as u64);
            }
            _ => return Err(format!("unknown fuse option `{key}`; options are {KEYS}")),
        }
    }
    let delays_pages = spec.delay_every.is_some() || !spec.delay_at.is_empty();
    match (delays_pages, spec.delay_ns.is_some()) {
        (true, false) => {
            return Err("fuse: delay_every/delay_at need delay=D (e.g. delay=20ms)".into())
        }
        (false, true) => {
            return Err(
                "fuse: delay=D needs delay_every=N or delay_at=OFF to say which pages to delay"
                    .into(),
            )
        }
        _ => {}
    }
    Ok(spec)
}

fn every(key: &str, value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "fuse {key}={value}: give a whole number of pages, at least 1 (e.g. {key}=1000)"
        )),
    }
}

fn offsets(key: &str, value: &str) -> Result<Vec<u64>, String> {
    let v: Vec<u64> = value
        .split(';')
        .map(|o| {
            units::parse_size(o.trim()).map_err(|e| {
                format!("fuse {key}: `{o}` is not an offset ({e}); give byte offsets separated by `;`, e.g. {key}=0;8KiB;1MiB")
            })
        })
        .collect::<Result<_, _>>()?;
    if v.is_empty() {
        return Err(format!("fuse {key}: give at least one offset"));
    }
    Ok(v)
}

/// Which pages fail and which are delayed.
#[derive(Debug, Clone)]
struct Faults {
    eio_every: Option<u64>,
    eio_pages: BTreeSet<u64>,
    delay_every: Option<u64>,
    delay_pages: BTreeSet<u64>,
    delay: Duration,
}

impl Faults {
    fn new(s: &FuseSpec) -> Faults {
        Faults {
            eio_every: s.eio_every,
            eio_pages: s.eio_at.iter().map(|o| o / PAGE).collect(),
            delay_every: s.delay_every,
            delay_pages: s.delay_at.iter().map(|o| o / PAGE).collect(),
            delay: Duration::from_nanos(s.delay_ns.unwrap_or(0)),
        }
    }

    fn hit(every: Option<u64>, set: &BTreeSet<u64>, pages: std::ops::Range<u64>) -> bool {
        if let Some(n) = every {
            // A page p with p % n == n - 1 inside [start, end)?
            let first = pages.start + (n - 1 - pages.start % n) % n;
            if first < pages.end {
                return true;
            }
        }
        set.range(pages).next().is_some()
    }

    fn fails(&self, pages: std::ops::Range<u64>) -> bool {
        Faults::hit(self.eio_every, &self.eio_pages, pages)
    }

    fn delays(&self, pages: std::ops::Range<u64>) -> bool {
        Faults::hit(self.delay_every, &self.delay_pages, pages)
    }
}

/// What the server did, for the notes of each cell.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub reads: AtomicU64,
    pub read_bytes: AtomicU64,
    pub eio: AtomicU64,
    pub delayed: AtomicU64,
    pub writes: AtomicU64,
    pub direct_opens: AtomicU64,
    pub cached_opens: AtomicU64,
}

impl ServerStats {
    pub fn snapshot(&self) -> [u64; 7] {
        [
            &self.reads,
            &self.read_bytes,
            &self.eio,
            &self.delayed,
            &self.writes,
            &self.direct_opens,
            &self.cached_opens,
        ]
        .map(|a| a.load(Ordering::Relaxed))
    }
}

/// The note for a cell: what the server did between two snapshots.
pub fn stats_note(before: [u64; 7], after: [u64; 7]) -> String {
    let d: Vec<u64> = after
        .iter()
        .zip(before.iter())
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    format!(
        "fuse server: {} read requests ({}), {} failed with EIO, {} delayed, {} writes; {} opens with direct_io, {} through the page cache",
        d[0],
        units::format_size(d[1]),
        d[2],
        d[3],
        d[4],
        d[5],
        d[6]
    )
}

const ROOT: INodeNo = INodeNo::ROOT;
const FILE: INodeNo = INodeNo(2);
const TTL: Duration = Duration::from_secs(3600);

struct FaultFs {
    size: u64,
    tag: u64,
    faults: Faults,
    stats: Arc<ServerStats>,
}

fn attr(ino: INodeNo, size: u64) -> FileAttr {
    let dir = ino == ROOT;
    FileAttr {
        ino,
        size: if dir { 0 } else { size },
        blocks: if dir { 0 } else { size.div_ceil(512) },
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind: if dir {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: if dir { 0o500 } else { 0o400 },
        nlink: if dir { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        flags: 0,
        blksize: PAGE as u32,
    }
}

impl Filesystem for FaultFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent == ROOT && name == FILE_NAME {
            reply.entry(&TTL, &attr(FILE, self.size), fuser::Generation(0));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match ino {
            ROOT | FILE => reply.attr(&TTL, &attr(ino, self.size)),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if ino != FILE {
            return reply.error(Errno::EISDIR);
        }
        if flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        if flags.0 & libc::O_DIRECT != 0 {
            self.stats.direct_opens.fetch_add(1, Ordering::Relaxed);
            reply.opened(FileHandle(1), FopenFlags::FOPEN_DIRECT_IO);
        } else {
            self.stats.cached_opens.fetch_add(1, Ordering::Relaxed);
            // Keep cached pages across opens: each worker opens the file itself.
            reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE);
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if ino != FILE {
            return reply.error(Errno::EISDIR);
        }
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
        let end = offset.saturating_add(size as u64).min(self.size);
        if offset >= end {
            return reply.data(&[]);
        }
        let pages = offset / PAGE..end.div_ceil(PAGE);
        if self.faults.delays(pages.clone()) {
            self.stats.delayed.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(self.faults.delay);
        }
        // A request that touches a failing page fails whole: a partial answer would be
        // taken as the end of the file (page-cache reads fill the rest with zeros).
        if self.faults.fails(pages.clone()) {
            self.stats.eio.fetch_add(1, Ordering::Relaxed);
            return reply.error(Errno::EIO);
        }
        let mut buf = vec![0u8; ((pages.end - pages.start) * PAGE) as usize];
        for (i, chunk) in buf.chunks_exact_mut(page::PAGE).enumerate() {
            page::fill_page(chunk, pages.start + i as u64, self.tag);
        }
        let from = (offset - pages.start * PAGE) as usize;
        let to = from + (end - offset) as usize;
        self.stats
            .read_bytes
            .fetch_add((to - from) as u64, Ordering::Relaxed);
        reply.data(&buf[from..to]);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        self.stats.writes.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::EROFS);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if ino != ROOT {
            return reply.error(Errno::ENOTDIR);
        }
        let entries = [
            (ROOT, FileType::Directory, "."),
            (ROOT, FileType::Directory, ".."),
            (FILE, FileType::RegularFile, FILE_NAME),
        ];
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(ino, (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

/// Why the fault-injecting device cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum FuseError {
    #[error("--device fuse: /dev/fuse does not exist; load the fuse module (modprobe fuse) or leave --device out")]
    NoDevice,
    #[error("--device fuse: mounting a FUSE file system needs root here; run as root")]
    NotRoot,
    #[error("--device fuse: cannot create the mount point {}", .path.display())]
    MountPoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--device fuse: cannot record the mount in {RECORDS} (needed to clean it up after a crash)"
    )]
    Record(#[source] std::io::Error),
    #[error("--device fuse: cannot mount the FUSE file system at {}", .path.display())]
    Mount {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--device fuse: the mounted file {} cannot be read", .path.display())]
    Check {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A mounted fault-injecting device; unmounted when dropped.
pub struct FuseDevice {
    pub mountpoint: PathBuf,
    /// The served file.
    pub file: PathBuf,
    pub size: u64,
    pub spec: FuseSpec,
    pub stats: Arc<ServerStats>,
    record: PathBuf,
    /// The FUSE connection's number (/sys/fs/fuse/connections/N), to abort it.
    conn: Option<u64>,
    session: Option<BackgroundSession>,
}

static MOUNTS: AtomicUsize = AtomicUsize::new(0);

impl FuseDevice {
    /// Mount a device serving `size` bytes of the pattern with tag `tag`.
    pub fn mount(spec: &FuseSpec, size: u64, tag: u64) -> Result<FuseDevice, FuseError> {
        if !Path::new("/dev/fuse").exists() {
            return Err(FuseError::NoDevice);
        }
        if crate::sys::uid() != 0 {
            return Err(FuseError::NotRoot);
        }
        let n = MOUNTS.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", std::process::id());
        let mountpoint = std::env::temp_dir().join(format!("faultline-fuse-{id}"));
        create_private_dir(&mountpoint).map_err(|source| FuseError::MountPoint {
            path: mountpoint.clone(),
            source,
        })?;
        let record = Path::new(RECORDS).join(&id);
        let recorded = std::fs::create_dir_all(RECORDS)
            .and_then(|_| std::fs::write(&record, mountpoint.as_os_str().as_encoded_bytes()));
        if let Err(e) = recorded {
            let _ = std::fs::remove_dir(&mountpoint);
            return Err(FuseError::Record(e));
        }
        let stats = Arc::new(ServerStats::default());
        let fs = FaultFs {
            size,
            tag,
            faults: Faults::new(spec),
            stats: Arc::clone(&stats),
        };
        let mut cfg = Config::default();
        cfg.mount_options = vec![
            MountOption::RO,
            MountOption::NoDev,
            MountOption::NoSuid,
            MountOption::NoExec,
            MountOption::FSName("faultline".into()),
            MountOption::Subtype("faultline".into()),
        ];
        cfg.n_threads = Some(SERVER_THREADS);
        let mut dev = FuseDevice {
            file: mountpoint.join(FILE_NAME),
            mountpoint,
            size,
            spec: spec.clone(),
            stats,
            record,
            conn: None,
            session: None,
        };
        let session =
            fuser::spawn_mount(fs, &dev.mountpoint, &cfg).map_err(|source| FuseError::Mount {
                path: dev.mountpoint.clone(),
                source,
            })?;
        dev.session = Some(session);
        dev.conn = connection_of(&dev.mountpoint);
        if let Some(c) = dev.conn {
            // The connection too, for a cleanup after the mount is gone from the tree.
            let _ = std::fs::write(&dev.record, format!("{}\n{c}\n", dev.mountpoint.display()));
        }
        // The file is there and answers before anything is measured.
        let mut b = [0u8; 8];
        std::fs::File::open(&dev.file)
            .and_then(|f| std::os::unix::fs::FileExt::read_at(&f, &mut b, 0))
            .or_else(|e| match e.raw_os_error() {
                // Page 0 may be one the spec fails.
                Some(libc::EIO) => Ok(0),
                _ => Err(e),
            })
            .map_err(|source| FuseError::Check {
                path: dev.file.clone(),
                source,
            })?;
        Ok(dev)
    }

    pub fn name(&self) -> String {
        self.spec.describe(self.size)
    }

    fn unmount(&mut self) {
        let detached = crate::sys::umount_detach(&self.mountpoint);
        if let Some(s) = self.session.take() {
            // Detached and idle, the connection ends and the server threads return.
            // One that does not (a request stuck in the server) is aborted: every
            // request still in it ends at once. Bounded either way.
            let t0 = Instant::now();
            let mut aborted = false;
            while !s.guard.is_finished() && t0.elapsed() < Duration::from_secs(3) {
                if !aborted && t0.elapsed() > Duration::from_millis(500) {
                    if let Some(c) = self.conn {
                        let _ = abort_connection(c);
                    }
                    aborted = true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            // Dropping the session unmounts (already done) and detaches its thread.
            drop(s);
        }
        match (detached, is_mounted(&self.mountpoint)) {
            (_, false) => {
                let _ = std::fs::remove_dir(&self.mountpoint);
                let _ = std::fs::remove_file(&self.record);
            }
            (r, true) => eprintln!(
                "warning: could not unmount the FUSE device at {} ({}); unmount it with: umount -l {}",
                self.mountpoint.display(),
                r.err().map_or("still mounted".to_string(), |e| e.to_string()),
                self.mountpoint.display()
            ),
        }
    }
}

impl Drop for FuseDevice {
    fn drop(&mut self) {
        self.unmount();
    }
}

/// Where the kernel's FUSE control file system lists the connections.
const CONNECTIONS: &str = "/sys/fs/fuse/connections";

/// Abort FUSE connection `conn`: every request waiting in it ends with an error and the
/// server's reads of /dev/fuse fail. When fusectl is not mounted, it is mounted for
/// this and unmounted again.
pub fn abort_connection(conn: u64) -> std::io::Result<()> {
    let dir = Path::new(CONNECTIONS);
    let abort = dir.join(conn.to_string()).join("abort");
    if abort.exists() {
        return std::fs::write(&abort, "1");
    }
    crate::sys::mount_fusectl(dir)?;
    let r = std::fs::write(&abort, "1");
    let _ = crate::sys::umount_detach(dir);
    r
}

/// The FUSE connection of the mount at `path`: the minor number of its device in
/// /proc/self/mountinfo (FUSE mounts have major 0).
pub fn connection_of(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = path.to_string_lossy();
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        if f.len() > 4 && unescape_mount(f[4]) == want && l.contains(" - fuse") {
            f[2].strip_prefix("0:")?.parse().ok()
        } else {
            None
        }
    })
}

fn create_private_dir(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(p)
}

/// True when `path` is a mount point in this mount namespace (/proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| unescape_mount(m) == want)
}

/// /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Remove the FUSE mounts recorded by faultline processes that no longer run (killed
/// with SIGKILL, or a second Ctrl-C). Returns a note per mount removed. Records of live
/// faultline processes are left alone.
pub fn clean_stale() -> Vec<String> {
    let mut notes = Vec::new();
    let Ok(dir) = std::fs::read_dir(RECORDS) else {
        return notes;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || process_is_faultline(pid) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let mountpoint = PathBuf::from(text.lines().next().unwrap_or(""));
        // Only ever a directory this tool made: faultline-fuse-* under a temp dir.
        let ours = mountpoint
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("faultline-fuse-"));
        if !ours {
            continue;
        }
        if is_mounted(&mountpoint) {
            // Abort first: it releases a killed harness whose read waits in its own
            // dead server, and the umount cannot block on it.
            if let Some(c) = connection_of(&mountpoint) {
                let _ = abort_connection(c);
            }
            if let Err(err) = crate::sys::umount_detach(&mountpoint) {
                notes.push(format!(
                    "could not remove the stale FUSE mount {} of faultline process {pid}: {err}; unmount it with: umount -l {}",
                    mountpoint.display(),
                    mountpoint.display()
                ));
                continue;
            }
            notes.push(format!(
                "removed the stale FUSE mount {} left by faultline process {pid}",
                mountpoint.display()
            ));
        }
        let _ = std::fs::remove_dir(&mountpoint);
        let _ = std::fs::remove_file(e.path());
    }
    notes
}

/// Whether process `pid` runs and is a faultline binary (not a reused pid).
pub(crate) fn process_is_faultline(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().contains("faultline"))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(parse_spec("").unwrap(), FuseSpec::default());
        let s = parse_spec(":256MiB,eio_every=1000").unwrap();
        assert_eq!(s.size, Some(256 << 20));
        assert_eq!(s.eio_every, Some(1000));
        let s = parse_spec(",eio_at=0;8KiB;12288,delay_every=500,delay=20ms").unwrap();
        assert_eq!(s.size, None);
        assert_eq!(s.eio_at, vec![0, 8192, 12288]);
        assert_eq!(s.delay_every, Some(500));
        assert_eq!(s.delay_ns, Some(20_000_000));
        let s = parse_spec(":1MiB,delay_at=4096,delay=1s").unwrap();
        assert_eq!(s.delay_at, vec![4096]);
        assert_eq!(
            s.describe(0),
            "fuse:1MiB,delay_at=4096,delay=1s",
            "{}",
            s.describe(0)
        );
    }

    #[test]
    fn bad_specs_say_what_to_do() {
        for (bad, says) in [
            (":", "give a size"),
            (":big", "fuse size"),
            ("x", "not a device spec"),
            (",eio_every=0", "at least 1"),
            (",eio_every=abc", "whole number"),
            (",eio_every", "has no value"),
            (",eio_at=", "not an offset"),
            (",eio_at=1;x", "not an offset"),
            (",delay_every=5", "need delay=D"),
            (",delay=5ms", "needs delay_every"),
            (",delay_every=5,delay=0s", "out of range"),
            (",delay_every=5,delay=1h", "out of range"),
            (",bogus=1", "unknown fuse option"),
            (",eio_every=1,eio_every=2", "twice"),
        ] {
            let e = parse_spec(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn checks_against_the_size() {
        let s = parse_spec(":1MiB,eio_at=2MiB").unwrap();
        assert!(s.check(1 << 20).unwrap_err().contains("past the end"));
        let s = parse_spec(":1MiB").unwrap();
        assert!(s.check(2 << 20).unwrap_err().contains("smaller"));
        assert!(s.check(1 << 20).is_ok());
    }

    #[test]
    fn which_pages_fail() {
        let f = Faults::new(&parse_spec(",eio_every=4,eio_at=40KiB").unwrap());
        assert!(!f.fails(0..3));
        assert!(f.fails(3..4));
        assert!(f.fails(0..4));
        assert!(!f.fails(4..7));
        assert!(f.fails(7..8));
        assert!(f.fails(10..11), "the page holding 40KiB");
        assert!(!f.delays(0..100));
        let f = Faults::new(&parse_spec(",delay_at=4096,delay=1ms").unwrap());
        assert!(f.delays(1..2) && !f.delays(2..9) && !f.fails(0..100));
    }
}
