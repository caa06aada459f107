//! The flush claim's books (when to flush, what is at risk) and its records (built
//! and checked), both pure.

use super::Policy;
use crate::datafile::page::mix;

/// The policy's state: data written since the last completed flush, and the worst
/// exposure seen. Times are ns since the variant started.
#[derive(Debug, Clone)]
pub struct Book {
    pub policy: Policy,
    /// Bytes of the record area: unflushed data never exceeds it (a ring overwrites).
    cap: u64,
    pub unflushed_bytes: u64,
    pub unflushed_writes: u64,
    last_flush_ns: u64,
    oldest_unflushed_ns: Option<u64>,
    span: Option<(u64, u64)>,
    /// The most bytes ever written and not yet flushed (capped at the record area).
    pub max_at_risk_bytes: u64,
    /// The longest time from a write to the completion of the flush that covered it.
    pub max_unflushed_age_ns: u64,
    /// Completed flushes (the final one included).
    pub flushes: u64,
}

impl Book {
    pub fn new(policy: Policy, cap: u64, now_ns: u64) -> Book {
        Book {
            policy,
            cap,
            unflushed_bytes: 0,
            unflushed_writes: 0,
            last_flush_ns: now_ns,
            oldest_unflushed_ns: None,
            span: None,
            max_at_risk_bytes: 0,
            max_unflushed_age_ns: 0,
            flushes: 0,
        }
    }

    /// A write of `len` bytes at `off` completed at `now_ns`. Returns true when the
    /// policy says to flush now.
    pub fn wrote(&mut self, off: u64, len: u64, now_ns: u64) -> bool {
        self.unflushed_bytes += len;
        self.unflushed_writes += 1;
        self.oldest_unflushed_ns.get_or_insert(now_ns);
        self.span = Some(match self.span {
            None => (off, off + len),
            Some((lo, hi)) => (lo.min(off), hi.max(off + len)),
        });
        self.max_at_risk_bytes = self.max_at_risk_bytes.max(self.at_risk_bytes());
        match self.policy {
            Policy::Always => true,
            Policy::EveryBytes { bytes } => self.unflushed_bytes >= bytes,
            Policy::EveryWrites { writes } => self.unflushed_writes >= writes,
            Policy::EveryMs { ms } => now_ns.saturating_sub(self.last_flush_ns) >= ms * 1_000_000,
            Policy::Manual => false,
        }
    }

    /// A flush that covered everything written so far completed at `now_ns`.
    pub fn flushed(&mut self, now_ns: u64) {
        if let Some(t) = self.oldest_unflushed_ns.take() {
            self.max_unflushed_age_ns = self.max_unflushed_age_ns.max(now_ns.saturating_sub(t));
        }
        self.unflushed_bytes = 0;
        self.unflushed_writes = 0;
        self.span = None;
        self.last_flush_ns = now_ns;
        self.flushes += 1;
    }

    /// Written but not yet flushed, capped at the record area.
    pub fn at_risk_bytes(&self) -> u64 {
        self.unflushed_bytes.min(self.cap)
    }

    /// The byte range written since the last flush.
    pub fn dirty_span(&self) -> Option<(u64, u64)> {
        self.span
    }
}

/// Checksum of a record's payload words: order-sensitive, cheap.
fn fold(bytes: &[u8]) -> u64 {
    let mut h = 0x6a09_e667_f3bc_c908u64;
    for c in bytes.chunks_exact(8) {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }
    h
}

fn header(seq: u64, tag: u64) -> u64 {
    mix(seq ^ tag)
}

fn checksum(seq: u64, hdr: u64, payload_fold: u64) -> u64 {
    mix(payload_fold ^ seq.rotate_left(17) ^ hdr)
}

/// Records: `seq` (u64, from 1), `header(seq, tag)`, a payload, `checksum`. Payloads
/// come from a small pool (a prime number of them, chosen not to divide the number of
/// slots, so the same slot gets a different payload on the next lap) with their folds
/// precomputed, so building a record costs one copy.
pub struct Records {
    pub len: usize,
    tag: u64,
    pool: Vec<Vec<u8>>,
    folds: Vec<u64>,
}

impl Records {
    pub fn new(len: usize, tag: u64, slots: u64) -> Records {
        let n = [61u64, 59, 53, 47]
            .into_iter()
            .find(|p| !slots.is_multiple_of(*p))
            .unwrap_or(61);
        let plen = len - 24;
        let mut pool = Vec::with_capacity(n as usize);
        let mut folds = Vec::with_capacity(n as usize);
        for i in 0..n {
            let mut p = vec![0u8; plen];
            let mut st = mix(tag ^ (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            for c in p.chunks_exact_mut(8) {
                st = st.wrapping_add(0x9e37_79b9_7f4a_7c15);
                c.copy_from_slice(&mix(st).to_le_bytes());
            }
            folds.push(fold(&p));
            pool.push(p);
        }
        Records {
            len,
            tag,
            pool,
            folds,
        }
    }

    /// Build record `seq` into `buf` (`len` bytes).
    pub fn build(&self, seq: u64, buf: &mut [u8]) {
        let i = (seq % self.pool.len() as u64) as usize;
        let h = header(seq, self.tag);
        let n = self.len;
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        buf[8..16].copy_from_slice(&h.to_le_bytes());
        buf[16..n - 8].copy_from_slice(&self.pool[i]);
        buf[n - 8..n].copy_from_slice(&checksum(seq, h, self.folds[i]).to_le_bytes());
    }

    /// Check one record read back: it must be record `want_seq`, intact.
    pub fn check(&self, rec: &[u8], want_seq: u64) -> Result<(), String> {
        let n = self.len;
        let w = |i: usize| u64::from_le_bytes(rec[i..i + 8].try_into().unwrap_or([0; 8]));
        let seq = w(0);
        if seq != want_seq {
            return Err(if seq == 0 && rec.iter().all(|&b| b == 0) {
                format!("record {want_seq} is missing (zeros)")
            } else {
                format!("holds sequence number {seq} instead of {want_seq}")
            });
        }
        let h = w(8);
        if h != header(seq, self.tag) {
            return Err(format!(
                "record {seq} has a wrong header (not from this run)"
            ));
        }
        if w(n - 8) != checksum(seq, h, fold(&rec[16..n - 8])) {
            return Err(format!("record {seq} fails its checksum"));
        }
        Ok(())
    }
}

/// The sequence number slot `k` holds after `written` records went round a ring of
/// `slots` slots (0: never written).
pub fn expected_seq(k: u64, written: u64, slots: u64) -> u64 {
    if k >= written {
        0
    } else {
        k + 1 + slots * ((written - 1 - k) / slots)
    }
}
