//! Which physical disks hold a file: from the file's device number, through sysfs, down
//! to the leaf block devices whose statistics show the I/O the file caused.
//!
//! `/sys/dev/block/MAJ:MIN` is a symlink to the device's directory under
//! `/sys/devices/...`. A partition's directory sits inside its disk's directory and has
//! a `partition` file; a stacked device (device-mapper `dm-N`, md RAID `mdN`) lists the
//! devices it is built on as symlinks in `slaves/`. Only the file system is read here
//! (the sysfs root is a parameter), so the resolution is tested on fake sysfs trees.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Stacks deeper than this are taken for a cycle in `slaves/` (real ones are 2 or 3).
const MAX_DEPTH: usize = 16;

/// The device number behind `path` (symlinks followed): `(major, minor, is_block_device)`.
/// For a block device node it is the device itself (`st_rdev`), for anything else the
/// device of the file system holding it (`st_dev`).
pub fn device_of_path(path: &Path) -> Result<(u32, u32, bool), String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    let is_block = meta.file_type().is_block_device();
    let dev = if is_block { meta.rdev() } else { meta.dev() };
    Ok((libc::major(dev), libc::minor(dev), is_block))
}

/// The physical disks behind block device `major:minor`, as sysfs names (the directory
/// names under `<sys_root>/block/`, e.g. `["nvme0n1", "nvme1n1"]`), sorted and without
/// duplicates. `sys_root` is `/sys` except in tests.
///
/// A partition resolves to its disk; a device with non-empty `slaves/` (device-mapper,
/// md RAID, and partitions of those) resolves, recursively, to the leaf disks of each
/// slave. A device without slaves is its own leaf, which includes virtual devices such
/// as `loop0` or `zram0`. Names with '/' in the kernel (`cciss/c0d0`) have '!' in sysfs
/// (`cciss!c0d0`); /proc/diskstats uses the '/' form.
pub fn physical_disks(sys_root: &Path, major: u32, minor: u32) -> Result<Vec<String>, String> {
    let dev_block = sys_root.join("dev").join("block");
    let link = dev_block.join(format!("{major}:{minor}"));
    let dir = match fs::canonicalize(&link) {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(if !dev_block.is_dir() {
                format!(
                    "{} does not exist (sysfs is not mounted there)",
                    dev_block.display()
                )
            } else if major == 0 {
                format!(
                    "device 0:{minor} is not a block device (tmpfs, overlay or a network file \
                     system; btrfs and ZFS also report such anonymous device numbers)"
                )
            } else {
                format!(
                    "device {major}:{minor} is not a block device ({} does not exist)",
                    link.display()
                )
            });
        }
        Err(e) => return Err(format!("cannot resolve {}: {e}", link.display())),
    };
    let mut leaves = BTreeSet::new();
    collect_leaves(&dir, 0, &mut leaves)?;
    Ok(leaves.into_iter().collect())
}

/// Adds the leaf disks under the block device directory `dir` to `out`.
fn collect_leaves(dir: &Path, depth: usize, out: &mut BTreeSet<String>) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "device stack deeper than {MAX_DEPTH} levels at {} (a cycle in slaves/?)",
            dir.display()
        ));
    }
    let disk = if dir.join("partition").exists() {
        dir.parent()
            .ok_or_else(|| format!("partition {} has no parent directory", dir.display()))?
    } else {
        dir
    };
    let slaves = slaves_of(disk)?;
    if slaves.is_empty() {
        let name = disk
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{} has no device name", disk.display()))?;
        out.insert(name);
        return Ok(());
    }
    for slave in slaves {
        let target = fs::canonicalize(&slave)
            .map_err(|e| format!("cannot resolve {}: {e}", slave.display()))?;
        collect_leaves(&target, depth + 1, out)?;
    }
    Ok(())
}

/// The entries of `<disk>/slaves/`, sorted; empty when the directory is absent or empty.
fn slaves_of(disk: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = disk.join("slaves");
    let entries = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake sysfs: block device directories under `devices/`, linked from `dev/block/`
    /// with relative symlinks as the kernel makes them.
    struct FakeSys {
        dir: tempfile::TempDir,
    }

    impl FakeSys {
        fn new() -> FakeSys {
            let dir = tempfile::tempdir().expect("tempdir");
            fs::create_dir_all(dir.path().join("dev/block")).expect("mkdir dev/block");
            FakeSys { dir }
        }

        fn root(&self) -> &Path {
            self.dir.path()
        }

        /// A device directory at `devices/<rel>`, registered as `maj:min`.
        fn device(&self, rel: &str, maj_min: &str) {
            let d = self.root().join("devices").join(rel);
            fs::create_dir_all(d.join("holders")).expect("mkdir device");
            fs::write(d.join("dev"), format!("{maj_min}\n")).expect("write dev");
            fs::write(d.join("stat"), "0 0 0 0 0 0 0 0 0 0 0\n").expect("write stat");
            let target = Path::new("../../devices").join(rel);
            symlink(target, self.root().join("dev/block").join(maj_min)).expect("symlink");
        }

        /// A partition: a device directory inside its disk's, with a `partition` file.
        fn partition(&self, rel: &str, maj_min: &str, number: u32) {
            self.device(rel, maj_min);
            let d = self.root().join("devices").join(rel);
            fs::write(d.join("partition"), format!("{number}\n")).expect("write partition");
        }

        /// Makes the device at `devices/<upper>` a stack over `devices/<lower>`.
        fn slave(&self, upper: &str, lower: &str) {
            let slaves = self.root().join("devices").join(upper).join("slaves");
            fs::create_dir_all(&slaves).expect("mkdir slaves");
            let name = Path::new(lower).file_name().expect("lower name");
            let depth = upper.split('/').count() + 1; // from devices/<upper>/slaves up to devices/
            let mut target = PathBuf::new();
            for _ in 0..depth {
                target.push("..");
            }
            target.push(lower);
            symlink(target, slaves.join(name)).expect("slave symlink");
        }

        fn disks(&self, maj: u32, min: u32) -> Result<Vec<String>, String> {
            physical_disks(self.root(), maj, min)
        }
    }

    const SDA: &str = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda";
    const SDB: &str = "pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sdb";
    const NVME0: &str = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1";
    const NVME1: &str = "pci0000:00/0000:00:1d.4/0000:3e:00.0/nvme/nvme1/nvme1n1";

    #[test]
    fn plain_disk_is_itself() {
        let s = FakeSys::new();
        s.device(NVME0, "259:0");
        assert_eq!(s.disks(259, 0).unwrap(), vec!["nvme0n1"]);
    }

    #[test]
    fn partition_resolves_to_its_disk() {
        let s = FakeSys::new();
        s.device(SDA, "8:0");
        s.partition(&format!("{SDA}/sda2"), "8:2", 2);
        s.device(NVME0, "259:0");
        s.partition(&format!("{NVME0}/nvme0n1p1"), "259:1", 1);
        assert_eq!(s.disks(8, 2).unwrap(), vec!["sda"]);
        assert_eq!(s.disks(259, 1).unwrap(), vec!["nvme0n1"]);
    }

    #[test]
    fn device_mapper_over_partitions_of_two_disks() {
        let s = FakeSys::new();
        s.device(NVME1, "259:3");
        s.partition(&format!("{NVME1}/nvme1n1p1"), "259:4", 1);
        s.device(NVME0, "259:0");
        s.partition(&format!("{NVME0}/nvme0n1p2"), "259:2", 2);
        s.device("virtual/block/dm-0", "253:0");
        s.slave("virtual/block/dm-0", &format!("{NVME1}/nvme1n1p1"));
        s.slave("virtual/block/dm-0", &format!("{NVME0}/nvme0n1p2"));
        assert_eq!(s.disks(253, 0).unwrap(), vec!["nvme0n1", "nvme1n1"]);
    }

    #[test]
    fn md_raid_over_two_disks_and_its_partition() {
        let s = FakeSys::new();
        s.device(SDA, "8:0");
        s.device(SDB, "8:16");
        s.device("virtual/block/md0", "9:0");
        s.slave("virtual/block/md0", SDA);
        s.slave("virtual/block/md0", SDB);
        // md0p1 is a partition of md0: its parent has the slaves.
        s.partition("virtual/block/md0/md0p1", "259:7", 1);
        assert_eq!(s.disks(9, 0).unwrap(), vec!["sda", "sdb"]);
        assert_eq!(s.disks(259, 7).unwrap(), vec!["sda", "sdb"]);
    }

    #[test]
    fn dm_over_md_over_partitions_deduplicates() {
        // dm-1 (LVM) over md0 and over sda3 directly; md0 over sda1 and sdb1.
        let s = FakeSys::new();
        s.device(SDA, "8:0");
        s.partition(&format!("{SDA}/sda1"), "8:1", 1);
        s.partition(&format!("{SDA}/sda3"), "8:3", 3);
        s.device(SDB, "8:16");
        s.partition(&format!("{SDB}/sdb1"), "8:17", 1);
        s.device("virtual/block/md0", "9:0");
        s.slave("virtual/block/md0", &format!("{SDA}/sda1"));
        s.slave("virtual/block/md0", &format!("{SDB}/sdb1"));
        s.device("virtual/block/dm-1", "253:1");
        s.slave("virtual/block/dm-1", "virtual/block/md0");
        s.slave("virtual/block/dm-1", &format!("{SDA}/sda3"));
        assert_eq!(s.disks(253, 1).unwrap(), vec!["sda", "sdb"]);
    }

    #[test]
    fn empty_slaves_directory_is_a_leaf() {
        let s = FakeSys::new();
        s.device("virtual/block/dm-2", "253:2");
        fs::create_dir_all(s.root().join("devices/virtual/block/dm-2/slaves")).unwrap();
        assert_eq!(s.disks(253, 2).unwrap(), vec!["dm-2"]);
    }

    #[test]
    fn slave_cycle_is_an_error_not_a_hang() {
        let s = FakeSys::new();
        s.device("virtual/block/dm-0", "253:0");
        s.device("virtual/block/dm-1", "253:1");
        s.slave("virtual/block/dm-0", "virtual/block/dm-1");
        s.slave("virtual/block/dm-1", "virtual/block/dm-0");
        let err = s.disks(253, 0).unwrap_err();
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn dangling_slave_is_an_error() {
        let s = FakeSys::new();
        s.device("virtual/block/dm-0", "253:0");
        s.slave("virtual/block/dm-0", "virtual/block/gone");
        let err = s.disks(253, 0).unwrap_err();
        assert!(err.contains("cannot resolve"), "{err}");
    }

    #[test]
    fn missing_devices_say_what_is_missing() {
        let s = FakeSys::new();
        s.device(SDA, "8:0");
        let err = s.disks(0, 45).unwrap_err();
        assert!(
            err.starts_with(
                "device 0:45 is not a block device (tmpfs, overlay or a network file system"
            ),
            "{err}"
        );
        let err = s.disks(8, 5).unwrap_err();
        assert!(err.starts_with("device 8:5 is not a block device"), "{err}");
        assert!(err.contains("dev/block/8:5"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        let err = physical_disks(empty.path(), 8, 0).unwrap_err();
        assert!(err.contains("dev/block does not exist"), "{err}");
    }

    #[test]
    fn device_of_path_reports_missing_files() {
        let err = device_of_path(Path::new("/nonexistent/faultline/x")).unwrap_err();
        assert!(
            err.starts_with("cannot stat /nonexistent/faultline/x"),
            "{err}"
        );
    }

    #[test]
    fn device_of_path_on_a_regular_file_is_not_a_block_device() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"x").unwrap();
        let (maj, min, is_block) = device_of_path(&f).unwrap();
        assert!(!is_block);
        let expect = fs::metadata(dir.path()).unwrap().dev();
        assert_eq!((maj, min), (libc::major(expect), libc::minor(expect)));
    }

    /// Resolves the disk behind the current directory on the machine running the tests
    /// (on the development VM: `vda`, an unpartitioned virtio disk).
    #[test]
    fn real_disk_behind_current_directory() {
        let sys = Path::new("/sys");
        if !sys.join("dev/block").is_dir() {
            println!("skipped: /sys/dev/block is absent (no sysfs)");
            return;
        }
        let cwd = std::env::current_dir().expect("current dir");
        let (maj, min, is_block) = device_of_path(&cwd).expect("stat current dir");
        assert!(!is_block);
        match physical_disks(sys, maj, min) {
            Ok(disks) => {
                println!("{} is on {maj}:{min}, disks {disks:?}", cwd.display());
                assert!(!disks.is_empty());
                for d in &disks {
                    assert!(sys.join("block").join(d).is_dir(), "/sys/block/{d} missing");
                }
            }
            // Containers often put the working tree on overlay or tmpfs.
            Err(e) if maj == 0 => println!("skipped: {e}"),
            Err(e) => panic!("cannot resolve {maj}:{min}: {e}"),
        }
    }
}
