//! Which pages of a mapping are in the page cache (mincore(2)), so the write-back
//! probe can look at cached pages without reading evicted ones back from the device.

use std::io;

/// For every 4 KiB page of `map` (whose start is page-aligned, as every mapping is),
/// whether it is resident in the page cache.
pub fn resident(map: &[u8]) -> io::Result<Vec<bool>> {
    let page = super::page_size();
    let n = map.len().div_ceil(page);
    let mut vec = vec![0u8; n];
    if n == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: `map` is a live mapping of `map.len()` bytes starting at a page boundary
    // (mappings always do); mincore writes exactly one byte per page of that range
    // into `vec`, which holds `n` = len / page (rounded up) bytes. It reads no memory.
    let rc = unsafe {
        libc::mincore(
            map.as_ptr() as *mut libc::c_void,
            map.len(),
            vec.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(vec.into_iter().map(|b| b & 1 != 0).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_written_file_is_resident() {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![7u8; 3 * 4096]).unwrap();
        let m = super::super::map_readonly(&f, 3 * 4096, false).unwrap();
        let r = super::resident(&m).unwrap();
        assert_eq!(r, vec![true, true, true]);
    }
}
