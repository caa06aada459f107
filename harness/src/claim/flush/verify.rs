//! Reading a flush variant's file back and checking every slot of the ring.

use super::book::{expected_seq, Records};
use super::Verify;
use crate::sys;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Re-read the whole file with O_DIRECT (buffered, with a note, where the file system
/// refuses O_DIRECT) and check every slot.
pub(super) fn verify(path: &Path, records: &Records, slots: u64, written: u64) -> Result<Verify> {
    let mut v = Verify {
        method: "O_DIRECT".into(),
        slots,
        written_slots: written.min(slots),
        ..Default::default()
    };
    let direct = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path);
    let (f, align) = match direct {
        Ok(f) => {
            let a = sys::statx_dio_align(&f)
                .ok()
                .flatten()
                .map(|d| d.mem_align.max(d.offset_align).max(512) as usize)
                .unwrap_or(4096);
            (f, a.max(4096))
        }
        Err(e) => {
            v.method = "buffered".into();
            v.note = Some(format!(
                "O_DIRECT refused here ({e}); verified through the page cache, which does not prove what is on disk"
            ));
            (
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
                4096,
            )
        }
    };
    const CHUNK: usize = 1 << 20;
    let mut buf = sys::AlignedBuf::new(CHUNK, align)?;
    let mut pending: Vec<u8> = Vec::with_capacity(CHUNK + records.len);
    let mut off = 0u64;
    let mut slot = 0u64;
    let rlen = records.len;
    fn problem(v: &mut Verify, s: String) {
        if v.problems.len() < 10 {
            v.problems.push(s);
        }
    }
    while slot < slots {
        let got = match f.read_at(&mut buf[..CHUNK], off) {
            Ok(0) => break,
            Ok(g) => g,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {} back", path.display())),
        };
        off += got as u64;
        pending.extend_from_slice(&buf[..got]);
        let mut pos = 0;
        while pending.len() - pos >= rlen && slot < slots {
            let recb = &pending[pos..pos + rlen];
            let want = expected_seq(slot, written, slots);
            if want == 0 {
                if recb.iter().all(|&b| b == 0) {
                    v.empty_slots_ok += 1;
                } else {
                    v.empty_slots_bad += 1;
                    problem(
                        &mut v,
                        format!("slot {slot} was never written but is not zero"),
                    );
                }
            } else {
                match records.check(recb, want) {
                    Ok(()) => v.ok_records += 1,
                    Err(e) => {
                        v.bad_records += 1;
                        problem(&mut v, format!("slot {slot}: {e}"));
                    }
                }
            }
            pos += rlen;
            slot += 1;
        }
        pending.drain(..pos);
    }
    if slot < slots {
        problem(
            &mut v,
            format!("the file ended after {slot} of {slots} slots"),
        );
        v.bad_records += slots - slot;
    }
    v.passed = v.bad_records == 0
        && v.empty_slots_bad == 0
        && v.ok_records == v.written_slots
        && v.problems.is_empty();
    Ok(v)
}
