//! `faultline claim <name>`: one experiment per popular claim about mmap (see `claim`).

use anyhow::Result;

pub use crate::claim::ClaimArgs;

/// `faultline claim ...`. Returns the process exit code.
pub fn run(args: &ClaimArgs) -> Result<i32> {
    crate::claim::run(args)
}
