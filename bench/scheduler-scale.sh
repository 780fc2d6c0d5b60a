#!/usr/bin/env bash
# Scheduler scale: 2,000 checks every 2 s (1,000 probes/s) against a local nginx for 60 s.
# Reports the schedule lag p99 (healthmon_schedule_lag_seconds, over the measured window),
# whether any result was lost, and the daemon's CPU% and RSS.
# Targets: lag p99 < 250 ms, no result lost (missed runs 0, produced == expected over the
# window, every check's results spaced one interval apart, stored == produced at stop).
#
# Counting "no result lost": after the warm-up (every check has had its first-second run
# and is on its 2 s grid) /metrics is scraped at t0 and t1. Each check has one planned slot
# per interval, so the window should hold CHECKS x (t1-t0)/interval results; the deviation
# can only come from probes whose slot lies within a few ms of t0 or t1 (the scrape instants
# are not synchronised with the grid), so |produced - expected| should be a few at most.
# The exact test is done on the stored log afterwards: for every check, consecutive
# health_log rows inside the window must be one interval apart; a gap of k intervals means
# k-1 lost runs.
#
# Environment: SCALE_CHECKS (default 2000), SCALE_INTERVAL (seconds, default 2),
# SCALE_DURATION (measured seconds, default 60), SCALE_WARMUP (default 10),
# SCALE_KIND (http or tcp, default http); plus those in lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl nginx python3

NCHECKS=${SCALE_CHECKS:-2000}
IVAL=${SCALE_INTERVAL:-2}
DURATION=${SCALE_DURATION:-60}
WARMUP=${SCALE_WARMUP:-10}
KIND=${SCALE_KIND:-http}

resolve_binary
start_nginx "$BENCH_TMP/nginx" off

DB=$BENCH_TMP/healthmon.db
CONF=$BENCH_TMP/monitor.toml
write_hm_header "$CONF" "$DB"
for ((i = 1; i <= NCHECKS; i++)); do
    if [[ $KIND == tcp ]]; then url="tcp://127.0.0.1:$NGINX_PORT"; else url="http://127.0.0.1:$NGINX_PORT/s/$i"; fi
    cat >>"$CONF" <<EOF2
[[check]]
name = "c-$i"
kind = "$KIND"
url = "$url"
interval = "${IVAL}s"
timeout = "2s"

EOF2
done

wait_quiet
start_healthmon "$CONF" "$BENCH_TMP/healthmon.log"
rss_sampler "$HM_PID" "$BENCH_TMP/hm.rssmax"
log "warm-up ${WARMUP}s"
nap "$WARMUP"

busy_watch_start
mj0=$(machine_jiffies)
t0=$(now_ms)
ticks0=$(cpu_ticks "$HM_PID")
thread_ticks "$HM_PID" "$BENCH_TMP/threads0"
s0a=$(now_ms); scrape "$BENCH_TMP/m0.txt"; s0b=$(now_ms)
load0=$(machine_load)
log "measuring ${DURATION}s (load $load0)"
nap "$DURATION"
ticks1=$(cpu_ticks "$HM_PID")
thread_ticks "$HM_PID" "$BENCH_TMP/threads1"
t1=$(now_ms)
s1a=$(now_ms); scrape "$BENCH_TMP/m1.txt"; s1b=$(now_ms)
mj1=$(machine_jiffies)
busy=$(busy_watch_stop)
load1=$(machine_load)
rss_end=$(rss_kb "$HM_PID")
hwm=$(hwm_kb "$HM_PID")
stop_healthmon "$BENCH_TMP/healthmon.log"

rss_max=$(cat "$BENCH_TMP/hm.rssmax")
win_s=$(calc "($t1 - $t0) / 1000")
m0=$BENCH_TMP/m0.txt m1=$BENCH_TMP/m1.txt
produced=$(($(msum "$m1" healthmon_results_produced_total) - $(msum "$m0" healthmon_results_produced_total)))
# The counters are read at some instant inside each scrape: take the scrapes' midpoints, and
# allow for the probes that fall due during half of each scrape.
scr_s=$(calc "(($s1a + $s1b) - ($s0a + $s0b)) / 2000")
expected=$(calc "round($NCHECKS * $scr_s / $IVAL)")
tolerance=$(calc "round($NCHECKS / $IVAL * (($s0b - $s0a) + ($s1b - $s1a)) / 2000) + 5")
missed=$(msum "$m1" healthmon_check_missed_runs_total)
skipped=$(msum "$m1" healthmon_check_skipped_total)
unhealthy=$(msum "$m1" healthmon_check_runs_total status=unhealthy)
store_errors=$(msum "$m1" healthmon_store_errors_total)
read -r lag_n _ lag_le lag_interp <<<"$($PROMSTAT hist "$m1" "$m0" healthmon_schedule_lag_seconds 0.99 | tr '=' ' ' | awk '{print $2, $3, $6, $8}')"
read -r _ _ lag50_le lag50_interp <<<"$($PROMSTAT hist "$m1" "$m0" healthmon_schedule_lag_seconds 0.50 | tr '=' ' ' | awk '{print $2, $3, $6, $8}')"
read -r _ _ lagall_le lagall_interp <<<"$($PROMSTAT hist "$m1" healthmon_schedule_lag_seconds 0.99 | tr '=' ' ' | awk '{print $2, $3, $6, $8}')"
lag_max_bucket=$($PROMSTAT buckets "$m1" "$m0" healthmon_schedule_lag_seconds | awk -F'[= ]' -v n="$lag_n" '$4 >= n && !f {b=$2; f=1} END {print b}')
cpu_pct=$(calc "round(($ticks1 - $ticks0) * 100 / $CLK_TCK / $win_s, 1)")

# Gaps in the stored log, per check, inside [t0, t1].
read -r rows_final lost min_per_check max_per_check max_gap <<<"$(python3 - "$DB" "$t0" "$t1" "$IVAL" <<'PY'
import sqlite3, sys
db, t0, t1, ival = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) * 1000
c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
rows = c.execute("select count(*) from health_log").fetchone()[0]
lost, counts, prev, max_gap = 0, {}, {}, 0
for cid, ts in c.execute("select check_id, ts_ms from health_log where ts_ms >= ? and ts_ms < ? order by check_id, ts_ms", (t0 - ival, t1 + ival)):
    if t0 <= ts < t1:
        counts[cid] = counts.get(cid, 0) + 1
    p = prev.get(cid)
    if p is not None and ts > t0 and p < t1:
        gap = ts - p
        max_gap = max(max_gap, gap)
        if gap > 1.5 * ival:
            lost += round(gap / ival) - 1
    prev[cid] = ts
n = c.execute("select count(*) from checks").fetchone()[0]
vals = list(counts.values()) + [0] * (n - len(counts))
print(rows, lost, min(vals), max(vals), max_gap)
PY
)"

cat <<EOF2

=== scheduler scale: $NCHECKS $KIND checks every ${IVAL}s ($(calc "$NCHECKS // $IVAL") probes/s), ${win_s}s window after ${WARMUP}s warm-up ===
$(bench_header)
load at start/end of window: $load0 / $load1   $(machine_line "$mj0" "$mj1")   rustc running: $busy s
schedule lag over the window ($lag_n probes): p50 <= ${lag50_le}s (interp ${lag50_interp}s), p99 <= ${lag_le}s (interp ${lag_interp}s), highest non-empty bucket le=${lag_max_bucket:-?}
schedule lag over the whole run incl. start-up: p99 <= ${lagall_le}s (interp ${lagall_interp}s)
results between the scrapes: produced $produced, expected $expected (= $NCHECKS x ${scr_s}s / ${IVAL}s), diff $((produced - expected)), allowed +-$tolerance (scrapes took $((s0b - s0a)) and $((s1b - s1a)) ms)
stored log in window: per-check results min $min_per_check max $max_per_check (expected ~$(calc "round($win_s / $IVAL, 1)")), largest gap ${max_gap} ms, runs lost by gaps: $lost
missed runs (counter): $missed   skipped (breaker): $skipped   unhealthy results: $unhealthy   store errors: $store_errors
at stop: produced $STOP_PRODUCED, stored $STOP_STORED, dropped $STOP_DROPPED, health_log rows $rows_final; exit $HM_EXIT
daemon CPU: $cpu_pct% of one core (window) = $(calc "round(($ticks1 - $ticks0) * 1000 / $CLK_TCK * 1000 / $produced, 1)") CPU-ms per 1,000 probes; by thread: $(thread_breakdown "$BENCH_TMP/threads0" "$BENCH_TMP/threads1")
daemon RSS: end $(calc "round($rss_end / 1024, 1)") MB, max sampled $(calc "round($rss_max / 1024, 1)") MB, VmHWM $(calc "round($hwm / 1024, 1)") MB
$(show_warnings "$BENCH_TMP/healthmon.log")

lag p99 < 250 ms            : $(verdict "$lag_le <= 0.25")  (p99 in bucket le=$lag_le, interpolated ${lag_interp}s)
no result lost (window)     : $(verdict "$missed == 0 and $lost == 0 and abs($produced - $expected) <= $tolerance and $min_per_check >= int($win_s / $IVAL) - 1")
stored == produced at stop  : $(verdict "$STOP_PRODUCED == $STOP_STORED == $rows_final and $STOP_DROPPED == 0")
EOF2
[[ $HM_EXIT == 0 ]] || die "healthmon exited $HM_EXIT on SIGTERM"
((produced > 0)) || die "no probes in the window"
