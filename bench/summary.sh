#!/usr/bin/env bash
# Summary benchmark: availability, SLO budgets and /health/detailed for SUMMARY_CHECKS (500)
# checks with 30 days of history at 30 s, written through the store's own write path
# (`cargo bench --bench history`), against the same with one day, and against the landed
# baseline (BASELINE_COMMIT, default 5d442e0: "today's code" of the alerts issue) on a copy of
# the same 30-day database.
#
# Targets (the alerts issue):
#   - with 30 days of history, each endpoint (and the SLO reader that fills in the budgets
#     every 10 s, timed alone by `cargo bench --bench slo_reader`) takes at most 1.5x its
#     time with one day
#     (mean latency = 1/rate at a fixed concurrency; it reads rollups, not the raw log);
#   - /health/detailed at 500 checks is served at least 10x as often per second as by the
#     baseline, same checks and history, same run (wrk -t2 -c4).
#
# Environment: SUMMARY_CHECKS (500), SUMMARY_DAYS (30), SUMMARY_RUNS (wrk runs per endpoint,
# default 3; the median by rate is reported), SUMMARY_DURATION (seconds per run, default 10),
# SUMMARY_IDLE (seconds of the idle daemon's CPU, the SLO reader's cost, default 60),
# SUMMARY_DATA (where the generated databases are kept between runs, default
# bench/.data; generating 30 days of 500 checks took 13 minutes and 8.0 GB, one day 20 s),
# BASELINE_COMMIT, BASELINE_HM_BIN (a baseline binary built elsewhere); plus those in lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk curl python3 sqlite3

NCHECKS=${SUMMARY_CHECKS:-500}
DAYS=${SUMMARY_DAYS:-30}
RUNS=${SUMMARY_RUNS:-3}
DUR=${SUMMARY_DURATION:-10}
IDLE_S=${SUMMARY_IDLE:-60}
DATA=${SUMMARY_DATA:-$REPO_DIR/bench/.data}
BASE_COMMIT=${BASELINE_COMMIT:-5d442e0}
WRK_ARGS=(-t2 -c4 "-d${DUR}s" --latency --timeout 60s)
mkdir -p "$DATA"

resolve_binary

# The baseline, built once from `git archive` into bench/.peers/ (git-ignored).
if [[ -n ${BASELINE_HM_BIN:-} ]]; then
    BASE_BIN=$BASELINE_HM_BIN
else
    BASE_BIN=$REPO_DIR/bench/.peers/healthmon-$BASE_COMMIT
    if [[ ! -x $BASE_BIN ]]; then
        src=$REPO_DIR/bench/.peers/src-$BASE_COMMIT
        log "building the baseline $BASE_COMMIT into $BASE_BIN (about 7 minutes)"
        rm -rf "$src" && mkdir -p "$src"
        git -C "$REPO_DIR" archive "$BASE_COMMIT" | tar -x -C "$src" || die "git archive $BASE_COMMIT failed"
        (cd "$src" && cargo build --release --quiet) || die "the baseline does not build"
        cp "$src/target/release/healthmon" "$BASE_BIN"
    fi
fi
[[ -x $BASE_BIN ]] || die "no baseline binary at $BASE_BIN"

DB1=$(history_db 1)
DBN=$(history_db "$DAYS")

# A config naming the history's checks (c000, c001, ... of kind memory), probed hourly so
# that probing stays out of the measurement; with SLOs (one per check) for the new code.
write_config() { # file db with_slos
    write_hm_header "$1" "$2"
    local i name
    for ((i = 0; i < NCHECKS; i++)); do
        name=$(printf 'c%03d' "$i")
        printf '[[check]]\nname = "%s"\nkind = "memory"\ninterval = "1h"\n\n' "$name" >>"$1"
        if [[ $3 == yes ]]; then
            printf '[[slo]]\ncheck = "%s"\nobjective = 99.9\nwindow = "30d"\n\n' "$name" >>"$1"
        fi
    done
}

# bench_url LABEL URL: RUNS wrk runs; sets RESULT="rps p50 p99" of the median run by rate.
bench_url() {
    local label=$1 url=$2 r out lines=()
    for ((r = 1; r <= RUNS; r++)); do
        out=$BENCH_TMP/wrk-$label-$r.txt
        wrk "${WRK_ARGS[@]}" "$url" >"$out" 2>&1 || die "wrk failed on $url: $(tail -5 "$out")"
        local parsed
        parsed=$(parse_wrk "$out")
        read -r rps p50 p99 non2xx errs <<<"$parsed"
        # wrk's own two decimals: the baseline answers a few requests a second, which
        # parse_wrk's whole number would round by up to 20 %.
        rps=$(grep -m1 'Requests/sec:' "$out" | awk '{print $2}')
        [[ $non2xx == 0 ]] || die "$label: $non2xx answers were not 2xx"
        log "$label run $r: $rps req/s, p50 $p50 ms, p99 $p99 ms, socket errors: $errs"
        lines+=("$rps $p50 $p99")
    done
    RESULT=$(printf '%s\n' "${lines[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
}

# measure LABEL BIN DB WITH_SLOS: starts a daemon on DB, measures the endpoints, stops it.
declare -A RPS P50 P99 BYTES IDLE
measure() {
    local label=$1 bin=$2 db=$3 slos=$4
    local conf=$BENCH_TMP/$label.toml
    write_config "$conf" "$db" "$slos"
    HM_BIN=$bin start_healthmon "$conf" "$BENCH_TMP/$label.log"
    wait_startup 120
    # One request first: the first read of a big file warms the page cache.
    curl -fsS --max-time 120 "$HM_URL/health/detailed" -o "$BENCH_TMP/$label-detailed.json" ||
        die "$label: /health/detailed failed"
    BYTES[$label]=$(wc -c <"$BENCH_TMP/$label-detailed.json")
    python3 - "$BENCH_TMP/$label-detailed.json" "$NCHECKS" "$slos" <<'PY' || die "$label: /health/detailed lacks what is measured"
import json, sys
d = json.load(open(sys.argv[1]))
checks = d["checks"]
assert len(checks) == int(sys.argv[2]), f"{len(checks)} checks"
c = checks["c000"]
if sys.argv[3] == "yes":
    budget = c["slos"][0]["error_budget"]
    assert budget is not None and budget["remaining_percent"] is not None, c["slos"]
PY
    wait_quiet
    # The SLO budgets /health/detailed shows are read by the engine's reader every 10 s, not
    # per request: their cost is the idle daemon's CPU (checks are hourly, nothing else runs).
    if [[ $slos == yes ]]; then
        local c0 c1
        c0=$(cpu_ticks "$HM_PID")
        nap "$IDLE_S"
        c1=$(cpu_ticks "$HM_PID")
        IDLE[$label]=$(calc "round(($c1 - $c0) * 1000 / $CLK_TCK / ($IDLE_S / 10), 1)")
        log "$label: idle CPU over ${IDLE_S}s = ${IDLE[$label]} ms per 10 s reader round"
    fi
    local path
    for path in /health/detailed "/api/v1/availability?window=30d"; do
        bench_url "$label-${path//[^a-z0-9]/_}" "$HM_URL$path"
        read -r RPS[$label$path] P50[$label$path] P99[$label$path] <<<"$RESULT"
    done
    HM_BIN=$bin stop_healthmon "$BENCH_TMP/$label.log"
}

bench_header "summary: $NCHECKS checks, 1 and $DAYS days of history at 30 s; baseline $BASE_COMMIT"
measure new-1d "$HM_BIN" "$DB1" yes
measure new-${DAYS}d "$HM_BIN" "$DBN" yes
# The baseline knows only migration 1: a copy of the same database, marked so.
BASE_DB=$BENCH_TMP/baseline.db
log "copying the $DAYS-day database for the baseline"
sqlite3 "$DBN" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
cp "$DBN" "$BASE_DB"
sqlite3 "$BASE_DB" "PRAGMA user_version = 1;"
measure base-${DAYS}d "$BASE_BIN" "$BASE_DB" no

# The SLO reader alone, on the same two databases, with nothing else in the process.
SLO_LINES=()
slo_ratios=()
for ((r = 1; r <= 3; r++)); do
    out=$(cd "$REPO_DIR" && cargo bench --quiet --bench slo_reader -- --db "$DB1" --db "$DBN" 2>&1) ||
        die "slo_reader failed: $out"
    log "slo_reader run $r:"$'\n'"$out"
    SLO_LINES+=("$(tail -1 <<<"$out")")
    slo_ratios+=("$(tail -1 <<<"$out" | awk '{print $NF}' | tr -d x)")
done
SLO_RATIO=$(printf '%s\n' "${slo_ratios[@]}" | sort -n | sed -n 2p)

N=new-${DAYS}d
echo
echo "=== summary: $NCHECKS checks, history at 30 s, wrk ${WRK_ARGS[*]} against one daemon at a time, median of $RUNS runs ==="
echo "date: $(date -u +%FT%TZ)   host: $(nproc) cores   healthmon: $HM_COMMIT   baseline: $BASE_COMMIT"
printf '%-44s %10s %10s %10s\n' "daemon / endpoint" "req/s" "p50 ms" "p99 ms"
for label in new-1d "$N" "base-${DAYS}d"; do
    for path in /health/detailed "/api/v1/availability?window=30d"; do
        printf '%-44s %10s %10s %10s\n' "$label $path" "${RPS[$label$path]}" "${P50[$label$path]}" "${P99[$label$path]}"
    done
done
echo "/health/detailed bytes: new-1d ${BYTES[new-1d]}, $N ${BYTES[$N]}, base-${DAYS}d ${BYTES[base-${DAYS}d]}"
fail=0
for path in /health/detailed "/api/v1/availability?window=30d"; do
    ratio=$(calc "round(${RPS[new-1d$path]} / ${RPS[$N$path]}, 2)")
    v=$(verdict "$ratio <= 1.5")
    echo "$path: time with $DAYS days / time with 1 day <= 1.5 : $v  (${ratio}x)"
done
echo "idle daemon's CPU per 10 s (no target: the writer's commits and checkpoints weigh in, dearer in a big file): new-1d ${IDLE[new-1d]} ms, $N ${IDLE[$N]} ms"
echo "SLO reader alone (cargo bench --bench slo_reader, ms of CPU per round averaged over the 5-minute keep, median of 3 runs):"
printf '%s\n' "${SLO_LINES[@]}"
echo "SLO budgets: time with $DAYS days / time with 1 day <= 1.5 : $(verdict "$SLO_RATIO <= 1.5")  (${SLO_RATIO}x)"
ratio=$(calc "round(${RPS[$N/health/detailed]} / max(${RPS[base-${DAYS}d/health/detailed]}, 0.01), 1)")
echo "/health/detailed at $NCHECKS checks, $DAYS days: healthmon >= 10x baseline $BASE_COMMIT (req/s) : $(verdict "$ratio >= 10")  (${ratio}x)"
ratio=$(calc "round(${RPS[$N/api/v1/availability?window=30d]} / max(${RPS[base-${DAYS}d/api/v1/availability?window=30d]}, 0.01), 1)")
echo "/api/v1/availability?window=30d: healthmon / baseline (no target): ${ratio}x"
exit $fail
