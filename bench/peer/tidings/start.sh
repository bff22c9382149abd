#!/usr/bin/env bash
# Starts a private Tidings server for the peer benchmark: a fresh data
# directory in /tmp/tidings-bench-server.XXXXXX, `tidings serve` on
# 127.0.0.1 only, with the limits that would refuse a load generator
# raised (each one below, with its default and why). Nothing in
# the repository is touched (see TIDINGS_BIN).
#
# Usage: bench/tidings/start.sh [--port PORT] [--bin PATH]
#   PORT defaults to a free port in 30000-39999; PATH to $TIDINGS_BIN or
#   target/release/tidings of the repository you run it from.
# On success prints TDS_PORT, TDS_PID, TDS_DIR as KEY=VALUE lines and
# keeps them in bench/tidings/.state for stop.sh. The server's log is
# $TDS_DIR/server.log.
set -euo pipefail

caller=${TIDINGS_REPO:-$PWD}; export TIDINGS_REPO=$caller
export BENCH_WORK=${BENCH_WORK:-$caller/target/bench}
here=$(cd "$(dirname "$0")" && pwd)
state="${BENCH_WORK:-/tmp/tidings-bench}/tidings.state"; mkdir -p "$(dirname "$state")"
port=""
bin=${TIDINGS_BIN:-$caller/target/release/tidings}

while [ $# -gt 0 ]; do
    case $1 in
        --port) port=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "start.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

if [ ! -x "$bin" ]; then
    echo "start.sh: no Tidings binary at $bin (run cargo build --release in the repository, or set TIDINGS_BIN)" >&2
    exit 1
fi

if [ -f "$state" ]; then
    # shellcheck source=/dev/null
    . "$state"
    if [ -n "${TDS_PID:-}" ] && kill -0 "$TDS_PID" 2>/dev/null; then
        echo "start.sh: this harness's Tidings server is already running (pid $TDS_PID); run stop.sh first" >&2
        exit 1
    fi
    case ${TDS_DIR:-} in
        /tmp/tidings-bench-server.*) rm -rf "$TDS_DIR" ;;
    esac
    rm -f "$state"
fi

free_port() {
    local p i
    for i in $(seq 50); do
        p=$((30000 + RANDOM % 10000))
        if [ -z "$(ss -Htln "sport = :$p")" ]; then
            echo "$p"
            return
        fi
    done
}
[ -n "$port" ] || port=$(free_port)
if [ -z "$port" ]; then
    echo "start.sh: no free port found" >&2
    exit 1
fi

dir=$(mktemp -d /tmp/tidings-bench-server.XXXXXX)
chmod 700 "$dir"

(
    # BENCH: every registration comes from 127.0.0.1 (defaults 20, 60, 20).
    export TIDINGS_CODE_SENDS_PER_ADDRESS_PER_HOUR=100000000
    export TIDINGS_CODE_CHECKS_PER_ADDRESS_PER_HOUR=100000000
    export TIDINGS_REGISTRATIONS_PER_RANGE_PER_DAY=100000000
    # BENCH: default 100 registrations/hour, above which every code
    # request needs an 18-bit proof of work first.
    export TIDINGS_REGISTRATION_SPIKE_PER_HOUR=100000000
    # BENCH: defaults 6000/min and a burst of 6000; a paced-10k sender
    # sends 100/s = 6000/min, and saturated senders more.
    export TIDINGS_SENDS_PER_ACCOUNT_PER_MINUTE=100000000
    export TIDINGS_SEND_BURST=100000000
    # BENCH: defaults 15 new recipients/day, cap 200: random recipients
    # make each sender write first to (nearly) every other user.
    export TIDINGS_NEW_RECIPIENTS_PER_DAY=100000000
    export TIDINGS_NEW_RECIPIENTS_MAX=100000000
    # BENCH: default 10 for accounts whose only handle is an e-mail
    # address, which every benchmark user is.
    export TIDINGS_NEW_RECIPIENTS_EMAIL_ONLY=100000000
    # BENCH: defaults 256 connections per client address, 10,000 in all
    # (lowered to the open-file limit), 1,024 streams waiting to log in;
    # every benchmark connection comes from loopback, all at once.
    export TIDINGS_MAX_CONNECTIONS_PER_ADDRESS=10000000
    export TIDINGS_MAX_CONNECTIONS=10000000
    export TIDINGS_MAX_UNAUTHENTICATED_STREAMS=10000000
    # BENCH: default log level for `serve` is info (a line per
    # registration); ejabberd runs at loglevel warning.
    export RUST_LOG=warn
    ulimit -n "$(ulimit -Hn)"
    exec "$bin" serve --listen "127.0.0.1:$port" --data "$dir/data"
) </dev/null >"$dir/server.log" 2>&1 &
pid=$!

cat >"$state" <<EOT
TDS_PORT=$port
TDS_PID=$pid
TDS_DIR=$dir
EOT

for _ in $(seq 120); do
    kill -0 "$pid" 2>/dev/null || break
    [ -n "$(ss -Htln "sport = :$port")" ] && break
    sleep 0.25
done
if ! kill -0 "$pid" 2>/dev/null || [ -z "$(ss -Htln "sport = :$port")" ]; then
    echo "start.sh: tidings did not come up within 30 s; log follows" >&2
    tail -n 40 "$dir/server.log" >&2 || true
    kill "$pid" 2>/dev/null || true
    rm -rf "$dir" "$state"
    exit 1
fi

echo "TDS_PORT=$port"
echo "TDS_PID=$pid"
echo "TDS_DIR=$dir"
