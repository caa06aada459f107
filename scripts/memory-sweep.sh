#!/usr/bin/env bash
# The memory-budget sweep (the vmcache paper's central figure, on this machine): one
# fixed memory budget, the data file from 0.25x to 8x of it, uniform random 4 KiB reads
# from a zram device, 1 thread, and every way of reading it side by side:
#
#   mmap, mmap:advice=random   the page cache, limited to the budget by a memory cgroup
#   bufferpool:prefault        a hash-table buffer pool with the budget as its pool
#   vmcache                    the vmcache-style pool (only when `faultline list` has it)
#   direct, uring              no cache at all: every read goes to the device
#
# Every backend starts warm (the file read once through the page cache; the buffer
# pool reads the blocks that fit into its pool before the clock starts), warms up 1 s
# and is measured for --seconds. Runs `faultline run --sweep size=...`, so the results
# are one directory with one run per size (each run.json records `sweep`), with the
# sweep table (sweep.md: ops/s and p99 per backend per size) and the sweep charts
# (sweep-ops, sweep-p99, sweep-faults, sweep-shootdowns). Root (zram, memory cgroup).
#
#   scripts/memory-sweep.sh [--budget SIZE (256MiB)] [--seconds S (3)] [--out DIR]
#
# --out DIR: the sweep's directory (must not exist; default
# results/memory-sweep/<UTC time>-<host>-sweep-size/). FAULTLINE_BIN=PATH runs that
# binary instead of building this tree. About 36 cells of ~6 s: 4-5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=256MiB secs=3 out=
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget=${2:?--budget needs a size}; shift 2 ;;
    --seconds) secs=${2:?--seconds needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "memory-sweep.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$secs" in *[!0-9]*|'') echo "memory-sweep.sh: --seconds takes a whole number" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "memory-sweep.sh: needs root (zram device, memory cgroup)" >&2; exit 2; }
if [ -n "${FAULTLINE_BIN:-}" ]; then
  bin=$FAULTLINE_BIN
else
  cargo build --release --quiet
  bin=$PWD/target/release/faultline
fi
# The sizes: budget x 0.25, 0.5, 1, 2, 4, 8 (whole 4 KiB pages, written with a unit).
sizes=$(python3 - "$budget" <<'PY'
import re, sys
m = re.fullmatch(r"\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*", sys.argv[1])
if not m:
    sys.exit(f"memory-sweep.sh: --budget {sys.argv[1]}: give a size such as 256MiB")
b = int(m.group(1)) * {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]
if b < 64 << 20:
    sys.exit("memory-sweep.sh: --budget must be at least 64MiB (0.25x must hold the harness's 16MiB minimum)")
def fmt(n):
    for d, u in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n % d == 0:
            return f"{n // d}{u}"
    return str(n)
print(",".join(fmt(int(b * r) // 4096 * 4096) for r in (0.25, 0.5, 1, 2, 4, 8)))
PY
)
backends=(mmap mmap:advice=random bufferpool:prefault direct uring)
if "$bin" list | grep -qE '^  vmcache '; then
  backends=(mmap mmap:advice=random bufferpool:prefault vmcache direct uring)
else
  echo "memory-sweep.sh: this faultline has no vmcache backend (faultline list); running without it" >&2
fi
args=()
for b in "${backends[@]}"; do args+=(--backend "$b"); done
outargs=()
[ -n "$out" ] && outargs=(--out "$out")
echo "memory-sweep.sh: budget $budget, sizes $sizes, backends ${backends[*]}, ${secs}s each" >&2
"$bin" run workloads/random-read.toml --device zram --page-cache-limit "$budget" \
  --threads 1 --start warm --warmup 1s --duration "${secs}s" --interval 500ms \
  --timing sample:64 "${args[@]}" --sweep "size=$sizes" --plot "${outargs[@]}"
