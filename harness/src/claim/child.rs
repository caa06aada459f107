//! Claims measure some variants in child processes (this binary re-run with hidden
//! flags): starting them, collecting what they print, and their own resource usage.

use anyhow::{Context, Result};
use std::path::PathBuf;

/// The path of this executable, to re-run it as a measured child process.
pub fn self_exe() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find this program's own path to start child processes")
}

/// A finished child process: what it printed, how it ended, its own resource usage.
#[derive(Debug)]
pub struct ChildRun {
    pub status: std::process::ExitStatus,
    pub usage: crate::sys::process::ChildUsage,
    pub stdout: String,
    pub stderr: String,
}

impl ChildRun {
    /// Why the child failed, or None when it exited with status 0.
    pub fn failure(&self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        if self.status.success() {
            return None;
        }
        let how = match (self.status.code(), self.status.signal()) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => "failed".to_string(),
        };
        let err = self.stderr.trim();
        Some(if err.is_empty() {
            format!("the child process {how}")
        } else {
            format!("the child process {how}: {err}")
        })
    }

    /// The last line of stdout parsed as JSON.
    pub fn report<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let line = self.stdout.lines().rev().find(|l| !l.trim().is_empty());
        let line = line.ok_or_else(|| anyhow::anyhow!("the child process printed no report"))?;
        serde_json::from_str(line)
            .with_context(|| format!("the child process printed an unreadable report: {line}"))
    }
}

/// Start `cmd` with stdout and stderr piped (stdin closed).
pub fn spawn_child(mut cmd: std::process::Command) -> Result<std::process::Child> {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn()
        .with_context(|| format!("cannot start the child process {:?}", cmd.get_program()))
}

/// Read everything a child prints, then reap it with its own resource usage.
pub fn collect_child(mut child: std::process::Child) -> Result<ChildRun> {
    use std::io::Read;
    let err = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = err {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let mut stdout = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    let (status, usage) =
        crate::sys::process::wait_with_usage(&child).context("cannot wait for a child process")?;
    let stderr = err_reader.join().unwrap_or_default();
    Ok(ChildRun {
        status,
        usage,
        stdout,
        stderr,
    })
}
