#!/usr/bin/env bash
# Reproduce the CIDR 2022 mmap paper's two experiments on this machine: Figure 1
# (random reads) and Figure 2 (sequential scan), each on the real disk and on an
# emulated fast device (zram), with the file 4x a memory-cgroup page-cache limit.
# Draws the charts (throughput over time with the eviction phases; shootdowns and
# major faults over time; read amplification; latency) and writes a markdown report.
#
#   scripts/reproduce-paper.sh [--quick] [--scale S] [--duration D] [--out DIR] [-- extra run flags]
#
#   --quick       file 1 GiB, limit 256 MiB, 8 s per backend, 250 ms intervals: under 5 minutes here
#   --scale S     multiply the default sizes (file 4 GiB, limit 1 GiB) by S (e.g. 0.5, 2)
#   --duration D  measured time per backend (default 60s; --quick 8s)
#   --out DIR     where the result directories go (default results/paper/<UTC time>)
#   --no-zram     skip the emulated-device runs (e.g. without root)
# Needs root for the memory cgroup and the zram device.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1; duration=60s; interval=1s; quick=0; zram=1; out=""; extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; scale=0.25; duration=8s; interval=250ms ;;
    --scale) scale=$2; shift ;;
    --duration) duration=$2; shift ;;
    --out) out=$2; shift ;;
    --no-zram) zram=0 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
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

cargo build --release --quiet
bin=target/release/faultline
echo "faultline paper reproduction: file ${size_mib} MiB, page-cache limit ${limit_mib} MiB, ${duration} per backend -> $out"

dirs=()
for fig in paper-fig1-random-read paper-fig2-seq-scan; do
  for dev in disk zram; do
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

if "$bin" report --help >/dev/null 2>&1; then
  # One report per device: the same workload on disk and on zram must not be pooled.
  for dev in disk zram; do
    sel=(); for d in "${dirs[@]}"; do [[ $d == *-$dev ]] && sel+=("$d"); done
    [ ${#sel[@]} -gt 0 ] && "$bin" report "${sel[@]}" --out "$out/report-$dev.md"
  done
fi
echo
echo "results: ${dirs[*]}"
