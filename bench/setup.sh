#!/usr/bin/env bash
# Installs what the benchmarks need (Debian packages). Idempotent; needs root.
#   wrk      HTTP load generator (serving.sh)
#   nginx    the probed target (all scripts); only its binary is used, with configs in temp dirs
#   monit    the peer compared with in probe-cost.sh
#   curl, python3, procps (pgrep)
set -euo pipefail

missing=()
for pkg_cmd in wrk:wrk nginx:nginx monit:monit curl:curl python3:python3 procps:pgrep; do
    pkg=${pkg_cmd%%:*} cmd=${pkg_cmd#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done

if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || { echo "setup.sh: run as root to install: ${missing[*]}" >&2; exit 1; }
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d 101: do not let the packages start their system services (nginx on :80,
    # monit's own daemon); the benchmarks run private instances.
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    ((created_policy)) && rm -f /usr/sbin/policy-rc.d
else
    echo "all present"
fi
command -v cargo >/dev/null || echo "note: cargo not found; set HEALTHMON_BIN to a built healthmon" >&2
wrk --version 2>&1 | head -1 || true
nginx -v 2>&1
monit -V | head -1
