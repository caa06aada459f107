//! Free page reporting: the KiB the guest handed back to the host
//! (/sys/module/page_reporting/parameters/reported_kib, cumulative; only some kernels
//! export it). Memory handed back must be backed by the host again on its next touch,
//! which makes fresh anonymous pages (and page-cache pages) slower in a VM. Read only:
//! the balloon and page reporting settings belong to the host.

use super::{CounterId, Counters, Probe, Reasons, ThreadSet};
use std::path::Path;

pub const PARAMETERS: &str = "/sys/module/page_reporting/parameters";

pub struct Balloon;

impl Probe for Balloon {
    fn read(&self, _: &ThreadSet, c: &mut Counters, r: &mut Reasons) {
        let dir = Path::new(PARAMETERS);
        match std::fs::read_to_string(dir.join("reported_kib")) {
            Ok(t) => match parse_reported_kib(&t) {
                Ok(v) => c.balloon_reported_kib = Some(v),
                Err(e) => r.set(CounterId::BalloonReportedKib, e),
            },
            Err(_) => r.set(CounterId::BalloonReportedKib, unavailable(dir)),
        }
    }
}

/// The contents of reported_kib: one decimal number.
pub fn parse_reported_kib(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("reported_kib: not a number: {:?}", text.trim()))
}

/// Why reported_kib cannot be read, given the page_reporting parameters directory.
pub fn unavailable(params: &Path) -> String {
    if params.is_dir() {
        format!(
            "no {}/reported_kib: this kernel has free page reporting but does not export how much it reported",
            params.display()
        )
    } else {
        format!(
            "no {}: kernel without free page reporting (CONFIG_PAGE_REPORTING)",
            params.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_kib() {
        assert_eq!(parse_reported_kib("27488872\n"), Ok(27488872));
        assert!(parse_reported_kib("").is_err());
        assert!(parse_reported_kib("-1").is_err());
        let d = tempfile::tempdir().unwrap();
        assert!(unavailable(d.path()).contains("does not export"));
        assert!(unavailable(&d.path().join("x")).contains("without free page reporting"));
    }
}
