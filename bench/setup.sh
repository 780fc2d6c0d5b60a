#!/usr/bin/env bash
# Installs what the benchmarks need (Debian packages). Idempotent; needs root.
#   wrk      HTTP load generator (serving.sh)
#   nginx    the probed target (all scripts); only its binary is used, with configs in temp dirs
#   monit    the peer compared with in probe-cost.sh
#   curl, python3, procps (pgrep), sqlite3 (summary.sh marks the baseline's copy of the database)
# With --with-vigil it also builds Vigil (vigil-server from crates.io, the Rust status page the
# issue quotes as a peer) into bench/.peers: about 10 minutes on 2 cores, once.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WITH_VIGIL=0
for arg in "$@"; do
    case $arg in
    --with-vigil) WITH_VIGIL=1 ;;
    *) echo "usage: setup.sh [--with-vigil]" >&2; exit 2 ;;
    esac
done

missing=()
for pkg_cmd in wrk:wrk nginx:nginx monit:monit curl:curl python3:python3 procps:pgrep sqlite3:sqlite3; do
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

if ((WITH_VIGIL)); then
    VIGIL_VERSION=1.29.0
    PEERS=$BENCH_DIR/.peers
    if [[ ! -x $PEERS/bin/vigil ]]; then
        command -v cargo >/dev/null || { echo "setup.sh: --with-vigil needs cargo" >&2; exit 1; }
        echo "building vigil-server $VIGIL_VERSION into $PEERS (takes a while)"
        # No default features: the notifiers are not measured, and they pull in more C.
        cargo install vigil-server --version "$VIGIL_VERSION" --locked --no-default-features --root "$PEERS" --quiet
    fi
    # The binary needs its templates and assets, which ship in the crate's source.
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/vigil-server-"$VIGIL_VERSION" 2>/dev/null | head -1)
    [[ -n $src && -d $src/res/assets ]] || { echo "setup.sh: vigil-server $VIGIL_VERSION sources not found in the cargo registry" >&2; exit 1; }
    rm -rf "$PEERS/vigil-assets"
    cp -r "$src/res/assets" "$PEERS/vigil-assets"
    echo "vigil $VIGIL_VERSION: $PEERS/bin/vigil"
fi
