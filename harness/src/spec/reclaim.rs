//! The reclaim regime of a page-cache limit (`reclaim = "cgroup" | "global"`): who
//! evicts the page cache when it is full.
//!
//! * `cgroup`: the measured threads run in a memory cgroup with the limit; reclaim is the
//!   cgroup's own, done by the faulting threads when they charge a page over the limit.
//! * `global`: no memory cgroup; huge pages are reserved (`vm.nr_hugepages`) so that the
//!   whole machine has about the limit (plus a safety margin) available, and kswapd
//!   evicts, as on a machine whose memory is really that small (the paper's regime).

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reclaim {
    #[default]
    Cgroup,
    Global,
}

impl fmt::Display for Reclaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Reclaim::Cgroup => "cgroup",
            Reclaim::Global => "global",
        })
    }
}

pub fn parse_reclaim(s: &str) -> Result<Reclaim, String> {
    match s.trim() {
        "cgroup" => Ok(Reclaim::Cgroup),
        "global" => Ok(Reclaim::Global),
        _ => Err(format!(
            "`{s}` is not a reclaim regime; use cgroup (a memory cgroup holds the limit) or global (huge pages reserved so the whole machine has about the limit; kswapd evicts)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_and_explains_others() {
        assert_eq!(parse_reclaim("cgroup"), Ok(Reclaim::Cgroup));
        assert_eq!(parse_reclaim("global"), Ok(Reclaim::Global));
        let e = parse_reclaim("kswapd").unwrap_err();
        assert!(
            e.contains("`kswapd`") && e.contains("cgroup") && e.contains("global"),
            "{e}"
        );
        assert_eq!(Reclaim::Global.to_string(), "global");
    }
}
