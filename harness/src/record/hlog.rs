//! The HdrHistogram interval log (`<backend>.hlog`): one histogram per sampling interval,
//! in the format of HdrHistogram's `HistogramLogWriter` as the hdrhistogram crate's
//! `interval_log` module writes it, so HdrHistogram's own log tools read it
//! (`HistogramLogProcessor`, HdrHistogram_py, the crate's `IntervalLogIterator`).
//!
//! Layout: comments naming the tool, workload and backend, `#[StartTime: ...]` and
//! `#[BaseTime: ...]` (the earliest measured phase of the backend's cells, seconds since
//! the epoch), the `"StartTimestamp",...` legend, then one line per interval:
//! `[Tag=t2.r1,]start,length,max,histogram`, start in seconds since BaseTime, max in
//! milliseconds (values are nanoseconds; the max column is divided by 10^6, as HdrHistogram's
//! own writer does by default), the histogram as compressed V2 (the only encoding the
//! Java tools accept). A backend run at one thread count once is written untagged; with
//! several cells (thread counts, repeats) each line carries the cell's tag, and the Java
//! tools need `-tag` to pick one.

use super::{decode_histogram, output::sanitize, BackendResult, RecordError, RunRecord};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The interval log's file name for a backend spec.
pub fn hlog_name(backend: &str) -> String {
    format!("{}.hlog", sanitize(backend))
}

/// The max column's divisor: nanoseconds to milliseconds, as HdrHistogram's Java writer.
const MAX_DIVISOR: f64 = 1e6;

/// The backend names of `r` with per-interval histograms, in order of first appearance.
pub fn backends_with_intervals(r: &RunRecord) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for b in r.backends.iter().filter(|b| has_intervals(b)) {
        if !names.contains(&b.name.as_str()) {
            names.push(&b.name);
        }
    }
    names
}

/// Whether a cell has a histogram for every interval of its time series.
pub fn has_intervals(b: &BackendResult) -> bool {
    !b.timeseries.is_empty() && b.timeseries.iter().all(|iv| iv.histogram.is_some())
}

/// The tag of a cell in a log with several cells of one backend.
fn tag(b: &BackendResult, repeats: bool) -> String {
    if repeats {
        format!("t{}.r{}", b.threads, b.repeat + 1)
    } else {
        format!("t{}", b.threads)
    }
}

fn secs(s: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0))
}

fn ser_err<E: std::fmt::Debug>(e: E) -> RecordError {
    RecordError::Serialize(format!("{e:?}"))
}

/// The interval log of every cell of `backend` in `r`; None when none of its cells has
/// per-interval histograms. Timestamps are seconds since the earliest cell's measured
/// phase (BaseTime); where a cell's start was not recorded, since its own start.
pub fn interval_log(r: &RunRecord, backend: &str) -> Result<Option<Vec<u8>>, RecordError> {
    let cells: Vec<&BackendResult> = r
        .backends
        .iter()
        .filter(|b| b.name == backend && has_intervals(b))
        .collect();
    if cells.is_empty() {
        return Ok(None);
    }
    let base = cells
        .iter()
        .filter_map(|b| b.measure_start_unix_s)
        .min_by(f64::total_cmp);
    let tagged = cells.len() > 1;
    let repeats = cells.iter().any(|b| b.repeat > 0);
    let mut out = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    {
        let mut hb = IntervalLogWriterBuilder::new();
        hb.add_comment(&format!(
            "[Logged with {}: workload {}, backend {}]",
            r.tool,
            r.workload_name(),
            backend
        ))
        .add_comment("[Histogram log format version 1.3]")
        .add_comment(
            "[Values are operation latencies in nanoseconds; one histogram per sampling interval]",
        )
        .with_max_value_divisor(MAX_DIVISOR);
        if tagged {
            let tags: Vec<String> = cells.iter().map(|b| tag(b, repeats)).collect();
            hb.add_comment(&format!(
                "[One tag per cell (threads, repeat): {}; HistogramLogProcessor reads one with -tag]",
                tags.join(" ")
            ));
        }
        match base {
            Some(s) => {
                hb.with_start_time(secs(s)).with_base_time(secs(s));
            }
            None => {
                hb.add_comment("[Start time not recorded: timestamps are seconds since each cell's measured phase began]");
            }
        }
        let mut w = hb.begin_log_with(&mut out, &mut ser).map_err(ser_err)?;
        for b in cells {
            let offset = match (base, b.measure_start_unix_s) {
                (Some(base), Some(s)) => (s - base).max(0.0),
                _ => 0.0,
            };
            let name = tag(b, repeats);
            let mut prev = 0u64;
            for iv in &b.timeseries {
                let Some(enc) = iv.histogram.as_deref() else {
                    continue;
                };
                let h = decode_histogram(enc)?;
                let start = Duration::from_secs_f64(offset) + Duration::from_nanos(prev);
                let length = Duration::from_nanos(iv.t_ns.saturating_sub(prev));
                let t = if tagged { Tag::new(&name) } else { None };
                w.write_histogram(&h, start, length, t).map_err(ser_err)?;
                prev = iv.t_ns;
            }
        }
    }
    Ok(Some(with_legend(out)))
}

/// The log with HdrHistogram's column legend before the first interval line, where
/// the Java writer puts it (the crate's writer leaves it out; readers skip it).
fn with_legend(mut log: Vec<u8>) -> Vec<u8> {
    let mut at = 0;
    while at < log.len() && log[at] == b'#' {
        at += log[at..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(log.len() - at, |p| p + 1);
    }
    let legend: &[u8] =
        b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";
    log.splice(at..at, legend.iter().copied());
    log
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    fn parse(bytes: &[u8]) -> (Vec<LogEntry<'_>>, Vec<hdrhistogram::Histogram<u64>>) {
        let entries: Vec<LogEntry> = IntervalLogIterator::new(bytes)
            .collect::<Result<_, _>>()
            .expect("the log parses");
        let hists = entries
            .iter()
            .filter_map(|e| match e {
                LogEntry::Interval(i) => Some(i.encoded_histogram()),
                _ => None,
            })
            .map(|b64| {
                use base64::Engine;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                Deserializer::new().deserialize(&mut &raw[..]).unwrap()
            })
            .collect();
        (entries, hists)
    }

    #[test]
    fn log_parses_back_with_the_crates_reader_and_counts_add_up() {
        let r = crate::record::tests::sample_record();
        assert_eq!(backends_with_intervals(&r), vec!["mmap:advice=random"]);
        let bytes = interval_log(&r, "mmap:advice=random").unwrap().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("#[Logged with faultline test: workload quick, backend mmap:advice=random]\n#[Histogram log format version 1.3]\n"), "{text}");
        assert!(text.contains("#[StartTime: 1767225600.000 (seconds since epoch)]\n"));
        assert!(text.contains("#[BaseTime: 1767225600.000 (seconds since epoch)]\n"));
        assert!(text.contains("\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"));
        // Compressed V2: the Java tools' cookie, base64 "HISTFAAA".
        assert!(text.contains(",HISTFAAA"), "{text}");
        let (entries, hists) = parse(&bytes);
        let start = Duration::from_secs(1_767_225_600);
        assert_eq!(entries[0], LogEntry::StartTime(start));
        assert_eq!(entries[1], LogEntry::BaseTime(start));
        let ivs: Vec<_> = entries
            .iter()
            .filter_map(|e| match e {
                LogEntry::Interval(i) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(ivs.len(), 2);
        assert_eq!(ivs[0].start_timestamp(), Duration::ZERO);
        assert_eq!(ivs[0].duration(), Duration::from_secs(1));
        assert_eq!(ivs[1].start_timestamp(), Duration::from_secs(1));
        assert!(ivs.iter().all(|i| i.tag().is_none()));
        // Max column in ms: interval 2 holds the 50 us operation.
        assert!((ivs[1].max() - 0.05).abs() < 0.001, "{}", ivs[1].max());
        let b = &r.backends[0];
        for (h, iv) in hists.iter().zip(&b.timeseries) {
            assert_eq!(h.len(), iv.ops, "this record times every operation");
            assert_eq!(
                *h,
                decode_histogram(iv.histogram.as_deref().unwrap()).unwrap()
            );
        }
        let mut sum = crate::record::new_histogram();
        for h in &hists {
            sum.add(h).unwrap();
        }
        assert_eq!(sum, b.decode_histogram().unwrap().unwrap());
        assert!(interval_log(&r, "direct").unwrap().is_none(), "skipped");
    }

    #[test]
    fn several_cells_are_tagged_and_offset_from_the_first() {
        let mut r = crate::record::tests::sample_record();
        let mut b2 = r.backends[0].clone();
        b2.threads = 4;
        b2.measure_start_unix_s = b2.measure_start_unix_s.map(|s| s + 10.0);
        r.backends.push(b2);
        let bytes = interval_log(&r, "mmap:advice=random").unwrap().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("One tag per cell (threads, repeat): t2 t4;"),
            "{text}"
        );
        let (entries, hists) = parse(&bytes);
        let ivs: Vec<_> = entries
            .iter()
            .filter_map(|e| match e {
                LogEntry::Interval(i) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(ivs.len(), 4);
        assert_eq!(ivs[0].tag().map(|t| t.as_str()), Some("t2"));
        assert_eq!(ivs[3].tag().map(|t| t.as_str()), Some("t4"));
        assert_eq!(ivs[2].start_timestamp(), Duration::from_secs(10));
        assert_eq!(ivs[3].start_timestamp(), Duration::from_secs(11));
        assert_eq!(hists.iter().map(|h| h.len()).sum::<u64>(), 10);
    }
}
