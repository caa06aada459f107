//! The page format of generated data files, and the checksum every operation returns.
//!
//! Every 4 KiB page starts with a u64 header derived from (page index, file tag),
//! followed by pseudo-random words seeded from that header: incompressible and unique
//! per page, so compression or dedup in the storage stack cannot flatter a result, and
//! any read can be verified from its offset alone.
//!
//! An operation folds the headers of the pages whose start lies inside its block, in
//! order, into one u64 (`fold_headers`); the runner compares it with `expected_fold`.

pub const PAGE: usize = 4096;
const WORDS: usize = PAGE / 8;

/// SplitMix64 finaliser: a fast, well-mixed bijection on u64.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The content tag of a data file: changes when the seed or the format changes.
pub fn file_tag(seed: u64) -> u64 {
    const FORMAT_VERSION: u64 = 1;
    mix(seed ^ mix(FORMAT_VERSION.wrapping_add(0x6661_756c_746c_696e)))
}

/// The header (first u64) of page `page` in a file with tag `tag`.
#[inline]
pub fn header(page: u64, tag: u64) -> u64 {
    mix(page.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ tag)
}

/// The header of page `page` after the harness wrote it for the `gen`th time (gen 0:
/// the page as generated). Encodes the page (so its offset), the file and the write
/// generation, so a read back tells a lost or stale write from the newest one.
#[inline]
pub fn written_header(page: u64, tag: u64, gen: u32) -> u64 {
    if gen == 0 {
        header(page, tag)
    } else {
        mix(header(page, tag) ^ mix(0x7772_6974_6500_0000 | gen as u64))
    }
}

/// Fill one page: header, then SplitMix64 words seeded from the header.
pub fn fill_page(buf: &mut [u8], page: u64, tag: u64) {
    fill_with_header(buf, header(page, tag));
}

/// Fill one page as the harness writes it for the `gen`th time (`fill_page` for gen 0).
/// A written page is its header followed by the header XOR a fixed table of random
/// words: unique per page and generation, incompressible, a torn page (sectors of two
/// writes) does not match, and cheap enough (one XOR per word) not to slow a write
/// loop down the way generating 511 fresh words per page would.
#[inline]
pub fn fill_written_page(buf: &mut [u8], page: u64, tag: u64, gen: u32) {
    if gen == 0 {
        return fill_page(buf, page, tag);
    }
    debug_assert_eq!(buf.len(), PAGE);
    let h = written_header(page, tag, gen);
    let table = body_table();
    buf[..8].copy_from_slice(&h.to_le_bytes());
    for (w, t) in buf[8..].chunks_exact_mut(8).zip(table.iter()) {
        w.copy_from_slice(&(h ^ t).to_le_bytes());
    }
}

/// The fixed random words of written pages' bodies.
fn body_table() -> &'static [u64; WORDS - 1] {
    static TABLE: std::sync::OnceLock<[u64; WORDS - 1]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u64; WORDS - 1];
        let mut state = 0x7772_6974_7465_6e00u64;
        for w in t.iter_mut() {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            *w = mix(state);
        }
        t
    })
}

/// A page's content is its header followed by words seeded from it: a torn page (a
/// header of one write, a body of another) does not match.
fn fill_with_header(buf: &mut [u8], h: u64) {
    debug_assert_eq!(buf.len(), PAGE);
    buf[..8].copy_from_slice(&h.to_le_bytes());
    let mut state = h;
    for w in 1..WORDS {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        buf[w * 8..w * 8 + 8].copy_from_slice(&mix(state).to_le_bytes());
    }
}

#[inline]
fn fold_step(acc: u64, v: u64) -> u64 {
    (acc ^ v).rotate_left(13).wrapping_mul(0x100_0000_01b3)
}

/// Read the first u64 of every page that starts inside `data` (which holds the file's
/// bytes from `offset` on) and fold them in order. This is what an operation returns.
#[inline]
pub fn fold_headers(data: &[u8], offset: u64) -> u64 {
    // One aligned page (the common 4 KiB block): one header, no loop.
    if data.len() == PAGE && offset.is_multiple_of(PAGE as u64) {
        return fold_step(
            0,
            u64::from_le_bytes(data[..8].try_into().expect("8 bytes")),
        );
    }
    let mut acc = 0u64;
    let mut pos = first_page_start(offset) - offset;
    while pos + 8 <= data.len() as u64 {
        let p = pos as usize;
        let v = u64::from_le_bytes(data[p..p + 8].try_into().expect("8 bytes"));
        acc = fold_step(acc, v);
        pos += PAGE as u64;
    }
    acc
}

/// `fold_headers` of `len` bytes at `offset` read through `word(at)` (the u64 at byte
/// `at` of the block), for memory read with atomic loads (the buffer pool's optimistic
/// reads). Same result as `fold_headers` on the same bytes.
#[inline]
pub fn fold_headers_by(len: usize, offset: u64, word: impl Fn(usize) -> u64) -> u64 {
    if len == PAGE && offset.is_multiple_of(PAGE as u64) {
        return fold_step(0, word(0));
    }
    let mut acc = 0u64;
    let mut pos = first_page_start(offset) - offset;
    while pos + 8 <= len as u64 {
        acc = fold_step(acc, word(pos as usize));
        pos += PAGE as u64;
    }
    acc
}

/// The fold a correct read of `len` bytes at `offset` returns.
#[inline]
pub fn expected_fold(offset: u64, len: u64, tag: u64) -> u64 {
    if len == PAGE as u64 && offset.is_multiple_of(PAGE as u64) {
        return fold_step(0, header(offset / PAGE as u64, tag));
    }
    let mut acc = 0u64;
    let end = offset + len;
    let mut start = first_page_start(offset);
    while start + 8 <= end {
        acc = fold_step(acc, header(start / PAGE as u64, tag));
        start += PAGE as u64;
    }
    acc
}

/// The fold a correct read of `len` bytes at `offset` returns when every page in it
/// was last written with generation `gen`.
#[inline]
pub fn expected_fold_gen(offset: u64, len: u64, tag: u64, gen: u32) -> u64 {
    let mut acc = 0u64;
    let end = offset + len;
    let mut start = first_page_start(offset);
    while start + 8 <= end {
        acc = fold_step(acc, written_header(start / PAGE as u64, tag, gen));
        start += PAGE as u64;
    }
    acc
}

/// Read every u64 of `data` (touch = "all") and return their XOR, so the reads cannot
/// be optimised away.
#[inline]
pub fn touch_all(data: &[u8]) -> u64 {
    let mut x = 0u64;
    for c in data.chunks_exact(8) {
        x ^= u64::from_le_bytes(c.try_into().expect("8 bytes"));
    }
    x
}

#[inline]
fn first_page_start(offset: u64) -> u64 {
    offset.div_ceil(PAGE as u64) * PAGE as u64
}

/// Check whole pages (for spot checks of an existing data file): every header and
/// every word. Returns the index of the first bad page, if any.
pub fn check_pages(data: &[u8], first_page: u64, tag: u64) -> Option<u64> {
    let mut want = vec![0u8; PAGE];
    for (i, chunk) in data.chunks(PAGE).enumerate() {
        let page = first_page + i as u64;
        fill_page(&mut want, page, tag);
        if chunk != &want[..chunk.len()] {
            return Some(page);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(pages: u64, tag: u64) -> Vec<u8> {
        let mut v = vec![0u8; pages as usize * PAGE];
        for p in 0..pages {
            fill_page(&mut v[p as usize * PAGE..(p as usize + 1) * PAGE], p, tag);
        }
        v
    }

    #[test]
    fn fold_matches_expected_for_any_alignment() {
        let tag = file_tag(42);
        let f = file(16, tag);
        for (off, len) in [
            (0u64, 4096u64),
            (0, 65536),
            (4096, 8192),
            (512, 512),
            (512, 4096),
            (1024, 16384),
            (60 * 1024, 4096),
        ] {
            let data = &f[off as usize..(off + len) as usize];
            assert_eq!(
                fold_headers(data, off),
                expected_fold(off, len, tag),
                "{off} {len}"
            );
        }
    }

    #[test]
    fn fold_detects_wrong_page_wrong_tag_and_corruption() {
        let tag = file_tag(1);
        let f = file(8, tag);
        // The bytes of page 3 presented as page 2.
        assert_ne!(
            fold_headers(&f[3 * PAGE..4 * PAGE], 2 * 4096),
            expected_fold(2 * 4096, 4096, tag)
        );
        // Another file's tag.
        assert_ne!(
            fold_headers(&f[..PAGE], 0),
            expected_fold(0, 4096, file_tag(2))
        );
        // Swapped pages inside a block.
        let mut g = f.clone();
        let (a, b) = g.split_at_mut(2 * PAGE);
        a[PAGE..2 * PAGE].swap_with_slice(&mut b[..PAGE]);
        assert_ne!(
            fold_headers(&g[..4 * PAGE], 0),
            expected_fold(0, 4 * 4096, tag)
        );
        // A zeroed header (e.g. a hole).
        let mut h = f.clone();
        h[5 * PAGE..5 * PAGE + 8].fill(0);
        assert_ne!(
            fold_headers(&h[4 * PAGE..6 * PAGE], 4 * 4096),
            expected_fold(4 * 4096, 8192, tag)
        );
    }

    #[test]
    fn pages_are_distinct_and_checkable() {
        let tag = file_tag(9);
        let f = file(4, tag);
        assert_ne!(&f[..PAGE], &f[PAGE..2 * PAGE]);
        assert_eq!(check_pages(&f, 0, tag), None);
        let mut g = f.clone();
        g[2 * PAGE + 100] ^= 1;
        assert_eq!(check_pages(&g, 0, tag), Some(2));
        // Headers are not trivially zero and differ across pages.
        let h: Vec<u64> = (0..1000).map(|p| header(p, tag)).collect();
        let mut s = h.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), h.len());
    }

    #[test]
    fn written_pages_differ_by_generation_and_fold_as_expected() {
        let tag = file_tag(3);
        let mut a = vec![0u8; PAGE];
        let mut b = vec![0u8; PAGE];
        fill_written_page(&mut a, 5, tag, 0);
        fill_page(&mut b, 5, tag);
        assert_eq!(a, b);
        fill_written_page(&mut b, 5, tag, 1);
        assert_ne!(a, b);
        fill_written_page(&mut a, 5, tag, 2);
        assert_ne!(a, b);
        assert_eq!(
            fold_headers(&a, 5 * 4096),
            expected_fold_gen(5 * 4096, 4096, tag, 2)
        );
        assert_ne!(
            fold_headers(&a, 5 * 4096),
            expected_fold_gen(5 * 4096, 4096, tag, 1)
        );
        assert_eq!(
            expected_fold_gen(0, 8192, tag, 0),
            expected_fold(0, 8192, tag)
        );
    }

    #[test]
    fn touch_all_reads_every_word() {
        let mut v = vec![0u8; 64];
        assert_eq!(touch_all(&v), 0);
        v[56] = 1;
        assert_eq!(touch_all(&v), 1);
    }
}
