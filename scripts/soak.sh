#!/usr/bin/env bash
# Soak: every backend, alternating, under a tight memory cgroup, for a long time (default
# 10 minutes), then checks that the harness leaked nothing: its open file descriptors,
# memory mappings and resident memory after each backend (recorded in run.json
# `process`) must not grow, and no cgroup or zram device may be left behind.
# Not part of the test suite. Needs root for the memory cgroup.
#
#   scripts/soak.sh [minutes (default 10)] [extra faultline run flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}; shift || true
cargo build --release --quiet
bin=target/release/faultline
backends=$("$bin" list | awk '/^Backends/{f=1;next} /^$/{f=0} f && /^  [a-z]/{print $1}')
args=()
for b in $backends; do
  case $b in
    mmap) args+=(--backend mmap --backend mmap:advice=random --backend mmap:advice=sequential,populate) ;;
    fio) command -v fio >/dev/null && args+=(--backend fio) ;;
    hugepage) args+=(--backend hugepage:mode=thp --backend hugepage:mode=anon-thp) ;;
    *) args+=(--backend "$b") ;;
  esac
done
n=$(( ${#args[@]} / 2 ))
# Each backend runs 5 s (+0.5 s warm-up); enough repeats to fill the time.
repeats=$(( minutes * 60 / (n * 6) + 1 ))
cg_before=$(find /sys/fs/cgroup -maxdepth 6 -name 'faultline-*' 2>/dev/null | wc -l)
zram_before=$(ls /sys/block | grep -c '^zram' || true)
out=$(mktemp -d)/soak
echo "soak: $n backends x $repeats repeats, ~${minutes} min, 256MiB file, 64MiB page-cache limit"
"$bin" run workloads/quick.toml --size 256MiB --page-cache-limit 64MiB --threads 2 \
  --duration 5s --warmup 500ms --interval 1s --repeats "$repeats" "${args[@]}" \
  --out "$out" "$@" | tail -n +1 >/dev/null || echo "note: the run exited non-zero (see $out/run.json)"
python3 - "$out/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = r["process"]
first, last = p[1], p[-1]          # after the first backend vs after the last
print(f"backends run: {len(r['backends'])}, failed: {sum(b['status']=='failed' for b in r['backends'])}")
for k in ("fds", "maps", "rss_bytes"):
    vals = [s[k] for s in p[1:] if s[k] is not None]
    print(f"{k:>10}: after first backend {first[k]}, after last {last[k]}, min {min(vals)}, max {max(vals)}")
grow_fd = last["fds"] - first["fds"]
grow_maps = last["maps"] - first["maps"]
grow_rss = (last["rss_bytes"] - first["rss_bytes"]) / 2**20
print(f"growth: fds {grow_fd:+d}, maps {grow_maps:+d}, rss {grow_rss:+.1f} MiB")
ok = grow_fd <= 0 and grow_maps <= 2 and grow_rss < 4
print("LEAK CHECK:", "ok" if ok else "GROWTH FOUND")
sys.exit(0 if ok else 1)
PY
cg_after=$(find /sys/fs/cgroup -maxdepth 6 -name 'faultline-*' 2>/dev/null | wc -l)
zram_after=$(ls /sys/block | grep -c '^zram' || true)
echo "cgroups named faultline-*: before $cg_before, after $cg_after; zram devices: before $zram_before, after $zram_after"
[ "$cg_after" -le "$cg_before" ] && [ "$zram_after" -le "$zram_before" ]
echo "result: $out"
