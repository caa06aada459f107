//! Records the git revision of the source this binary is built from, and whether the
//! tree had uncommitted changes, as compile-time environment variables read by
//! `env::provenance::build_git`. Never fails the build: outside a checkout or without
//! git the revision is "unknown" and FAULTLINE_GIT_REASON says why.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("git not runnable: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim().to_string();
        return Err(format!("git {} failed: {first}", args.join(" ")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Edits to the crate's own sources change what `git status` says without touching
    // the index; rerun on them too (edits elsewhere in the tree are seen when the
    // index, HEAD or the branch change).
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");

    let (rev, dirty, reason) = match git(&["rev-parse", "HEAD"]) {
        Ok(rev) => {
            watch_git_files();
            let rev = rev.trim().to_string();
            match git(&["status", "--porcelain"]) {
                Ok(s) => (rev, (!s.trim().is_empty()).to_string(), String::new()),
                Err(e) => (rev, "unknown".to_string(), e),
            }
        }
        Err(e) => (
            "unknown".to_string(),
            "unknown".to_string(),
            format!("built outside a git checkout or without git ({e})"),
        ),
    };
    println!("cargo:rustc-env=FAULTLINE_GIT_REVISION={rev}");
    println!("cargo:rustc-env=FAULTLINE_GIT_DIRTY={dirty}");
    println!(
        "cargo:rustc-env=FAULTLINE_GIT_REASON={}",
        reason.replace('\n', " ")
    );
}

/// Rerun when HEAD moves: HEAD and the index live in the (per-worktree) git dir, the
/// branch a symbolic HEAD points to and packed-refs in the common dir (the main
/// repository's .git for a linked worktree).
fn watch_git_files() {
    let path = |args: &[&str]| git(args).ok().map(|s| PathBuf::from(s.trim()));
    if let Some(dir) = path(&["rev-parse", "--absolute-git-dir"]) {
        watch(&dir.join("HEAD"));
        watch(&dir.join("index"));
    }
    // --path-format needs git 2.31; older ones print the common dir relative to the
    // current directory (the manifest directory while a build script runs).
    let common = path(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .or_else(|| path(&["rev-parse", "--git-common-dir"]))
        .map(|p| std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p));
    if let Some(common) = common {
        watch(&common.join("packed-refs"));
        if let Ok(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(&common.join(r.trim()));
        }
    }
}

fn watch(p: &Path) {
    if p.exists() {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}
