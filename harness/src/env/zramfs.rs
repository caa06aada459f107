//! A file system on an emulated device, for the engine backends: their databases
//! (SQLite, LMDB) are files, so with `--device zram` and an engine in the workload the
//! run's zram device gets an ext4 file system (mkfs.ext4, no journal, inode tables
//! written at once so no background initialisation writes during a cell), mounted
//! noatime at a private directory under the temp dir; the data file and the databases
//! are generated in it. Unmounted (and the directory removed) when the guard drops,
//! before the device is removed; recorded in `devstate` before mounting, so a run
//! killed with SIGKILL is unmounted at the next start.

use super::devstate;
use super::zram::Zram;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

const PREFIX: &str = "faultline-zramfs-";

/// A mounted file system on a zram device this run added.
pub struct ZramFs {
    pub dir: PathBuf,
    pub dev: PathBuf,
}

/// Whether `dir` is a mount directory this tool makes.
pub fn is_ours(dir: &Path) -> bool {
    dir.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(PREFIX))
}

/// Bytes of zram a workload of `size` needs for its data file and `engines` databases
/// on ext4 (each database about the data file's size; file system overhead and margin).
pub fn needed(size: u64, engines: usize) -> u64 {
    let files = size * (1 + engines as u64);
    (files + files / 8 + 64 * crate::units::MIB).next_multiple_of(1 << 20)
}

impl ZramFs {
    /// Make an ext4 file system on `z` (a device this run hot-added) and mount it.
    pub fn mount(z: &Zram) -> Result<ZramFs> {
        let out = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0", "-O", "^has_journal"])
            .args(["-E", "lazy_itable_init=0,lazy_journal_init=0"])
            .arg(&z.dev)
            .output();
        match out {
            Err(e) => bail!(
                "cannot run mkfs.ext4 ({e}): the engine backends need a file system on the zram device; install e2fsprogs, or run them without --device zram"
            ),
            Ok(o) if !o.status.success() => bail!(
                "mkfs.ext4 {} failed: {}",
                z.dev.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Ok(_) => {}
        }
        let dir = std::env::temp_dir().join(format!("{PREFIX}{}-{}", std::process::id(), z.id));
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("cannot create the mount directory {}", dir.display()))?;
        }
        devstate::record(devstate::Item::Mount(dir.clone()));
        if let Err(e) = crate::sys::mount_ext4(&z.dev, &dir) {
            let _ = std::fs::remove_dir(&dir);
            devstate::forget(&devstate::Item::Mount(dir.clone()));
            bail!(
                "cannot mount the ext4 file system of {} at {}: {e}",
                z.dev.display(),
                dir.display()
            );
        }
        Ok(ZramFs {
            dir,
            dev: z.dev.clone(),
        })
    }
}

impl Drop for ZramFs {
    fn drop(&mut self) {
        match crate::sys::umount_detach(&self.dir) {
            Ok(()) => {
                let _ = std::fs::remove_dir(&self.dir);
            }
            Err(e) => eprintln!(
                "warning: could not unmount {} ({e}); unmount it with: umount -l {}",
                self.dir.display(),
                self.dir.display()
            ),
        }
        devstate::forget(&devstate::Item::Mount(self.dir.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_directories() {
        assert!(is_ours(Path::new("/tmp/faultline-zramfs-1-2")));
        assert!(!is_ours(Path::new("/mnt/data")));
        assert!(needed(256 << 20, 2) > 3 * (256 << 20));
    }
}
