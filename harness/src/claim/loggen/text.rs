//! The text of the generated log: timestamped lines of varying length from a
//! deterministic PRNG, about 1% of them containing `ERROR`, counted as they are made.

use super::{Counts, BASE_US, CHUNK_SPAN_US, MAX_GAP_US, MAX_LINE, MIN_FILL};
use crate::datafile::page::mix;

/// SplitMix64: small, fast, and the same on every platform and Rust version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for text generation, no division.
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut x = v;
    for i in (0..width).rev() {
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

fn push_hex(out: &mut Vec<u8>, v: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (i * 4)) & 15) as usize]);
    }
}

/// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-01-01T00:00:00.000000Z` (27 bytes).
pub(super) fn push_timestamp(out: &mut Vec<u8>, us: u64) {
    let secs = us / 1_000_000;
    let (y, m, d) = civil((secs / 86_400) as i64);
    let sod = secs % 86_400;
    push_padded(out, y.max(0) as u64, 4);
    out.push(b'-');
    push_padded(out, m as u64, 2);
    out.push(b'-');
    push_padded(out, d as u64, 2);
    out.push(b'T');
    push_padded(out, sod / 3600, 2);
    out.push(b':');
    push_padded(out, sod / 60 % 60, 2);
    out.push(b':');
    push_padded(out, sod % 60, 2);
    out.push(b'.');
    push_padded(out, us % 1_000_000, 6);
    out.push(b'Z');
}

const COMPONENTS: &[&str] = &[
    "http.server",
    "http.client",
    "db.pool",
    "db.query",
    "storage.wal",
    "storage.compactor",
    "cache",
    "auth",
    "scheduler",
    "replication",
    "metrics",
    "gc",
    "api.v2",
    "ingest",
    "billing",
    "search.index",
];
const INFO_MSGS: &[&str] = &[
    "request completed",
    "cache miss, fetching from origin",
    "flushed memtable to level 0",
    "opened segment",
    "checkpoint written",
    "connection accepted",
    "compaction finished",
    "lease renewed",
    "user logged in",
    "batch committed",
];
const DEBUG_MSGS: &[&str] = &[
    "enter handler",
    "lock acquired",
    "page fetched",
    "span closed",
    "config reloaded",
    "heartbeat sent",
    "parsed request headers",
];
const WARN_MSGS: &[&str] = &[
    "slow request",
    "retrying operation",
    "queue depth above soft limit",
    "replica lagging behind leader",
    "disk usage above 80%",
    "deprecated API called",
];
const ERROR_MSGS: &[&str] = &[
    "request failed",
    "write rejected: disk full",
    "checksum mismatch in segment",
    "connection reset by peer",
    "timeout waiting for lock",
    "unhandled exception in worker",
];
const KEYS: &[&str] = &[
    "user", "req", "status", "bytes", "dur_ms", "shard", "retries", "peer", "queue", "offset",
    "conn", "errors", "path", "method", "region", "attempt",
];
const PATHS: &[&str] = &[
    "/api/v1/items",
    "/api/v2/orders",
    "/healthz",
    "/login",
    "/static/app.js",
    "/api/v1/search",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
/// A few non-ASCII values: the naive scanner validates UTF-8, as real logs require.
const REGIONS: &[&str] = &[
    "eu-west",
    "us-east",
    "ap-south",
    "Zürich",
    "São Paulo",
    "東京",
];
const FRAMES: &[&str] = &[
    "at storage::wal::append (wal.rs:214)",
    "at db::txn::commit (txn.rs:88)",
    "at http::server::dispatch (server.rs:412)",
    "at runtime::task::poll (task.rs:57)",
    "at core::ops::function::FnOnce::call_once",
    "at scheduler::worker::run (worker.rs:133)",
];

/// One log line ending in '\n', at most MAX_LINE bytes. Returns true when it contains
/// `ERROR` (decided by construction; no other text can contain it).
fn push_line(rng: &mut Rng, ts_us: u64, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    push_timestamp(out, ts_us);
    let r = rng.below(10_000);
    // Levels: 0.9% ERROR, 13% WARN (1 in 130 of them mention an upstream ERROR: about
    // 0.1% of lines), 45% INFO, 30% DEBUG, the rest TRACE.
    let (level, msgs): (&[u8], &[&str]) = if r < 90 {
        (b" ERROR ", ERROR_MSGS)
    } else if r < 1390 {
        (b" WARN  ", WARN_MSGS)
    } else if r < 5890 {
        (b" INFO  ", INFO_MSGS)
    } else if r < 8890 {
        (b" DEBUG ", DEBUG_MSGS)
    } else {
        (b" TRACE ", DEBUG_MSGS)
    };
    let mut has_error = r < 90;
    out.extend_from_slice(level);
    out.push(b'[');
    out.extend_from_slice(rng.pick(COMPONENTS).as_bytes());
    out.extend_from_slice(b"] tid=");
    push_u64(out, 1 + rng.below(64));
    out.push(b' ');
    if (90..1390).contains(&r) && rng.below(130) == 0 {
        out.extend_from_slice(b"upstream returned ERROR, retrying");
        has_error = true;
    } else {
        out.extend_from_slice(rng.pick(msgs).as_bytes());
    }
    let pairs = rng.below(9);
    for _ in 0..pairs {
        out.push(b' ');
        let key = rng.pick(KEYS);
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        match key {
            "user" | "req" | "conn" | "peer" => push_hex(out, rng.next(), 16),
            "path" => {
                out.extend_from_slice(rng.pick(PATHS).as_bytes());
                out.push(b'/');
                push_u64(out, rng.below(100_000));
            }
            "method" => out.extend_from_slice(rng.pick(METHODS).as_bytes()),
            "region" => out.extend_from_slice(rng.pick(REGIONS).as_bytes()),
            "status" => push_u64(
                out,
                [200, 201, 204, 304, 400, 404, 429, 500][rng.below(8) as usize],
            ),
            _ => {
                let bits = 4 + rng.below(24);
                push_u64(out, rng.below(1 << bits))
            }
        }
    }
    // Error lines sometimes name a cause that says ERROR again (counted once per line),
    // and about 2% of all lines carry a one-line stack trace: long lines.
    if has_error && rng.below(10) == 0 {
        out.extend_from_slice(b" cause=\"nested ERROR in callee\"");
    }
    if rng.below(50) == 0 {
        out.extend_from_slice(b" trace=\"");
        let frames = 2 + rng.below(24);
        for i in 0..frames {
            let f = rng.pick(FRAMES);
            // Leave room for the closing quote and newline.
            if out.len() - start + f.len() + 3 + 2 > MAX_LINE {
                break;
            }
            if i > 0 {
                out.extend_from_slice(b" | ");
            }
            out.extend_from_slice(f.as_bytes());
        }
        out.push(b'"');
    }
    out.push(b'\n');
    debug_assert!(out.len() - start <= MAX_LINE);
    has_error
}

/// A line of exactly `len` bytes (>= MIN_FILL, <= MAX_LINE) without ERROR.
fn push_filler(out: &mut Vec<u8>, ts_us: u64, len: usize) {
    let start = out.len();
    push_timestamp(out, ts_us);
    out.extend_from_slice(b" DEBUG [heartbeat] tid=0 keepalive pad=");
    let used = out.len() - start;
    out.resize(start + len - 1, b'.');
    debug_assert!(used < len);
    out.push(b'\n');
}

/// Generate chunk `index` (of `len` bytes, at least 4 KiB) of the log with tag `tag`
/// into `out` (cleared first). Every chunk ends with a newline.
pub fn generate_chunk(tag: u64, index: u64, len: usize, out: &mut Vec<u8>) -> Counts {
    out.clear();
    out.reserve(len);
    let mut rng = Rng(mix(tag ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d)));
    let mut ts = BASE_US + index * CHUNK_SPAN_US;
    let mut c = Counts::default();
    while len - out.len() >= MAX_LINE + MIN_FILL {
        ts += rng.below(MAX_GAP_US + 1);
        if push_line(&mut rng, ts, out) {
            c.error_lines += 1;
        }
        c.lines += 1;
    }
    let rest = len - out.len();
    if rest <= MAX_LINE {
        push_filler(out, ts, rest);
        c.lines += 1;
    } else {
        push_filler(out, ts, rest / 2);
        push_filler(out, ts, rest - rest / 2);
        c.lines += 2;
    }
    debug_assert_eq!(out.len(), len);
    c
}
