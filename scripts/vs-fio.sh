#!/usr/bin/env bash
# Each native backend against its fio twin on the same file, alternating which runs
# first, for several rounds, at 1 and 2 threads: uniform random 4 KiB reads from a cold
# file (workloads/random-read.toml with the flags below). Prints one row per pair and
# thread count: the medians over the rounds of native IOPS, fio IOPS, their ratio, and
# the ratios of the p50 and p99 latencies (native / fio; below 1 = native faster).
#
#   scripts/vs-fio.sh [--size S] [--duration D] [--warmup D] [--rounds N]
#                     [--threads LIST] [--pause SECONDS] [--quick] [--out DIR]
#
# Defaults: --size 4GiB --duration 10s --warmup 1s --rounds 3 --threads "1 2" --pause 0.
# --quick = --size 256MiB --duration 2s --warmup 500ms --rounds 1. --pause sleeps between
# runs (on a shared machine). Pairs:
#   pread                  vs fio (engine=psync)
#   direct                 vs fio:engine=psync,direct
#   uring:qd=32            vs fio:engine=io_uring,qd=32         (when `faultline list` has uring)
#   uring:qd=32,direct     vs fio:engine=io_uring,qd=32,direct  (same)
#   mmap (touch=all)       vs fio:engine=mmap   (fio copies each whole block out of the
#                          mapping, so the native side reads every u64 of it too)
#
# --writes compares the write paths instead, on the shipped write workloads, 1 thread
# (the issue's targets in brackets: native IOPS / fio IOPS at least):
#   wal-append:   pread (pwrite + fdatasync each write)  vs fio psync fdatasync=1  [0.95]
#   random-write: direct (O_DIRECT pwrite)               vs fio psync direct=1     [0.97]
#   random-write: uring:qd=32,direct (IORING_OP_WRITE)   vs fio io_uring qd=32 direct=1
#                                                           randwrite                 [0.97]
# Both twins of a pair write the same harness-generated, fully allocated file (fio
# with allow_file_create=0: no layout, no fallocate, no truncate) in 4 KiB blocks at
# 4 KiB-aligned offsets: wal-append overwrites it in order from offset 0, wrapping at
# the end (a recycled log segment: fio rw=write), so neither side changes the file's
# size and an fdatasync needs no journal commit for it. The random-write pairs run
# with --sync-method fsync, because fio's end_fsync=1 ends with fsync(2): so both end
# with one fsync. See docs/writes.md ("Comparing with fio") for the strace check.
# Every run's result directory is kept under --out (default results/vs-fio/<UTC>-<host>).
# FAULTLINE_BIN=path runs that binary instead of building this tree.
set -euo pipefail
cd "$(dirname "$0")/.."

size=4GiB duration=10s warmup=1s rounds=3 threads="1 2" pause=0 out="" writes=0
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=${2//,/ }; shift 2 ;;
    --pause) pause=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --quick) size=256MiB duration=2s warmup=500ms rounds=1; shift ;;
    --writes) writes=1; shift ;;
    -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vs-fio.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$rounds" in ''|*[!0-9]*|0) echo "vs-fio.sh: --rounds must be a positive whole number" >&2; exit 2 ;; esac
command -v python3 >/dev/null || { echo "vs-fio.sh: needs python3 to read run.json" >&2; exit 1; }
if ! command -v "${FAULTLINE_FIO:-fio}" >/dev/null; then
  echo "vs-fio.sh: fio is not installed (apt-get install fio)" >&2
  exit 1
fi

# FAULTLINE_BIN: a faultline binary to use instead of building this tree.
bin=${FAULTLINE_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=target/release/faultline
fi
[ -n "$out" ] || out="results/vs-fio/$(date -u +%Y-%m-%dT%H%M%SZ)-$(hostname -s 2>/dev/null || echo host)"
mkdir -p "$out"
manifest="$out/manifest.tsv"
: >"$manifest"

# label <TAB> native spec <TAB> fio spec <TAB> extra run flags <TAB> workload <TAB> target
# (`-` for no extra flags or no target: tab is whitespace to `read`, so an empty field
# would vanish)
if [ "$writes" = 1 ]; then
  threads=1
  pairs=$'wal-append: pread vs fio psync fdatasync=1\tpread\tfio:engine=psync\t-\tworkloads/wal-append.toml\t0.95\n'
  # fio's end_fsync=1 is an fsync(2): the native side ends with fsync too.
  pairs+=$'random-write: direct vs fio psync direct=1\tdirect\tfio:engine=psync,direct\t--sync-method fsync\tworkloads/random-write.toml\t0.97\n'
  pairs+=$'random-write: uring:qd=32,direct vs fio io_uring qd=32\turing:qd=32,direct\tfio:engine=io_uring,qd=32,direct\t--sync-method fsync\tworkloads/random-write.toml\t0.97\n'
else
  rr=workloads/random-read.toml
  pairs=$'pread vs fio psync\tpread\tfio:engine=psync\t-\t'"$rr"$'\t-\n'
  pairs+=$'direct vs fio psync,direct\tdirect\tfio:engine=psync,direct\t-\t'"$rr"$'\t-\n'
  if "$bin" list | grep -Eq '^  uring +'; then
    pairs+=$'uring:qd=32 vs fio io_uring qd=32\turing:qd=32\tfio:engine=io_uring,qd=32\t-\t'"$rr"$'\t-\n'
    pairs+=$'uring:qd=32,direct vs fio io_uring qd=32,direct\turing:qd=32,direct\tfio:engine=io_uring,qd=32,direct\t-\t'"$rr"$'\t-\n'
  else
    echo "note: this faultline has no uring backend (\`faultline list\`); skipping the io_uring pairs" >&2
  fi
  pairs+=$'mmap (touch=all) vs fio mmap\tmmap\tfio:engine=mmap\t--touch all\t'"$rr"$'\t-\n'
fi

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }
echo "vs-fio: size $size, $duration per backend after $warmup warm-up, the workload's start, $rounds round(s), threads $threads; results in $out" >&2
echo "load average before: $(load) (on a shared machine the ratios are noisy; use --rounds)" >&2
n=0
for r in $(seq 1 "$rounds"); do
  for t in $threads; do
    while IFS=$'\t' read -r label native fio extra workload target; do
      [ -n "$label" ] || continue
      [ "$extra" != - ] || extra=""
      [ "$target" != - ] || target=""
      n=$((n + 1))
      dir="$out/r$r-t$t-$n"
      # Alternate which twin runs first.
      if [ $((r % 2)) -eq 1 ]; then first=$native second=$fio; else first=$fio second=$native; fi
      echo "round $r, $t thread(s): $label" >&2
      # shellcheck disable=SC2086 # $extra is a list of flags
      if ! "$bin" run "$workload" -b "$first" -b "$second" --threads "$t" \
          --size "$size" --duration "$duration" --warmup "$warmup" $extra \
          --out "$dir" --quiet >"$dir.log" 2>&1; then
        echo "  (faultline exited non-zero; see $dir.log)" >&2
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$t" "$native" "$fio" "$dir" "$r" "$target" >>"$manifest"
      if [ "$pause" != 0 ]; then sleep "$pause"; fi
    done <<<"$pairs"
  done
done

python3 - "$manifest" <<'EOF'
import json, os, statistics, sys

rows = {}
order = []
for line in open(sys.argv[1]):
    label, t, native, fio, d, r, target = line.rstrip("\n").split("\t")
    key = (label, int(t))
    if key not in rows:
        rows[key] = {"n": [], "f": [], "why": [], "target": target}
        order.append(key)
    path = os.path.join(d, "run.json")
    if not os.path.exists(path):
        rows[key]["why"].append(f"round {r}: no run.json (see {d}.log)")
        continue
    for b in json.load(open(path))["backends"]:
        side = "n" if b["name"] == native else "f" if b["name"] == fio else None
        if side is None:
            continue
        if b["status"] != "ok":
            rows[key]["why"].append(f"{b['name']} {b['status']}: {b['reason']}")
            continue
        lat = b["latency_ns"] or {}
        rows[key][side].append((b["ops_per_sec"], lat.get("p50"), lat.get("p99")))

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def count(v):
    if v is None:
        return "-"
    for div, unit in ((1e6, "M"), (1e3, "K")):
        if v >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.0f}"

def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"

head = ("pair", "threads", "native IOPS", "fio IOPS", "ratio", "p50 ratio", "p99 ratio", "target")
table = []
notes = []
for key in order:
    v = rows[key]
    n = [med([x[i] for x in v["n"]]) for i in range(3)]
    f = [med([x[i] for x in v["f"]]) for i in range(3)]
    tgt = v["target"]
    verdict = "-"
    if tgt and n[0] and f[0]:
        verdict = f">={tgt} " + ("met" if n[0] / f[0] >= float(tgt) else "MISSED")
    elif tgt:
        verdict = f">={tgt} not measured"
    table.append((key[0], str(key[1]), count(n[0]), count(f[0]),
                  ratio(n[0], f[0]), ratio(n[1], f[1]), ratio(n[2], f[2]), verdict))
    for w in dict.fromkeys(v["why"]):
        notes.append(f"{key[0]} x{key[1]}: {w}")
widths = [max(len(r[i]) for r in table + [head]) for i in range(len(head))]
def fmt(r):
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
print(fmt(head))
print("  ".join("-" * w for w in widths))
for r in table:
    print(fmt(r))
print("\nratio = native IOPS / fio IOPS; p50/p99 ratio = native latency / fio latency "
      "(below 1: native faster); medians over the rounds")
for n in notes:
    print("note:", n)
EOF
echo "load average after: $(load); results: $out" >&2
