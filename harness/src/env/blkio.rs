//! A capped device: the blkio (cgroup v1) throttle on the devices under test, so that an
//! emulated device can be slower than the CPU's fault path, as the paper's SSDs were
//! relative to its 64 cores.
//!
//! The run creates `faultline-PID` as a child of the harness's own blkio cgroup, writes
//! `MAJ:MIN N` into its `blkio.throttle.{read,write}_{iops,bps}_device` files for every
//! device under test, and moves the harness process (all its threads, and the fio
//! processes it starts, which inherit it) into it for the whole run. The blkio
//! hierarchy is separate from the memory hierarchy in v1, so this does not change the
//! memory cgroup of the page-cache limit. On drop the harness returns to its home
//! cgroup, the throttle rules are cleared and the cgroup removed; a killed run's cgroup
//! is removed at the next start (`devstate`). cgroup v2 (`io.max`) is not built: such
//! machines get an error that says so.

use crate::probe::parse;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Throttle limits for one device; `None` = not limited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cap {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub read_iops: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub read_bps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub write_iops: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub write_bps: Option<u64>,
}

/// The keys a cap takes, for messages.
pub const CAP_KEYS: &str = "read_iops=N, read_bps=B, write_iops=N, write_bps=B";

impl Cap {
    pub fn is_empty(&self) -> bool {
        self.files().iter().all(|(_, v)| v.is_none())
    }

    /// (throttle file, value) for each limit.
    pub fn files(&self) -> [(&'static str, Option<u64>); 4] {
        [
            ("blkio.throttle.read_iops_device", self.read_iops),
            ("blkio.throttle.read_bps_device", self.read_bps),
            ("blkio.throttle.write_iops_device", self.write_iops),
            ("blkio.throttle.write_bps_device", self.write_bps),
        ]
    }

    /// Take `key=value` if it is a cap key: Ok(true) when taken, Ok(false) when `key` is
    /// not a cap key, Err for a bad value. IOPS are whole numbers; bytes per second are
    /// sizes (`200MiB`, or plain bytes).
    pub fn take(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let iops = |v: &str| -> Result<u64, String> {
            let n: u64 = v.trim().parse().map_err(|_| {
                format!("{key}={v}: not a whole number of I/Os per second; e.g. {key}=40000")
            })?;
            if n == 0 {
                return Err(format!(
                    "{key}=0: a cap must be at least 1 (leave the key out for no cap)"
                ));
            }
            Ok(n)
        };
        let bps = |v: &str| -> Result<u64, String> {
            let n = crate::units::parse_size(v)
                .map_err(|e| format!("{key}={v}: {e}; e.g. {key}=200MiB (bytes per second)"))?;
            if n == 0 {
                return Err(format!(
                    "{key}=0: a cap must be at least 1 B/s (leave the key out for no cap)"
                ));
            }
            Ok(n)
        };
        let slot = match key {
            "read_iops" => (&mut self.read_iops, iops(value)?),
            "write_iops" => (&mut self.write_iops, iops(value)?),
            "read_bps" => (&mut self.read_bps, bps(value)?),
            "write_bps" => (&mut self.write_bps, bps(value)?),
            _ => return Ok(false),
        };
        if slot.0.is_some() {
            return Err(format!("`{key}` is given twice"));
        }
        *slot.0 = Some(slot.1);
        Ok(true)
    }

    /// `read_iops=40000,read_bps=...` as given to --device-cap.
    pub fn to_spec_string(&self) -> String {
        let mut v = Vec::new();
        for (k, x) in [
            ("read_iops", self.read_iops),
            ("read_bps", self.read_bps),
            ("write_iops", self.write_iops),
            ("write_bps", self.write_bps),
        ] {
            if let Some(x) = x {
                v.push(format!("{k}={x}"));
            }
        }
        v.join(",")
    }
}

/// `--device-cap read_iops=N,read_bps=B,...`: the cap of the data file's own disk.
pub fn parse_cap(s: &str) -> Result<Cap, String> {
    let mut cap = Cap::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "`{part}` is not key=value; a device cap takes {CAP_KEYS}"
            ));
        };
        if !cap.take(k.trim(), v)? {
            return Err(format!("`{k}` is not a device cap key; use {CAP_KEYS}"));
        }
    }
    if cap.is_empty() {
        return Err(format!(
            "an empty device cap; give at least one of {CAP_KEYS}"
        ));
    }
    Ok(cap)
}

/// Why the cap cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum BlkioError {
    #[error("a device cap needs root (it creates a blkio cgroup and moves the harness into it)")]
    NotRoot,
    #[error("a device cap needs the cgroup v1 blkio controller, and this machine has none mounted ({0}); cgroup v2 io.max is not supported by this harness yet")]
    NoController(String),
    #[error("{what}")]
    File {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn file_err(what: String) -> impl FnOnce(std::io::Error) -> BlkioError {
    move |source| BlkioError::File { what, source }
}

/// Where this process's v1 blkio cgroup is.
pub fn locate() -> Result<PathBuf, BlkioError> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| BlkioError::NoController(format!("cannot read /proc/self/mountinfo: {e}")))?;
    let cg = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| BlkioError::NoController(format!("cannot read /proc/self/cgroup: {e}")))?;
    let (mp, root) = blkio_mount(&mountinfo).ok_or_else(|| {
        BlkioError::NoController(
            "no cgroup mount with the blkio controller in /proc/self/mountinfo".into(),
        )
    })?;
    let path = blkio_path(&cg)
        .ok_or_else(|| BlkioError::NoController("/proc/self/cgroup has no blkio line".into()))?;
    parse::cgroup_dir(&mp, &root, &path).map_err(BlkioError::NoController)
}

/// The mount point and root of the v1 hierarchy holding `blkio`.
fn blkio_mount(mountinfo: &str) -> Option<(PathBuf, String)> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let l: Vec<&str> = left.split_whitespace().collect();
        let r: Vec<&str> = right.split_whitespace().collect();
        let (root, mp, fstype, opts) = (l.get(3)?, l.get(4)?, r.first()?, r.last()?);
        (*fstype == "cgroup" && opts.split(',').any(|o| o == "blkio")).then(|| {
            (
                PathBuf::from(parse::unescape_mountinfo(mp)),
                parse::unescape_mountinfo(root),
            )
        })
    })
}

fn blkio_path(self_cgroup: &str) -> Option<String> {
    self_cgroup.lines().find_map(|line| {
        let mut p = line.splitn(3, ':');
        let (_, ctrls, path) = (p.next()?, p.next()?, p.next()?);
        ctrls
            .split(',')
            .any(|c| c == "blkio")
            .then(|| path.to_string())
    })
}

/// One capped device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CappedDevice {
    pub name: String,
    pub major: u32,
    pub minor: u32,
    pub cap: Cap,
}

/// The run's blkio cgroup with its throttle rules; the harness is inside it until drop.
pub struct BlkioCgroup {
    home: PathBuf,
    cell: PathBuf,
    pub devices: Vec<CappedDevice>,
    inside: bool,
}

impl BlkioCgroup {
    /// Create the cgroup, set the rules, move the harness in. Records itself with
    /// `devstate` first, so a killed run's cgroup is removed at the next start.
    pub fn create(devices: Vec<CappedDevice>) -> Result<BlkioCgroup, BlkioError> {
        if crate::sys::uid() != 0 {
            return Err(BlkioError::NotRoot);
        }
        let home = locate()?;
        let cell = home.join(format!("faultline-{}", std::process::id()));
        super::devstate::record(super::devstate::Item::BlkioCgroup(cell.clone()));
        std::fs::create_dir(&cell).map_err(file_err(format!(
            "cannot create the blkio cgroup {} (a device cap needs root)",
            cell.display()
        )))?;
        let mut cg = BlkioCgroup {
            home,
            cell,
            devices,
            inside: false,
        };
        for d in &cg.devices {
            for (file, v) in d.cap.files() {
                if let Some(v) = v {
                    let p = cg.cell.join(file);
                    std::fs::write(&p, format!("{}:{} {v}", d.major, d.minor)).map_err(
                        file_err(format!(
                            "cannot cap {} ({}:{}) with {}",
                            d.name,
                            d.major,
                            d.minor,
                            p.display()
                        )),
                    )?;
                }
            }
        }
        std::fs::write(cg.cell.join("cgroup.procs"), std::process::id().to_string()).map_err(
            file_err(format!(
                "cannot move the harness into {}",
                cg.cell.display()
            )),
        )?;
        cg.inside = true;
        Ok(cg)
    }

    pub fn path(&self) -> &Path {
        &self.cell
    }

    /// The rules as the kernel shows them (`MAJ:MIN N` lines of each file), to record.
    pub fn read_back(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (file, _) in Cap::default().files() {
            if let Ok(t) = std::fs::read_to_string(self.cell.join(file)) {
                for l in t.lines().filter(|l| !l.trim().is_empty()) {
                    out.push(format!("{file}: {l}"));
                }
            }
        }
        out
    }
}

impl Drop for BlkioCgroup {
    fn drop(&mut self) {
        if self.inside {
            let _ = std::fs::write(
                self.home.join("cgroup.procs"),
                std::process::id().to_string(),
            );
        }
        remove(&self.cell);
        super::devstate::forget(&super::devstate::Item::BlkioCgroup(self.cell.clone()));
    }
}

/// Clear the throttle rules of a cgroup of ours and remove it (retrying while the
/// kernel finishes moving tasks out).
pub fn remove(cell: &Path) {
    for (file, _) in Cap::default().files() {
        if let Ok(t) = std::fs::read_to_string(cell.join(file)) {
            for l in t.lines() {
                if let Some(dev) = l.split_whitespace().next() {
                    let _ = std::fs::write(cell.join(file), format!("{dev} 0"));
                }
            }
        }
    }
    for _ in 0..50 {
        match std::fs::remove_dir(cell) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    eprintln!(
        "warning: could not remove blkio cgroup {}; remove it with rmdir",
        cell.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_parse_and_refuse_bad_values() {
        let c = parse_cap("read_iops=40000,read_bps=200MiB").unwrap();
        assert_eq!(c.read_iops, Some(40000));
        assert_eq!(c.read_bps, Some(200 << 20));
        assert_eq!(
            c.to_spec_string(),
            format!("read_iops=40000,read_bps={}", 200 << 20)
        );
        for bad in [
            "",
            "read_iops",
            "read_iops=x",
            "read_iops=0",
            "iops=3",
            "read_bps=1MB",
            "read_iops=1,read_iops=2",
        ] {
            let e = parse_cap(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(parse_cap("read_iops=x")
            .unwrap_err()
            .contains("whole number"));
        assert!(parse_cap("iops=3").unwrap_err().contains("read_iops=N"));
    }

    #[test]
    fn finds_the_blkio_hierarchy() {
        let mi = "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(
            blkio_mount(mi),
            Some((PathBuf::from("/sys/fs/cgroup/blkio"), "/".to_string()))
        );
        assert_eq!(
            blkio_path("7:blkio:/a/b\n4:memory:/x\n"),
            Some("/a/b".into())
        );
        assert_eq!(blkio_path("0::/x\n"), None);
    }
}
