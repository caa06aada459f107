#!/usr/bin/env bash
# The figures of docs/devices.md: a zram device capped at 40K reads/s under direct and
# mmap:advice=random (data 12x a page-cache limit, so mmap faults), and a capped
# sequential scan on 1 vs 4 zram devices with the same cap per device. Root (zram, blkio
# cgroup v1, memory cgroup). Result directories go to results/devices/ (or $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/devices}
BIN=${BIN:-target/release/faultline}
[ -x "$BIN" ] || cargo build --release
t() { date -u +%Y-%m-%dT%H%M%SZ; }
mkdir -p "$OUT"
nice -n 19 "$BIN" run workloads/random-read.toml --device zram:768MiB,read_iops=40000 \
  --size 768MiB --page-cache-limit 64MiB --backend direct --backend mmap:advice=random \
  --threads 2 --duration 8s --warmup 2s --out "$OUT/$(t)-capped-40k"
nice -n 19 "$BIN" run workloads/seq-scan.toml --device zram:512MiB,read_bps=100MiB \
  --size 512MiB --backend uring:qd=8,direct --backend direct --threads 1 --duration 6s \
  --warmup 1s --out "$OUT/$(t)-scan-1dev"
nice -n 19 "$BIN" run workloads/seq-scan.toml --device zram:128MiB,count=4,read_bps=100MiB \
  --size 512MiB --backend uring:qd=8,direct --backend direct --threads 1 --duration 6s \
  --warmup 1s --out "$OUT/$(t)-scan-4dev"
