//! The block device(s) behind the data file, partitions and device-mapper resolved to
//! the physical disks: bytes and I/Os read and written, busy time, from
//! /sys/block/<disk>/stat. These count every process's I/O to those disks.

use super::{device, parse, CounterId, Counters, Probe, Reasons, ThreadSet};
use std::path::Path;

pub struct Disk {
    disks: Result<Vec<String>, String>,
}

impl Disk {
    /// The disks behind every part of the target (several for a striped target).
    pub fn new(targets: &[&Path]) -> Disk {
        let mut all = std::collections::BTreeSet::new();
        for t in targets {
            match device::device_of_path(t)
                .and_then(|(maj, min, _)| device::physical_disks(Path::new("/sys"), maj, min))
            {
                Ok(d) => all.extend(d),
                Err(e) => return Disk { disks: Err(e) },
            }
        }
        Disk {
            disks: Ok(all.into_iter().collect()),
        }
    }

    pub fn disks(&self) -> Result<&[String], &str> {
        self.disks.as_deref().map_err(|e| e.as_str())
    }
}

const FIELDS: [CounterId; 6] = [
    CounterId::DeviceReadBytes,
    CounterId::DeviceWriteBytes,
    CounterId::DeviceReadIos,
    CounterId::DeviceBusyNs,
    CounterId::DeviceReadBytesByDisk,
    CounterId::DeviceReadIosByDisk,
];

impl Probe for Disk {
    fn read(&self, _t: &ThreadSet, c: &mut Counters, r: &mut Reasons) {
        let disks = match &self.disks {
            Ok(d) => d,
            Err(e) => {
                for f in FIELDS {
                    r.set(f, e.clone());
                }
                return;
            }
        };
        let mut sum = parse::DiskStat::default();
        let mut bytes = std::collections::BTreeMap::new();
        let mut ios = std::collections::BTreeMap::new();
        for d in disks {
            let p = format!("/sys/block/{d}/stat");
            match std::fs::read_to_string(&p)
                .map_err(|e| e.to_string())
                .and_then(|t| parse::parse_block_stat(&t))
            {
                Ok(s) => {
                    bytes.insert(d.clone(), s.read_bytes());
                    ios.insert(d.clone(), s.read_ios);
                    sum.read_sectors += s.read_sectors;
                    sum.write_sectors += s.write_sectors;
                    sum.read_ios += s.read_ios;
                    sum.io_ticks_ms += s.io_ticks_ms;
                }
                Err(e) => {
                    for f in FIELDS {
                        r.set(f, format!("cannot read {p}: {e}"));
                    }
                    return;
                }
            }
        }
        c.device_read_bytes = Some(sum.read_bytes());
        c.device_write_bytes = Some(sum.write_bytes());
        c.device_read_ios = Some(sum.read_ios);
        c.device_busy_ns = Some(sum.io_ticks_ms * 1_000_000);
        c.device_read_bytes_by_disk = Some(bytes);
        c.device_read_ios_by_disk = Some(ios);
    }
}
