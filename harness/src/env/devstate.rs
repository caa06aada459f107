//! What a run changed on the machine's devices, recorded under /run/faultline/devices/
//! (one file per faultline process, one line per change) before the change is made, so
//! that a run killed with SIGKILL (whose guards never ran) is undone at the next start:
//! its zram devices reset and hot-removed, its blkio cgroup emptied of rules and
//! removed, the read-ahead it changed set back. Each guard forgets its line when it has
//! undone its change; a file without lines is removed.
//!
//! Lines: `zram ID`, `blkio PATH`, `readahead DISK OLD_KB`, `mount DIR`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const RECORDS: &str = "/run/faultline/devices";

/// One change to undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A zram device this run hot-added.
    Zram(u32),
    /// A blkio cgroup this run created.
    BlkioCgroup(PathBuf),
    /// The read-ahead of a disk, and its value before the run.
    ReadAhead { disk: String, old_kb: u64 },
    /// A file system this run mounted (on one of its zram devices), at a directory it
    /// created (`env::zramfs`).
    Mount(PathBuf),
}

impl Item {
    fn line(&self) -> String {
        match self {
            Item::Zram(id) => format!("zram {id}"),
            Item::BlkioCgroup(p) => format!("blkio {}", p.display()),
            Item::ReadAhead { disk, old_kb } => format!("readahead {disk} {old_kb}"),
            Item::Mount(p) => format!("mount {}", p.display()),
        }
    }

    fn parse(line: &str) -> Option<Item> {
        let (kind, rest) = line.trim().split_once(' ')?;
        match kind {
            "zram" => rest.trim().parse().ok().map(Item::Zram),
            "blkio" => Some(Item::BlkioCgroup(PathBuf::from(rest))),
            "mount" => Some(Item::Mount(PathBuf::from(rest))),
            "readahead" => {
                let (disk, kb) = rest.split_once(' ')?;
                Some(Item::ReadAhead {
                    disk: disk.to_string(),
                    old_kb: kb.trim().parse().ok()?,
                })
            }
            _ => None,
        }
    }
}

/// This process's lines (the file is rewritten from it on every change).
static MINE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn my_file() -> PathBuf {
    Path::new(RECORDS).join(std::process::id().to_string())
}

fn write_mine(lines: &[String]) {
    let f = my_file();
    if lines.is_empty() {
        let _ = std::fs::remove_file(&f);
        return;
    }
    if std::fs::create_dir_all(RECORDS).is_err() {
        return;
    }
    let tmp = f.with_extension("tmp");
    let mut text = lines.join("\n");
    text.push('\n');
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, &f);
    }
}

/// Record a change before making it (best effort: without /run the change is still
/// undone by its guard, only not after a SIGKILL).
pub fn record(item: Item) {
    let mut m = MINE.lock().unwrap_or_else(|p| p.into_inner());
    m.push(item.line());
    write_mine(&m);
}

/// The change was undone.
pub fn forget(item: &Item) {
    let mut m = MINE.lock().unwrap_or_else(|p| p.into_inner());
    let l = item.line();
    if let Some(i) = m.iter().position(|x| *x == l) {
        m.remove(i);
    }
    write_mine(&m);
}

/// Undo what faultline processes that no longer run left recorded. Returns a note per
/// change undone. Records of live processes are left alone.
pub fn clean_stale() -> Vec<String> {
    let mut notes = Vec::new();
    let Ok(dir) = std::fs::read_dir(RECORDS) else {
        return notes;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || process_runs(pid) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        // Undo in reverse order of the changes.
        for item in text.lines().rev().filter_map(Item::parse) {
            notes.push(undo(&item, pid));
        }
        let _ = std::fs::remove_file(e.path());
    }
    notes
}

fn undo(item: &Item, pid: u32) -> String {
    match item {
        Item::ReadAhead { disk, old_kb } => {
            let p = format!("/sys/block/{disk}/queue/read_ahead_kb");
            match std::fs::write(&p, old_kb.to_string()) {
                Ok(()) => format!("restored read_ahead_kb of {disk} to {old_kb} (left changed by faultline process {pid})"),
                Err(e) => format!("could not restore read_ahead_kb of {disk} to {old_kb} ({e}); set it with: echo {old_kb} > {p}"),
            }
        }
        Item::BlkioCgroup(p) => {
            // Only ever a cgroup named after that process.
            let ours = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == format!("faultline-{pid}"));
            if !ours {
                return format!(
                    "ignored the record of blkio cgroup {} (not named faultline-{pid})",
                    p.display()
                );
            }
            super::blkio::remove(p);
            format!(
                "removed the stale blkio cgroup {} left by faultline process {pid}",
                p.display()
            )
        }
        Item::Mount(p) => {
            // Only ever a directory this tool made.
            if !super::zramfs::is_ours(p) {
                return format!(
                    "ignored the record of mount {} (not a faultline-zramfs directory)",
                    p.display()
                );
            }
            let _ = crate::sys::umount_detach(p);
            let _ = std::fs::remove_dir(p);
            format!("unmounted {} left by faultline process {pid}", p.display())
        }
        Item::Zram(id) => {
            if *id == 0 {
                return "ignored a record of zram0 (never touched)".into();
            }
            super::zram::remove(*id);
            format!("removed zram{id} left by faultline process {pid}")
        }
    }
}

/// Whether process `pid` runs. Any live process counts (the harness's own library used
/// by a test program records here too): a reused pid only delays the clean-up.
fn process_runs(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        for i in [
            Item::Zram(3),
            Item::BlkioCgroup(PathBuf::from("/sys/fs/cgroup/blkio/faultline-12")),
            Item::ReadAhead {
                disk: "vda".into(),
                old_kb: 8192,
            },
            Item::Mount(PathBuf::from("/tmp/faultline-zramfs-12-3")),
        ] {
            assert_eq!(Item::parse(&i.line()), Some(i));
        }
        assert_eq!(Item::parse("bogus 1"), None);
    }
}
