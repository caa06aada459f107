//! The metrics that `compare` checks and the exports carry, with their direction
//! (bigger or smaller is better) and unit.

use super::aggregate::{Row, Spread};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    OpsPerSec,
    BytesPerSec,
    P50,
    P99,
    P999,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::OpsPerSec,
        Metric::BytesPerSec,
        Metric::P50,
        Metric::P99,
        Metric::P999,
    ];

    /// The run.json name (`ops_per_sec`, `bytes_per_sec`, or the `latency_ns` key).
    pub fn key(self) -> &'static str {
        match self {
            Metric::OpsPerSec => "ops_per_sec",
            Metric::BytesPerSec => "bytes_per_sec",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p999",
        }
    }

    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Metric::OpsPerSec => "ops/s",
            Metric::BytesPerSec => "MiB/s",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p99.9",
        }
    }

    /// A slug for services that key measures by name (Bencher).
    pub fn slug(self) -> &'static str {
        match self {
            // Bencher's built-in throughput measure counts operations per second.
            Metric::OpsPerSec => "throughput",
            Metric::BytesPerSec => "mib-per-second",
            Metric::P50 => "latency-p50",
            Metric::P99 => "latency-p99",
            Metric::P999 => "latency-p999",
        }
    }

    pub fn bigger_is_better(self) -> bool {
        matches!(self, Metric::OpsPerSec | Metric::BytesPerSec)
    }

    /// The unit of `value`: operations per second, MiB per second, nanoseconds.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::OpsPerSec => "ops/s",
            Metric::BytesPerSec => "MiB/s",
            _ => "ns",
        }
    }

    /// The metric of a pooled row, in `unit()`; None when nothing was measured.
    pub fn of(self, r: &Row) -> Option<Spread> {
        match self {
            Metric::OpsPerSec => r.ops_per_sec,
            Metric::BytesPerSec => r.bytes_per_sec.map(|s| s.scale(1.0 / 1048576.0)),
            Metric::P50 => r.p50,
            Metric::P99 => r.p99,
            Metric::P999 => r.p999,
        }
    }
}

impl Metric {
    /// Parse a metric name as run.json or the tables write it.
    pub fn parse(s: &str) -> Result<Metric, String> {
        let t = s.trim();
        Metric::ALL
            .into_iter()
            .find(|m| m.key() == t || m.label() == t)
            .ok_or_else(|| {
                format!(
                    "unknown metric `{t}`; use {}",
                    Metric::ALL.map(|m| m.key()).join(", ")
                )
            })
    }

    /// A value in `unit()` for people: "1.79M", "6992.8", "1.00us".
    pub fn format(self, v: f64) -> String {
        match self {
            Metric::OpsPerSec => crate::units::format_count(v),
            Metric::BytesPerSec => format!("{v:.1}"),
            _ => crate::units::format_ns(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.key()), Ok(m));
            assert_eq!(Metric::parse(m.label()), Ok(m));
        }
        assert!(Metric::parse("p95")
            .unwrap_err()
            .contains("ops_per_sec, bytes_per_sec"));
    }
}
