//! After a write cell: read back every page the cell wrote from the device and check
//! it holds the newest generation (`verify`), then put the generated content back
//! (`restore`) so the next cell and the next run start from the file as generated.
//!
//! A generated data file carries a marker (`<file>.writing`) while a write cell may
//! have changed it; a file found with the marker (a run that was interrupted or
//! killed between the cell and its restore) is created again before it is reused.

use super::{page, Origin, Target};
use crate::driver::write::WriteOut;
use crate::sys;
use crate::ui::Reporter;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What the read-back found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Pages read back and compared.
    pub pages: u64,
    /// Pages that did not hold their newest generation (lost, stale or torn).
    pub errors: u64,
    /// File offset of the first bad page.
    pub first_bad: Option<u64>,
}

/// The marker of a generated data file a write cell may have changed.
pub fn marker(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".writing");
    PathBuf::from(s)
}

/// Mark a generated data file as being written (no-op for other targets: a zram
/// device lives only for the run, a user's file is the user's).
pub fn mark(t: &Target) -> Result<()> {
    if t.origin != Origin::Generated {
        return Ok(());
    }
    let m = marker(&t.path);
    File::create(&m).with_context(|| format!("cannot create the marker {}", m.display()))?;
    Ok(())
}

/// The generated file is as generated again: remove its marker.
pub fn unmark(t: &Target) -> Result<()> {
    let m = marker(&t.path);
    match std::fs::remove_file(&m) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove the marker {}", m.display())),
    }
}

/// Make the writes durable (fdatasync), drop the file's cached pages, then read every
/// written block from the device and compare each page, every byte, with the newest
/// generation the workers completed.
pub fn verify(t: &Target, block: u64, tag: u64, outs: &[WriteOut]) -> Result<Checked> {
    let f = File::open(&t.path).with_context(|| format!("cannot open {}", t.path.display()))?;
    f.sync_data()
        .with_context(|| format!("cannot fdatasync {}", t.path.display()))?;
    sys::drop_file_cache(&f)
        .with_context(|| format!("cannot drop the page cache of {}", t.path.display()))?;
    let mut got = vec![0u8; block as usize];
    let mut want = vec![0u8; page::PAGE];
    let mut c = Checked::default();
    for o in outs {
        for (b, gen) in o.written() {
            let off = b * block;
            f.read_exact_at(&mut got, off).with_context(|| {
                format!("cannot read back {} at offset {off}", t.path.display())
            })?;
            for (k, p) in got.chunks(page::PAGE).enumerate() {
                let pg = off / page::PAGE as u64 + k as u64;
                page::fill_written_page(&mut want, pg, tag, gen);
                c.pages += 1;
                if p != &want[..] {
                    c.errors += 1;
                    c.first_bad.get_or_insert(pg * page::PAGE as u64);
                }
            }
        }
    }
    Ok(c)
}

/// Write the generated content back over every block the cell wrote, fdatasync, and
/// drop the file's cached pages. Returns the blocks restored.
pub fn restore(t: &Target, block: u64, outs: &[WriteOut]) -> Result<u64> {
    let Some(tag) = t.verify_tag else {
        return Ok(0);
    };
    let f = OpenOptions::new()
        .write(true)
        .open(&t.path)
        .with_context(|| format!("cannot open {} to restore it", t.path.display()))?;
    let mut buf = vec![0u8; block as usize];
    let mut n = 0;
    for o in outs {
        for (b, _) in o.written() {
            let off = b * block;
            for (k, p) in buf.chunks_mut(page::PAGE).enumerate() {
                page::fill_page(p, off / page::PAGE as u64 + k as u64, tag);
            }
            f.write_all_at(&buf, off)
                .with_context(|| format!("cannot restore {} at offset {off}", t.path.display()))?;
            n += 1;
        }
    }
    f.sync_data()
        .with_context(|| format!("cannot fdatasync {}", t.path.display()))?;
    sys::drop_file_cache(&f)
        .with_context(|| format!("cannot drop the page cache of {}", t.path.display()))?;
    Ok(n)
}

/// Write the whole generated content again (after a tool that wrote its own content,
/// fio), fdatasync and drop it from the cache.
pub fn rewrite(t: &Target, ui: &dyn Reporter) -> Result<()> {
    let Some(tag) = t.verify_tag else {
        return Ok(());
    };
    let f = OpenOptions::new()
        .write(true)
        .open(&t.path)
        .with_context(|| format!("cannot open {} to write it again", t.path.display()))?;
    super::fill_pattern(&f, &t.path, t.size, tag, ui)
}
