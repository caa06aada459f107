#!/usr/bin/env bash
# What each twin of scripts/vs-fio.sh --writes asks the kernel to do: runs every write
# pair's native backend and its fio twin alone, briefly, under strace -f, and prints for
# the thread that did the writes: its system calls by name, the open flags of the data
# file, the sizes and alignment of its pwrite64 calls, the first calls in order, and
# (io_uring) the ring's setup flags, and the device bytes written per operation. Same flags
# as vs-fio.sh --writes (the random-write pairs with --sync-method fsync).
#
#   scripts/vs-fio-strace.sh [--size S] [--duration D] [--out DIR]
#
# Defaults: --size 64MiB --duration 1s; the summaries and the traces go to --out
# (default results/vs-fio-writes/strace-<UTC>-<host>). strace slows every call, so the
# rates under it are not figures; only the calls are. FAULTLINE_BIN=path uses that
# binary instead of building this tree; FAULTLINE_FIO as for vs-fio.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

size=64MiB duration=1s out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vs-fio-strace.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for t in strace python3 "${FAULTLINE_FIO:-fio}"; do
  command -v "$t" >/dev/null || { echo "vs-fio-strace.sh: needs $t" >&2; exit 1; }
done
# FAULTLINE_BIN: a faultline binary to use instead of building this tree.
bin=${FAULTLINE_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=target/release/faultline
fi
[ -n "$out" ] || out="results/vs-fio-writes/strace-$(date -u +%Y-%m-%dT%H%M%SZ)-$(hostname -s 2>/dev/null || echo host)"
mkdir -p "$out"
data="$out/data"
calls=pwrite64,pwritev,write,fdatasync,fsync,sync_file_range,fallocate,ftruncate,openat,io_uring_setup,io_uring_enter

# workload <TAB> backend <TAB> extra flags
cases=$'workloads/wal-append.toml\tpread\t-\n'
cases+=$'workloads/wal-append.toml\tfio:engine=psync\t-\n'
cases+=$'workloads/random-write.toml\tdirect\t--sync-method fsync\n'
cases+=$'workloads/random-write.toml\tfio:engine=psync,direct\t--sync-method fsync\n'
cases+=$'workloads/random-write.toml\turing:qd=32,direct\t--sync-method fsync\n'
cases+=$'workloads/random-write.toml\tfio:engine=io_uring,qd=32,direct\t--sync-method fsync\n'

{
  echo "command: scripts/vs-fio-strace.sh --size $size --duration $duration"
  echo "faultline: $("$bin" --version 2>&1 | head -1); kernel $(uname -r); $(${FAULTLINE_FIO:-fio} --version)"
} >"$out/summary.txt"
n=0
while IFS=$'\t' read -r workload backend extra; do
  [ -n "$workload" ] || continue
  [ "$extra" != - ] || extra=""
  n=$((n + 1))
  trace="$out/trace-$n.txt"
  # shellcheck disable=SC2086 # $extra is a list of flags
  strace -f -o "$trace" -e trace="$calls" "$bin" run "$workload" -b "$backend" \
    --size "$size" --duration "$duration" --warmup 0s $extra \
    --data-dir "$data" --out "$out/run-$n" --quiet >"$out/run-$n.log" 2>&1 || true
  python3 - "$trace" "$workload" "$backend" "$extra" "$out/run-$n/run.json" <<'EOF' >>"$out/summary.txt"
import collections, json, os, re, sys
trace, workload, backend, extra, runjson = sys.argv[1:]
lines = open(trace, errors="replace").read().splitlines()
# strace -f: "<tid> call(args) = ret"; join "<unfinished ...>" with "resumed".
pat = re.compile(r"^(\d+) +(\w+)\((.*)$")
by_tid = collections.defaultdict(collections.Counter)
first = collections.defaultdict(list)
opens, setups = [], []
for l in lines:
    m = pat.match(l)
    if not m:
        continue
    tid, call, rest = m.groups()
    by_tid[tid][call] += 1
    if len(first[tid]) < 6 and call in ("pwrite64", "fdatasync", "fsync", "io_uring_enter"):
        first[tid].append(re.sub(r'"[^"]*"(\.\.\.)?', '"..."', l)[:110])
    if call == "openat" and ".dat\"" in rest:
        opens.append((tid, re.sub(r'^\d+ +openat\(AT_FDCWD, "[^"]*/', 'openat(".../', l)[:120]))
    if call == "io_uring_setup":
        setups.append((tid, re.sub(r"^\d+ +", "", l)[:160]))
# The writer: the thread with the most write and sync calls, the harness's main thread
# (the first in the trace: it creates, reads back and restores the data file) aside.
main = next((pat.match(l).group(1) for l in lines if pat.match(l)), None)
def writes(c):
    return c["pwrite64"] + c["io_uring_enter"] + c["pwritev"] + c["fdatasync"] + c["fsync"]
tid = max((t for t in by_tid if t != main), key=lambda t: writes(by_tid[t]), default=main)
sizes = collections.Counter()
unaligned = 0
offsets = []
for l in lines:
    if l.startswith(tid + " ") and " pwrite64(" in l:
        m = re.search(r", (\d+), (\d+)\) += (-?\d+)", l)
        if m:
            size, off, _ = map(int, m.groups())
            sizes[size] += 1
            unaligned += off % 4096 != 0
            if len(offsets) < 4:
                offsets.append(off)
ops = None
if os.path.exists(runjson):
    b = json.load(open(runjson))["backends"][0]
    ops = f"{b['status']}, {b['ops']} ops in the measured phase"
    dw = (b.get("counters") or {}).get("device_write_bytes")
    if dw is not None and b["ops"]:
        ops += f", device_write_bytes / ops = {dw / b['ops'] / 1024:.1f} KiB (the disk's, system-wide)"
print(f"\n== {backend} on {workload} {extra}".rstrip())
print(f"run: {ops}")
print("writer thread's calls:", dict(by_tid[tid]))
if sizes:
    print(f"pwrite64 sizes {dict(sizes)}, unaligned offsets {unaligned}, first offsets {offsets}")
# The writer's own opens; a backend that opened the file before the run (io_uring's
# rings are set up when the backend opens) shows the read-write opens of any thread.
mine = [o for t, o in dict.fromkeys(opens) if t == tid]
for o in mine or [o for _, o in dict.fromkeys(opens) if "O_RDWR" in o]:
    print("open:", o)
for s in dict.fromkeys(s for _, s in setups):
    print("ring:", s)
print("first calls:")
for l in first[tid]:
    print("  ", l)
EOF
done <<<"$cases"
# The traces are large; keep the summary and the run directories only.
rm -f "$out"/trace-*.txt
rm -rf "$data"
cat "$out/summary.txt"
echo "summary: $out/summary.txt" >&2
