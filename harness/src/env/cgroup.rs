//! The run's memory cgroup: "page cache smaller than the file" on any machine.
//!
//! A child cgroup of the harness's own memory cgroup gets the limit; during each
//! measured cell the harness process (all its threads: memory is charged per process)
//! is moved into it, and back afterwards. Everything is undone when the guard drops,
//! also on error and Ctrl-C. No other cgroup is changed and no other process is moved.
//!
//! cgroup v1 (memory controller mounted on its own hierarchy): the child gets
//! `memory.limit_in_bytes`.
//!
//! cgroup v2: a cgroup with processes cannot enable controllers for its children (the
//! "no internal processes" rule), so the harness first moves itself into a leaf of its
//! own subtree (`faultline-PID/harness`), enables `memory` on the way down, and uses a
//! sibling leaf `faultline-PID/cell` with `memory.max`. This needs the harness to be the
//! only process in its cgroup (as under `systemd-run --scope`); otherwise it fails with
//! that advice. On teardown the controllers it enabled are disabled again and the
//! harness returns to where it started.

use crate::probe::parse::{self, CgroupVersion};
use std::path::{Path, PathBuf};

/// Why the memory cgroup for a page-cache limit cannot be found, created or used. The
/// messages name what is missing (root, controller, delegation).
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {cause}")]
    ReadProc {
        path: &'static str,
        cause: std::io::Error,
    },
    /// The v1 memory hierarchy does not hold this process's cgroup.
    #[error("{0}")]
    V1Dir(String),
    #[error("no memory cgroup controller is available: {0}")]
    NoController(String),
    #[error("cannot create the memory cgroup {}: {cause}; a page-cache limit needs root (or write access to your memory cgroup {})", .cell.display(), .home.display())]
    CreateV1 {
        cell: PathBuf,
        home: PathBuf,
        cause: std::io::Error,
    },
    #[error("the memory controller is not available in cgroup {} (cgroup.controllers lacks `memory`); ask for a delegated cgroup, e.g. run under `systemd-run --user --scope -p Delegate=yes`", .0.display())]
    NotDelegated(PathBuf),
    #[error("cannot create the memory cgroup {}: {cause}; a page-cache limit needs root or a delegated cgroup", .top.display())]
    CreateV2 { top: PathBuf, cause: std::io::Error },
    #[error("cannot enable the memory controller in {}: {cause}; with cgroup v2 the harness must be the only process in its cgroup: run it under `systemd-run --scope` (or in its own cgroup)", .ctl.display())]
    Enable { ctl: PathBuf, cause: std::io::Error },
    /// A cgroup file operation: `what` says which ("cannot set memory.max in ...").
    #[error("{what}")]
    File {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    ReadLimit(std::io::Error),
    #[error("{0}")]
    ParseLimit(String),
    #[error("the memory limit of {} did not take effect", .0.display())]
    NotApplied(PathBuf),
}

type Result<T> = std::result::Result<T, CgroupError>;

/// The error of a cgroup file operation, described by `what`.
fn file_err(what: String) -> impl FnOnce(std::io::Error) -> CgroupError {
    move |source| CgroupError::File { what, source }
}

fn read_proc(path: &'static str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|cause| CgroupError::ReadProc { path, cause })
}

pub struct MemCgroup {
    pub version: CgroupVersion,
    /// Where the harness started (it returns there).
    home: PathBuf,
    /// The limited cgroup the cells run in.
    cell: PathBuf,
    /// v2 only: faultline-PID and its harness leaf, and the subtree_control files where
    /// this run enabled `memory`.
    v2: Option<V2State>,
    pub limit: u64,
    inside: bool,
}

struct V2State {
    top: PathBuf,
    harness: PathBuf,
    enabled_in: Vec<PathBuf>,
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

/// Where this process's memory cgroup is, and which version governs memory.
pub fn locate() -> Result<(CgroupVersion, PathBuf)> {
    let self_cg = read_proc("/proc/self/cgroup")?;
    let mountinfo = read_proc("/proc/self/mountinfo")?;
    let membership = parse::parse_self_cgroup(&self_cg);
    let mounts = parse::parse_cgroup_mounts(&mountinfo);
    // The memory controller lives in one hierarchy: v1 when a v1 memory hierarchy is
    // mounted, v2 otherwise.
    if mounts.v1_memory.is_some() {
        let dir = mounts
            .v1_memory_dir(&membership)
            .map_err(CgroupError::V1Dir)?;
        return Ok((CgroupVersion::V1, dir));
    }
    let dir = mounts
        .v2_dir(&membership)
        .map_err(CgroupError::NoController)?;
    Ok((CgroupVersion::V2, dir))
}

/// Remove cgroups a killed earlier run left behind under `dir` (only our own names,
/// only when that process is gone, only when empty: rmdir refuses otherwise).
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("faultline-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        for leaf in ["cell", "harness"] {
            let _ = std::fs::remove_dir(p.join(leaf));
        }
        let _ = std::fs::remove_dir(&p);
    }
}

impl MemCgroup {
    /// Create the limited cgroup. Errors name what is missing (root, controller).
    pub fn create(limit: u64) -> Result<MemCgroup> {
        let (version, home) = locate()?;
        remove_stale(&home);
        let pid = std::process::id();
        match version {
            CgroupVersion::V1 => {
                let cell = home.join(format!("faultline-{pid}"));
                std::fs::create_dir(&cell).map_err(|cause| CgroupError::CreateV1 {
                    cell: cell.clone(),
                    home: home.clone(),
                    cause,
                })?;
                let mut cg = MemCgroup {
                    version,
                    home,
                    cell: cell.clone(),
                    v2: None,
                    limit,
                    inside: false,
                };
                write(&cell.join("memory.limit_in_bytes"), &limit.to_string()).map_err(
                    file_err(format!(
                        "cannot set memory.limit_in_bytes in {}",
                        cell.display()
                    )),
                )?;
                cg.check_limit()?;
                Ok(cg)
            }
            CgroupVersion::V2 => MemCgroup::create_v2(home, limit),
        }
    }

    fn create_v2(home: PathBuf, limit: u64) -> Result<MemCgroup> {
        let controllers =
            std::fs::read_to_string(home.join("cgroup.controllers")).unwrap_or_default();
        if !parse::parse_cgroup_controllers(&controllers).contains("memory") {
            return Err(CgroupError::NotDelegated(home));
        }
        let pid = std::process::id();
        let top = home.join(format!("faultline-{pid}"));
        let harness = top.join("harness");
        let cell = top.join("cell");
        std::fs::create_dir(&top).map_err(|cause| CgroupError::CreateV2 {
            top: top.clone(),
            cause,
        })?;
        let mut cg = MemCgroup {
            version: CgroupVersion::V2,
            home: home.clone(),
            cell: cell.clone(),
            v2: Some(V2State {
                top: top.clone(),
                harness: harness.clone(),
                enabled_in: Vec::new(),
            }),
            limit,
            inside: false,
        };
        std::fs::create_dir(&harness)
            .map_err(file_err(format!("cannot create {}", harness.display())))?;
        write(&harness.join("cgroup.procs"), &pid.to_string()).map_err(file_err(format!(
            "cannot move the harness into {}",
            harness.display()
        )))?;
        for dir in [&home, &top] {
            let ctl = dir.join("cgroup.subtree_control");
            let now = std::fs::read_to_string(&ctl).unwrap_or_default();
            if parse::parse_cgroup_controllers(&now).contains("memory") {
                continue;
            }
            write(&ctl, "+memory").map_err(|cause| CgroupError::Enable {
                ctl: ctl.clone(),
                cause,
            })?;
            if let Some(v) = cg.v2.as_mut() {
                v.enabled_in.push(ctl);
            }
        }
        std::fs::create_dir(&cell)
            .map_err(file_err(format!("cannot create {}", cell.display())))?;
        write(&cell.join("memory.max"), &limit.to_string()).map_err(file_err(format!(
            "cannot set memory.max in {}",
            cell.display()
        )))?;
        cg.check_limit()?;
        Ok(cg)
    }

    fn limit_file(&self) -> PathBuf {
        match self.version {
            CgroupVersion::V1 => self.cell.join("memory.limit_in_bytes"),
            CgroupVersion::V2 => self.cell.join("memory.max"),
        }
    }

    /// Read the limit back: the kernel rounds it to pages.
    fn check_limit(&mut self) -> Result<()> {
        let text = std::fs::read_to_string(self.limit_file()).map_err(CgroupError::ReadLimit)?;
        match parse::parse_limit(&text).map_err(CgroupError::ParseLimit)? {
            Some(v) => {
                self.limit = v;
                Ok(())
            }
            None => Err(CgroupError::NotApplied(self.cell.clone())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.cell
    }

    /// Move the harness process (all threads) into the limited cgroup.
    pub fn enter(&mut self) -> Result<()> {
        write(
            &self.cell.join("cgroup.procs"),
            &std::process::id().to_string(),
        )
        .map_err(file_err(format!(
            "cannot move the harness into {}",
            self.cell.display()
        )))?;
        self.inside = true;
        Ok(())
    }

    /// Move the harness back out.
    pub fn leave(&mut self) -> Result<()> {
        if !self.inside {
            return Ok(());
        }
        let back = match &self.v2 {
            Some(v) => v.harness.clone(),
            None => self.home.clone(),
        };
        write(&back.join("cgroup.procs"), &std::process::id().to_string()).map_err(file_err(
            format!("cannot move the harness back to {}", back.display()),
        ))?;
        self.inside = false;
        Ok(())
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        let _ = self.leave();
        // rmdir can fail briefly while the kernel finishes moving charges; retry a little.
        let rmdir = |p: &Path| {
            for _ in 0..50 {
                match std::fs::remove_dir(p) {
                    Ok(()) => return,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
            eprintln!(
                "warning: could not remove cgroup {}; remove it with rmdir",
                p.display()
            );
        };
        rmdir(&self.cell);
        if let Some(v) = self.v2.take() {
            // Undo in reverse: disable what we enabled, return home, remove our dirs.
            for ctl in v.enabled_in.iter().rev() {
                if ctl.starts_with(&v.top) {
                    let _ = write(ctl, "-memory");
                }
            }
            for ctl in v.enabled_in.iter().rev() {
                if !ctl.starts_with(&v.top) {
                    let _ = write(ctl, "-memory");
                }
            }
            let _ = write(
                &self.home.join("cgroup.procs"),
                &std::process::id().to_string(),
            );
            rmdir(&v.harness);
            rmdir(&v.top);
        }
    }
}
