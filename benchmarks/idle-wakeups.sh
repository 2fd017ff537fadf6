#!/bin/sh
# How often an idle server wakes up: runs BINARY on loopback, then counts its context
# switches (voluntary = the loop went to sleep and was woken) and timeslices
# (/proc/PID/schedstat, third field) over SECONDS, first with no connection, then with
# N idle WebSockets that have joined (benchmarks/idle-websockets.mjs, node >= 20).
#
# Usage: benchmarks/idle-wakeups.sh BINARY [SECONDS] [N] [PORT]
set -eu
bin=$1
seconds=${2:-60}
n=${3:-10}
port=${4:-18431}
here=$(dirname "$0")
work=$(mktemp -d)
trap 'kill $clients $server 2>/dev/null || true; rm -rf "$work"' EXIT

# The console's stdin is a pipe that stays open and silent, as a terminal would.
mkfifo "$work/stdin"
"$bin" -i 127.0.0.1 -p "$port" --single-port \
    --admin-private-key "$here/../tests/vectors/admin.pkcs8.pem" <"$work/stdin" >"$work/out" 2>&1 &
server=$!
exec 3>"$work/stdin"
clients=
for _ in $(seq 50); do
    grep -q "Ready in" "$work/out" 2>/dev/null && break
    sleep 0.1
done

counters() {
    vol=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$server/status")
    invol=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "/proc/$server/status")
    slices=$(awk '{print $3}' "/proc/$server/schedstat")
    echo "$vol $invol $slices"
}

measure() {
    set -- $(counters)
    sleep "$seconds"
    set -- "$@" $(counters)
    echo "$1 $2 $3 $4 $5 $6" | awk -v what="$1" -v s="$seconds" -v label="$label" \
        '{printf "%-28s %6d voluntary, %4d involuntary switches, %6d timeslices in %d s\n", label, $4-$1, $5-$2, $6-$3, s}'
}

label="no connection"
measure

node --experimental-websocket "$here/idle-websockets.mjs" "ws://127.0.0.1:$port/ws" "$n" >"$work/clients" 2>/dev/null &
clients=$!
for _ in $(seq 300); do
    grep -q "joined" "$work/clients" 2>/dev/null && break
    sleep 0.1
done
grep -q "joined $n" "$work/clients" || { echo "the clients did not join"; cat "$work/clients"; exit 1; }
sleep 1
label="$n idle WebSockets"
measure
if grep -q closed "$work/clients"; then
    echo "some clients were closed:"; cat "$work/clients"
fi
