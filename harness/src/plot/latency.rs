//! The latency histogram of a backend for the latency charts: the HdrHistograms of its
//! repeats decoded from the record and merged into one distribution.

use super::context::Group;
use crate::record::decode_histogram;
use hdrhistogram::Histogram;

/// The merged histogram of `g`'s measured results; `Ok(None)` when none has one, `Err`
/// with a sentence when one cannot be decoded.
pub fn merged(g: &Group) -> Result<Option<Histogram<u64>>, String> {
    let mut out: Option<Histogram<u64>> = None;
    for b in g.measured() {
        let Some(text) = b.histogram.as_deref() else {
            continue;
        };
        let h = decode_histogram(text).map_err(|e| {
            format!(
                "{}: the histogram in the record is unreadable ({e:#})",
                g.label
            )
        })?;
        match &mut out {
            None => out = Some(h),
            Some(m) => m.add(&h).map_err(|e| {
                format!("{}: cannot merge the repeats' histograms ({e:?})", g.label)
            })?,
        }
    }
    Ok(out.filter(|h| !h.is_empty()))
}

/// Every group's merged histogram; unreadable ones become notes.
pub fn all<'c, 'a>(
    groups: impl Iterator<Item = &'c Group<'a>>,
    notes: &mut Vec<String>,
) -> Vec<(&'c Group<'a>, Histogram<u64>)>
where
    'a: 'c,
{
    let mut out = Vec::new();
    for g in groups {
        match merged(g) {
            Ok(Some(h)) => out.push((g, h)),
            Ok(None) => {}
            Err(e) => notes.push(e),
        }
    }
    out
}
