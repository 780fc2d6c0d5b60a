#!/usr/bin/env bash
# Runs the benchmarks one after the other and keeps their output in bench/results/
# (ignored by git). Pass-through environment: see each script's header and lib.sh.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$here/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
bash "$here/setup.sh" || exit 1
rc=0
for b in serving probe-cost scheduler-scale alerts-cost summary pages; do
    echo "=== $b ===" >&2
    bash "$here/$b.sh" 2>&1 | tee "$out/$b.txt"
    [[ ${PIPESTATUS[0]} == 0 ]] || { echo "$b FAILED" >&2; rc=1; }
done
# The in-process measurements (release builds of benches/).
for b in ingest engine; do
    echo "=== $b ===" >&2
    (cd "$here/.." && cargo bench --quiet --bench "$b") 2>&1 | tee "$out/$b.txt"
    [[ ${PIPESTATUS[0]} == 0 ]] || { echo "$b FAILED" >&2; rc=1; }
done
echo "output kept in $out" >&2
exit $rc
