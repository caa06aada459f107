#!/usr/bin/env bash
# Benchmark regression check for CI: build a baseline (a git ref) and the candidate (this
# working tree), run the same workload with each, interleaved over several rounds so that
# drift of a shared machine (other jobs, thermal, page cache) hits both alike, then
# `faultline compare` the pooled rounds and optionally export them for a tracking service.
#
#   scripts/ci-bench.sh [options] [-- extra `faultline run` flags]
#
# Options:
#   --baseline REF      git ref of the baseline (default origin/main, else HEAD~1)
#   --rounds N          runs per side (default 3); the order alternates B N, N B, B N ...
#   --workload FILE     workload file (default workloads/quick.toml); both builds read it
#   --threshold PCT     regression threshold in percent (default 5)
#   --metrics LIST      metrics to check (default all; see `faultline compare --help`)
#   --export FORMAT     github or bencher: also write the candidate's figures to WORK/bench*.json
#   --work DIR          where results go (default target/ci-bench/run-<UTC time>; must not exist)
#
# The baseline is checked out with `git worktree` into target/ci-bench/baseline-src and
# built into its own target directory, target/ci-bench/target-baseline (kept, so later
# runs build incrementally); the candidate builds into the usual target/. The script
# exits with `faultline compare`'s status: 0 no regression, 1 a regression (or an error).
#
# Example (a short check, about 10 s of measuring after the builds):
#   scripts/ci-bench.sh --baseline HEAD~1 --rounds 2 -- --duration 500ms --warmup 100ms
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

baseline=""
rounds=3
workload=workloads/quick.toml
threshold=5
metrics=""
export_fmt=""
work=""
run_flags=()
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
need() { [ $# -ge 2 ] || { echo "ci-bench: $1 needs a value (see --help)" >&2; exit 1; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --baseline) need "$@"; baseline=$2; shift 2 ;;
    --rounds) need "$@"; rounds=$2; shift 2 ;;
    --workload) need "$@"; workload=$2; shift 2 ;;
    --threshold) need "$@"; threshold=$2; shift 2 ;;
    --metrics) need "$@"; metrics=$2; shift 2 ;;
    --export) need "$@"; export_fmt=$2; shift 2 ;;
    --work) need "$@"; work=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; run_flags=("$@"); break ;;
    *) echo "ci-bench: unknown argument \`$1\` (see --help)" >&2; exit 1 ;;
  esac
done
case "$rounds" in
  '' | *[!0-9]* | 0) echo "ci-bench: --rounds wants a whole number of at least 1, not \`$rounds\`" >&2; exit 1 ;;
esac
case "$export_fmt" in
  '' | github | bencher) ;;
  *) echo "ci-bench: --export wants github or bencher, not \`$export_fmt\`" >&2; exit 1 ;;
esac
[ -f "$workload" ] || { echo "ci-bench: no workload file $workload (see --workload)" >&2; exit 1; }

if [ -z "$baseline" ]; then
  if git rev-parse --verify -q 'origin/main^{commit}' >/dev/null; then
    baseline=origin/main
  else
    baseline=HEAD~1
  fi
fi
base_commit=$(git rev-parse --verify -q "$baseline^{commit}") || {
  echo "ci-bench: \`$baseline\` is not a commit here; give one with --baseline (a branch, tag or hash)" >&2
  exit 1
}

state=$root/target/ci-bench
[ -n "$work" ] || work=$state/run-$(date -u +%Y-%m-%dT%H%M%SZ)
if [ -e "$work" ]; then
  echo "ci-bench: $work already exists; results are never overwritten, give another --work" >&2
  exit 1
fi
mkdir -p "$work/bin" "$state"
work=$(cd "$work" && pwd)

# --- builds --------------------------------------------------------------------------
base_src=$state/baseline-src
cleanup() {
  git -C "$root" worktree remove --force "$base_src" >/dev/null 2>&1 || true
  git -C "$root" worktree prune >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup # a worktree left by an interrupted earlier run
echo "ci-bench: baseline $baseline ($(git rev-parse --short "$base_commit")), candidate = working tree"
git worktree add --detach --force "$base_src" "$base_commit" >/dev/null
echo "ci-bench: building the baseline into target/ci-bench/target-baseline"
cargo build --release --quiet --manifest-path "$base_src/Cargo.toml" \
  --target-dir "$state/target-baseline"
cp "$state/target-baseline/release/faultline" "$work/bin/faultline-baseline"
echo "ci-bench: building the candidate into target/"
cargo build --release --quiet
cp "$root/target/release/faultline" "$work/bin/faultline-candidate"

# --- interleaved rounds --------------------------------------------------------------
run_side() { # side round
  local side=$1 r=$2
  echo "ci-bench: round $r/$rounds: $side"
  "$work/bin/faultline-$side" run "$workload" --quiet \
    --data-dir "$state/data-$side" \
    --out "$work/results/$side/round-$r" \
    ${run_flags[@]+"${run_flags[@]}"} >"$work/results/$side/round-$r.txt"
}
mkdir -p "$work/results/baseline" "$work/results/candidate"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then
    run_side baseline "$r"
    run_side candidate "$r"
  else
    run_side candidate "$r"
    run_side baseline "$r"
  fi
done

# --- compare, report, export ---------------------------------------------------------
cmp_args=(compare "$work/results/baseline" "$work/results/candidate" --threshold "$threshold")
[ -z "$metrics" ] || cmp_args+=(--metrics "$metrics")
[ -z "$export_fmt" ] || cmp_args+=(--export "$export_fmt" --export-out "$work/bench.json")
for side in baseline candidate; do
  "$work/bin/faultline-candidate" report "$work/results/$side" --out "$work/report-$side.md" 2>/dev/null
done
set +e
"$work/bin/faultline-candidate" "${cmp_args[@]}" | tee "$work/compare.txt"
status=${PIPESTATUS[0]}
set -e
echo "ci-bench: results, reports and the comparison are in $work"
exit "$status"
