//! The write side of a workload: the operation (`read`, `write`, `mix`), when written
//! data is made durable (`sync`) and with which call (`sync_method`).

use crate::units;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// What one operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Read,
    /// Every operation writes one block.
    Write,
    /// Each operation reads (with probability `read_pct`%) or writes one block.
    Mix,
}

impl Op {
    /// True when the workload writes.
    pub fn writes(self) -> bool {
        self != Op::Read
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Mix => "mix",
        })
    }
}

pub fn parse_op(s: &str) -> Result<Op, String> {
    match s {
        "read" => Ok(Op::Read),
        "write" => Ok(Op::Write),
        "mix" => Ok(Op::Mix),
        _ => Err(format!(
            "`{s}` is not an operation; allowed: read, write, mix (with read_pct)"
        )),
    }
}

/// When a writing thread makes its writes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SyncPolicy {
    /// Never: the kernel writes dirty pages back when it chooses.
    None,
    /// Once per thread, after its last write of the cell (timed, counted as a sync).
    End,
    /// After every N writes of the thread (every:1 is a commit per write).
    Every { writes: u64 },
    /// When this long has passed since the thread's last sync.
    Interval {
        #[serde(serialize_with = "ser_ns")]
        every: Duration,
    },
}

fn ser_ns<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_nanos() as u64)
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPolicy::None => f.write_str("none"),
            SyncPolicy::End => f.write_str("end"),
            SyncPolicy::Every { writes } => write!(f, "every:{writes}"),
            SyncPolicy::Interval { every } => {
                write!(f, "interval:{}", units::format_duration(*every))
            }
        }
    }
}

pub fn parse_sync(s: &str) -> Result<SyncPolicy, String> {
    let allowed =
        "allowed: none, end, every:N (after every N writes), interval:D (e.g. interval:100ms)";
    match s.split_once(':') {
        None => match s {
            "none" => Ok(SyncPolicy::None),
            "end" => Ok(SyncPolicy::End),
            "every" | "interval" => Err(format!("`{s}` needs a value; {allowed}")),
            _ => Err(format!("`{s}` is not a sync policy; {allowed}")),
        },
        Some(("every", n)) => match n.trim().parse::<u64>() {
            Ok(writes) if writes >= 1 => Ok(SyncPolicy::Every { writes }),
            _ => Err(format!(
                "every:`{n}` is not a write count; use a whole number of at least 1, e.g. every:1"
            )),
        },
        Some(("interval", d)) => {
            let every = units::parse_duration(d).map_err(|e| format!("interval: {e}"))?;
            if every < Duration::from_millis(1) {
                return Err(format!(
                    "interval:{d} is too short; use at least 1ms (or every:N)"
                ));
            }
            Ok(SyncPolicy::Interval { every })
        }
        Some(_) => Err(format!("`{s}` is not a sync policy; {allowed}")),
    }
}

/// The call a sync makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncMethod {
    Fdatasync,
    Fsync,
    /// msync(MS_SYNC) of the mapping (mapping backends only).
    Msync,
    /// msync(MS_ASYNC): starts write-back, does not wait (mapping backends only).
    MsyncAsync,
    /// sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER): writes the data back and waits,
    /// but flushes no metadata and no device cache: not durable.
    SyncFileRange,
}

impl SyncMethod {
    pub fn name(self) -> &'static str {
        match self {
            SyncMethod::Fdatasync => "fdatasync",
            SyncMethod::Fsync => "fsync",
            SyncMethod::Msync => "msync",
            SyncMethod::MsyncAsync => "msync-async",
            SyncMethod::SyncFileRange => "sync_file_range",
        }
    }

    /// True for the methods that need a mapping.
    pub fn maps(self) -> bool {
        matches!(self, SyncMethod::Msync | SyncMethod::MsyncAsync)
    }
}

impl fmt::Display for SyncMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub fn parse_sync_method(s: &str) -> Result<SyncMethod, String> {
    match s {
        "fdatasync" => Ok(SyncMethod::Fdatasync),
        "fsync" => Ok(SyncMethod::Fsync),
        "msync" => Ok(SyncMethod::Msync),
        "msync-async" => Ok(SyncMethod::MsyncAsync),
        "sync_file_range" => Ok(SyncMethod::SyncFileRange),
        _ => Err(format!(
            "`{s}` is not a sync method; allowed: fdatasync, fsync, msync, msync-async, sync_file_range"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for s in ["none", "end", "every:1", "every:64", "interval:100ms"] {
            let p = parse_sync(s).unwrap();
            assert_eq!(parse_sync(&p.to_string()).unwrap(), p, "{s}");
        }
        for m in [
            "fdatasync",
            "fsync",
            "msync",
            "msync-async",
            "sync_file_range",
        ] {
            assert_eq!(parse_sync_method(m).unwrap().name(), m);
        }
        assert_eq!(parse_op("mix").unwrap(), Op::Mix);
    }

    #[test]
    fn rejects_with_advice() {
        assert!(parse_sync("every:0").unwrap_err().contains("at least 1"));
        assert!(parse_sync("every").unwrap_err().contains("needs a value"));
        assert!(parse_sync("interval:0ms").is_err());
        assert!(parse_sync("sometimes").unwrap_err().contains("allowed"));
        assert!(parse_sync_method("sync").unwrap_err().contains("fdatasync"));
        assert!(parse_op("readwrite").unwrap_err().contains("mix"));
    }
}
