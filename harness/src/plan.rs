//! The plan of a run: which cells run in which order. Pure (no I/O), so the order a
//! run and every claim use is unit-tested here.
//!
//! A *cell* is one backend (or claim variant) at one thread count in one repeat. Within
//! a repeat the variants are rotated by the repeat index, so no variant always runs
//! first (first runs pay for cold caches, fresh memory and CPU frequency ramps).

/// The variants of one repeat, rotated by the repeat index: repeat 0 keeps the given
/// order, repeat 1 starts with the second variant, and so on.
pub fn rotated<T>(variants: &[T], repeat: u32) -> impl Iterator<Item = &T> {
    let n = variants.len();
    let shift = if n == 0 { 0 } else { repeat as usize % n };
    variants[shift..].iter().chain(variants[..shift].iter())
}

/// One cell of a run: a variant (index into the plan's list), a thread count, a repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub variant: usize,
    pub threads: usize,
    pub repeat: u32,
}

/// Every cell in the order it runs: repeats outermost, then thread counts, then the
/// variants rotated by the repeat.
pub fn cells(variants: usize, threads: &[usize], repeats: u32) -> Vec<Cell> {
    let idx: Vec<usize> = (0..variants).collect();
    let mut out = Vec::with_capacity(variants * threads.len() * repeats as usize);
    for repeat in 0..repeats {
        for &t in threads {
            out.extend(rotated(&idx, repeat).map(|&variant| Cell {
                variant,
                threads: t,
                repeat,
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_starts_one_later_each_repeat() {
        let v = ["a", "b", "c"];
        let got: Vec<Vec<&str>> = (0..4).map(|r| rotated(&v, r).copied().collect()).collect();
        assert_eq!(
            got,
            vec![
                vec!["a", "b", "c"],
                vec!["b", "c", "a"],
                vec!["c", "a", "b"],
                vec!["a", "b", "c"],
            ]
        );
        assert_eq!(rotated::<u8>(&[], 3).count(), 0);
    }

    #[test]
    fn cells_cover_every_combination_once() {
        let c = cells(2, &[1, 4], 2);
        assert_eq!(c.len(), 8);
        let order: Vec<(usize, usize, u32)> =
            c.iter().map(|c| (c.variant, c.threads, c.repeat)).collect();
        assert_eq!(
            order,
            vec![
                (0, 1, 0),
                (1, 1, 0),
                (0, 4, 0),
                (1, 4, 0),
                (1, 1, 1),
                (0, 1, 1),
                (1, 4, 1),
                (0, 4, 1),
            ]
        );
    }
}
