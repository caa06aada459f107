#!/usr/bin/env bash
# Reproduce the CIDR 2022 mmap paper's two experiments on this machine: Figure 1
# (random reads) and Figure 2 (sequential scan), each on the real disk and on an
# emulated fast device (zram), with the file 4x a memory-cgroup page-cache limit.
# Draws the charts (throughput over time with the eviction phases; shootdowns and
# major faults over time; read amplification; latency) and writes a markdown report
# and an HTML page (html-<device>/index.html) per device.
#
#   scripts/reproduce-paper.sh [--quick] [--scale S] [--duration D] [--out DIR] [-- extra run flags]
#
#   --quick       file 1 GiB, limit 256 MiB, 8 s per backend, 250 ms intervals: under 5 minutes here
#   --scale S     multiply the default sizes (file 4 GiB, limit 1 GiB) by S (e.g. 0.5, 2)
#   --duration D  measured time per backend (default 60s; --quick 8s)
#   --out DIR     where the result directories go (default results/paper/<UTC time>)
#   --no-zram     skip the emulated-device runs (e.g. without root)
#   --no-capped   skip the capped-device runs below
#   --cap N       read IOPS cap of the Fig. 1 capped device (default: from the uncapped zram run, below)
#   --fig2-cap B  read bytes/s cap per device for the Fig. 2 capped runs (default: likewise)
#   --capped-only skip the uncapped disk and zram runs; the caps then come from the
#                 uncapped zram results already in --out DIR (a re-run of the capped
#                 part into the same directory), else from a short probe
#   --pages-only  run nothing: write the HTML pages (html-<device>/index.html) of the
#                 results already in --out DIR (pages that exist are kept; no root needed)
#
# Capped devices (the paper's regime of an SSD slower than the CPU's fault path; see
# docs/devices.md): the Fig. 1 device is capped at half of mmap:advice=random's random-
# read rate before the page cache fills on the uncapped zram device (its fault-bound
# ceiling here, taken from that run's time series by scripts/paper-phases.py), so that
# the device, not mmap's fault path, is the limit while the cache fills. Fig. 1 then
# runs on the capped device in both reclaim regimes (`--reclaim cgroup`: the faulting
# threads evict in a memory cgroup; `--reclaim global`: kswapd evicts machine-wide under
# a huge-page reservation). Fig. 2 runs on 1 and on 4 devices each capped at half of
# mmap:advice=sequential's scan rate on the uncapped zram device (striped, see
# docs/devices.md), so one device is slower than mmap's scan and four are faster. Without
# an uncapped zram run to read, a 10 s probe of the same cell (that backend only) gives
# the rate. The chosen caps and where they came from go into caps.txt in the output
# directory, and the throughput before and after the page cache fills, per cell, into
# phases.md (scripts/paper-phases.py).
# FAULTLINE_BIN=PATH runs that faultline binary instead of building one.
# Needs root for the memory cgroup, the zram devices, the caps and the reservation.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1; duration=60s; interval=1s; quick=0; zram=1; capped=1; cap=""; cap2=""; out=""; extra=(); base=1; pages_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; scale=0.25; duration=8s; interval=250ms ;;
    --scale) scale=$2; shift ;;
    --duration) duration=$2; shift ;;
    --out) out=$2; shift ;;
    --no-zram) zram=0 ;;
    --no-capped) capped=0 ;;
    --cap) cap=$2; shift ;;
    --fig2-cap) cap2=$2; shift ;;
    --capped-only) base=0 ;;
    --pages-only) pages_only=1 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n 2,44p "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
devices=(disk zram zram-capped-cgroup zram-capped-global zram-capped-x1 zram-capped-x4)
# reports MODE: for each device, the report of its result directories (in $dirs):
# MODE all = markdown and HTML page, pages = the HTML page only, where none exists yet.
# One report per device: the same workload on disk and on zram must not be pooled.
reports() {
  for dev in "${devices[@]}"; do
    sel=(); for d in "${dirs[@]}"; do [[ $d == *-$dev ]] && sel+=("$d"); done
    [ ${#sel[@]} -gt 0 ] || continue
    if [ "$1" = all ] && [ ! -e "$out/report-$dev.md" ]; then
      "$bin" report "${sel[@]}" --out "$out/report-$dev.md"
    elif [ "$1" = all ]; then
      echo "kept $out/report-$dev.md (exists: an earlier pass into this directory)"
    fi
    if [ -e "$out/html-$dev/index.html" ]; then
      echo "kept $out/html-$dev/index.html (exists)"
    else
      "$bin" report "${sel[@]}" --html "$out/html-$dev"
    fi
  done
}
if [ -n "${FAULTLINE_BIN:-}" ]; then
  bin=$FAULTLINE_BIN   # a binary built beforehand (no cargo: nothing waits on its locks)
else
  bin=target/release/faultline
fi
if [ "$pages_only" = 1 ]; then
  [ -n "$out" ] || { echo "error: --pages-only needs --out DIR (an earlier run's output directory)" >&2; exit 1; }
  [ -d "$out" ] || { echo "error: --out $out: no such directory" >&2; exit 1; }
  [ -n "${FAULTLINE_BIN:-}" ] || cargo build --release --quiet
  dirs=(); for d in "$out"/paper-*; do [ -f "$d/run.json" ] && dirs+=("$d"); done
  [ ${#dirs[@]} -gt 0 ] || { echo "error: $out holds no paper-*/run.json" >&2; exit 1; }
  reports pages
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: the page-cache limit (memory cgroup) and zram need root; run as root" >&2
  exit 1
fi
mib() { python3 -c "import sys; print(int(float(sys.argv[1]) * float(sys.argv[2])))" "$1" "$2"; }
size_mib=$(mib "$scale" 4096)
limit_mib=$(mib "$scale" 1024)
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
out=${out:-results/paper/$stamp}
mkdir -p "$out"

[ -n "${FAULTLINE_BIN:-}" ] || cargo build --release --quiet
echo "faultline paper reproduction: file ${size_mib} MiB, page-cache limit ${limit_mib} MiB, ${duration} per backend -> $out"

dirs=()
for fig in paper-fig1-random-read paper-fig2-seq-scan; do
  for dev in disk zram; do
    if [ "$base" = 0 ]; then
      # --capped-only: keep an earlier uncapped result of this directory in the reports.
      [ -f "$out/$fig-$dev/run.json" ] && dirs+=("$out/$fig-$dev")
      continue
    fi
    [ "$dev" = zram ] && [ "$zram" = 0 ] && continue
    devflag=(); [ "$dev" = zram ] && devflag=(--device "zram:${size_mib}MiB")
    d="$out/$fig-$dev"
    echo
    echo "== $fig on $dev"
    "$bin" run "workloads/$fig.toml" --size "${size_mib}MiB" --page-cache-limit "${limit_mib}MiB" \
      --duration "$duration" --interval "$interval" "${devflag[@]}" --plot --out "$d" "${extra[@]}" \
      || echo "note: $fig on $dev exited non-zero; its result (if any) is in $d"
    [ -f "$d/run.json" ] && dirs+=("$d")
  done
done

# Rates of one backend of a run.json: its mean ops/s before the page cache filled
# (scripts/paper-phases.py's rule), and its bytes/s over the run.
prefill() { python3 - "$1" "$2" <<'PY'
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("phases", "scripts/paper-phases.py")
ph = importlib.util.module_from_spec(spec); spec.loader.exec_module(ph)
for b in json.load(open(sys.argv[1] + "/run.json"))["backends"]:
    if b["name"] == sys.argv[2]:
        if b["status"] != "ok":
            sys.exit(f"{sys.argv[2]} did not run: {b.get('reason')}")
        p = ph.phases(b)
        if not p or not p["before"]:
            sys.exit(f"{sys.argv[2]} in {sys.argv[1]} has no interval before the page cache filled")
        print(int(p["before"]))
        sys.exit(0)
sys.exit(f"no backend {sys.argv[2]} in {sys.argv[1]}")
PY
}
mbps() { python3 -c 'import json,sys
for b in json.load(open(sys.argv[1]+"/run.json"))["backends"]:
    if b["name"] == sys.argv[2]:
        print(int(b["bytes_per_sec"]) if b["status"] == "ok" else sys.exit("did not run: " + str(b.get("reason")))); sys.exit(0)
sys.exit("no backend " + sys.argv[2])' "$1" "$2"; }
if [ "$zram" = 1 ] && [ "$capped" = 1 ]; then
  if [ -z "$cap" ]; then
    src="$out/paper-fig1-random-read-zram"
    if [ ! -f "$src/run.json" ]; then
      src="$out/probe-fig1"
      echo; echo "== probe: mmap:advice=random on uncapped zram (10 s, the Fig. 1 cell)"
      "$bin" run workloads/paper-fig1-random-read.toml --size "${size_mib}MiB" --page-cache-limit "${limit_mib}MiB" \
        --device "zram:${size_mib}MiB" --backend mmap:advice=random --duration 10s --interval "$interval" \
        --out "$src" --quiet "${extra[@]}"
    fi
    r=$(prefill "$src" mmap:advice=random)
    cap=$(( r / 2 / 1000 * 1000 )); [ "$cap" -lt 1000 ] && cap=1000
    echo "fig1: mmap:advice=random ${r} reads/s before the page cache filled on uncapped zram ($src) -> cap ${cap} IOPS" | tee -a "$out/caps.txt"
  else
    echo "fig1 cap given: ${cap} IOPS" | tee -a "$out/caps.txt"
  fi
  for regime in cgroup global; do
    d="$out/paper-fig1-random-read-zram-capped-$regime"
    echo; echo "== paper-fig1-random-read on zram capped at ${cap} IOPS, reclaim=$regime"
    "$bin" run workloads/paper-fig1-random-read.toml --size "${size_mib}MiB" --page-cache-limit "${limit_mib}MiB" \
      --duration "$duration" --interval "$interval" --device "zram:${size_mib}MiB,read_iops=${cap}" \
      --reclaim "$regime" --plot --out "$d" "${extra[@]}" \
      || echo "note: the capped Fig. 1 run ($regime) exited non-zero; its result (if any) is in $d"
    [ -f "$d/run.json" ] && dirs+=("$d")
  done
  if [ -z "$cap2" ]; then
    src="$out/paper-fig2-seq-scan-zram"
    if [ ! -f "$src/run.json" ]; then
      src="$out/probe-fig2"
      echo; echo "== probe: mmap:advice=sequential scan on uncapped zram (10 s, the Fig. 2 cell)"
      "$bin" run workloads/paper-fig2-seq-scan.toml --size "${size_mib}MiB" --page-cache-limit "${limit_mib}MiB" \
        --device "zram:${size_mib}MiB" --backend mmap:advice=sequential --duration 10s --interval "$interval" \
        --out "$src" --quiet "${extra[@]}"
    fi
    b=$(mbps "$src" mmap:advice=sequential)
    cap2=$(( b / 2 / 1048576 ))MiB
    echo "fig2: mmap:advice=sequential $(( b / 1048576 )) MiB/s on uncapped zram ($src) -> cap ${cap2}/s per device" | tee -a "$out/caps.txt"
  else
    echo "fig2 cap given: ${cap2}/s per device" | tee -a "$out/caps.txt"
  fi
  per_dev=$(( size_mib / 4 ))
  for n in 1 4; do
    d="$out/paper-fig2-seq-scan-zram-capped-x$n"
    if [ "$n" = 1 ]; then dev="zram:${size_mib}MiB,read_bps=${cap2}"; else dev="zram:${per_dev}MiB,count=4,read_bps=${cap2}"; fi
    echo; echo "== paper-fig2-seq-scan on $n zram device(s), each capped at ${cap2}/s"
    "$bin" run workloads/paper-fig2-seq-scan.toml --size "${size_mib}MiB" --page-cache-limit "${limit_mib}MiB" \
      --duration "$duration" --interval "$interval" --device "$dev" \
      --backend direct --backend uring:qd=8,direct --backend fio:engine=libaio,qd=32,direct \
      --backend mmap --backend mmap:advice=sequential --backend mmap:advice=random \
      --plot --out "$d" "${extra[@]}" \
      || echo "note: the capped Fig. 2 run on $n device(s) exited non-zero; its result (if any) is in $d"
    [ -f "$d/run.json" ] && dirs+=("$d")
  done
fi

reports all
# Before/after-fill phases of every cell (scripts/paper-phases.py: computed from run.json).
[ ${#dirs[@]} -gt 0 ] && python3 scripts/paper-phases.py "${dirs[@]}" > "$out/phases.md" \
  && echo "phases: $out/phases.md"
echo
echo "results: ${dirs[*]}"
