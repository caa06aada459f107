#!/usr/bin/env bash
# Cost of per-operation major-fault attribution on the cheapest operation there is: a
# cached 4 KiB mmap read. Runs the same warm mmap workload with and without attribution,
# alternating, several rounds, and prints ops/s of each and the ratio of the medians.
#
#   scripts/fault-attribution-cost.sh [rounds (default 5)] [seconds per run (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
secs=${2:-3}
cargo build --release --quiet
bin=target/release/faultline
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in $(seq 1 "$rounds"); do
  for mode in on off; do
    flag=(); [ "$mode" = off ] && flag=(--no-fault-attribution)
    "$bin" run workloads/quick.toml --backend mmap --threads 1 --start warm \
      --duration "${secs}s" --warmup 500ms --quiet --out "$tmp/$mode-$r" "${flag[@]}" >/dev/null
  done
done
python3 - "$tmp" "$rounds" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
res = {}
for mode in ("on", "off"):
    res[mode] = [json.load(open(f"{tmp}/{mode}-{r}/run.json"))["backends"][0]["ops_per_sec"] for r in range(1, rounds + 1)]
    print(f"attribution {mode:>3}: " + "  ".join(f"{v/1e6:.2f}M" for v in res[mode]) + f"   median {statistics.median(res[mode])/1e6:.3f}M ops/s")
on, off = statistics.median(res["on"]), statistics.median(res["off"])
print(f"cost of attribution: {100*(1-on/off):.1f}% of a cached 4 KiB mmap read (on/off = {on/off:.3f})")
PY
