#!/usr/bin/env bash
# Alerts cost: probe-cost.sh's healthmon alone (PROBE_CHECKS checks every 1 s, default 500),
# run ALERTS_ROUNDS times (default 2) each way, alternating: without alerting, and with a
# webhook notifier, one threshold rule and one SLO per check (PROBE_ALERTS=1: 500 rules and
# 500 SLOs at 500 checks). CPU per 1,000 probes of each (median), and the ratio.
# Target (the alerts issue): with alerts within 10 % of without, in the same run.
# Environment: ALERTS_ROUNDS, PROBE_CHECKS, PROBE_DURATION (default here 60), PROBE_WARMUP.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROUNDS=${ALERTS_ROUNDS:-2}
export PROBE_CHECKS=${PROBE_CHECKS:-500} PROBE_DURATION=${PROBE_DURATION:-60} PROBE_MONIT=0 PEER_VIGIL=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -a without with
for ((r = 1; r <= ROUNDS; r++)); do
    for mode in 0 1; do
        PROBE_ALERTS=$mode bash "$here/probe-cost.sh" >"$out/run-$r-$mode.txt" 2>"$out/run-$r-$mode.err" ||
            { cat "$out/run-$r-$mode.err" >&2; echo "probe-cost.sh failed (alerts=$mode)" >&2; exit 1; }
        per_k=$(grep -m1 'CPU-ms per 1,000 probes' "$out/run-$r-$mode.txt" | sed 's/.*=> \([0-9.]*\) CPU-ms.*/\1/')
        rss=$(grep -m1 '  RSS: end' "$out/run-$r-$mode.txt" | sed 's/.*VmHWM \([0-9.]*\) MB.*/\1/')
        stored=$(grep -m1 'every result stored' "$out/run-$r-$mode.txt" | grep -o 'PASS\|MISS')
        echo "round $r, alerts=$mode: $per_k CPU-ms per 1,000 probes, VmHWM $rss MB, every result stored: $stored" >&2
        if ((mode)); then grep -m1 'alerting:' "$out/run-$r-$mode.txt" | sed 's/^ */    /' >&2 || true; fi
        if ((mode)); then with+=("$per_k"); else without+=("$per_k"); fi
    done
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
a=$(med "${without[@]}")
b=$(med "${with[@]}")
ratio=$(python3 -c "print(round($b / $a, 3))")
echo
echo "=== alerts cost: $PROBE_CHECKS HTTP checks every 1 s, ${PROBE_DURATION}s windows, $ROUNDS rounds each way, alternating ==="
echo "date: $(date -u +%FT%TZ)   host: $(nproc) cores   healthmon: $(git -C "$here/.." rev-parse --short HEAD)"
echo "without alerting: ${without[*]} CPU-ms per 1,000 probes (median $a)"
echo "with $PROBE_CHECKS rules, $PROBE_CHECKS SLOs, a webhook: ${with[*]} (median $b)"
verdict=$(python3 -c "print('PASS' if $ratio <= 1.10 else 'MISS')")
echo "with / without alerts <= 1.10 (CPU per probe) : $verdict  (${ratio}x)"
