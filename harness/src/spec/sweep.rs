//! `faultline run --sweep KEY=V1,V2,...`: one run of the workload per value of one
//! numeric setting. Each value is parsed exactly as the setting's own flag parses it
//! (sizes with units, counts, percentages), applied over the workload (after the other
//! command-line values) and checked with the workload's cross-key checks, all before
//! anything runs, so a bad value fails at once. Each run records `sweep = {key, value,
//! number, index, count}` in its run.json; `faultline plot` draws a metric against
//! `number`, one line per backend.

use super::{Device, SpecError, Workload};
use clap::{Args as _, FromArgMatches as _};
use serde::{Deserialize, Serialize};

/// The settings a sweep can vary: the numeric workload settings and the keys of a
/// device cap (applied to the `--device zram` spec when there is one, else to
/// `device_cap`).
pub const SWEEPABLE: &[&str] = &[
    "size",
    "page_cache_limit",
    "threads",
    "block",
    "queue_depth",
    "read_pct",
    "read_ahead_kb",
    "fault_sample_period",
    "read_iops",
    "read_bps",
    "write_iops",
    "write_bps",
];

/// Keys whose values are bytes (charts label them as sizes).
const BYTE_KEYS: &[&str] = &["size", "page_cache_limit", "block", "read_bps", "write_bps"];

/// Keys of a device cap.
const CAP_KEYS: &[&str] = &["read_iops", "read_bps", "write_iops", "write_bps"];

/// A parsed `--sweep KEY=V1,V2,...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub key: String,
    /// The values as given.
    pub values: Vec<String>,
}

/// One run of a sweep, as run.json records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The swept setting.
    pub key: String,
    /// The value as given on the command line, e.g. "256MiB".
    pub value: String,
    /// The value as a number in the setting's unit (bytes for sizes).
    pub number: f64,
    /// 0-based position of this value in the sweep.
    pub index: usize,
    /// Values in the sweep.
    pub count: usize,
}

impl SweepPoint {
    /// Whether the swept value is a number of bytes.
    pub fn is_bytes(&self) -> bool {
        BYTE_KEYS.contains(&self.key.as_str())
    }
}

fn keys_list() -> String {
    SWEEPABLE.join(", ")
}

/// Parse `KEY=V1,V2,...` (clap value parser of `--sweep`).
pub fn parse_sweep(s: &str) -> Result<Sweep, String> {
    let Some((key, values)) = s.split_once('=') else {
        return Err(format!(
            "`{s}` is not KEY=V1,V2,...; e.g. --sweep size=256MiB,512MiB,1GiB. Sweepable keys: {}",
            keys_list()
        ));
    };
    let key = key.trim();
    if !SWEEPABLE.contains(&key) {
        return Err(format!(
            "`{key}` cannot be swept; sweepable keys: {}",
            keys_list()
        ));
    }
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(|v| v.is_empty()) {
        return Err(format!(
            "--sweep {key}=...: an empty value in `{s}`; give values separated by commas, e.g. {key}=1,2,4"
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(d) = values.iter().find(|v| !seen.insert(v.as_str())) {
        return Err(format!(
            "--sweep {key}=...: `{d}` is given twice; each value runs once"
        ));
    }
    Ok(Sweep {
        key: key.to_string(),
        values,
    })
}

impl Sweep {
    /// The workload of every value (in order) with its point, each checked; the first
    /// bad value is an error naming it and what the setting accepts.
    pub fn workloads(&self, base: &Workload) -> Result<Vec<(Workload, SweepPoint)>, SpecError> {
        let count = self.values.len();
        self.values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let (w, number) = self.apply(base, value)?;
                let point = SweepPoint {
                    key: self.key.clone(),
                    value: value.clone(),
                    number,
                    index,
                    count,
                };
                Ok((w, point))
            })
            .collect()
    }

    fn apply(&self, base: &Workload, value: &str) -> Result<(Workload, f64), SpecError> {
        let at = format!("--sweep {}={value}", self.key);
        let mut w = base.clone();
        if CAP_KEYS.contains(&self.key.as_str()) {
            let cap = crate::env::blkio::parse_cap(&format!("{}={value}", self.key))
                .map_err(|m| SpecError::new(&at, m))?;
            let n = [cap.read_iops, cap.read_bps, cap.write_iops, cap.write_bps]
                .into_iter()
                .flatten()
                .next()
                .ok_or_else(|| SpecError::new(&at, "no value"))?;
            let target = match &mut w.device {
                Some(Device::Zram(z)) => &mut z.cap,
                Some(Device::Fuse(_)) => {
                    return Err(SpecError::new(
                        &at,
                        "a FUSE device cannot be capped; sweep a cap with --device zram or on the data file's own disk",
                    ))
                }
                None => w.device_cap.get_or_insert_with(Default::default),
            };
            let slot = match self.key.as_str() {
                "read_iops" => &mut target.read_iops,
                "read_bps" => &mut target.read_bps,
                "write_iops" => &mut target.write_iops,
                _ => &mut target.write_bps,
            };
            *slot = Some(n);
            w.check().map_err(|m| SpecError::new(&at, m))?;
            return Ok((w, n as f64));
        }
        let flag = super::settings::cli_flag(&self.key)
            .map(|f| f.long)
            .ok_or_else(|| SpecError::new(&at, "this setting has no command-line flag"))?;
        let cmd = super::Settings::augment_args(clap::Command::new("sweep").no_binary_name(true));
        let m = cmd
            .try_get_matches_from([flag.as_str(), value])
            .map_err(|e| SpecError::new(&at, clap_message(&e)))?;
        let s = super::Settings::from_arg_matches(&m)
            .map_err(|e| SpecError::new(&at, clap_message(&e)))?;
        let number = match self.key.as_str() {
            "size" => s.size.map(|v| v as f64),
            "page_cache_limit" => s.page_cache_limit.map(|v| v as f64),
            "threads" => match s.threads.as_deref() {
                Some([n]) => Some(*n as f64),
                _ => {
                    return Err(SpecError::new(
                        &at,
                        "one thread count per value (the values are the list)",
                    ))
                }
            },
            "block" => s.block.map(|v| v as f64),
            "queue_depth" => s.queue_depth.map(|v| v as f64),
            "read_pct" => s.read_pct.map(|v| v as f64),
            "read_ahead_kb" => s.read_ahead_kb.map(|v| v as f64),
            "fault_sample_period" => s.fault_sample_period.map(|v| v as f64),
            _ => None,
        }
        .ok_or_else(|| SpecError::new(&at, "the value did not set the key"))?;
        w.apply(&s)
            .map_err(|e| SpecError::new(&at, e.to_string()))?;
        Ok((w, number))
    }
}

/// clap's error without its "error:" prefix and usage lines.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("").trim();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Workload {
        Workload::default_quick().unwrap()
    }

    #[test]
    fn parses_values_as_the_setting_does() {
        let s = parse_sweep("size=64MiB,1GiB").unwrap();
        let pts = s.workloads(&base()).unwrap();
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].0.size, 64 << 20);
        assert_eq!(pts[1].1.number, (1u64 << 30) as f64);
        assert_eq!((pts[1].1.index, pts[1].1.count), (1, 2));
        assert!(pts[0].1.is_bytes());
        let t = parse_sweep("threads=1,2")
            .unwrap()
            .workloads(&base())
            .unwrap();
        assert_eq!(t[1].0.threads, vec![2]);
        let c = parse_sweep("read_iops=1000,2000")
            .unwrap()
            .workloads(&base())
            .unwrap();
        assert_eq!(c[1].0.device_cap.as_ref().unwrap().read_iops, Some(2000));
    }

    #[test]
    fn bad_keys_and_values_say_what_to_do() {
        let e = parse_sweep("pattern=random").unwrap_err();
        assert!(e.contains("sweepable keys: size"), "{e}");
        assert!(parse_sweep("size").unwrap_err().contains("KEY=V1,V2"));
        assert!(parse_sweep("size=1GiB,,2GiB")
            .unwrap_err()
            .contains("empty"));
        assert!(parse_sweep("size=1GiB,1GiB").unwrap_err().contains("twice"));
        let e = parse_sweep("size=12 bananas")
            .unwrap()
            .workloads(&base())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--sweep size=12 bananas"), "{e}");
        let e = parse_sweep("read_pct=0")
            .unwrap()
            .workloads(&base())
            .unwrap_err()
            .to_string();
        assert!(e.contains("read_pct"), "{e}");
    }
}
