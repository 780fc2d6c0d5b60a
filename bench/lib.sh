# Shared helpers for the healthmon benchmark scripts. Source it; do not run it.
#
# Environment understood by every script:
#   HEALTHMON_BIN      use this binary instead of building target/release/healthmon
#   HEALTHMON_COMMIT   label printed for that binary (e.g. the commit it was built from)
#   BENCH_KEEP=1       keep the temp dir (configs, logs, database, scrapes) after the run
#   BENCH_IDLE_WAIT    seconds to wait for a quiet machine (no rustc, < BENCH_IDLE_MAX %
#                      busy) before measuring (default 300; 0 = do not wait)
#   BENCH_IDLE_MAX     what counts as quiet, % of all cores busy (default 15)

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
CLK_TCK=$(getconf CLK_TCK)
PROMSTAT="python3 $BENCH_DIR/promstat.py"
BENCH_PIDS=()
BENCH_SAMPLER_PIDS=()
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/healthmon-bench.XXXXXX")
# rustc processes seen by the watcher during a measurement window (see busy_watch_*).
BUSY_FILE="$BENCH_TMP/busy.samples"

# nap SECONDS: a sleep that a signal interrupts at once (bash runs traps only between
# foreground commands, but during `wait`).
NAP_PID=
nap() {
    sleep "$1" &
    NAP_PID=$!
    wait "$NAP_PID"
    NAP_PID=
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

bench_cleanup() {
    local rc=$?
    set +e
    local pid
    for pid in "${BENCH_SAMPLER_PIDS[@]}" $NAP_PID; do
        kill "$pid" 2>/dev/null
    done
    # Stop in reverse order of start: the daemon before the nginx it probes.
    local i
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${BENCH_PIDS[i]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $BENCH_TMP"
    else
        rm -rf "$BENCH_TMP"
    fi
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "$c is not installed: run bench/setup.sh"
    done
}

# Registers a background process for cleanup.
track() { BENCH_PIDS+=("$1"); }

# Sets HM_BIN: $HEALTHMON_BIN, or target/release/healthmon after one `cargo build --release`.
resolve_binary() {
    if [[ -n ${HEALTHMON_BIN:-} ]]; then
        HM_BIN=$HEALTHMON_BIN
    else
        need cargo
        log "cargo build --release (may wait for the target dir lock)"
        (cd "$REPO_DIR" && cargo build --release --quiet) || die "release build failed"
        HM_BIN=$REPO_DIR/target/release/healthmon
    fi
    [[ -x $HM_BIN ]] || die "no executable at $HM_BIN"
    if [[ -n ${HEALTHMON_BIN:-} ]]; then
        # The work tree says nothing about a binary built elsewhere: label it by hand.
        HM_COMMIT=${HEALTHMON_COMMIT:-"unknown (HEALTHMON_BIN; set HEALTHMON_COMMIT)"}
    else
        HM_COMMIT=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
        if [[ -n $(git -C "$REPO_DIR" status --porcelain -- src Cargo.toml Cargo.lock migrations 2>/dev/null) ]]; then
            HM_COMMIT="$HM_COMMIT+uncommitted changes"
        fi
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # host port timeout_s
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        (echo >"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# nginx serving a tiny 200 on 127.0.0.1:$NGINX_PORT, logs in $NGINX_DIR.
# start_nginx DIR [access_log=on|off]
start_nginx() {
    need nginx
    NGINX_DIR=$1
    local access=${2:-on}
    NGINX_PORT=$(free_port)
    mkdir -p "$NGINX_DIR"
    local log_line="access_log $NGINX_DIR/access.log ua;"
    [[ $access == off ]] && log_line="access_log off;"
    cat >"$NGINX_DIR/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 16384; }
http {
    log_format ua '\$msec "\$http_user_agent" \$status \$request_uri';
    $log_line
    client_body_temp_path $NGINX_DIR/client_body;
    proxy_temp_path $NGINX_DIR/proxy;
    fastcgi_temp_path $NGINX_DIR/fastcgi;
    uwsgi_temp_path $NGINX_DIR/uwsgi;
    scgi_temp_path $NGINX_DIR/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / {
            default_type text/plain;
            return 200 "ok\n";
        }
    }
}
EOF
    nginx -e "$NGINX_DIR/error.log" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -t -q 2>"$NGINX_DIR/test.err" ||
        die "nginx config test failed: $(cat "$NGINX_DIR/test.err")"
    nginx -e "$NGINX_DIR/error.log" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" &
    NGINX_PID=$!
    track "$NGINX_PID"
    wait_port 127.0.0.1 "$NGINX_PORT" 10 || die "nginx did not listen on $NGINX_PORT: $(cat "$NGINX_DIR/error.log")"
    curl -fsS "http://127.0.0.1:$NGINX_PORT/" >/dev/null || die "nginx does not answer 200"
    NGINX_WORKER_PID=$(pgrep -P "$NGINX_PID" | head -1)
    [[ -n $NGINX_WORKER_PID ]] || die "no nginx worker process under $NGINX_PID"
    log "nginx (pid $NGINX_PID, worker $NGINX_WORKER_PID) on 127.0.0.1:$NGINX_PORT"
}

# ---------------------------------------------------------------------------------------
# healthmon. write_hm_header FILE DB: the common part of a config (no checks).
write_hm_header() {
    cat >"$1" <<EOF
[service]
name = "bench"
environment = "bench"

[server]
listen = "127.0.0.1:0"

[storage]
path = "$2"

[scheduler]
max_concurrent = 256

EOF
}

# start_healthmon CONFIG LOG: sets HM_PID and HM_URL once it logs "Listening.".
start_healthmon() {
    local conf=$1 logf=$2
    # The daemon's own default filter (info, and quiet about clients that hang up mid-request,
    # which wrk does at the end of every run); an exported HEALTHMON_LOG still applies.
    "$HM_BIN" run -c "$conf" 2>"$logf" >/dev/null &
    HM_PID=$!
    track "$HM_PID"
    local i
    for ((i = 0; i < 600; i++)); do
        grep -q 'Listening\.' "$logf" 2>/dev/null && break
        kill -0 "$HM_PID" 2>/dev/null || die "healthmon exited during start-up:
$(tail -20 "$logf")"
        sleep 0.1
    done
    grep -q 'Listening\.' "$logf" || die "healthmon did not log Listening. within 60 s"
    local addr
    addr=$(grep -m1 'Listening\.' "$logf" | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'addr=[0-9.:]*' | cut -d= -f2)
    [[ -n $addr ]] || die "no addr= in the Listening. line: $(grep -m1 'Listening\.' "$logf")"
    HM_URL="http://$addr"
    log "healthmon (pid $HM_PID) at $HM_URL"
}

# wait_startup TIMEOUT_S: until /health/startup answers 200 (every check has a first result).
wait_startup() {
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$HM_URL/health/startup") == 200 ]] && return 0
        sleep 0.1
    done
    die "/health/startup not 200 after $1 s"
}

# stop_healthmon LOG: SIGTERM, wait (max 120 s), sets HM_EXIT and STOP_PRODUCED/STORED/DROPPED.
stop_healthmon() {
    local logf=$1 i
    kill -TERM "$HM_PID"
    for ((i = 0; i < 1200; i++)); do
        kill -0 "$HM_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$HM_PID" 2>/dev/null && die "healthmon did not stop within 120 s of SIGTERM"
    set +e
    wait "$HM_PID"
    HM_EXIT=$?
    set -e
    local line
    line=$(grep 'Stopped\.' "$logf" | sed 's/\x1b\[[0-9;]*m//g' | tail -1)
    [[ -n $line ]] || die "healthmon logged no Stopped. line (exit $HM_EXIT): $(tail -5 "$logf")"
    STOP_PRODUCED=$(grep -o 'results_produced=[0-9]*' <<<"$line" | cut -d= -f2)
    STOP_STORED=$(grep -o 'results_stored=[0-9]*' <<<"$line" | cut -d= -f2)
    STOP_DROPPED=$(grep -o 'results_dropped=[0-9]*' <<<"$line" | cut -d= -f2)
}

# scrape FILE: saves /metrics.
scrape() { curl -fsS --max-time 20 "$HM_URL/metrics" -o "$1" || die "GET /metrics failed"; }
msum() { $PROMSTAT sum "$@"; } # msum FILE NAME [label=value...]

# ---------------------------------------------------------------------------------------
# /proc readings
cpu_ticks() { # utime+stime (fields 14, 15) of PID, in clock ticks
    local f
    read -r -a f <<<"$(sed 's/^.*) //' "/proc/$1/stat")"
    echo $((f[11] + f[12]))
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
now_ms() { date +%s%3N; }

# rss_sampler PID OUTFILE: writes the max VmRSS (kB) seen, once a second, into OUTFILE.
rss_sampler() {
    local pid=$1 out=$2
    (
        max=0
        while kill -0 "$pid" 2>/dev/null; do
            r=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            [[ -n $r && $r -gt $max ]] && max=$r && echo "$max" >"$out"
            sleep 1
        done
    ) &
    BENCH_SAMPLER_PIDS+=($!)
}

# ---------------------------------------------------------------------------------------
# The machine is shared with other builds: wait until no rustc runs and the machine is
# nearly idle (busy < BENCH_IDLE_MAX % of all cores, default 15, in three 2 s samples in a
# row), then watch for
# rustc during the measurement.
machine_busy_pct() { # over $1 seconds, in % of all cores
    local a b
    local a b busy
    a=$(machine_jiffies)
    sleep "$1"
    b=$(machine_jiffies)
    read -r busy _ <<<"$(machine_split "$a" "$b")"
    echo $((busy / $(nproc)))
}
wait_quiet() {
    local max=${BENCH_IDLE_WAIT:-300} limit=${BENCH_IDLE_MAX:-15} t=0 n busy quiet=0 next_log=0
    ((max > 0)) || return 0
    while true; do
        n=$(pgrep -c -x rustc || true)
        busy=$(machine_busy_pct 2)
        # Quiet three samples in a row (about 10 s): a build pauses between crates.
        if ((n == 0 && busy < limit)); then
            quiet=$((quiet + 1))
            ((quiet >= 3)) && return 0
            sleep 1
            t=$((t + 3))
            continue
        fi
        quiet=0
        if ((t >= max)); then
            log "WARNING: still busy after ${max}s ($n rustc, machine ${busy}% busy); measuring anyway"
            return 0
        fi
        if ((t >= next_log)); then
            log "waiting for a quiet machine: $n rustc, ${busy}% busy (${t}s)"
            next_log=$((next_log + 30))
        fi
        sleep 3
        t=$((t + 5))
    done
}
busy_watch_start() {
    : >"$BUSY_FILE"
    (
        while true; do
            echo "$(pgrep -c -x rustc || true)" >>"$BUSY_FILE"
            sleep 1
        done
    ) &
    BUSY_PID=$!
    BENCH_SAMPLER_PIDS+=("$BUSY_PID")
}
busy_watch_stop() { # prints "N/M" = seconds with a rustc running / seconds watched
    kill "$BUSY_PID" 2>/dev/null || true
    awk '$1 > 0 {b++} END {printf "%d/%d", b, NR}' "$BUSY_FILE"
}
machine_load() { cut -d' ' -f1-3 /proc/loadavg; }

# /proc/stat of the whole machine: "total idle irq+softirq steal" jiffies (guest time is
# already inside user). For a window: machine_split "$(machine_jiffies)" "$(machine_jiffies)".
machine_jiffies() { awk '/^cpu / {t=0; for (i=2;i<=9;i++) t+=$i; print t, $5+$6, $7+$8, $9}' /proc/stat; }
# machine_split BEFORE AFTER: "busy steal irq" in % of ONE core (so 200 = both cores busy).
machine_split() {
    awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN {split(a, x, " "); split(b, y, " ");
        t = y[1] - x[1]; if (t <= 0) t = 1;
        printf "%.0f %.0f %.0f", n * 100 * (1 - (y[2] - x[2]) / t),
            n * 100 * (y[4] - x[4]) / t, n * 100 * (y[3] - x[3]) / t}'
}
# machine_line BEFORE AFTER: a human summary of the same.
machine_line() {
    local busy steal irq
    read -r busy steal irq <<<"$(machine_split "$1" "$2")"
    echo "machine busy ${busy}% of one core (of $(($(nproc) * 100))%), of which steal ${steal}%, irq+softirq ${irq}%"
}

# verdict OK_EXPR: PASS or MISS
verdict() { if python3 -c "import sys; sys.exit(0 if ($1) else 1)"; then echo PASS; else echo MISS; fi; }
calc() { python3 -c "print($1)"; }

bench_header() {
    echo "healthmon commit: $HM_COMMIT   binary: $HM_BIN"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(nproc) cores, $(uname -r)"
}

# warn_lines LOG: the daemon's WARN/ERROR lines, ANSI colours stripped.
warn_lines() { sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E ' (ERROR|WARN) ' || true; }
# show_warnings LOG: count, then the first few lines (shortened), for the summary.
show_warnings() {
    local n
    n=$(warn_lines "$1" | wc -l)
    echo "daemon WARN/ERROR log lines: $n"
    ((n == 0)) || warn_lines "$1" | head -5 | cut -c1-300 | sed 's/^/    /'
}

# thread_ticks PID FILE: "tid comm utime+stime" per thread, for a per-thread CPU breakdown.
thread_ticks() {
    local t f
    for t in /proc/"$1"/task/*; do
        read -r -a f <<<"$(sed 's/^.*) //' "$t/stat" 2>/dev/null)" || continue
        echo "${t##*/} $(tr ' ' '_' <"$t/comm") $((f[11] + f[12]))"
    done >"$2"
}
# thread_breakdown BEFORE AFTER: CPU-ms per thread name over the window, biggest first.
thread_breakdown() {
    awk -v hz="$CLK_TCK" 'NR == FNR {b[$1] = $3; next}
        {d[$2] += $3 - b[$1]; n[$2]++}
        END {for (k in d) if (d[k] > 0) printf "%d %s %d ms (%d threads)\n", d[k], k, d[k] * 1000 / hz, n[k]}' "$1" "$2" |
        sort -nr | cut -d' ' -f2- | paste -sd';' | sed 's/;/; /g'
}

# ---------------------------------------------------------------------------------------
# parse_wrk FILE -> "rps p50_ms p99_ms non2xx errors"
parse_wrk() {
    python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v, u):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", t, re.M)}
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
errs = re.search(r"Socket errors:.*", t)
print(f"{rps:.0f} {lat['50']:.3f} {lat['99']:.3f} {non2xx.group(1) if non2xx else 0} "
      + ("\"" + errs.group(0).replace(" ", "_") + "\"" if errs else "none"))
PY
}

# ---------------------------------------------------------------------------------------
# Vigil (vigil-server on crates.io), the Rust status page the issue quotes as a peer: it polls
# HTTP replicas and answers /status/text (7 bytes) and /status/report (JSON). Optional: used
# when $VIGIL_BIN or bench/.peers/bin/vigil exists (`bash bench/setup.sh --with-vigil`
# installs it); PEER_VIGIL=0 leaves it out.
VIGIL_VERSION=1.29.0
resolve_vigil() {
    VIGIL=
    [[ ${PEER_VIGIL:-1} == 1 ]] || return 0
    local bin=${VIGIL_BIN:-$BENCH_DIR/.peers/bin/vigil}
    local assets=${VIGIL_ASSETS:-$BENCH_DIR/.peers/vigil-assets}
    if [[ -x $bin && -d $assets/templates ]]; then
        VIGIL=$bin
        VIGIL_ASSETS_DIR=$assets
    else
        log "Vigil not installed (bash bench/setup.sh --with-vigil): measuring without it"
    fi
}

# write_vigil_config FILE PORT POLL_INTERVAL_S URL...: one poll node per URL.
write_vigil_config() {
    local file=$1 port=$2 every=$3
    shift 3
    {
        cat <<EOF2
[server]
log_level = "warn"
inet = "127.0.0.1:$port"
workers = $(nproc)
manager_token = "bench-manager"
reporter_token = "bench-reporter"

[assets]
path = "$VIGIL_ASSETS_DIR"

[branding]
page_title = "bench"
page_url = "http://127.0.0.1:$port/"
company_name = "bench"
icon_color = "#000000"
icon_url = "http://127.0.0.1:$port/icon.png"
logo_color = "#000000"
logo_url = "http://127.0.0.1:$port/logo.svg"
website_url = "http://127.0.0.1:$port/"
support_url = "mailto:bench@example.com"

[metrics]
poll_interval = $every
poll_retry = 0
poll_retry_wait = 0
poll_delay_dead = 1
poll_delay_sick = 1
poll_parallelism = 1

[probe]

[[probe.service]]
id = "web"
label = "Web"
EOF2
        local i=0 url
        for url in "$@"; do
            i=$((i + 1))
            printf '\n[[probe.service.node]]\nid = "n%d"\nlabel = "node %d"\nmode = "poll"\nreplicas = ["%s"]\n' "$i" "$i" "$url"
        done
    } >"$file"
}

# start_vigil CONFIG LOG PORT: sets VIGIL_PID once it listens.
start_vigil() {
    "$VIGIL" -c "$1" >"$2" 2>&1 &
    VIGIL_PID=$!
    track "$VIGIL_PID"
    wait_port 127.0.0.1 "$3" 30 || die "Vigil did not listen on $3: $(tail -5 "$2")"
    log "Vigil $VIGIL_VERSION (pid $VIGIL_PID) on 127.0.0.1:$3"
}

# history_db DAYS: the database of NCHECKS checks (c000, c001, ... of kind memory) with DAYS
# days of results at 30 s, written through the store's own write path by `cargo bench --bench
# history`, generated once into DATA (summary.sh and pages.sh share them).
history_db() {
    local db=$DATA/history-$NCHECKS-checks-$1-days.db
    if [[ ! -f $db.done ]]; then
        rm -f "$db" "$db-wal" "$db-shm"
        log "generating $1 days of history for $NCHECKS checks into $db"
        (cd "$REPO_DIR" && cargo bench --quiet --bench history -- --db "$db" --checks "$NCHECKS" \
            --days "$1" --interval 30s) >&2 || die "history generation failed"
        touch "$db.done"
    fi
    echo "$db"
}
