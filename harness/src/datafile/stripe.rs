//! Striping: the workload's address space (logical offsets 0..size) laid over N
//! devices in units of `unit` bytes, round robin (RAID-0 without parity): logical unit
//! `s` lives on device `s % N` at device offset `(s / N) * unit`. The page format does
//! not change: the page at logical offset `o` carries the header of logical page
//! `o / 4096`, wherever it is stored, so every backend verifies its reads against the
//! logical offset as it does on one file.
//!
//! The workload check makes the unit a multiple of the block (offsets are multiples of
//! the block), so an operation never spans two devices.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How a target is striped over several devices (in run.json's data_file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Striping {
    pub devices: Vec<PathBuf>,
    /// Stripe unit, bytes.
    pub unit: u64,
}

/// The hot-path map from a logical offset to (device index, device offset). With one
/// device it is the identity, behind one predictable branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    unit: u64,
    n: u64,
}

impl Stripe {
    /// One device: every offset maps to itself.
    pub const SINGLE: Stripe = Stripe { unit: 1, n: 1 };

    pub fn new(n: usize, unit: u64) -> Stripe {
        if n <= 1 || unit == 0 {
            return Stripe::SINGLE;
        }
        Stripe { unit, n: n as u64 }
    }

    pub fn devices(&self) -> usize {
        self.n as usize
    }

    /// (device index, offset on that device) of logical offset `off`.
    #[inline(always)]
    pub fn locate(&self, off: u64) -> (usize, u64) {
        if self.n == 1 {
            return (0, off);
        }
        let s = off / self.unit;
        (
            (s % self.n) as usize,
            (s / self.n) * self.unit + off % self.unit,
        )
    }

    /// Bytes of `size` logical bytes that land on device `d`.
    pub fn bytes_on(&self, d: usize, size: u64) -> u64 {
        if self.n == 1 {
            return size;
        }
        let full = size / self.unit;
        let rest = size % self.unit;
        let d = d as u64;
        let mut b = (full / self.n) * self.unit;
        if d < full % self.n {
            b += self.unit;
        } else if d == full % self.n {
            b += rest;
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_is_a_bijection_and_bytes_on_adds_up() {
        let s = Stripe::new(3, 8192);
        let size = 10 * 8192 + 4096;
        let mut seen = std::collections::HashSet::new();
        let mut per = [0u64; 3];
        for off in (0..size).step_by(4096) {
            let (d, o) = s.locate(off);
            assert!(seen.insert((d, o)));
            per[d] = per[d].max(o + 4096);
        }
        for (d, &bytes) in per.iter().enumerate() {
            assert_eq!(bytes, s.bytes_on(d, size), "device {d}");
        }
        assert_eq!(per.iter().sum::<u64>(), size);
        assert_eq!(s.locate(8192 * 4 + 5), (1, 8192 + 5));
        assert_eq!(Stripe::SINGLE.locate(12345), (0, 12345));
        assert_eq!(Stripe::new(1, 4096).locate(12345), (0, 12345));
    }
}
