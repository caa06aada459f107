//! `read_ahead_kb` of the devices under test, set for the run and restored afterwards
//! (on drop: also on error and Ctrl-C; after a SIGKILL by the next run, from the
//! `devstate` record written before the change).

use std::path::PathBuf;

/// The largest value accepted (the kernel takes more, but nothing sensible needs it).
pub const MAX_KB: u64 = 1 << 20;

fn file(disk: &str) -> PathBuf {
    PathBuf::from(format!("/sys/block/{disk}/queue/read_ahead_kb"))
}

/// Read a disk's read_ahead_kb.
pub fn read(disk: &str) -> Result<u64, String> {
    let p = file(disk);
    std::fs::read_to_string(&p)
        .map_err(|e| format!("cannot read {}: {e}", p.display()))?
        .trim()
        .parse()
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// The read-ahead this run set, with the values to restore.
pub struct ReadAhead {
    /// (disk, value before the run).
    pub changed: Vec<(String, u64)>,
    pub kb: u64,
}

impl ReadAhead {
    /// Set `kb` on each disk (sysfs names), recording the old values first.
    pub fn set(disks: &[String], kb: u64) -> Result<ReadAhead, String> {
        if crate::sys::uid() != 0 {
            return Err("read_ahead_kb: setting a device's read-ahead needs root (it writes /sys/block/DISK/queue/read_ahead_kb)".into());
        }
        let mut ra = ReadAhead {
            changed: Vec::new(),
            kb,
        };
        for d in disks {
            if d == "zram0" {
                return Err("read_ahead_kb: the data is on zram0, which this harness never changes; use --device zram for a device of its own".into());
            }
            let old = read(d).map_err(|e| format!("read_ahead_kb: {e}"))?;
            if old == kb {
                continue;
            }
            super::devstate::record(super::devstate::Item::ReadAhead {
                disk: d.clone(),
                old_kb: old,
            });
            if let Err(e) = std::fs::write(file(d), kb.to_string()) {
                super::devstate::forget(&super::devstate::Item::ReadAhead {
                    disk: d.clone(),
                    old_kb: old,
                });
                return Err(format!(
                    "read_ahead_kb: cannot write {} to {}: {e}",
                    kb,
                    file(d).display()
                ));
            }
            ra.changed.push((d.clone(), old));
        }
        Ok(ra)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        for (d, old) in self.changed.iter().rev() {
            // A zram device of the run may be gone already: nothing to restore then.
            if !file(d).exists() {
            } else if let Err(e) = std::fs::write(file(d), old.to_string()) {
                eprintln!(
                    "warning: could not restore read_ahead_kb of {d} to {old} ({e}); set it with: echo {old} > {}",
                    file(d).display()
                );
                continue;
            }
            super::devstate::forget(&super::devstate::Item::ReadAhead {
                disk: d.clone(),
                old_kb: *old,
            });
        }
    }
}
