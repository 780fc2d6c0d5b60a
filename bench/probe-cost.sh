#!/usr/bin/env bash
# Probe cost: 200 HTTP checks every 1 s against one local nginx, healthmon and monit side by
# side in the same run. For each: CPU per 1,000 probes (utime+stime from /proc/PID/stat over
# the measured window, storage included for healthmon since it is in-process) and RSS.
# healthmon's probes = delta of healthmon_results_produced_total (cross-checked against
# results_stored, rows in health_log and nginx's access log); monit's = requests in nginx's
# access log with a "Monit/" User-Agent (healthmon's is "healthmon/0.1.0").
# Targets: <= 30 CPU-ms per 1,000 probes, RSS < 25 MB, every result stored. The issue sets
# them on a machine where monit spends 30 CPU-ms per 1,000 probes and Vigil 33 (at 19 MB);
# the same targets relative to the peers in this run are <= 1.0x monit and <= 0.91x Vigil.
# Vigil (vigil-server, poll_interval 1 s, one poll node per target, UA "vigil (+") runs when
# installed (bash bench/setup.sh --with-vigil); PEER_VIGIL=0 leaves it out.
#
# Environment: PROBE_DURATION (measured seconds, default 120), PROBE_WARMUP (default 15),
# PROBE_CHECKS (default 200), PROBE_MONIT=0 to run healthmon alone, PROBE_ALERTS=1 to add a
# rule and an SLO per check and a notifier (see alerts-cost.sh); plus those in lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl nginx python3

DURATION=${PROBE_DURATION:-120}
WARMUP=${PROBE_WARMUP:-15}
NCHECKS=${PROBE_CHECKS:-200}
WITH_MONIT=${PROBE_MONIT:-1}
[[ $WITH_MONIT == 1 ]] && need monit

resolve_binary
resolve_vigil
start_nginx "$BENCH_TMP/nginx" on
ACCESS=$NGINX_DIR/access.log

# --- healthmon config
DB=$BENCH_TMP/healthmon.db
CONF=$BENCH_TMP/monitor.toml
write_hm_header "$CONF" "$DB"
for ((i = 1; i <= NCHECKS; i++)); do
    cat >>"$CONF" <<EOF2
[[check]]
name = "web-$i"
kind = "http"
url = "http://127.0.0.1:$NGINX_PORT/hm/$i"
interval = "1s"
timeout = "1s"

EOF2
done

# --- with PROBE_ALERTS=1: the alert engine at work on every result: a webhook notifier (to
# the same nginx), one threshold rule per check (response time, or error rate over 5 m, with a
# hold) and one SLO per check; nothing fires, as in a healthy production.
if [[ ${PROBE_ALERTS:-0} == 1 ]]; then
    cat >>"$CONF" <<EOF2
[alerting]
group_wait = "30s"

[[notifier]]
name = "hooks"
kind = "webhook"
url = "http://127.0.0.1:$NGINX_PORT/hook"

EOF2
    for ((i = 1; i <= NCHECKS; i++)); do
        if ((i % 2)); then rule='metric = "response_time_ms"\nwarn = 500\ncrit = 1000'; else rule='metric = "error_rate"\nwindow = "5m"\nwarn = 5\ncrit = 20'; fi
        printf '[[alert]]\nname = "rule-%s"\ncheck = "web-%s"\n%b\nfor = "1m"\n\n[[slo]]\ncheck = "web-%s"\nobjective = 99.9\nwindow = "30d"\n\n' \
            "$i" "$i" "$rule" "$i" >>"$CONF"
    done
fi

# --- monit config: one `check host` per target, one HTTP request each per 1 s cycle
if [[ $WITH_MONIT == 1 ]]; then
    MDIR=$BENCH_TMP/monit
    mkdir -p "$MDIR"
    MRC=$MDIR/monitrc
    {
        echo "set daemon 1"
        echo "set logfile $MDIR/monit.log"
        echo "set pidfile $MDIR/monit.pid"
        echo "set idfile $MDIR/monit.id"
        echo "set statefile $MDIR/monit.state"
        for ((i = 1; i <= NCHECKS; i++)); do
            echo "check host t$i with address 127.0.0.1"
            echo "    if failed port $NGINX_PORT protocol http request \"/monit/$i\" with timeout 1 seconds then alert"
        done
    } >"$MRC"
    chmod 600 "$MRC"
    monit -t -c "$MRC" >"$MDIR/syntax.txt" 2>&1 || die "monit config test failed: $(cat "$MDIR/syntax.txt")"
fi

if [[ -n $VIGIL ]]; then
    VPORT=$(free_port)
    vurls=()
    for ((i = 1; i <= NCHECKS; i++)); do vurls+=("http://127.0.0.1:$NGINX_PORT/vigil/$i"); done
    write_vigil_config "$BENCH_TMP/vigil.cfg" "$VPORT" 1 "${vurls[@]}"
fi

wait_quiet
start_healthmon "$CONF" "$BENCH_TMP/healthmon.log"
rss_sampler "$HM_PID" "$BENCH_TMP/hm.rssmax"
if [[ $WITH_MONIT == 1 ]]; then
    monit -I -c "$MRC" >"$MDIR/stdout.txt" 2>&1 &
    MONIT_PID=$!
    track "$MONIT_PID"
    sleep 1
    kill -0 "$MONIT_PID" 2>/dev/null || die "monit exited: $(cat "$MDIR/stdout.txt" "$MDIR/monit.log" 2>/dev/null | tail -5)"
    rss_sampler "$MONIT_PID" "$BENCH_TMP/monit.rssmax"
    log "monit (pid $MONIT_PID), $NCHECKS check host"
fi

if [[ -n $VIGIL ]]; then
    start_vigil "$BENCH_TMP/vigil.cfg" "$BENCH_TMP/vigil.log" "$VPORT"
    rss_sampler "$VIGIL_PID" "$BENCH_TMP/vigil.rssmax"
fi
log "warm-up ${WARMUP}s"
nap "$WARMUP"
ua_count() { grep -c "\"$1" "$ACCESS" || true; }
rows() { python3 -c 'import sqlite3,sys; c=sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30); print(c.execute("select count(*) from health_log").fetchone()[0])' "$DB"; }

# --- window start
busy_watch_start
mj0=$(machine_jiffies)
t0=$(now_ms)
hm_t0=$(cpu_ticks "$HM_PID")
thread_ticks "$HM_PID" "$BENCH_TMP/threads0"
[[ $WITH_MONIT == 1 ]] && mon_t0=$(cpu_ticks "$MONIT_PID")
[[ -n $VIGIL ]] && vig_t0=$(cpu_ticks "$VIGIL_PID")
scrape "$BENCH_TMP/m0.txt"
hm_ua0=$(ua_count healthmon/); mon_ua0=$(ua_count Monit/); vig_ua0=$(ua_count 'vigil (+')
rows0=$(rows)
load0=$(machine_load)
log "measuring ${DURATION}s (load $load0)"
nap "$DURATION"
# --- window end
hm_t1=$(cpu_ticks "$HM_PID")
thread_ticks "$HM_PID" "$BENCH_TMP/threads1"
[[ $WITH_MONIT == 1 ]] && mon_t1=$(cpu_ticks "$MONIT_PID")
[[ -n $VIGIL ]] && vig_t1=$(cpu_ticks "$VIGIL_PID")
t1=$(now_ms)
scrape "$BENCH_TMP/m1.txt"
hm_ua1=$(ua_count healthmon/); mon_ua1=$(ua_count Monit/); vig_ua1=$(ua_count 'vigil (+')
rows1=$(rows)
mj1=$(machine_jiffies)
busy=$(busy_watch_stop)
load1=$(machine_load)
hm_rss_end=$(rss_kb "$HM_PID"); hm_hwm=$(hwm_kb "$HM_PID")
[[ $WITH_MONIT == 1 ]] && { mon_rss_end=$(rss_kb "$MONIT_PID"); mon_hwm=$(hwm_kb "$MONIT_PID"); }
[[ -n $VIGIL ]] && { vig_rss_end=$(rss_kb "$VIGIL_PID"); vig_hwm=$(hwm_kb "$VIGIL_PID"); }

win_s=$(calc "($t1 - $t0) / 1000")
prod0=$(msum "$BENCH_TMP/m0.txt" healthmon_results_produced_total)
prod1=$(msum "$BENCH_TMP/m1.txt" healthmon_results_produced_total)
stor0=$(msum "$BENCH_TMP/m0.txt" healthmon_results_stored_total)
stor1=$(msum "$BENCH_TMP/m1.txt" healthmon_results_stored_total)
missed=$(msum "$BENCH_TMP/m1.txt" healthmon_check_missed_runs_total)
unhealthy=$(msum "$BENCH_TMP/m1.txt" healthmon_check_runs_total status=unhealthy)
probes=$((prod1 - prod0))
hm_cpu_ms=$(calc "($hm_t1 - $hm_t0) * 1000 / $CLK_TCK")
hm_per_k=$(calc "round($hm_cpu_ms * 1000 / $probes, 2)")
hm_rss_max=$(cat "$BENCH_TMP/hm.rssmax")

# With alerts: evidence that the engine was at work (outside the window: not measured).
alerting_line=
if [[ ${PROBE_ALERTS:-0} == 1 ]]; then
    curl -fsS --max-time 30 "$HM_URL/health/detailed" -o "$BENCH_TMP/detailed.json" || die "GET /health/detailed failed"
    curl -fsS --max-time 30 "$HM_URL/api/v1/alerts?limit=10000" -o "$BENCH_TMP/alerts.json" || die "GET /api/v1/alerts failed"
    alerting_line=$(python3 - "$BENCH_TMP/detailed.json" "$BENCH_TMP/alerts.json" "$CONF" <<'PY'
import json, sys
checks = json.load(open(sys.argv[1]))["checks"].values()
budgets = sum(1 for c in checks for s in c.get("slos", []) if s.get("error_budget"))
a = json.load(open(sys.argv[2]))
alerts = a if isinstance(a, list) else next((v for v in a.values() if isinstance(v, list)), [])
conf = open(sys.argv[3]).read()
print(f"alerting: {conf.count('[[alert]]')} rules, {conf.count('[[slo]]')} SLOs configured; "
      f"{budgets} SLO budgets in /health/detailed; {len(alerts)} alerts in /api/v1/alerts")
PY
) || die "could not read the alerting state"
fi

stop_healthmon "$BENCH_TMP/healthmon.log"
rows_final=$(rows)
if [[ $WITH_MONIT == 1 ]]; then
    mprobes=$((mon_ua1 - mon_ua0))
    ((mprobes > 0)) || die "no Monit requests in nginx's access log during the window"
    mon_cpu_ms=$(calc "($mon_t1 - $mon_t0) * 1000 / $CLK_TCK")
    mon_per_k=$(calc "round($mon_cpu_ms * 1000 / $mprobes, 2)")
    mon_rss_max=$(cat "$BENCH_TMP/monit.rssmax")
    mon_fail=$(grep -c "failed" "$MDIR/monit.log" || true)
fi
if [[ -n $VIGIL ]]; then
    vprobes=$((vig_ua1 - vig_ua0))
    ((vprobes > 0)) || die "no Vigil requests in nginx's access log during the window"
    vig_cpu_ms=$(calc "($vig_t1 - $vig_t0) * 1000 / $CLK_TCK")
    vig_per_k=$(calc "round($vig_cpu_ms * 1000 / $vprobes, 2)")
    vig_rss_max=$(cat "$BENCH_TMP/vigil.rssmax")
fi
hm_non200=$(grep '"healthmon/' "$ACCESS" | awk '$NF !~ /^\/hm\// || $(NF-1) != 200' | wc -l)

cat <<EOF2

=== probe cost: $NCHECKS HTTP checks every 1 s, one local nginx, ${win_s}s window after ${WARMUP}s warm-up ===
$(bench_header)
load at start/end of window: $load0 / $load1   $(machine_line "$mj0" "$mj1")   rustc running: $busy s
healthmon
  probes in window (results_produced delta): $probes  ($(calc "round($probes / $win_s, 1)")/s; expected $(calc "round($NCHECKS * $win_s)"))
  cross-checks in window: results_stored delta $((stor1 - stor0)), health_log rows delta $((rows1 - rows0)), nginx requests with healthmon UA $((hm_ua1 - hm_ua0))
  CPU: $hm_cpu_ms ms  => $hm_per_k CPU-ms per 1,000 probes  ($(calc "round($hm_cpu_ms / 10 / $win_s, 1)")% of one core)
  CPU by thread: $(thread_breakdown "$BENCH_TMP/threads0" "$BENCH_TMP/threads1")
  RSS: end $(calc "round($hm_rss_end / 1024, 1)") MB, max sampled $(calc "round($hm_rss_max / 1024, 1)") MB, VmHWM $(calc "round($hm_hwm / 1024, 1)") MB
  at stop: produced $STOP_PRODUCED, stored $STOP_STORED, dropped $STOP_DROPPED, health_log rows $rows_final; exit $HM_EXIT
  missed runs: $missed   unhealthy results: $unhealthy   non-200 healthmon requests in nginx log: $hm_non200
${alerting_line:+  $alerting_line
}$(show_warnings "$BENCH_TMP/healthmon.log")
EOF2
if [[ $WITH_MONIT == 1 ]]; then
    cat <<EOF2
monit $(monit -V | head -1 | awk '{print $NF}') (set daemon 1, $NCHECKS check host, protocol http)
  probes in window (nginx requests with Monit/ UA): $mprobes  ($(calc "round($mprobes / $win_s, 1)")/s)
  CPU: $mon_cpu_ms ms  => $mon_per_k CPU-ms per 1,000 probes
  RSS: end $(calc "round($mon_rss_end / 1024, 1)") MB, max sampled $(calc "round($mon_rss_max / 1024, 1)") MB, VmHWM $(calc "round($mon_hwm / 1024, 1)") MB
  'failed' lines in monit.log: $mon_fail
ratios healthmon / monit
  CPU per probe: $(calc "round($hm_per_k / $mon_per_k, 2)")x   RSS (end): $(calc "round($hm_rss_end / $mon_rss_end, 2)")x   RSS (VmHWM): $(calc "round($hm_hwm / $mon_hwm, 2)")x
EOF2
fi
if [[ -n $VIGIL ]]; then
    cat <<EOF2
Vigil $VIGIL_VERSION (poll_interval 1 s, $NCHECKS poll nodes, stores nothing)
  probes in window (nginx requests with "vigil (+" UA): $vprobes  ($(calc "round($vprobes / $win_s, 1)")/s)
  CPU: $vig_cpu_ms ms  => $vig_per_k CPU-ms per 1,000 probes
  RSS: end $(calc "round($vig_rss_end / 1024, 1)") MB, max sampled $(calc "round($vig_rss_max / 1024, 1)") MB, VmHWM $(calc "round($vig_hwm / 1024, 1)") MB
ratios healthmon / Vigil
  CPU per probe: $(calc "round($hm_per_k / $vig_per_k, 2)")x   RSS (VmHWM): $(calc "round($hm_hwm / $vig_hwm, 2)")x
EOF2
fi
cat <<EOF2

CPU <= 30 ms per 1,000 probes      : $(verdict "$hm_per_k <= 30")  ($hm_per_k)
RSS < 25 MB (VmHWM, the peak)      : $(verdict "$hm_hwm < 25 * 1024")  ($(calc "round($hm_hwm / 1024, 1)") MB)
every result stored (stop)         : $(verdict "$STOP_PRODUCED == $STOP_STORED == $rows_final and $STOP_DROPPED == 0")  (produced $STOP_PRODUCED, stored $STOP_STORED, rows $rows_final, dropped $STOP_DROPPED)
probes ran every second (window)   : $(verdict "$probes >= 0.99 * $NCHECKS * $win_s and $missed == 0")
EOF2
if [[ $WITH_MONIT == 1 || -n $VIGIL ]]; then
    echo "relative to the peers in this run (the issue's 30 over their figures on its machine):"
    [[ $WITH_MONIT == 1 ]] && echo "CPU <= 1.0x monit (30/30)          : $(verdict "$hm_per_k <= $mon_per_k")  ($(calc "round($hm_per_k / $mon_per_k, 2)")x)"
    [[ -n $VIGIL ]] && echo "CPU <= 0.91x Vigil (30/33)         : $(verdict "$hm_per_k <= 30 / 33 * $vig_per_k")  ($(calc "round($hm_per_k / $vig_per_k, 2)")x)"
fi
[[ $HM_EXIT == 0 ]] || die "healthmon exited $HM_EXIT on SIGTERM"
((probes > 0)) || die "no probes in the window"
