//! The memory budget of the user-space caches (`bufferpool`, `vmcache`): the same
//! budget the page cache gets, so each is the fair alternative to mmap.

use super::{OpenCtx, OpenError};
use crate::units;

/// A cache's budget in blocks, with where its size came from and notes for the result.
pub struct Budget {
    /// Blocks the cache holds (at most the file's).
    pub blocks: u64,
    /// The budget asked for, bytes.
    pub bytes: u64,
    /// Where `bytes` came from (`pool=`, the workload's page_cache_limit, the default).
    pub source: &'static str,
    pub notes: Vec<String>,
}

/// `pool` (the backend's `pool=`), else the workload's `page_cache_limit`, else 1/4 of
/// the file, in blocks of `block` bytes, capped at the file's `nblocks`; refused when it
/// holds fewer than 2 blocks per thread. `what` names the cache and `unit` its blocks
/// ("the buffer pool", "frames") in the messages.
pub fn budget(
    ctx: &OpenCtx,
    pool: Option<u64>,
    block: u64,
    nblocks: u64,
    what: &str,
    unit: &str,
) -> Result<Budget, OpenError> {
    let (bytes, source) = match (pool, ctx.workload.page_cache_limit) {
        (Some(b), _) => (b, "pool="),
        (None, Some(l)) => (l, "default: the workload's page_cache_limit"),
        (None, None) => (
            ctx.target.size / 4,
            "default: 1/4 of the file (the workload sets no page_cache_limit)",
        ),
    };
    let mut blocks = bytes / block;
    let mut notes = Vec::new();
    if blocks > nblocks {
        notes.push(format!(
            "pool {} is larger than the {} read: capped at {nblocks} {unit}",
            units::format_size(bytes),
            units::format_size(ctx.target.size)
        ));
        blocks = nblocks;
    }
    let threads = ctx.threads.max(1) as u64;
    if blocks < 2 * threads {
        return Err(OpenError::Unavailable(format!(
            "pool {} holds {blocks} {unit} of {}; {what} needs at least 2 {unit} per thread \
             ({} for {threads} threads): raise pool= or the file size",
            units::format_size(bytes),
            units::format_size(block),
            2 * threads
        )));
    }
    Ok(Budget {
        blocks,
        bytes,
        source,
        notes,
    })
}
