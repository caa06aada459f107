#!/usr/bin/env bash
# vmcache's targets, side by side, alternated (root: zram devices, a memory cgroup).
#
# Three comparisons, each one `faultline run` with both backends and --repeats N (the
# order of the backends rotates on every repeat, so each repeat is an adjacent pair);
# random 4 KiB reads, 2 threads, timing=sample:64 (see docs/timing.md):
#
#   in memory   256 MiB on zram, warm; vmcache:pool=256MiB (the whole file fits) vs
#               mmap:populate (every page mapped before the clock starts).
#               Target: vmcache >= 0.8x mmap (the vmcache paper's central claim).
#   all miss    2 GiB on zram, cold; vmcache:pool=4MiB (0.2% of the file) vs direct.
#               Target: vmcache >= 0.95x direct.
#   beyond mem  2 GiB on zram, --page-cache-limit 512MiB (vmcache's default budget is
#               the same 512 MiB); vmcache vs mmap:advice=random, after a 3 s fill.
#               Target: vmcache well ahead of mmap:advice=random (printed: >= 2x).
#
# Prints ops/s of each backend per repeat, the ratio of each adjacent pair and their
# median, vmcache's hit ratio, evictions, batches and TLB shootdowns per batch, and
# whether each target holds. Exit 1 when a target is missed (a busy machine can cause
# that: say so with the figures), 2 on a usage error.
#
# Then the floor on this kernel (harness/examples/vmcache_floor.rs, no harness, no
# pool; floor.txt): pread(O_DIRECT) into a page of an anonymous region released with
# process_madvise(MADV_DONTNEED) in batches of 64, beside the same reads into one fixed
# buffer (what `direct` does); and the state-word check + read + re-check of a loaded
# region beside a read through a populated mmap, alternated. A floor ratio below a
# target means no pool over this kernel's interface can meet it (exmap, the paper's
# kernel module, removes the fault-in and the release).
#
#   scripts/vmcache-targets.sh [--repeats N (5)] [--seconds S (5)] [--out DIR] [--no-floor]
#
# --out DIR: where the three result directories and summary.txt go (default
# results/vmcache-targets/<UTC time>-<host>/; it must not exist).
# FAULTLINE_BIN=PATH runs that binary instead of building this tree; FLOOR_BIN=PATH
# the floor loop (default: built with the tree, or target/release/examples/vmcache_floor
# beside FAULTLINE_BIN's tree when FAULTLINE_BIN is given).
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=5 secs=5 out= floor=1
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) repeats=${2:?--repeats needs a number}; shift 2 ;;
    --seconds) secs=${2:?--seconds needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --no-floor) floor=; shift ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) echo "vmcache-targets.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$repeats$secs" in *[!0-9]*|"") echo "vmcache-targets.sh: --repeats and --seconds take whole numbers" >&2; exit 2 ;; esac
if [ "$(id -u)" != 0 ]; then
  echo "vmcache-targets.sh: needs root (zram devices and a memory cgroup)" >&2; exit 2
fi
if [ -n "${FAULTLINE_BIN:-}" ]; then
  bin=$FAULTLINE_BIN
  floor_bin=${FLOOR_BIN:-$(dirname "$bin")/examples/vmcache_floor}
else
  cargo build --release --quiet
  [ -z "$floor" ] || [ -n "${FLOOR_BIN:-}" ] || cargo build --release --quiet --example vmcache_floor
  bin=$PWD/target/release/faultline
  floor_bin=${FLOOR_BIN:-$PWD/target/release/examples/vmcache_floor}
fi
if [ -n "$floor" ] && [ ! -x "$floor_bin" ]; then
  echo "vmcache-targets.sh: no floor loop at $floor_bin (cargo build --release --example vmcache_floor, set FLOOR_BIN, or --no-floor)" >&2
  exit 2
fi
[ -n "$out" ] || out=results/vmcache-targets/$(date -u +%Y-%m-%dT%H%M%SZ)-$(hostname -s)
[ -e "$out" ] && { echo "vmcache-targets.sh: $out exists; give a new directory" >&2; exit 2; }
mkdir -p "$out"
common=(workloads/quick.toml --threads 2 --block 4KiB --pattern random --timing sample:64
        --duration "${secs}s" --repeats "$repeats" --interval 500ms --quiet)

run() { # name, then run flags
  local name=$1; shift
  echo "== $name: $bin run ${common[*]} $*" | tee -a "$out/commands.txt" >&2
  "$bin" run "${common[@]}" "$@" --out "$out/$name" > "$out/$name.stdout" || true
  [ -f "$out/$name/run.json" ] || { echo "vmcache-targets.sh: $name wrote no result" >&2; exit 1; }
}
run in-memory --device zram --size 256MiB --start warm --warmup 3s \
  -b vmcache:pool=256MiB -b mmap:populate
run all-miss --device zram --size 2GiB --start cold --warmup 1s \
  -b vmcache:pool=4MiB -b direct
run beyond-memory --device zram --size 2GiB --start cold --warmup 3s \
  --page-cache-limit 512MiB -b vmcache -b mmap:advice=random

status=0
python3 - "$out" <<'PY' | tee "$out/summary.txt" || status=1
import json, re, statistics as st, sys
out = sys.argv[1]
targets = [("in-memory", "mmap:populate", 0.8), ("all-miss", "direct", 0.95),
           ("beyond-memory", "mmap:advice=random", 2.0)]
ok = True
load = open("/proc/loadavg").read().split()[:3]
print(f"vmcache targets; load average at the end {' '.join(load)} on {__import__('os').cpu_count()} CPUs")
for name, other, target in targets:
    r = json.load(open(f"{out}/{name}/run.json"))
    rows = {}
    for b in r["backends"]:
        if b["status"] != "ok":
            print(f"{name}: {b['name']} repeat {b['repeat']} {b['status']}: {b['reason']}")
            ok = False
            continue
        if b["verify_errors"]:
            print(f"{name}: {b['name']} repeat {b['repeat']}: {b['verify_errors']} verify errors")
            ok = False
        rows.setdefault(b["repeat"], {})[b["kind"] if b["kind"] == "vmcache" else "other"] = b
    ratios, vm_ops, ot_ops = [], [], []
    print(f"\n{name}: vmcache vs {other} ({out}/{name})")
    print(f"  {'repeat':>6} {'vmcache ops/s':>14} {other + ' ops/s':>26} {'ratio':>7}  vmcache cache")
    for rep in sorted(rows):
        v, o = rows[rep].get("vmcache"), rows[rep].get("other")
        if not v or not o:
            continue
        ratio = v["ops_per_sec"] / o["ops_per_sec"]
        ratios.append(ratio); vm_ops.append(v["ops_per_sec"]); ot_ops.append(o["ops_per_sec"])
        cache = next((n for n in v["notes"] if "hit ratio" in n), "")
        m = re.search(r"hit ratio ([0-9.]+%)(, (\d+) evictions in (\d+) batches released with (\d+) system calls)?", cache)
        desc = m.group(1) + " hits" if m else "?"
        if m and m.group(2):
            desc += f", {m.group(3)} evictions in {m.group(4)} batches ({m.group(5)} calls)"
        print(f"  {rep:>6} {v['ops_per_sec']:>14.0f} {o['ops_per_sec']:>26.0f} {ratio:>7.3f}  {desc}")
        tlb = next((n for n in v["notes"] if n.startswith("TLB shootdowns per eviction batch")), None)
        if tlb and "no batch" not in tlb:
            print(f"  {'':>6} {tlb}")
        ts = o["counters"].get("tlb_shootdowns_system")
        if ts is not None and name == "beyond-memory":
            print(f"  {'':>6} {other}: {ts / (o['elapsed_ns'] / 1e9):.0f} TLB shootdowns/s system-wide")
    if not ratios:
        print("  no complete pair"); ok = False; continue
    med = st.median(ratios)
    held = med >= target
    ok &= held
    print(f"  median ratio {med:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
          f"median ops/s {st.median(vm_ops):.0f} vs {st.median(ot_ops):.0f}; "
          f"target >= {target}: {'holds' if held else 'MISSED by ' + format(target - med, '.3f')}")
sys.exit(0 if ok else 1)
PY
if [ -n "$floor" ]; then
  rounds=$(( repeats < 3 ? 3 : repeats ))
  echo "== floor: $floor_bin --threads 2 --seconds 2 --rounds $rounds --size 2GiB --mem 256MiB" | tee -a "$out/commands.txt" >&2
  { echo; echo "floor on this kernel (no harness, no pool; $floor_bin):"
    "$floor_bin" --threads 2 --seconds 2 --rounds "$rounds" --size 2GiB --mem 256MiB 2>/dev/null \
      || echo "  the floor loop failed (run it by hand to see why)"
  } | tee "$out/floor.txt" | tee -a "$out/summary.txt"
fi
exit "$status"
