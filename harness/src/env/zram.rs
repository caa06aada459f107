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
        Zram::create_one(size, size)
    }

    /// Hot-add `count` devices of `size` bytes each (all removed again if one fails).
    pub fn create_set(count: u32, size: u64) -> Result<Vec<Zram>, ZramError> {
        let total = size.saturating_mul(u64::from(count.max(1)));
        (0..count.max(1))
            .map(|_| Zram::create_one(size, total))
            .collect()
    }

    /// Hot-add one device of `size`, checking that `total` bytes of zram fit in RAM.
    fn create_one(size: u64, total: u64) -> Result<Zram, ZramError> {
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
            if total + total / 8 > a {
                return Err(ZramError::TooLarge {
                    size: total,
                    available: a,
                });
            }
        }
        let id: u32 = std::fs::read_to_string(Path::new(CONTROL).join("hot_add"))
            .map_err(ZramError::HotAdd)?
            .trim()
            .parse()
            .map_err(ZramError::NoNumber)?;
        super::devstate::record(super::devstate::Item::Zram(id));
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

    pub fn sysfs(&self) -> PathBuf {
        PathBuf::from(format!("/sys/block/zram{}", self.id))
    }

    pub fn name(&self) -> String {
        format!("zram{}", self.id)
    }
}

impl Drop for Zram {
    fn drop(&mut self) {
        remove(self.id);
        super::devstate::forget(&super::devstate::Item::Zram(self.id));
    }
}

/// Reset (free its memory) and hot-remove zram device `id`: only ever called for a
/// device this harness added (never zram0). Retries briefly while it is still open.
pub fn remove(id: u32) {
    if id == 0 {
        return;
    }
    let sys = PathBuf::from(format!("/sys/block/zram{id}"));
    if !sys.exists() {
        return;
    }
    let mut last = None;
    for _ in 0..50 {
        let _ = std::fs::write(sys.join("reset"), "1");
        match std::fs::write(Path::new(CONTROL).join("hot_remove"), id.to_string()) {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(e) = last {
        eprintln!(
            "warning: could not remove zram{id} ({e}); remove it with: echo 1 > /sys/block/zram{id}/reset; echo {id} > {CONTROL}/hot_remove"
        );
    }
}

/// `--device zram[:SIZE][,count=N][,stripe=S][,read_iops=N][,read_bps=B][,write_iops=N][,write_bps=B]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ZramSpec {
    /// Bytes of each device (default: what the workload needs of it).
    pub size: Option<u64>,
    /// Devices, striped (default 1).
    pub count: u32,
    /// Stripe unit in bytes (default 1 MiB); only used with count > 1.
    pub stripe: u64,
    /// Throttle of each device (blkio), empty for none.
    #[serde(skip_serializing_if = "super::blkio::Cap::is_empty")]
    pub cap: super::blkio::Cap,
}

pub const DEFAULT_STRIPE: u64 = units::MIB;
pub const MAX_COUNT: u32 = 64;

impl Default for ZramSpec {
    fn default() -> ZramSpec {
        ZramSpec {
            size: None,
            count: 1,
            stripe: DEFAULT_STRIPE,
            cap: Default::default(),
        }
    }
}

const USAGE: &str = "use zram[:SIZE][,count=N][,stripe=S][,read_iops=N][,read_bps=B][,write_iops=N][,write_bps=B], e.g. zram:2GiB or zram:256MiB,count=4,read_iops=40000";

/// Parse a device spec: `zram`, `zram:SIZE`, each optionally followed by `,key=value`
/// options (count, stripe and the cap keys).
pub fn parse_device(s: &str) -> Result<ZramSpec, String> {
    let s = s.trim();
    let mut parts = s.split(',');
    let head = parts.next().unwrap_or("").trim();
    let mut z = ZramSpec::default();
    match head.split_once(':') {
        None if head == "zram" => {}
        Some(("zram", size)) => {
            z.size = Some(units::parse_size(size).map_err(|e| format!("zram size: {e}"))?)
        }
        _ => return Err(format!("`{s}` is not a device spec; {USAGE}")),
    }
    let mut seen_count = false;
    let mut seen_stripe = false;
    for part in parts.map(str::trim) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("zram option `{part}` is not key=value; {USAGE}"));
        };
        let k = k.trim();
        match k {
            "count" => {
                if std::mem::replace(&mut seen_count, true) {
                    return Err("`count` is given twice".into());
                }
                z.count = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_COUNT).contains(n))
                    .ok_or_else(|| {
                        format!("count={v}: give a whole number of devices from 1 to {MAX_COUNT}")
                    })?;
            }
            "stripe" => {
                if std::mem::replace(&mut seen_stripe, true) {
                    return Err("`stripe` is given twice".into());
                }
                let u = units::parse_size(v).map_err(|e| format!("stripe={v}: {e}"))?;
                if u == 0 || !u.is_multiple_of(4096) {
                    return Err(format!(
                        "stripe={v}: the stripe unit must be a positive multiple of 4KiB, e.g. stripe=1MiB"
                    ));
                }
                z.stripe = u;
            }
            _ => {
                if !z.cap.take(k, v)? {
                    return Err(format!("`{k}` is not a zram option; {USAGE}"));
                }
            }
        }
    }
    Ok(z)
}

impl ZramSpec {
    /// Bytes each device needs to hold its stripes of `size` logical bytes.
    pub fn needed_per_device(&self, size: u64) -> u64 {
        if self.count <= 1 {
            return size;
        }
        let units = size.div_ceil(self.stripe);
        units.div_ceil(u64::from(self.count)) * self.stripe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs() {
        assert_eq!(parse_device("zram"), Ok(ZramSpec::default()));
        assert_eq!(parse_device("zram:1GiB").unwrap().size, Some(1 << 30));
        assert!(parse_device("nvme").is_err());
        assert!(parse_device("zram:big").is_err());
        let z = parse_device("zram:64MiB,count=4,stripe=256KiB,read_iops=40000").unwrap();
        assert_eq!(
            (z.count, z.stripe, z.cap.read_iops),
            (4, 256 << 10, Some(40000))
        );
        assert_eq!(z.needed_per_device(10 << 20), 10 * (256 << 10));
        for bad in [
            "zram,count=0",
            "zram,count=x",
            "zram,stripe=1000",
            "zram,read_iops=-1",
            "zram,bogus=1",
            "zram,read_iops",
            "zram,count=2,count=3",
        ] {
            assert!(parse_device(bad).is_err(), "{bad}");
        }
        assert!(parse_device("zram,bogus=1")
            .unwrap_err()
            .contains("count=N"));
    }
}
