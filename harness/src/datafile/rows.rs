//! The rows of the engines' databases (`sqlite`, `lmdb`): the shape of the table, the
//! content of each row (derived from its key, so every lookup is verified), and the map
//! from the block the access pattern picked to the key that is looked up.
//!
//! Shape: keys 0..rows as 64-bit integers (SQLite's INTEGER PRIMARY KEY, LMDB's 8-byte
//! big-endian key, so both sort numerically); values of `VALUE_LEN` bytes; 4 KiB pages.
//! Four rows fill one leaf page in both engines (SQLite: ~1,011 bytes per cell with its
//! pointer, 4,088 usable bytes; LMDB: 1,018 bytes per node with its pointer, 4,080
//! usable), so one lookup touches one leaf page plus the few interior pages above it
//! (those stay cached: about one per 300 leaves). Rows are inserted in key order, so
//! leaf pages are full and appear in the file in key order.
//!
//! A row's value: 125 u64 words; word 0 is `mix(key, tag)` and word i is
//! `mix(word0 + i)`, incompressible as the data file's pages are.

use super::page;

/// Bytes of a row's value.
pub const VALUE_LEN: usize = 1000;
/// Rows per 4 KiB leaf page in both engines (see the module comment).
pub const ROWS_PER_PAGE: u64 = 4;
/// The engines' page size.
pub const DB_PAGE: u64 = 4096;
/// Changes whenever the row content or the table layout changes: it is part of the
/// database file names, so an old database is never reused for a new layout.
pub const LAYOUT: u32 = 1;

/// How many rows the database of a workload of `size` bytes holds: four per 4 KiB of
/// `size`, so the database has about as many pages as the data file (the interior
/// pages add about 0.3%; the result records the database's real size).
pub fn rows_for(size: u64) -> u64 {
    (size / DB_PAGE).max(1) * ROWS_PER_PAGE
}

/// Word 0 of the row with `key`.
#[inline]
pub fn first_word(key: u64, tag: u64) -> u64 {
    page::mix(key.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ tag ^ 0x726f_7773)
}

/// Word `i` of a row whose word 0 is `w0`.
#[inline]
fn word(w0: u64, i: usize) -> u64 {
    if i == 0 {
        w0
    } else {
        page::mix(w0.wrapping_add(i as u64))
    }
}

/// The value of the row with `key`, into `buf` (`VALUE_LEN` bytes).
pub fn fill_value(buf: &mut [u8], key: u64, tag: u64) {
    let w0 = first_word(key, tag);
    for (i, c) in buf.chunks_mut(8).enumerate() {
        let b = word(w0, i).to_le_bytes();
        c.copy_from_slice(&b[..c.len()]);
    }
}

/// The content tag of generation `gen` of a row written by a write workload: `tag`
/// itself for the generated row (generation 0), a tag derived from (tag, gen) for the
/// value of the `gen`-th UPDATE (put) of the row, so every written value is derived
/// from its key and generation and can be checked like a generated one.
#[inline]
pub fn gen_tag(tag: u64, gen: u32) -> u64 {
    if gen == 0 {
        tag
    } else {
        tag ^ page::mix(0x726f_7767_656e_0000 | gen as u64)
    }
}

/// Check a value read for `key`: its length, first and last word (`all`: every
/// byte). Returns 0 when it is right, a nonzero difference otherwise.
#[inline]
pub fn check_value(v: &[u8], key: u64, tag: u64, all: bool) -> u64 {
    if v.len() != VALUE_LEN {
        return 1 | ((v.len() as u64) << 1);
    }
    let w0 = first_word(key, tag);
    let at = |i: usize| {
        let mut b = [0u8; 8];
        let s = &v[i * 8..(i * 8 + 8).min(VALUE_LEN)];
        b[..s.len()].copy_from_slice(s);
        u64::from_le_bytes(b)
    };
    let last = VALUE_LEN.div_ceil(8) - 1;
    let tail = |i: usize| {
        let mut b = word(w0, i).to_le_bytes();
        let n = VALUE_LEN - i * 8;
        if n < 8 {
            b[n..].fill(0);
        }
        u64::from_le_bytes(b)
    };
    let mut diff = (at(0) ^ w0) | (at(last) ^ tail(last));
    if all {
        for i in 1..last {
            diff |= at(i) ^ word(w0, i);
        }
    }
    diff
}

/// The keys that belong to block `index` of `nblocks` when the database holds `rows`
/// rows: a slice of the key space of the same relative position, so the access
/// pattern over blocks becomes the same pattern over keys (and so over leaf pages).
#[inline]
pub fn keys_of_block(index: u64, nblocks: u64, rows: u64) -> (u64, u64) {
    let n = nblocks.max(1) as u128;
    let lo = (index as u128 * rows as u128 / n) as u64;
    let hi = ((index as u128 + 1) * rows as u128 / n) as u64;
    (lo.min(rows.saturating_sub(1)), hi.max(lo + 1).min(rows))
}

/// A worker's choice of one key among the keys of a block (a small xorshift, so every
/// key is looked up over time, not only the first of each block).
pub struct KeyPicker {
    state: u64,
    pub rows: u64,
    pub nblocks: u64,
    pub block: u64,
}

impl KeyPicker {
    pub fn new(seed: u64, rows: u64, nblocks: u64, block: u64) -> KeyPicker {
        KeyPicker {
            state: page::mix(seed) | 1,
            rows,
            nblocks,
            block,
        }
    }

    /// The key an operation on the block at `offset` looks up.
    #[inline]
    pub fn key(&mut self, offset: u64) -> u64 {
        let (lo, hi) = keys_of_block(offset / self.block, self.nblocks, self.rows);
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        lo + x % (hi - lo)
    }
}

/// What an engine worker returns for a lookup at `offset`: the fold a correct read of
/// the data file's block would give, changed by the row check's difference, so the
/// runner's verification counts a wrong row as a wrong read.
#[inline]
pub fn fold_for(offset: u64, block: u64, tag: u64, diff: u64) -> u64 {
    page::expected_fold(offset, block, tag) ^ diff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_check() {
        let mut v = vec![0u8; VALUE_LEN];
        fill_value(&mut v, 42, 7);
        assert_eq!(check_value(&v, 42, 7, false), 0);
        assert_eq!(check_value(&v, 42, 7, true), 0);
        assert_ne!(check_value(&v, 43, 7, false), 0);
        assert_ne!(check_value(&v, 42, 8, false), 0);
        assert_ne!(check_value(&v[..999], 42, 7, false), 0);
        v[500] ^= 1;
        assert_eq!(check_value(&v, 42, 7, false), 0);
        assert_ne!(check_value(&v, 42, 7, true), 0);
        v[500] ^= 1;
        v[999] ^= 1;
        assert_ne!(check_value(&v, 42, 7, false), 0);
        // Written generations: each its own value, generation 0 the generated one.
        assert_eq!(gen_tag(7, 0), 7);
        let mut w = vec![0u8; VALUE_LEN];
        fill_value(&mut w, 42, gen_tag(7, 3));
        assert_eq!(check_value(&w, 42, gen_tag(7, 3), true), 0);
        assert_ne!(check_value(&w, 42, gen_tag(7, 2), false), 0);
        assert_ne!(check_value(&w, 42, 7, false), 0);
    }

    #[test]
    fn blocks_cover_every_key_once() {
        for (nblocks, rows) in [(10u64, 40u64), (7, 40), (40, 40), (1000, 37)] {
            let mut next = 0;
            for i in 0..nblocks {
                let (lo, hi) = keys_of_block(i, nblocks, rows);
                assert!(lo < hi && hi <= rows, "{i} {lo} {hi}");
                assert!(lo <= next, "gap before block {i}");
                next = next.max(hi);
            }
            assert_eq!(next, rows);
        }
        let mut p = KeyPicker::new(1, 400, 100, 4096);
        for _ in 0..100 {
            let k = p.key(4096 * 10);
            assert!((40..44).contains(&k), "{k}");
        }
    }
}
