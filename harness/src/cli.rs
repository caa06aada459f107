//! The arguments of `faultline run`: workload settings as command-line overrides.

use crate::spec::{self, BackendSpec, Pattern, Start, Touch};
use crate::units;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Workload file (TOML). Default: workloads/quick.toml.
    pub workload: Option<PathBuf>,

    /// Backend spec, e.g. pread, direct, mmap:advice=random,populate. Repeat the flag for
    /// several; replaces the workload's list.
    #[arg(long = "backend", short = 'b', value_name = "SPEC", value_parser = parse_backend)]
    pub backends: Vec<BackendSpec>,

    /// Worker threads, a comma-separated list of counts to run each backend with, or
    /// `cpus` (one per online CPU).
    #[arg(long, short = 't', value_name = "N[,N...]", value_parser = parse_threads)]
    pub threads: Option<ThreadList>,

    /// Measured time per backend (ms, s, m), e.g. 10s.
    #[arg(long, short = 'd', value_name = "D", value_parser = parse_duration, conflicts_with = "ops")]
    pub duration: Option<Duration>,

    /// Measured operations per backend (in total over all threads) instead of a duration.
    #[arg(long, value_name = "N")]
    pub ops: Option<u64>,

    /// Warm-up time per backend before measuring (not recorded), e.g. 1s or 0s.
    #[arg(long, short = 'w', value_name = "D", value_parser = parse_duration)]
    pub warmup: Option<Duration>,

    /// Data file size (B, KiB, MiB, GiB, TiB). With --file: how much of it to read.
    #[arg(long, short = 's', value_name = "S", value_parser = parse_size)]
    pub size: Option<u64>,

    /// Bytes per operation, e.g. 4KiB.
    #[arg(long, value_name = "S", value_parser = parse_size)]
    pub block: Option<u64>,

    /// Access pattern: sequential[:chunk=S], random, zipf[:theta=F], hotset[:ops=P,size=P].
    #[arg(long, value_name = "P", value_parser = parse_pattern)]
    pub pattern: Option<Pattern>,

    /// Read an existing file or block device instead of a generated data file
    /// (opened read-only; verification is off).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Where generated data files live (default faultline-data/).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Result directory (must not exist). Default: results/<workload>/<UTC time>-<host>/.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Sampling interval for the time series, e.g. 250ms.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// Cache state before each backend: cold (drop the file's pages) or warm (read it once).
    #[arg(long, value_name = "cold|warm", value_parser = parse_start)]
    pub start: Option<Start>,

    /// How much of each block to read: first (one u64 per 4 KiB page) or all.
    #[arg(long, value_name = "first|all", value_parser = parse_touch)]
    pub touch: Option<Touch>,

    /// Operations in flight per thread for asynchronous backends.
    #[arg(long, value_name = "N")]
    pub queue_depth: Option<u32>,

    /// Run every backend this many times (alternating order) to see run-to-run spread.
    #[arg(long, value_name = "N")]
    pub repeats: Option<u32>,

    /// Run the measured threads in a memory cgroup with this limit, so the page cache is
    /// smaller than the file (root or a delegated cgroup), e.g. 256MiB.
    #[arg(long, value_name = "S", value_parser = parse_size)]
    pub page_cache_limit: Option<u64>,

    /// Read from an emulated fast device hot-added for the run instead of a data file:
    /// zram or zram:SIZE (RAM-backed, needs root; removed afterwards).
    #[arg(long, value_name = "zram[:SIZE]", value_parser = parse_device)]
    pub device: Option<spec::Device>,

    /// Drop the whole page cache (echo 3 > /proc/sys/vm/drop_caches, root) before each
    /// backend, besides the default per-file cold start.
    #[arg(long)]
    pub drop_caches: bool,

    /// Do not attribute major faults to operations (saves one atomic load per operation).
    #[arg(long)]
    pub no_fault_attribution: bool,

    /// No progress bars or per-backend lines; the table and result path still print.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Also draw the charts (SVG and PNG) into the result directory.
    #[arg(long)]
    pub plot: bool,
    /// Print one JSON object (result directory, per-backend status, throughput and
    /// latency) on stdout instead of the table. Progress still goes to stderr.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone)]
pub struct ThreadList(pub Vec<usize>);

fn parse_backend(s: &str) -> Result<BackendSpec, String> {
    BackendSpec::parse(s)
}

fn parse_pattern(s: &str) -> Result<Pattern, String> {
    Pattern::parse(s)
}

fn parse_size(s: &str) -> Result<u64, String> {
    units::parse_size(s)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    units::parse_duration(s)
}

fn parse_device(s: &str) -> Result<spec::Device, String> {
    spec::parse_device(s)
}

fn parse_start(s: &str) -> Result<Start, String> {
    spec::parse_start(s)
}

fn parse_touch(s: &str) -> Result<Touch, String> {
    spec::parse_touch(s)
}

fn parse_threads(s: &str) -> Result<ThreadList, String> {
    if s.trim() == "cpus" {
        return Ok(ThreadList(vec![crate::sys::online_cpus()]));
    }
    let mut v = Vec::new();
    for part in s.split(',') {
        let n: usize = part
            .trim()
            .parse()
            .map_err(|_| format!("`{part}` is not a thread count; use a whole number such as 2, or a list such as 1,2,4"))?;
        if n == 0 || n as u64 > spec::MAX_THREADS {
            return Err(format!(
                "{n} threads is out of range; use 1 to {}",
                spec::MAX_THREADS
            ));
        }
        v.push(n);
    }
    Ok(ThreadList(v))
}

impl RunArgs {
    pub fn overrides(&self) -> spec::Overrides {
        spec::Overrides {
            backends: self.backends.clone(),
            threads: self.threads.as_ref().map(|t| t.0.clone()),
            duration: self.duration,
            ops: self.ops,
            warmup: self.warmup,
            size: self.size,
            block: self.block,
            pattern: self.pattern.clone(),
            file: self.file.clone(),
            data_dir: self.data_dir.clone(),
            interval: self.interval,
            start: self.start,
            touch: self.touch,
            queue_depth: self.queue_depth,
            repeats: self.repeats,
            page_cache_limit: self.page_cache_limit,
            drop_caches: self.drop_caches,
            no_fault_attribution: self.no_fault_attribution,
            device: self.device,
        }
    }
}
