#!/usr/bin/env bash
# Pages and report benchmark (the status page issue), on the histories summary.sh uses
# (PAGES_CHECKS checks, 1 and PAGES_DAYS days at 30 s, written through the store's own write
# path by `cargo bench --bench history`, kept in bench/.data).
#
# Targets:
#   - `/` and `/checks/c000` with 500 checks: time with 30 days of history at most 1.5x the
#     time with one day (mean latency = 1/rate at wrk -t2 -c4, median of PAGES_RUNS runs);
#   - `/` with 200 checks (the one-day history) under wrk -t2 -c32 at least 2x as many
#     requests a second as Vigil's `/` with 200 poll nodes, same run, runs alternating
#     (Vigil renders current state only, no history);
#   - `healthmon report --hours 720 --format html` over the 30-day store: time and peak RSS,
#     at most 1.5x the time of `--hours 24` over the same store (median of PAGES_RUNS runs,
#     each a new process, after one warm-up run of each).
#
# Environment: PAGES_CHECKS (500), PAGES_DAYS (30), PAGES_VIGIL_CHECKS (200), PAGES_RUNS (3),
# PAGES_DURATION (seconds per wrk run, 10), SUMMARY_DATA (bench/.data); plus those in lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk curl python3

NCHECKS=${PAGES_CHECKS:-500}
DAYS=${PAGES_DAYS:-30}
NVIGIL=${PAGES_VIGIL_CHECKS:-200}
RUNS=${PAGES_RUNS:-3}
DUR=${PAGES_DURATION:-10}
DATA=${SUMMARY_DATA:-$REPO_DIR/bench/.data}
mkdir -p "$DATA"
resolve_binary
resolve_vigil

DB1=$(history_db 1)
DBN=$(history_db "$DAYS")

# The history's checks (c000, c001, ... of kind memory), probed hourly so that probing stays
# out of the measurement.
write_config() { # file db checks
    write_hm_header "$1" "$2"
    local i
    for ((i = 0; i < $3; i++)); do
        printf '[[check]]\nname = "c%03d"\nkind = "memory"\ninterval = "1h"\n\n' "$i" >>"$1"
    done
}

# wrk_rps LABEL URL ARGS...: one run; sets RESULT="rps p50 p99".
wrk_rps() {
    local label=$1 url=$2 out
    shift 2
    out=$BENCH_TMP/wrk-${label//[^a-zA-Z0-9]/_}-$RANDOM.txt
    wrk "$@" "-d${DUR}s" --latency --timeout 60s "$url" >"$out" 2>&1 || die "wrk failed on $url: $(tail -5 "$out")"
    read -r _ p50 p99 non2xx errs <<<"$(parse_wrk "$out")"
    [[ $non2xx == 0 ]] || die "$label: $non2xx answers were not 2xx"
    local rps
    rps=$(grep -m1 'Requests/sec:' "$out" | awk '{print $2}')
    log "$label: $rps req/s, p50 $p50 ms, p99 $p99 ms, socket errors: $errs"
    RESULT="$rps $p50 $p99"
}

median() { sort -n | sed -n "$(((RUNS + 1) / 2))p"; }

# Part 1: render time of the two pages with one and with 30 days of history.
declare -A RPS P50
pages_on() { # label db
    local conf=$BENCH_TMP/$1.toml path r lines
    write_config "$conf" "$2" "$NCHECKS"
    start_healthmon "$conf" "$BENCH_TMP/$1.log"
    wait_startup 120
    for path in / /checks/c000; do
        curl -fsS --max-time 120 "$HM_URL$path" -o "$BENCH_TMP/$1-page.html" || die "$1: $path failed"
        grep -q 'c000' "$BENCH_TMP/$1-page.html" || die "$1: $path does not show c000"
    done
    wait_quiet
    for path in / /checks/c000; do
        lines=()
        for ((r = 1; r <= RUNS; r++)); do
            wrk_rps "$1 $path run $r" "$HM_URL$path" -t2 -c4
            lines+=("$RESULT")
        done
        read -r RPS[$1$path] P50[$1$path] _ <<<"$(printf '%s\n' "${lines[@]}" | median)"
    done
    stop_healthmon "$BENCH_TMP/$1.log"
}

bench_header "pages: $NCHECKS checks with 1 and $DAYS days of history; / against Vigil at $NVIGIL; report"
pages_on 1d "$DB1"
pages_on "${DAYS}d" "$DBN"

# Part 2: `/` at NVIGIL checks against Vigil's page of as many nodes, alternating.
VIGIL_LINE="Vigil not installed (bash bench/setup.sh --with-vigil): no comparison"
if [[ -n $VIGIL ]]; then
    start_nginx "$BENCH_TMP/nginx" off
    VPORT=$(free_port)
    vurls=()
    for ((i = 1; i <= NVIGIL; i++)); do vurls+=("http://127.0.0.1:$NGINX_PORT/vigil/$i"); done
    write_vigil_config "$BENCH_TMP/vigil.cfg" "$VPORT" 10 "${vurls[@]}"
    start_vigil "$BENCH_TMP/vigil.cfg" "$BENCH_TMP/vigil.log" "$VPORT"
    sleep 3 # its first poll of every node
    VURL="http://127.0.0.1:$VPORT/"
    v_bytes=$(curl -fsS "$VURL" | wc -c)
    conf=$BENCH_TMP/vs-vigil.toml
    cp "$DB1" "$BENCH_TMP/vs-vigil.db"
    write_config "$conf" "$BENCH_TMP/vs-vigil.db" "$NVIGIL"
    start_healthmon "$conf" "$BENCH_TMP/vs-vigil.log"
    wait_startup 120
    h_bytes=$(curl -fsS "$HM_URL/" | wc -c)
    wrk -t2 -c32 -d2s "$HM_URL/" >/dev/null
    wrk -t2 -c32 -d2s "$VURL" >/dev/null
    hm=() vg=()
    for ((r = 1; r <= RUNS; r++)); do
        wait_quiet
        wrk_rps "healthmon / ($NVIGIL checks) run $r" "$HM_URL/" -t2 -c32
        hm+=("$RESULT")
        wait_quiet
        wrk_rps "Vigil / ($NVIGIL nodes) run $r" "$VURL" -t2 -c32
        vg+=("$RESULT")
    done
    read -r hm_rps hm_p50 hm_p99 <<<"$(printf '%s\n' "${hm[@]}" | median)"
    read -r vg_rps vg_p50 vg_p99 <<<"$(printf '%s\n' "${vg[@]}" | median)"
    stop_healthmon "$BENCH_TMP/vs-vigil.log"
    kill "$VIGIL_PID"
    ratio=$(calc "round($hm_rps / $vg_rps, 2)")
    VIGIL_LINE="/ at $NVIGIL checks: healthmon $hm_rps req/s (p50 $hm_p50 ms, $h_bytes bytes) vs Vigil $VIGIL_VERSION $vg_rps req/s (p50 $vg_p50 ms, $v_bytes bytes), wrk -t2 -c32, >= 2x : $(verdict "$ratio >= 2")  (${ratio}x)"
fi

# Part 3: the report command over the 30-day store, each run a new process.
conf=$BENCH_TMP/report.toml
write_config "$conf" "$DBN" "$NCHECKS"
report_run() { # hours -> "seconds peak_rss_kb"
    python3 - "$HM_BIN" "$conf" "$1" <<'PY'
import resource, subprocess, sys, time
bin, conf, hours = sys.argv[1:4]
t = time.monotonic()
subprocess.run([bin, "report", "-c", conf, "--hours", hours, "--format", "html", "-o", "/dev/null"],
               check=True, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
dt = time.monotonic() - t
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}
report_run 720 >/dev/null
report_run 24 >/dev/null
wait_quiet
r720=() r24=()
for ((r = 1; r <= RUNS; r++)); do
    r720+=("$(report_run 720)")
    log "report --hours 720 run $r: ${r720[-1]} (s, peak RSS kB)"
    r24+=("$(report_run 24)")
    log "report --hours 24 run $r: ${r24[-1]} (s, peak RSS kB)"
done
read -r t720 m720 <<<"$(printf '%s\n' "${r720[@]}" | median)"
read -r t24 m24 <<<"$(printf '%s\n' "${r24[@]}" | median)"
report_bytes=$("$HM_BIN" report -c "$conf" --hours 720 --format html 2>/dev/null | wc -c)

echo
echo "=== pages: $NCHECKS checks, history at 30 s, median of $RUNS runs ==="
echo "date: $(date -u +%FT%TZ)   host: $(nproc) cores   healthmon: $HM_COMMIT"
printf '%-32s %10s %10s\n' "history / page (wrk -t2 -c4)" "req/s" "p50 ms"
for label in 1d "${DAYS}d"; do
    for path in / /checks/c000; do
        printf '%-32s %10s %10s\n' "$label $path" "${RPS[$label$path]}" "${P50[$label$path]}"
    done
done
for path in / /checks/c000; do
    ratio=$(calc "round(${RPS[1d$path]} / ${RPS[${DAYS}d$path]}, 2)")
    echo "$path: time with $DAYS days / time with 1 day <= 1.5 : $(verdict "$ratio <= 1.5")  (${ratio}x)"
done
echo "$VIGIL_LINE"
echo "report --format html over $NCHECKS checks: --hours 720 ${t720} s, peak RSS $((m720 / 1024)) MiB, $report_bytes bytes; --hours 24 ${t24} s, peak RSS $((m24 / 1024)) MiB"
ratio=$(calc "round($t720 / $t24, 2)")
echo "report: time of --hours 720 / --hours 24 <= 1.5 : $(verdict "$ratio <= 1.5")  (${ratio}x)"
