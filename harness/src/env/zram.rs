//! An emulated fast device: a zram block device hot-added for the run
//! (/sys/class/zram-control/hot_add), sized, filled with the data pattern, and
//! hot-removed afterwards (also on error and Ctrl-C). RAM-backed, microsecond latency:
//! the "fast NVMe" regime of the mmap critique on any Linux box. Only the device this
//! run added is ever touched; existing zram devices (zram0 ...) are left alone.

use crate::units;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CONTROL: &str = "/sys/class/zram-control";

/// Why a zram device cannot be set up for the run.
#[derive(Debug, thiserror::Error)]
pub enum ZramError {
    #[error("--device zram: {CONTROL}/hot_add does not exist; load the zram module (modprobe zram) or use a real device")]
    NoModule,
    #[error("--device zram: hot-adding a zram device needs root")]
    NotRoot,
    #[error("--device zram:{}: the device keeps its data in RAM and only {} is available; use a smaller size", units::format_size(*.size), units::format_size(*.available))]
    TooLarge { size: u64, available: u64 },
    #[error("cannot hot-add a zram device")]
    HotAdd(#[source] std::io::Error),
    #[error("hot_add returned no device number")]
    NoNumber(#[source] std::num::ParseIntError),
    #[error("cannot set the size of zram{id}")]
    SetSize {
        id: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("{} did not appear after hot-adding zram{id}", .dev.display())]
    NoNode { dev: PathBuf, id: u32 },
}

pub struct Zram {
    pub id: u32,
    pub dev: PathBuf,
    pub size: u64,
}

impl Zram {
    /// Hot-add a device of `size` bytes. Needs root and the zram module.
    pub fn create(size: u64) -> Result<Zram, ZramError> {
        if !Path::new(CONTROL).join("hot_add").exists() {
            return Err(ZramError::NoModule);
        }
        if crate::sys::uid() != 0 {
            return Err(ZramError::NotRoot);
        }
        let avail = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| crate::env::meminfo_kb(&t, "MemAvailable"))
            .map(|k| k * 1024);
        if let Some(a) = avail {
            // The data is incompressible: the device holds all of it in RAM, and the
            // page cache needs room besides.
            if size + size / 8 > a {
                return Err(ZramError::TooLarge { size, available: a });
            }
        }
        let id: u32 = std::fs::read_to_string(Path::new(CONTROL).join("hot_add"))
            .map_err(ZramError::HotAdd)?
            .trim()
            .parse()
            .map_err(ZramError::NoNumber)?;
        let z = Zram {
            id,
            dev: PathBuf::from(format!("/dev/zram{id}")),
            size,
        };
        let sys = z.sysfs();
        std::fs::write(sys.join("disksize"), size.to_string())
            .map_err(|source| ZramError::SetSize { id, source })?;
        // devtmpfs creates the node; give it a moment.
        let t0 = Instant::now();
        while !z.dev.exists() {
            if t0.elapsed() > Duration::from_secs(5) {
                return Err(ZramError::NoNode {
                    dev: z.dev.clone(),
                    id,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(z)
    }

    fn sysfs(&self) -> PathBuf {
        PathBuf::from(format!("/sys/block/zram{}", self.id))
    }

    pub fn name(&self) -> String {
        format!("zram{}", self.id)
    }
}

impl Drop for Zram {
    fn drop(&mut self) {
        // Free its memory, then remove it. Both only ever touch the device we added.
        let _ = std::fs::write(self.sysfs().join("reset"), "1");
        if let Err(e) = std::fs::write(Path::new(CONTROL).join("hot_remove"), self.id.to_string()) {
            eprintln!(
                "warning: could not remove zram{} ({e}); remove it with: echo 1 > /sys/block/zram{}/reset; echo {} > {CONTROL}/hot_remove",
                self.id, self.id, self.id
            );
        }
    }
}

/// Parse a device spec: `zram` or `zram:SIZE`.
pub fn parse_device(s: &str) -> Result<Option<u64>, String> {
    let s = s.trim();
    match s.split_once(':') {
        None if s == "zram" => Ok(None),
        Some(("zram", size)) => units::parse_size(size).map(Some).map_err(|e| format!("zram size: {e}")),
        _ => Err(format!("`{s}` is not a device spec; use zram or zram:SIZE (an emulated RAM-backed device), e.g. zram:2GiB")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs() {
        assert_eq!(parse_device("zram"), Ok(None));
        assert_eq!(parse_device("zram:1GiB"), Ok(Some(1 << 30)));
        assert!(parse_device("nvme").is_err());
        assert!(parse_device("zram:big").is_err());
    }
}
