#!/usr/bin/env bash
# The buffer pool's two speed targets, side by side with what it is measured against,
# in alternated rounds (faultline's `repeats` rotates the backends' order every round),
# on one zram device (root):
#
#   miss path: bufferpool:pool=16MiB against direct, 1 thread, uniform random 4 KiB
#              reads of a 1 GiB file (the pool holds 1/64 of it: ~98% misses).
#              Target: pool/direct >= 0.95.
#   hit path:  bufferpool:pool=256MiB,prefault against mmap on a warm 256 MiB file,
#              1 thread, timing = sample:64 (the pool holds every block: all hits).
#              Target: pool/mmap >= 0.40.
#
# Prints ops/s of both backends in every round, the ratio within each round (the two
# ran back to back), the median ratio and the verdict. Exit status 1 when a target is
# missed (the machine may be busy: say so with any figure), 2 on a usage error.
#
# Then the floor on this machine (harness/examples/bufferpool_floor.rs, no harness, no
# pool; floor.txt, also appended to the summary): O_DIRECT reads into one fixed buffer
# beside the same reads into 4 KiB frames of a 16 MiB region taken in turn (the cost of
# a cache-cold destination frame alone) and of smaller sets; a read of a warm block
# through a populated mmap beside the lookups a pool's layout needs (bucket, latch and
# data lines; a one-line bucket that carries the version; its referenced bit), in
# rotated order. A floor ratio below a target means no pool with that layout (or any
# pool that reads into its own frames in clock order) can meet it here.
#
#   scripts/bufferpool-targets.sh [--rounds N (5)] [--seconds S (3)] [--keep DIR]
#                                 [--no-floor]
#
# --keep DIR keeps both result directories, the printed summary (summary.txt) and the
# floor (floor.txt) under DIR (default: a temporary directory, removed at the end).
# FAULTLINE_BIN=PATH runs that binary instead of building this tree; FLOOR_BIN=PATH the
# floor loop (default: built with the tree, or target/release/examples/bufferpool_floor
# beside FAULTLINE_BIN's tree when FAULTLINE_BIN is given).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5 secs=3 keep= floor=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --seconds) secs=${2:?--seconds needs a number}; shift 2 ;;
    --keep) keep=${2:?--keep needs a directory}; shift 2 ;;
    --no-floor) floor=; shift ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "bufferpool-targets.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$rounds$secs" in *[!0-9]*|'') echo "bufferpool-targets.sh: --rounds and --seconds take whole numbers" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "bufferpool-targets.sh: needs root (it hot-adds a zram device)" >&2; exit 2; }
if [ -n "${FAULTLINE_BIN:-}" ]; then
  bin=$FAULTLINE_BIN
  floor_bin=${FLOOR_BIN:-$(dirname "$bin")/examples/bufferpool_floor}
else
  cargo build --release --quiet
  [ -z "$floor" ] || [ -n "${FLOOR_BIN:-}" ] || cargo build --release --quiet --example bufferpool_floor
  bin=$PWD/target/release/faultline
  floor_bin=${FLOOR_BIN:-$PWD/target/release/examples/bufferpool_floor}
fi
if [ -n "$floor" ] && [ ! -x "$floor_bin" ]; then
  echo "bufferpool-targets.sh: no floor loop at $floor_bin (cargo build --release --example bufferpool_floor, set FLOOR_BIN, or --no-floor)" >&2
  exit 2
fi
if [ -n "$keep" ]; then
  [ -e "$keep" ] && { echo "bufferpool-targets.sh: $keep exists; give a new directory" >&2; exit 2; }
  mkdir -p "$keep"; tmp=$keep
else
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fi

echo "miss path: direct vs bufferpool:pool=16MiB, 1 GiB on zram, $rounds rounds of ${secs}s" >&2
"$bin" run workloads/random-read.toml --device zram:1GiB --size 1GiB --threads 1 \
  --backend direct --backend bufferpool:pool=16MiB --start cold \
  --duration "${secs}s" --warmup 1s --repeats "$rounds" --quiet --out "$tmp/miss" >/dev/null
echo "hit path: mmap vs bufferpool:pool=256MiB,prefault, warm 256 MiB on zram, timing sample:64" >&2
"$bin" run workloads/in-memory.toml --device zram:256MiB --size 256MiB --threads 1 \
  --backend mmap --backend bufferpool:pool=256MiB,prefault --start warm --timing sample:64 \
  --duration "${secs}s" --warmup 1s --repeats "$rounds" --quiet --out "$tmp/hit" >/dev/null

status=0
python3 - "$tmp" <<'PY' | tee "$tmp/summary.txt" || status=1
import json, statistics as st, sys, os
tmp = sys.argv[1]
ok = True
def si(v):
    for d, s in ((1e6, "M"), (1e3, "K")):
        if v >= d:
            return f"{v/d:.3g}{s}"
    return f"{v:.3g}"
for name, ref, pool, target in (("miss", "direct", "bufferpool:pool=16MiB", 0.95),
                                ("hit", "mmap", "bufferpool:pool=256MiB,prefault", 0.40)):
    rec = json.load(open(os.path.join(tmp, name, "run.json")))
    by = {}
    notes = {}
    for b in rec["backends"]:
        if b["status"] != "ok" or b.get("verify_errors"):
            print(f"{name}: {b['name']} repeat {b['repeat']}: {b['status']} {b.get('reason') or ''} (verify errors: {b.get('verify_errors')})")
            ok = False
            continue
        by.setdefault(b["repeat"], {})[b["name"]] = b["ops_per_sec"]
        if b["name"] == pool:
            notes[b["repeat"]] = next((n for n in b.get("notes", []) if n.startswith("cache in the measured phase")), "")
    print(f"{name} path: {pool} vs {ref} (target >= {target:.2f}x)")
    print(f"  {'round':>5}  {ref:>12}  {pool:>32}  {'ratio':>6}  pool cache")
    ratios = []
    for r in sorted(by):
        row = by[r]
        if ref in row and pool in row:
            q = row[pool] / row[ref]
            ratios.append(q)
            print(f"  {r+1:>5}  {si(row[ref]):>12}  {si(row[pool]):>32}  {q:6.3f}  {notes.get(r, '')}")
    if not ratios:
        print("  no round measured both backends"); ok = False; continue
    med = st.median(ratios)
    verdict = "met" if med >= target else "NOT met"
    if med < target: ok = False
    print(f"  median ratio {med:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}): target {verdict}")
    print(f"  result: {os.path.join(tmp, name)}")
sys.exit(0 if ok else 1)
PY
if [ -n "$floor" ]; then
  floor_rounds=$(( rounds < 3 ? 3 : rounds ))
  echo "floor: $floor_bin --threads 1 --seconds 1 --rounds $floor_rounds --size 1GiB --mem 256MiB --pool 16MiB" >&2
  { echo; echo "floor on this machine (no harness, no pool; $floor_bin):"
    "$floor_bin" --threads 1 --seconds 1 --rounds "$floor_rounds" --size 1GiB --mem 256MiB --pool 16MiB 2>/dev/null \
      || echo "  the floor loop failed (run it by hand to see why)"
  } | tee "$tmp/floor.txt" | tee -a "$tmp/summary.txt"
fi
exit "$status"
