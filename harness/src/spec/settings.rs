//! Every workload setting, declared once in the `settings!` table below: its workload-file
//! key, type, default, command-line flag, help text, the parser that validates a file's
//! value (positioned messages through `Fields`) and the check a command-line value gets.
//!
//! From that one declaration come:
//! * `Wire`: the keys of a workload file (serde, unknown keys are errors, values keep
//!   their position) and `KEYS`, the list for messages;
//! * `Settings`: one `Option` per setting, filled from a file (`from_wire`) or from the
//!   command line (clap; `faultline run` flattens it into its arguments);
//! * `resolve`: a file's values over the defaults, into a `Workload`;
//! * `merge_into`: command-line values over a `Workload`'s own, field by field;
//! * `SETTINGS` and `describe`: the "Workload settings" section of `faultline list`.
//!
//! The table has three parts. `stored` settings are `Workload` fields of the same name
//! (`T`, or `Option<T>` when the default is `none`); `derived` settings are file keys and
//! flags that become another field through a hook (`duration`/`ops` -> `stop`);
//! `cli_only` settings are `Workload` fields set only from the command line.

use super::write::{parse_op, parse_sync, parse_sync_method, SyncMethod, SyncPolicy};
use super::{
    check_int, parse_device, parse_on_error, parse_reclaim, parse_start, parse_touch, BackendSpec,
    Device, Fields, OnError, Op, Pattern, Reclaim, SpecError, Start, StopAt, Touch, Workload,
    MAX_QUEUE_DEPTH, MAX_REPEATS, MAX_THREADS,
};
use crate::timing::{parse_timing, TimingMode};
use crate::units;
use clap::Args as _;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;
use toml::{Spanned, Value};

/// Thread counts: each backend runs once per count. (An alias, so clap parses a whole
/// comma-separated list as one value.)
pub type ThreadCounts = Vec<usize>;

/// One setting, as `faultline list` and the docs show it.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The workload-file key (also the field of `Settings`).
    pub key: &'static str,
    /// False for settings given only on the command line.
    pub in_file: bool,
    /// The default, as written in a workload file.
    pub default: &'static str,
    /// The help text (also the `--help` text of its flag).
    pub help: &'static str,
}

macro_rules! settings {
    // A stored value: the given value over the default (`none`: an Option field).
    (@resolve $v:expr, none) => { $v.clone() };
    (@resolve $v:expr, ($d:expr)) => { $v.clone().unwrap_or_else(|| $d) };
    // A given value, as the field stores it.
    (@given $v:expr, none) => { Some($v) };
    (@given $v:expr, ($d:expr)) => { $v };
    // The resolved type.
    (@type $t:ty, none) => { Option<$t> };
    (@type $t:ty, ($d:expr)) => { $t };
    (
        stored { $(
            $(#[doc = $doc:literal])+
            $key:ident: $ty:ty = $default:tt, $shown:literal,
                toml $toml:expr, $(check $check:expr,)? cli #[arg($($arg:tt)*)];
        )* }
        derived { $(
            $(#[doc = $ddoc:literal])+
            $dkey:ident: $dty:ty = $ddefault:tt, $dshown:literal,
                toml $dtoml:expr, $(check $dcheck:expr,)? cli #[arg($($darg:tt)*)];
        )* }
        cli_only { $(
            $(#[doc = $cdoc:literal])+
            $ckey:ident: $cty:ty = $cdefault:tt, $cshown:literal, cli #[arg($($carg:tt)*)];
        )* }
    ) => {
        /// The keys of a workload file, as written. Values stay untyped (with their
        /// position) until validation, so every message can name the key, the value and
        /// what is allowed.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct Wire {
            $( pub(super) $key: Option<Spanned<Value>>, )*
            $( pub(super) $dkey: Option<Spanned<Value>>, )*
        }

        /// The keys a workload file may have, for messages.
        pub const KEYS: &[&str] = &[$(stringify!($key),)* $(stringify!($dkey),)*];

        /// Every setting, for `faultline list` and the docs.
        pub const SETTINGS: &[Setting] = &[
            $( Setting { key: stringify!($key), in_file: true, default: $shown, help: concat!($($doc),+) }, )*
            $( Setting { key: stringify!($dkey), in_file: true, default: $dshown, help: concat!($($ddoc),+) }, )*
            $( Setting { key: stringify!($ckey), in_file: false, default: $cshown, help: concat!($($cdoc),+) }, )*
        ];

        /// Values given for the settings, from a workload file or from the command line
        /// (where each replaces the workload's own); `None` where not given.
        #[derive(Debug, Default, Clone, clap::Args)]
        pub struct Settings {
            $( $(#[doc = $ddoc])+ #[arg($($darg)*)] pub $dkey: Option<$dty>, )*
            $( $(#[doc = $doc])+ #[arg($($arg)*)] pub $key: Option<$ty>, )*
            $( $(#[doc = $cdoc])+ #[arg($($carg)*)] pub $ckey: Option<$cty>, )*
        }

        /// The derived settings, resolved over their defaults.
        pub(super) struct Derived {
            $( pub(super) $dkey: settings!(@type $dty, $ddefault), )*
        }

        impl Settings {
            /// Check and convert every key a workload file gives.
            pub(super) fn from_wire(wire: &Wire, f: &Fields) -> Result<Settings, SpecError> {
                Ok(Settings {
                    $( $key: f.get(&wire.$key, stringify!($key), $toml)?, )*
                    $( $dkey: f.get(&wire.$dkey, stringify!($dkey), $dtoml)?, )*
                    $( $ckey: None, )*
                })
            }

            /// The workload these values describe, defaults filling the rest. Cross-key
            /// checks are the caller's (`Workload::check`).
            pub(super) fn resolve(&self, name: &str, source: &str) -> Workload {
                Workload {
                    name: name.to_string(),
                    source: source.to_string(),
                    stop: self.derived().stop(),
                    size_given: self.size.is_some(),
                    $( $key: settings!(@resolve self.$key, $default), )*
                    $( $ckey: settings!(@resolve self.$ckey, $cdefault), )*
                }
            }

            pub(super) fn derived(&self) -> Derived {
                Derived { $( $dkey: settings!(@resolve self.$dkey, $ddefault), )* }
            }

            /// Replace `w`'s values by the ones given here, field by field, checking
            /// each first (these come from the command line; a file's were checked when
            /// parsed). Derived settings are only checked: `Workload::apply` sets them.
            pub(super) fn merge_into(&self, w: &mut Workload) -> Result<(), SpecError> {
                $( $( if let Some(v) = &self.$dkey { checked(stringify!($dkey), v, $dcheck)?; } )? )*
                $( if let Some(v) = &self.$key {
                    $( checked(stringify!($key), v, $check)?; )?
                    w.$key = settings!(@given v.clone(), $default);
                } )*
                $( if let Some(v) = &self.$ckey {
                    w.$ckey = settings!(@given v.clone(), $cdefault);
                } )*
                Ok(())
            }
        }
    };
}

settings! {
    stored {
        /// One line saying what the workload is for, shown by `faultline list`.
        description: String = (String::new()), "\"\"",
            toml Fields::string, cli #[arg(skip)];
        /// Backend spec, e.g. pread, direct, mmap:advice=random,populate. Repeat the flag for
        /// several; replaces the workload's list.
        backends: Vec<BackendSpec> = (default_backends()), "[\"pread\", \"direct\", \"mmap\"]",
            toml |f, _, v| f.backends(v),
            cli #[arg(long = "backend", short = 'b', value_name = "SPEC", value_parser = BackendSpec::parse)];
        /// Worker threads, a comma-separated list of counts to run each backend with, or
        /// `cpus` (one per online CPU).
        threads: ThreadCounts = (vec![1]), "1",
            toml |f, _, v| f.threads(v),
            check |flag, t| t.iter().try_for_each(|&n| check_int(flag, n as u64, 1, MAX_THREADS)),
            cli #[arg(long, short = 't', value_name = "N[,N...]", value_parser = parse_threads)];
        /// Warm-up time per backend before measuring (not recorded), e.g. 1s or 0s.
        warmup: Duration = (Duration::from_secs(1)), "\"1s\"",
            toml |f, k, v| f.duration(k, v, true),
            cli #[arg(long, short = 'w', value_name = "D", value_parser = units::parse_duration)];
        /// Data file size (B, KiB, MiB, GiB, TiB). With --file: how much of it to read.
        size: u64 = (units::GIB), "\"1GiB\"",
            toml Fields::size,
            cli #[arg(long, short = 's', value_name = "S", value_parser = units::parse_size)];
        /// Bytes per operation, e.g. 4KiB.
        block: u64 = (4 * units::KIB), "\"4KiB\"",
            toml Fields::size,
            cli #[arg(long, value_name = "S", value_parser = units::parse_size)];
        /// Access pattern: sequential[:chunk=S], random, zipf[:theta=F], hotset[:ops=P,size=P].
        pattern: Pattern = (Pattern::Random), "\"random\"",
            toml |f, k, v| f.parsed(k, v, Pattern::parse),
            cli #[arg(long, value_name = "P", value_parser = Pattern::parse)];
        /// The operation: read, write (every operation writes a block) or mix (each
        /// operation reads with probability read_pct%, else writes).
        op: Op = (Op::Read), "\"read\"",
            toml |f, k, v| f.parsed(k, v, parse_op),
            cli #[arg(long, value_name = "read|write|mix", value_parser = parse_op)];
        /// With op = "mix": the percentage of operations that read (1 to 99).
        read_pct: u32 = (70), "70",
            toml |f, k, v| f.int(k, v, 1, 99).map(|n| n as u32),
            check |flag, n| check_int(flag, *n as u64, 1, 99),
            cli #[arg(long, value_name = "P")];
        /// When writing threads make their writes durable: none, end (once, after the
        /// thread's last write), every:N (after every N writes) or interval:D.
        sync: SyncPolicy = (SyncPolicy::None), "\"none\"",
            toml |f, k, v| f.parsed(k, v, parse_sync),
            cli #[arg(long, value_name = "none|end|every:N|interval:D", value_parser = parse_sync)];
        /// The call a sync makes: fdatasync, fsync, msync, msync-async (mapping backends)
        /// or sync_file_range (data written back and waited for; not durable).
        sync_method: SyncMethod = (SyncMethod::Fdatasync), "\"fdatasync\"",
            toml |f, k, v| f.parsed(k, v, parse_sync_method),
            cli #[arg(long, value_name = "M", value_parser = parse_sync_method)];
        /// Read an existing file or block device instead of a generated data file
        /// (opened read-only; verification is off).
        file: PathBuf = none, "(none)",
            toml |f, k, v| f.string(k, v).map(PathBuf::from),
            cli #[arg(long, value_name = "PATH")];
        /// Where generated data files live (default faultline-data/).
        data_dir: PathBuf = (PathBuf::from(super::DEFAULT_DATA_DIR)), "\"faultline-data\"",
            toml |f, k, v| f.string(k, v).map(PathBuf::from),
            cli #[arg(long, value_name = "DIR")];
        /// Sampling interval for the time series, e.g. 250ms.
        interval: Duration = (Duration::from_secs(1)), "\"1s\"",
            toml |f, k, v| f.duration(k, v, false),
            cli #[arg(long, value_name = "D", value_parser = units::parse_duration)];
        /// Cache state before each backend: cold (drop the file's pages) or warm (read it once).
        start: Start = (Start::Cold), "\"cold\"",
            toml |f, k, v| f.parsed(k, v, parse_start),
            cli #[arg(long, value_name = "cold|warm", value_parser = parse_start)];
        /// How much of each block to read: first (one u64 per 4 KiB page) or all.
        touch: Touch = (Touch::First), "\"first\"",
            toml |f, k, v| f.parsed(k, v, parse_touch),
            cli #[arg(long, value_name = "first|all", value_parser = parse_touch)];
        /// Operations in flight per thread for asynchronous backends.
        queue_depth: u32 = (1), "1",
            toml |f, k, v| f.int(k, v, 1, MAX_QUEUE_DEPTH).map(|n| n as u32),
            check |flag, n| check_int(flag, *n as u64, 1, MAX_QUEUE_DEPTH),
            cli #[arg(long, value_name = "N")];
        /// Run every backend this many times (alternating order) to see run-to-run spread.
        repeats: u32 = (1), "1",
            toml |f, k, v| f.int(k, v, 1, MAX_REPEATS).map(|n| n as u32),
            check |flag, n| check_int(flag, *n as u64, 1, MAX_REPEATS),
            cli #[arg(long, value_name = "N")];
        /// Seeds the offsets and the data file's content.
        seed: u64 = (0x6661_756c_746c_696e), "(fixed)",
            toml |f, k, v| f.int(k, v, 0, i64::MAX as u64), cli #[arg(skip)];
        /// Run the measured threads in a memory cgroup with this limit, so the page cache is
        /// smaller than the file (root or a delegated cgroup), e.g. 256MiB.
        page_cache_limit: u64 = none, "(none)",
            toml Fields::size,
            cli #[arg(long, value_name = "S", value_parser = units::parse_size)];
        /// Who evicts when the page cache reaches page_cache_limit: cgroup (the measured
        /// threads run in a memory cgroup with the limit and reclaim it themselves) or
        /// global (no cgroup: huge pages are reserved per cell so the whole machine has
        /// about the limit plus a safety margin available, and kswapd evicts; root).
        reclaim: Reclaim = (Reclaim::Cgroup), "\"cgroup\"",
            toml |f, k, v| f.parsed(k, v, parse_reclaim),
            cli #[arg(long, value_name = "cgroup|global", value_parser = parse_reclaim)];
        /// Read from a device created for the run instead of a data file (root; removed
        /// afterwards): zram[:SIZE][,count=N][,stripe=S][,read_iops=N][,read_bps=B][,write_iops=N][,write_bps=B],
        /// emulated fast RAM-backed devices (count striped in stripe units, default 1MiB,
        /// each capped with the blkio controller), or
        /// fuse[:SIZE][,eio_every=N][,eio_at=OFF;...][,delay_every=N,delay=D][,delay_at=OFF;...],
        /// a FUSE file that fails reads of chosen 4 KiB pages with EIO and delays others.
        device: Device = none, "(none)",
            toml |f, k, v| f.parsed(k, v, parse_device),
            cli #[arg(long, value_name = "zram[:SIZE][,count=N][,stripe=S][,read_iops=N][,read_bps=B]|fuse[:SIZE][,OPT=V...]", value_parser = parse_device)];
        /// Cap the data file's own disk with the blkio controller for the run (root,
        /// cgroup v1): read_iops=N, read_bps=B, write_iops=N, write_bps=B, comma-separated.
        /// For zram devices put the cap in the device spec (zram:SIZE,read_iops=N).
        device_cap: crate::env::blkio::Cap = none, "(none)",
            toml |f, k, v| f.parsed(k, v, crate::env::blkio::parse_cap),
            cli #[arg(long, value_name = "read_iops=N,read_bps=B,...", value_parser = crate::env::blkio::parse_cap)];
        /// read_ahead_kb of the device(s) under test (the zram devices, or the disk that
        /// holds the data file), set for the run and restored afterwards (root). The paper
        /// used 128.
        read_ahead_kb: u64 = none, "(none)",
            toml |f, k, v| f.int(k, v, 0, crate::env::readahead::MAX_KB),
            check |flag, n| check_int(flag, *n, 0, crate::env::readahead::MAX_KB),
            cli #[arg(long, value_name = "KB")];
        /// What a failed operation (I/O error, SIGBUS) does: fail stops the backend (status
        /// failed); continue counts it (`io_errors`, the first offsets and errors), keeps its
        /// latency out of the histogram (into `error_histogram`) and goes on.
        on_error: OnError = (OnError::Fail), "\"fail\"",
            toml |f, k, v| f.parsed(k, v, parse_on_error),
            cli #[arg(long, value_name = "fail|continue", value_parser = parse_on_error)];
        /// Attribute major faults to operations: the operations during which the thread took
        /// a sampled major fault go into `fault_histogram`, and `fault_ops`/`stall_ns`
        /// estimate how many operations faulted and the time stalled in them (one atomic
        /// load per operation; see fault_sample_period).
        fault_attribution: bool = (true), "true",
            toml Fields::boolean,
            cli #[arg(long = "no-fault-attribution", num_args = 0, default_missing_value = "false",
                help = "Do not attribute major faults to operations (no fault ring; fault_ops, stall_ns and fault_histogram are null)")];
        /// Fault attribution samples one major fault in N (the perf ring records every Nth):
        /// the fault histogram holds the sampled operations and fault_ops/stall_ns are N
        /// times the sampled sums (estimates; major_faults stays exact). 1 attributes every
        /// fault exactly, at ~15% of a fault-bound cell's throughput on our test VM.
        fault_sample_period: u64 = (64), "64",
            toml |f, k, v| f.int(k, v, 1, 1 << 20),
            check |flag, n| check_int(flag, *n, 1, 1 << 20),
            cli #[arg(long, value_name = "N")];
        /// Count minor and major faults of the measured threads with per-thread perf
        /// counters (`minor_faults`, `major_faults`).
        thread_counters: bool = (true), "true",
            toml Fields::boolean,
            cli #[arg(long = "no-thread-counters", num_args = 0, default_missing_value = "false",
                help = "Do not open per-thread fault counters (minor_faults is null; major_faults too unless fault attribution is on)")];
        /// Count the tlb:tlb_flush tracepoint of the measured threads by reason
        /// (`tlb_flush_process`; root, tracefs).
        tlb_tracepoint: bool = (true), "true",
            toml Fields::boolean,
            cli #[arg(long = "no-tlb-tracepoint", num_args = 0, default_missing_value = "false",
                help = "Do not count the tlb:tlb_flush tracepoint (tlb_flush_process is null)")];
        /// Which operations are timed: every (two clock readings per operation), sample:N
        /// (one in N on average, all counted) or batch:N (N timed together, their mean
        /// recorded). In memory, where an operation costs a few ns, use sample:64.
        timing: TimingMode = (TimingMode::Every), "\"every\"",
            toml |f, k, v| f.parsed(k, v, parse_timing),
            cli #[arg(long, value_name = "every|sample:N|batch:N", value_parser = parse_timing)];
    }
    derived {
        /// Measured time per backend (ms, s, m), e.g. 10s.
        duration: Duration = (Duration::from_secs(10)), "\"10s\"",
            toml |f, k, v| f.duration(k, v, false),
            check |_, d| if d.is_zero() { Err("must be longer than 0".to_string()) } else { Ok(()) },
            cli #[arg(long, short = 'd', value_name = "D", value_parser = units::parse_duration, conflicts_with = "ops")];
        /// Measured operations per backend (in total over all threads) instead of a duration.
        ops: u64 = none, "(none)",
            toml |f, k, v| f.int(k, v, 1, u64::MAX / 2),
            check |_, n| if *n == 0 { Err("must be at least 1".to_string()) } else { Ok(()) },
            cli #[arg(long, value_name = "N")];
    }
    cli_only {
        /// Drop the whole page cache (echo 3 > /proc/sys/vm/drop_caches, root) before each
        /// backend, besides the default per-file cold start.
        drop_caches: bool = (false), "(off)",
            cli #[arg(long, num_args = 0, default_missing_value = "true")];
        /// Measure what each probe costs: every cell runs N rounds of [all default probes
        /// on, then fault_attribution, thread_counters, tlb_tracepoint, the interval
        /// sampler and all of them off in turn] (order rotating per round); run.json's
        /// `probe_overhead` gets each probe's throughput and p50 ratios. 0: off.
        probe_overhead: u32 = (0), "(off)",
            cli #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))];
        /// Let a write workload (op = "write" or "mix") overwrite the file given with
        /// --file. Without it such a run is refused and the file left untouched.
        allow_write: bool = (false), "(off)",
            cli #[arg(long, num_args = 0, default_missing_value = "true")];
        /// Write workloads with sync = none or end: hold the writers this long before
        /// their final sync (out of the measured time) and look at the written pages
        /// every second: how many the kernel writes back on its own meanwhile
        /// (written_back_before_sync.observed; root), e.g. 40s. 0: one look.
        hold_before_sync: Duration = (Duration::ZERO), "(off)",
            cli #[arg(long, value_name = "D", value_parser = units::parse_duration)];
    }
}

impl Derived {
    /// `ops` when given, else `duration`.
    pub(super) fn stop(&self) -> StopAt {
        match self.ops {
            Some(n) => StopAt::Ops(n),
            None => StopAt::Duration(self.duration),
        }
    }
}

fn default_backends() -> Vec<BackendSpec> {
    ["pread", "direct", "mmap"]
        .iter()
        .map(|s| BackendSpec::parse(s).expect("built-in backend names parse"))
        .collect()
}

/// `--threads`: a comma-separated list of counts, or `cpus`.
pub fn parse_threads(s: &str) -> Result<ThreadCounts, String> {
    if s.trim() == "cpus" {
        return Ok(vec![crate::sys::online_cpus()]);
    }
    let mut v = Vec::new();
    for part in s.split(',') {
        let n: usize = part.trim().parse().map_err(|_| {
            format!("`{part}` is not a thread count; use a whole number such as 2, or a list such as 1,2,4")
        })?;
        if n == 0 || n as u64 > MAX_THREADS {
            return Err(format!(
                "{n} threads is out of range; use 1 to {MAX_THREADS}"
            ));
        }
        v.push(n);
    }
    Ok(v)
}

/// Run a command-line value's check; its messages are located at the flag.
fn checked<T>(
    key: &str,
    v: &T,
    check: impl FnOnce(&str, &T) -> Result<(), String>,
) -> Result<(), SpecError> {
    let flag = cli_flag(key)
        .map(|f| f.long)
        .unwrap_or_else(|| key.to_string());
    check(&flag, v).map_err(|m| SpecError::new(flag, m))
}

/// How a setting is written on the command line.
pub struct Flag {
    /// `--name`
    pub long: String,
    /// `-s, --size S`
    pub usage: String,
}

/// The command-line flag of a setting, read from clap's own definition.
pub fn cli_flag(key: &str) -> Option<Flag> {
    let cmd = Settings::augment_args(clap::Command::new("run"));
    let arg = cmd.get_arguments().find(|a| a.get_id().as_str() == key)?;
    let long = format!("--{}", arg.get_long()?);
    let mut usage = match arg.get_short() {
        Some(c) => format!("-{c}, {long}"),
        None => long.clone(),
    };
    let takes_value = arg.get_num_args().is_none_or(|n| n.takes_values());
    if let (true, Some(names)) = (takes_value, arg.get_value_names()) {
        let _ = write!(usage, " {}", names.join(" "));
    }
    Some(Flag { long, usage })
}

/// The "Workload settings" section of `faultline list`: each key with its default and
/// command-line flag, then its help.
pub fn describe() -> String {
    let mut out = String::new();
    for s in SETTINGS {
        let left = if s.in_file {
            format!("{} = {}", s.key, s.default)
        } else {
            format!("{} (command line only)", s.key)
        };
        let flag = cli_flag(s.key).map(|f| f.usage).unwrap_or_default();
        let help = s.help.split_whitespace().collect::<Vec<_>>().join(" ");
        let line = format!("  {left:<40} {flag}");
        let _ = writeln!(out, "{}", line.trim_end());
        let _ = writeln!(out, "      {help}");
    }
    out
}
