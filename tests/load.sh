#!/usr/bin/env bash
# Concurrency under load, then crash recovery (tests/client/src/bin/load.rs):
#   1. 8 clients for LOAD_SECONDS (default 60) on 1,000 subjects, mixing
#      first-use encrypts, encrypts, decrypts, rotations and shreds; then the
#      invariant checker.
#   2. The same load on a separate cluster, kill -9 of the postmaster midway,
#      restart (crash recovery), the invariant checker again.
#   tests/load.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
. "$(dirname "$0")/lib.sh"
seconds=${LOAD_SECONDS:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build_clients
load=$root/target/release/load
cluster() { bash "$root/scripts/cluster.sh" "$@"; }

psql_at "$dir" "$port" postgres -c "DROP DATABASE IF EXISTS load_test" -c "CREATE DATABASE load_test"
"$load" run "$dir" "$port" load_test "$seconds" 8 1000
echo "ok: load ran without unexpected errors or wrong decryptions"
"$load" check "$dir" "$port" load_test
echo "ok: invariants hold after the load"

crash=$work/cluster_crash; cport=$((port + 2))
cluster stop "$crash" 2>/dev/null || true
rm -rf "$crash"
cluster start "$crash" "$cport"
psql_at "$crash" "$cport" postgres -c "CREATE DATABASE load_test"
"$load" run "$crash" "$cport" load_test "$seconds" 8 1000 >"$work/crash_load.out" 2>&1 &
driver=$!
sleep 15
pid=$(head -1 "$crash/data/postmaster.pid")
kill -9 "$pid"
echo "killed the postmaster (pid $pid) under load"
wait "$driver" || true   # the driver sees its connections drop
cat "$work/crash_load.out"
# The dead postmaster may linger as a zombie (nobody reaps it in a container)
# and its children exit on their own; then its pid file is stale.
for _ in $(seq 1 100); do
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    { [ -z "$state" ] || [[ $state == Z* ]]; } && break; sleep 0.1
done
sleep 2
rm -f "$crash/data/postmaster.pid"
cluster start "$crash" "$cport"
check 1 "$(grep -c 'database system was interrupted\|was not properly shut down' "$crash/server.log" | awk '{print ($1 > 0)}')" "restart went through crash recovery"
"$load" check "$crash" "$cport" load_test
echo "ok: invariants hold after kill -9 and crash recovery"
cluster stop "$crash"
