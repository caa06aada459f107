#!/usr/bin/env bash
# Claim: "reading a truncated mapping raises SIGBUS and kills an unprepared program".
# Creates a scratch file, starts `faultline run` on it (--file, read-only) with an mmap
# backend then pread, truncates the file from this script while the mapping is being
# read, and shows what the harness reports: the mmap backend fails with SIGBUS (caught
# by the harness, which goes on), pread gets short reads. Also shows what happens to a
# program that does not handle SIGBUS (python3 reading the same kind of mapping).
#
#   scripts/claim-truncation.sh [size (default 256MiB)]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-256MiB}
cargo build --release --quiet
bin=target/release/faultline
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
f=$dir/victim.bin
head -c "$(python3 -c "import sys; u={'KiB':1<<10,'MiB':1<<20,'GiB':1<<30}; s=sys.argv[1]; print(int(s[:-3])*u[s[-3:]])" "$size")" /dev/urandom > "$f"
out=$dir/result
"$bin" run workloads/quick.toml --file "$f" --backend mmap:advice=random --backend pread \
  --duration 3s --warmup 0s --interval 250ms --out "$out" --quiet > "$dir/stdout" 2> "$dir/stderr" &
pid=$!
sleep 1
truncate -s 4096 "$f"
echo "truncated $f to 4 KiB while faultline (pid $pid) was reading it"
set +e; wait $pid; rc=$?; set -e
echo "faultline exit code: $rc"
python3 - "$out/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for b in r["backends"]:
    print(f"  {b['name']:<22} status={b['status']:<7} ops before the failure={b['ops']:<9} reason: {b['reason']}")
PY
echo "result kept at: $out (copied to results/claims/truncation/ if you pass KEEP=1)"
if [ "${KEEP:-0}" = 1 ]; then
  dest=results/claims/truncation/$(date -u +%Y-%m-%dT%H%M%SZ)-$(hostname)
  mkdir -p "$(dirname "$dest")" && cp -r "$out" "$dest" && echo "copied to $dest"
fi
# An unprepared program: python's mmap raises nothing for SIGBUS; the process dies.
head -c 1048576 /dev/urandom > "$dir/p.bin"
set +e
python3 - "$dir/p.bin" <<'PY'
import mmap, os, sys
f = open(sys.argv[1], "rb"); m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
os.truncate(sys.argv[1], 4096)
print(m[512 * 1024])
PY
rc=$?
set -e
echo "an unprepared program (python3 reading past the new end of a mapped file): exit code $rc ($( [ $rc -eq 135 ] && echo 'killed by SIGBUS' || echo 'see above'))"
