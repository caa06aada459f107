//! The tlb:tlb_flush tracepoint: where tracefs is, the tracepoint id, and the names of
//! its `reason` values (read from the tracepoint's format, so they follow the kernel).
//! tracefs is mounted when it is missing and the harness may mount it (root); it is
//! unmounted again when the run ends.

use crate::sys;
use std::path::{Path, PathBuf};

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";
const EVENT: &str = "events/tlb/tlb_flush";

#[derive(Debug, Clone)]
pub struct TlbTracepoint {
    pub id: u64,
    /// (reason value, name) pairs, e.g. (1, "remote_shootdown").
    pub reasons: Vec<(u32, String)>,
}

/// Unmounts tracefs on drop when this run mounted it.
pub struct TracefsMount {
    dir: Option<PathBuf>,
}

impl Drop for TracefsMount {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = sys::perf::umount(&d);
        }
    }
}

/// Where tracefs is mounted now (its `events` directory exists), if it is.
pub fn root() -> Option<PathBuf> {
    [TRACEFS, DEBUGFS_TRACING]
        .iter()
        .map(Path::new)
        .find(|p| p.join("events").is_dir())
        .map(Path::to_path_buf)
}

/// Find (or mount) tracefs and read the tracepoint. Err carries the reason it is
/// unavailable, for the record.
pub fn setup() -> Result<(TlbTracepoint, TracefsMount), String> {
    find(true)
}

/// Like `setup` but never mounts anything (for `faultline env`): says what `run` would do.
pub fn check() -> Result<TlbTracepoint, String> {
    find(false).map(|(t, _)| t)
}

fn find(may_mount: bool) -> Result<(TlbTracepoint, TracefsMount), String> {
    let mut mounted = TracefsMount { dir: None };
    let root = match [TRACEFS, DEBUGFS_TRACING]
        .iter()
        .map(Path::new)
        .find(|p| p.join("events").is_dir())
    {
        Some(p) => p.to_path_buf(),
        None => {
            let dir = Path::new(TRACEFS);
            if !dir.is_dir() {
                return Err(format!("{TRACEFS} does not exist (kernel without tracefs)"));
            }
            if sys::uid() != 0 {
                return Err(format!(
                    "tracefs is not mounted at {TRACEFS} and mounting it needs root"
                ));
            }
            if !may_mount {
                return Err(format!(
                    "tracefs is not mounted at {TRACEFS}; `faultline run` mounts it for the run (root) and unmounts it afterwards"
                ));
            }
            sys::perf::mount_tracefs(dir)
                .map_err(|e| format!("cannot mount tracefs at {TRACEFS}: {e}"))?;
            mounted.dir = Some(dir.to_path_buf());
            dir.to_path_buf()
        }
    };
    let ev = root.join(EVENT);
    let id = std::fs::read_to_string(ev.join("id"))
        .map_err(|e| {
            format!(
                "cannot read {}: {e} (no tlb:tlb_flush tracepoint on this kernel/architecture)",
                ev.join("id").display()
            )
        })?
        .trim()
        .parse::<u64>()
        .map_err(|e| format!("bad tracepoint id in {}: {e}", ev.join("id").display()))?;
    let format = std::fs::read_to_string(ev.join("format")).unwrap_or_default();
    let mut reasons = reason_names(&format);
    if reasons.is_empty() {
        reasons = (0..5).map(|r| (r, format!("reason_{r}"))).collect();
    }
    Ok((TlbTracepoint { id, reasons }, mounted))
}

/// Parse `__print_symbolic(REC->reason, { 0, "flush on task switch" }, ...)` from the
/// tracepoint format into (value, snake_case name).
pub fn reason_names(format: &str) -> Vec<(u32, String)> {
    let Some(start) = format.find("__print_symbolic(REC->reason") else {
        return Vec::new();
    };
    let rest = &format[start..];
    let mut out = Vec::new();
    let mut s = rest;
    while let Some(open) = s.find('{') {
        let Some(close) = s[open..].find('}') else {
            break;
        };
        let inner = &s[open + 1..open + close];
        s = &s[open + close + 1..];
        let mut parts = inner.splitn(2, ',');
        let (Some(num), Some(name)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(v) = num.trim().parse::<u32>() else {
            continue;
        };
        let name: String = name
            .trim()
            .trim_matches('"')
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        out.push((v, name));
        if s.trim_start().starts_with(')') {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reason_names_from_the_format() {
        let f = r#"print fmt: "pages:%ld reason:%s (%d)", REC->pages, __print_symbolic(REC->reason, { 0, "flush on task switch" }, { 1, "remote shootdown" }, { 2, "local shootdown" }, { 3, "local MM shootdown" }, { 4, "remote IPI send" }, { 5, "remote wrong CPU" }), REC->reason"#;
        let r = reason_names(f);
        assert_eq!(r.len(), 6);
        assert_eq!(r[0], (0, "flush_on_task_switch".to_string()));
        assert_eq!(r[1], (1, "remote_shootdown".to_string()));
        assert_eq!(r[3], (3, "local_mm_shootdown".to_string()));
        assert_eq!(r[5], (5, "remote_wrong_cpu".to_string()));
        assert!(reason_names("no symbolic here").is_empty());
    }
}
