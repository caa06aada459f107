#!/usr/bin/env bash
# One-thread random 4 KiB reads from a cold 1 GiB file, 10 s per backend: the spine's
# reference measurement. Prints the summary table; the result directory is kept under
# results/random-read/.
#
#   scripts/random-read-1g.sh [extra faultline run flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec target/release/faultline run workloads/random-read.toml \
  --size 1GiB --threads 1 --duration 10s --start cold "$@"
