#!/usr/bin/env bash
# The four shipped write workloads (random-write, mixed-70-30, wal-append, checkpoint)
# with every backend, on the disk (a generated 1 GiB file in --data-dir) and on an
# emulated fast device (--device zram:1GiB, root), short durations, with charts. Each
# run writes its own result directory under results/<workload>/; then one
# `faultline report` of all of them goes to stdout (or --report FILE).
#
#   scripts/write-tables.sh [--duration D] [--warmup D] [--data-dir DIR] [--no-zram]
#                           [--report FILE] [-- extra faultline run flags...]
# (FAULTLINE_BIN=PATH uses that binary instead of building this checkout's.)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=3s warmup=1s data_dir=faultline-data zram=1 report=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --data-dir) data_dir=$2; shift 2 ;;
    --no-zram) zram=0; shift ;;
    --report) report=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "write-tables.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$zram" = 1 ] && [ "$(id -u)" != 0 ]; then
  echo "write-tables.sh: --device zram needs root; run as root or give --no-zram" >&2
  exit 2
fi
# FAULTLINE_BIN: a faultline binary to use instead of building this checkout's.
if [ -n "${FAULTLINE_BIN:-}" ]; then bin=$FAULTLINE_BIN; else
  cargo build --release --quiet
  bin=target/release/faultline
fi
dirs=()
for w in random-write mixed-70-30 wal-append checkpoint; do
  devices=("disk")
  [ "$zram" = 1 ] && devices+=("zram")
  for dev in "${devices[@]}"; do
    flags=(--duration "$duration" --warmup "$warmup" --plot --quiet)
    if [ "$dev" = zram ]; then flags+=(--device zram:1GiB); else flags+=(--data-dir "$data_dir"); fi
    echo "== $w on $dev" >&2
    # A failed backend makes the exit code 1; the result is still written.
    out=$("$bin" run "workloads/$w.toml" "${flags[@]}" "$@" | sed -n 's/^result: //p') || true
    [ -n "$out" ] && dirs+=("$out") && echo "   $out" >&2
  done
done
if [ -n "$report" ]; then
  "$bin" report "${dirs[@]}" --out "$report"
else
  "$bin" report "${dirs[@]}"
fi
