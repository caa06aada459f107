//! The one result schema (run.json) and the exporters built on it. Every exporter is a
//! pure function from the record to bytes, so each can be tested on a fixed record.

pub mod cell;
pub mod csv;
pub mod hgrm;
pub mod hlog;
pub mod kinds_table;
pub mod output;
pub mod overhead;
pub mod regime;
pub mod stalls;
pub mod summary;
pub mod sweep;
pub mod table;
pub mod writes;

use crate::datafile::Target;
use crate::env::Environment;
use crate::probe::{Counters, Reasons};
use crate::spec::{BackendSpec, Workload};
use base64::Engine;
pub use cell::{new_histogram, Interval, Outcome, Status, HIST_MAX_NS};
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Version of the run.json layout. Bump on incompatible changes.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema: u32,
    /// "faultline X.Y.Z".
    pub tool: String,
    /// The command line that produced the run.
    pub command: Vec<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    /// False when the run was interrupted: the backends listed are what was measured.
    pub complete: bool,
    /// The fully resolved workload (sizes in bytes, durations in ns).
    pub workload: serde_json::Value,
    pub environment: Environment,
    pub data_file: Target,
    pub backends: Vec<BackendResult>,
    /// The harness's own footprint before the first backend and after each one: open
    /// file descriptors, memory mappings and resident memory. A leak shows as growth.
    #[serde(default)]
    pub process: Vec<ProcessSnapshot>,
    /// With `run --probe-overhead N`: each probe's cost on each cell (A/B, alternated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probe_overhead: Vec<overhead::CellOverhead>,
    /// With `run --sweep KEY=V1,V2,...`: the setting and value of this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<crate::spec::sweep::SweepPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    /// Backends finished when the snapshot was taken.
    pub after_cells: usize,
    pub fds: Option<u64>,
    pub maps: Option<u64>,
    pub rss_bytes: Option<u64>,
}

impl ProcessSnapshot {
    pub fn take(after_cells: usize) -> ProcessSnapshot {
        let fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        let maps = std::fs::read_to_string("/proc/self/maps")
            .ok()
            .map(|t| t.lines().count() as u64);
        let rss_bytes = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| crate::env::meminfo_kb(&t, "VmRSS"))
            .map(|k| k * 1024);
        ProcessSnapshot {
            after_cells,
            fds,
            maps,
            rss_bytes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackendResult {
    /// The backend spec string, e.g. "mmap:advice=random".
    pub name: String,
    pub kind: String,
    pub status: Status,
    pub reason: Option<String>,
    pub threads: usize,
    /// 0-based repeat index (several when the workload sets `repeats`).
    pub repeat: u32,
    pub queue_depth: u32,
    pub block: u64,
    pub ops: u64,
    pub bytes: u64,
    pub elapsed_ns: u64,
    /// Time to open the backend before the measured phase (mapping, MAP_POPULATE,
    /// prefault, mlock, loading data), ns.
    #[serde(default)]
    pub setup_ns: u64,
    pub ops_per_sec: f64,
    pub bytes_per_sec: f64,
    /// Reads whose page headers did not match; 0 on a correct run. Null when the
    /// target cannot be verified (a user's file).
    pub verify_errors: Option<u64>,
    /// Null when nothing was measured.
    pub latency_ns: Option<Latency>,
    /// HdrHistogram V2 serialization, base64 (standard alphabet); null when nothing ran.
    pub histogram: Option<String>,
    pub timeseries: Vec<Interval>,
    #[serde(default)]
    pub notes: Vec<String>,
    /// Probe counters over the measured phase (totals; gauges at the end).
    #[serde(default)]
    pub counters: Counters,
    /// Latency histogram (HdrHistogram V2, base64) of only the operations that took a
    /// major fault; null when fault attribution did not run.
    #[serde(default)]
    pub fault_histogram: Option<String>,
    /// Why a counter is null: {counter name: reason}.
    #[serde(default)]
    pub reasons: Reasons,
    /// How the operations were timed: mode, clock, the measured floor; null when the
    /// harness did not time them (an external tool, a cell that did not run) and in
    /// results made before timing modes existed.
    #[serde(default)]
    pub timing: Option<crate::timing::TimingRecord>,
    /// Write and mix workloads: operations by kind, the read-back check, write
    /// amplification, dirty and write-back memory. Absent for read workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<writes::WriteResult>,
    /// Operations that failed (I/O error, SIGBUS) and were counted because the run went
    /// on after errors (`on_error = "continue"`); they are not in `ops` or `histogram`.
    /// 0 under `on_error = "fail"`, where the first error fails the backend.
    #[serde(default)]
    pub io_errors: u64,
    /// The first few failed operations: the block's offset and the error text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_error_samples: Vec<crate::driver::errors::IoErrorSample>,
    /// Latency histogram (HdrHistogram V2, base64) of the failed operations that were
    /// timed; null when none failed.
    #[serde(default)]
    pub error_histogram: Option<String>,
    /// With a page-cache limit: whether the cell was in its reclaim regime (who evicted),
    /// and the global regime's huge-page reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regime: Option<regime::RegimeCheck>,
    /// When the measured phase began, seconds since the Unix epoch (the StartTime of
    /// the interval log); null where not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_start_unix_s: Option<f64>,
    /// Intervals whose throughput was under 10% of the cell's median interval, adjacent
    /// ones merged (`record::stalls`); empty when none (or fewer than 2 intervals).
    #[serde(default)]
    pub stalls: Vec<stalls::Stall>,
}

impl BackendResult {
    /// Whether the cell was measured on a busy machine (`probe::cpu::busy_note`).
    pub fn measured_busy(&self) -> bool {
        self.notes
            .iter()
            .any(|n| n.starts_with(crate::probe::cpu::BUSY_NOTE))
    }

    /// The timing floor's note when this result's p50 is below twice the latency the
    /// loop records for an empty operation: the latencies are mostly the clock's.
    pub fn timing_floor_note(&self) -> Option<String> {
        let t = self.timing.as_ref()?;
        let p50 = self.latency_ns.as_ref()?.p50;
        t.at_floor(p50).then(|| {
            format!(
                "p50 {} is below 2x the timing floor ({} per empty operation with timing = {}): {}",
                crate::units::format_ns(p50 as f64),
                crate::units::format_ns(t.floor_ns),
                t.mode,
                crate::timing::floor_advice(&t.mode)
            )
        })
    }

    pub fn from_outcome(
        spec: &BackendSpec,
        o: Outcome,
        repeat: u32,
        block: u64,
        verifies: bool,
    ) -> Result<BackendResult, RecordError> {
        let bytes = o.ops * block;
        let secs = o.elapsed_ns as f64 / 1e9;
        let (ops_per_sec, bytes_per_sec) = if o.elapsed_ns > 0 {
            (o.ops as f64 / secs, bytes as f64 / secs)
        } else {
            (0.0, 0.0)
        };
        let measured = o.hist.as_ref().filter(|h| !h.is_empty());
        let latency_ns = measured.map(latency_of);
        let histogram = measured.map(encode_histogram).transpose()?;
        let stalls = stalls::detect(&o.timeseries);
        let measure_start_unix_s = o
            .measure_start
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        let kind = spec
            .name
            .split(':')
            .next()
            .unwrap_or(&spec.name)
            .to_string();
        Ok(BackendResult {
            name: spec.name.clone(),
            kind,
            status: o.status,
            reason: o.reason,
            threads: o.threads,
            repeat,
            queue_depth: o.queue_depth,
            block,
            ops: o.ops,
            bytes,
            elapsed_ns: o.elapsed_ns,
            setup_ns: o.setup_ns,
            ops_per_sec,
            bytes_per_sec,
            // A write cell whose pages could not be read back (an external tool's, an
            // interrupted one) has no verdict.
            verify_errors: (verifies
                && o.writes.as_ref().is_none_or(|w| w.verify_errors.is_some()))
            .then_some(o.verify_errors),
            latency_ns,
            histogram,
            timeseries: o.timeseries,
            notes: o.notes,
            counters: o.counters,
            fault_histogram: o.fault_hist.as_ref().map(encode_histogram).transpose()?,
            reasons: o.reasons,
            timing: o.timing,
            writes: o.writes,
            io_errors: o.io_errors,
            io_error_samples: o.io_error_samples,
            error_histogram: o.error_hist.as_ref().map(encode_histogram).transpose()?,
            regime: o.regime,
            measure_start_unix_s,
            stalls,
        })
    }

    pub fn decode_histogram(&self) -> Result<Option<Histogram<u64>>, RecordError> {
        self.histogram.as_deref().map(decode_histogram).transpose()
    }
}

pub fn latency_of(h: &Histogram<u64>) -> Latency {
    Latency {
        min: h.min(),
        mean: h.mean(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

/// A histogram or a run record that cannot be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The debug form of the hdrhistogram error, as it was always shown.
    #[error("cannot serialize a histogram: {0}")]
    Serialize(String),
    #[error("histogram is not valid base64")]
    Base64(#[source] base64::DecodeError),
    #[error("histogram is not a valid HdrHistogram V2 encoding: {0}")]
    Deserialize(String),
    #[error(transparent)]
    ToJson(serde_json::Error),
    #[error("not a faultline run.json")]
    FromJson(#[source] serde_json::Error),
}

pub fn encode_histogram(h: &Histogram<u64>) -> Result<String, RecordError> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| RecordError::Serialize(format!("{e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

pub fn decode_histogram(b64: &str) -> Result<Histogram<u64>, RecordError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(RecordError::Base64)?;
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| RecordError::Deserialize(format!("{e:?}")))
}

impl RunRecord {
    pub fn new(
        w: &Workload,
        environment: Environment,
        data_file: Target,
        started_at: String,
    ) -> RunRecord {
        RunRecord {
            schema: SCHEMA,
            tool: format!("faultline {}", env!("CARGO_PKG_VERSION")),
            command: std::env::args().collect(),
            started_at,
            finished_at: String::new(),
            complete: false,
            workload: serde_json::to_value(w).unwrap_or(serde_json::Value::Null),
            environment,
            data_file,
            backends: Vec::new(),
            process: Vec::new(),
            probe_overhead: Vec::new(),
            sweep: None,
        }
    }

    pub fn to_json(&self) -> Result<String, RecordError> {
        let mut s = serde_json::to_string_pretty(self).map_err(RecordError::ToJson)?;
        s.push('\n');
        Ok(s)
    }

    pub fn from_json(text: &str) -> Result<RunRecord, RecordError> {
        let r: RunRecord = serde_json::from_str(text).map_err(RecordError::FromJson)?;
        Ok(r)
    }

    pub fn workload_name(&self) -> &str {
        self.workload
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("workload")
    }

    /// The workload name, with the swept setting's value for a run of a sweep
    /// ("random-read (size=1GiB)"): reports keep each value's runs apart.
    pub fn report_name(&self) -> String {
        match &self.sweep {
            Some(p) => format!("{} ({}={})", self.workload_name(), p.key, p.value),
            None => self.workload_name().to_string(),
        }
    }
}

/// UTC now as RFC 3339 with seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fixed record for exporter tests.
    pub fn sample_record() -> RunRecord {
        let mut h = crate::record::new_histogram();
        for v in [1_000u64, 2_000, 2_000, 3_000, 50_000] {
            h.record(v).unwrap();
        }
        // The same operations filed by interval, as the runner files them.
        let per = |vs: &[u64]| {
            let mut h = crate::record::new_histogram();
            for &v in vs {
                h.record(v).unwrap();
            }
            Some(encode_histogram(&h).unwrap())
        };
        let spec = BackendSpec::parse("mmap:advice=random").unwrap();
        let o = Outcome {
            status: Status::Ok,
            reason: None,
            notes: vec![],
            threads: 2,
            queue_depth: 1,
            ops: 5,
            elapsed_ns: 2_000_000_000,
            hist: Some(h),
            timeseries: vec![
                Interval {
                    t_ns: 1_000_000_000,
                    ops: 3,
                    bytes: 3 * 4096,
                    histogram: per(&[1_000, 2_000, 2_000]),
                    counters: Counters::default(),
                },
                Interval {
                    t_ns: 2_000_000_000,
                    ops: 2,
                    bytes: 2 * 4096,
                    histogram: per(&[3_000, 50_000]),
                    counters: Counters::default(),
                },
            ],
            verify_errors: 0,
            interrupted: false,
            setup_ns: 0,
            counters: Counters::default(),
            reasons: Default::default(),
            fault_hist: None,
            timing: None,
            writes: None,
            io_errors: 0,
            io_error_samples: Vec::new(),
            error_hist: None,
            regime: None,
            measure_start: Some(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600),
            ),
        };
        let b = BackendResult::from_outcome(&spec, o, 0, 4096, true).unwrap();
        let skipped = BackendResult {
            name: "direct".into(),
            kind: "direct".into(),
            status: Status::Skipped,
            reason: Some("no O_DIRECT here".into()),
            threads: 2,
            repeat: 0,
            queue_depth: 1,
            block: 4096,
            ops: 0,
            bytes: 0,
            elapsed_ns: 0,
            setup_ns: 0,
            ops_per_sec: 0.0,
            bytes_per_sec: 0.0,
            verify_errors: Some(0),
            latency_ns: None,
            histogram: None,
            timeseries: vec![],
            notes: vec![],
            counters: Counters::default(),
            fault_histogram: None,
            reasons: Reasons::default(),
            timing: None,
            writes: None,
            io_errors: 0,
            io_error_samples: Vec::new(),
            error_histogram: None,
            regime: None,
            measure_start_unix_s: None,
            stalls: Vec::new(),
        };
        RunRecord {
            schema: SCHEMA,
            tool: "faultline test".into(),
            command: vec!["faultline".into()],
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:05Z".into(),
            complete: true,
            workload: serde_json::json!({"name": "quick", "block": 4096}),
            environment: Environment::default(),
            data_file: Target {
                path: "faultline-data/x.dat".into(),
                size: 1 << 20,
                origin: crate::datafile::Origin::Generated,
                verify_tag: Some(1),
                created: false,
                create_secs: None,
                stripe: None,
            },
            backends: vec![b, skipped],
            process: vec![],
            probe_overhead: vec![],
            sweep: None,
        }
    }

    #[test]
    fn histogram_round_trips_and_merges() {
        let mut a = crate::record::new_histogram();
        let mut b = crate::record::new_histogram();
        for v in 1..=1000u64 {
            a.record(v * 100).unwrap();
        }
        for v in 1..=500u64 {
            b.record(v * 1000).unwrap();
        }
        let mut m = crate::record::new_histogram();
        m.add(&a).unwrap();
        m.add(&b).unwrap();
        assert_eq!(m.len(), 1500);
        assert_eq!(m.max(), b.max());
        assert_eq!(m.min(), a.min());
        let back = decode_histogram(&encode_histogram(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        let l = latency_of(&back);
        assert!(
            l.min <= l.p50
                && l.p50 <= l.p90
                && l.p90 <= l.p99
                && l.p99 <= l.p999
                && l.p999 <= l.max
        );
    }

    #[test]
    fn record_round_trips_through_json() {
        let r = sample_record();
        let text = r.to_json().unwrap();
        let back = RunRecord::from_json(&text).unwrap();
        assert_eq!(back.backends.len(), 2);
        let b = &back.backends[0];
        assert_eq!(b.bytes, b.ops * 4096);
        assert_eq!(b.decode_histogram().unwrap().unwrap().len(), b.ops);
        assert_eq!(b.ops_per_sec, 2.5);
        assert!(back.backends[1].latency_ns.is_none());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in [
            "schema",
            "workload",
            "started_at",
            "environment",
            "backends",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        for key in [
            "name",
            "status",
            "reason",
            "threads",
            "ops",
            "bytes",
            "elapsed_ns",
            "ops_per_sec",
            "bytes_per_sec",
            "verify_errors",
            "latency_ns",
            "histogram",
            "timeseries",
        ] {
            assert!(v["backends"][0].get(key).is_some(), "{key}");
        }
    }

    /// `old` (a value as committed) is kept in `new` (after a round trip through the
    /// typed record): every key with the same value; keys `new` adds (fields newer than
    /// the file, filled with their defaults) must be empty.
    fn kept(old: &serde_json::Value, new: &serde_json::Value, at: &str) {
        use serde_json::Value;
        match (old, new) {
            (Value::Object(o), Value::Object(n)) => {
                for (k, v) in o {
                    kept(v, &n[k], &format!("{at}.{k}"));
                }
                for (k, v) in n.iter().filter(|(k, _)| !o.contains_key(*k)) {
                    let empty = v.is_null()
                        || v == &Value::Bool(false)
                        || v == &serde_json::json!(0)
                        || v.as_array().is_some_and(|a| a.is_empty());
                    assert!(empty, "{at}.{k}: added as {v}");
                }
            }
            (Value::Array(o), Value::Array(n)) => {
                assert_eq!(o.len(), n.len(), "{at}");
                for (i, (a, b)) in o.iter().zip(n).enumerate() {
                    kept(a, b, &format!("{at}[{i}]"));
                }
            }
            _ => assert_eq!(old, new, "{at}"),
        }
    }

    /// Every committed run.json (results/) reads into the typed record (counters,
    /// reasons, data-file origin) and writes back what it held.
    #[test]
    fn committed_results_round_trip() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results");
        let loaded = crate::report::load::load(&root).unwrap();
        assert!(loaded.len() >= 10, "{}", loaded.len());
        let mut reasons = 0;
        for l in &loaded {
            let text = std::fs::read_to_string(&l.path).unwrap();
            let old: serde_json::Value = serde_json::from_str(&text).unwrap();
            let new = serde_json::to_value(&l.record).unwrap();
            kept(&old, &new, &l.path.display().to_string());
            for (o, n) in old["backends"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&l.record.backends)
            {
                assert_eq!(o["reasons"], serde_json::to_value(&n.reasons).unwrap());
                reasons += n.reasons.iter().count();
            }
        }
        assert!(reasons > 0, "the committed results hold reasons");
    }
}
