#!/usr/bin/env bash
# The real engines against the micro-benchmark's verdict: workloads/sqlite-point.toml and
# workloads/lmdb-point.toml (reads), each in up to six regimes, and
# workloads/sqlite-update.toml (writes: sqlite, sqlite:mmap, lmdb beside pread and mmap)
# once. One result directory per workload and regime, a `faultline report` (with its
# verdict lines) in each, and the total duration printed at the end.
#
# Regimes (REGIMES, default all six below; `write` is the write workload):
#   warm                no limit, warm start (no root)
#   disk-cgroup         cold, page cache limited to LIMIT by a memory cgroup, data on the disk (root)
#   disk-global         cold, the same limit by global reclaim (huge pages reserved machine-wide; root)
#   zram-cgroup         cold, LIMIT by a memory cgroup, data on zram with a file system (root)
#   zram-global         cold, LIMIT by global reclaim, on zram (root)
#   zram-capped-cgroup  as zram-cgroup with the zram device's reads capped at CAP IOPS (blkio; root)
#   write               sqlite-update.toml on the disk, cold, no limit (no root)
#
# Options (environment): SIZE (default 512MiB), LIMIT (page-cache limit, 128MiB), DUR
# (per cell, 4s), CAP (read IOPS of the capped device, 20000), OUT (default
# results/engines/<UTC time>), FAULTLINE (the binary, default target/release/faultline),
# REGIMES. Run it in parts by setting REGIMES and the same OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FAULTLINE:-target/release/faultline}
SIZE=${SIZE:-512MiB}
LIMIT=${LIMIT:-128MiB}
DUR=${DUR:-4s}
CAP=${CAP:-20000}
OUT=${OUT:-results/engines/$(date -u +%Y-%m-%dT%H%M%SZ)}
REGIMES=${REGIMES:-warm disk-cgroup disk-global zram-cgroup zram-global zram-capped-cgroup write}
if [ ! -x "$BIN" ]; then
  echo "engines.sh: $BIN is missing; build it with: cargo build --release" >&2
  exit 1
fi
mkdir -p "$OUT"
t0=$(date +%s)
for regime in $REGIMES; do
  wls=(sqlite-point lmdb-point)
  case $regime in
    warm) flags=(--start warm) ;;
    disk-cgroup) flags=(--page-cache-limit "$LIMIT") ;;
    disk-global) flags=(--page-cache-limit "$LIMIT" --reclaim global) ;;
    zram-cgroup) flags=(--device zram --page-cache-limit "$LIMIT") ;;
    zram-global) flags=(--device zram --page-cache-limit "$LIMIT" --reclaim global) ;;
    zram-capped-cgroup) flags=(--device "zram,read_iops=$CAP" --page-cache-limit "$LIMIT") ;;
    write) flags=(); wls=(sqlite-update) ;;
    *) echo "engines.sh: unknown regime $regime (warm disk-cgroup disk-global zram-cgroup zram-global zram-capped-cgroup write)" >&2; exit 1 ;;
  esac
  for wl in "${wls[@]}"; do
    dir="$OUT/$wl-$regime"
    s=$(date +%s)
    echo "== $wl, $regime: faultline run workloads/$wl.toml --size $SIZE --duration $DUR ${flags[*]}"
    "$BIN" run "workloads/$wl.toml" --size "$SIZE" --duration "$DUR" "${flags[@]}" --out "$dir" \
      || echo "engines.sh: $wl ($regime) exited non-zero; its result (if any) is in $dir"
    [ -f "$dir/run.json" ] && "$BIN" report "$dir" --out "$dir/report.md"
    echo "   $wl, $regime: $(( $(date +%s) - s )) s"
  done
done
echo "engines.sh: results in $OUT; $(( $(date +%s) - t0 )) s in all (REGIMES: $REGIMES)"
