#!/usr/bin/env bash
# The real engines against the micro-benchmark's verdict: workloads/sqlite-point.toml and
# workloads/lmdb-point.toml, each in three regimes (warm with no limit; cold under a
# memory cgroup on the data file's disk; cold under a memory cgroup on an emulated fast
# device, zram with a file system), one result directory per workload and regime, and a
# `faultline report` (with its verdict lines) in each. Root (cgroup, zram).
#
# Options (environment): SIZE (default 512MiB), LIMIT (page-cache limit, 128MiB), DUR
# (per cell, 4s), OUT (default results/engines/<UTC time>), FAULTLINE (the binary,
# default target/release/faultline), REGIMES (default "warm disk-cgroup zram-cgroup").
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FAULTLINE:-target/release/faultline}
SIZE=${SIZE:-512MiB}
LIMIT=${LIMIT:-128MiB}
DUR=${DUR:-4s}
OUT=${OUT:-results/engines/$(date -u +%Y-%m-%dT%H%M%SZ)}
REGIMES=${REGIMES:-warm disk-cgroup zram-cgroup}
if [ ! -x "$BIN" ]; then
  echo "engines.sh: $BIN is missing; build it with: cargo build --release" >&2
  exit 1
fi
mkdir -p "$OUT"
for wl in sqlite-point lmdb-point; do
  for regime in $REGIMES; do
    case $regime in
      warm) flags=(--start warm) ;;
      disk-cgroup) flags=(--page-cache-limit "$LIMIT") ;;
      zram-cgroup) flags=(--device zram --page-cache-limit "$LIMIT") ;;
      *) echo "engines.sh: unknown regime $regime (warm, disk-cgroup, zram-cgroup)" >&2; exit 1 ;;
    esac
    dir="$OUT/$wl-$regime"
    "$BIN" run "workloads/$wl.toml" --size "$SIZE" --duration "$DUR" "${flags[@]}" --out "$dir"
    "$BIN" report "$dir" --out "$dir/report.md"
  done
done
echo "engines.sh: results in $OUT"
