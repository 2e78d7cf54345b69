#!/usr/bin/env bash
# Concurrency under load, then crash recovery (tests/client/src/bin/load.rs):
#   1. 8 clients for LOAD_SECONDS (default 60) on 1,000 subjects, mixing
#      first-use encrypts, encrypts, decrypts, rotations and shreds; then the
#      invariant checker.
#   2. The same load on a separate cluster, kill -9 of the postmaster midway:
#      the driver's result up to the kill (no wrong decryption, no unexpected
#      error, enough work, every client saw the server go), restart (crash
#      recovery), the invariant checker again.
#   3. Negative control of the checker: two key versions swapped by hand
#      (still dense, one current, every value decrypts) must fail it.
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
# must WHAT COMMAND...: "ok: WHAT" if the command succeeds, else "FAIL: WHAT" and exit
must() {
    local what=$1; shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; exit 1; fi
}
must "load ran without unexpected errors or wrong decryptions, every operation enough times" \
    "$load" run "$dir" "$port" load_test "$seconds" 8 1000
must "invariants hold after the load" "$load" check "$dir" "$port" load_test

crash=$work/cluster_crash; cport=$((port + 2))
cluster stop "$crash" 2>/dev/null || true
rm -rf "$crash"
cluster start "$crash" "$cport"
psql_at "$crash" "$cport" postgres -c "CREATE DATABASE load_test"
# Killed after 15 s whatever LOAD_SECONDS is: the driver ends when its clients lose the server.
"$load" run "$crash" "$cport" load_test 60 8 1000 crash >"$work/crash_load.out" 2>&1 &
driver=$!
sleep 15
pid=$(head -1 "$crash/data/postmaster.pid")
kill -9 "$pid"
echo "killed the postmaster (pid $pid) under load"
driver_rc=0; wait "$driver" || driver_rc=$?
cat "$work/crash_load.out"
check 0 "$driver_rc" "load until the kill: no wrong decryptions or unexpected errors, enough work, every client lost the server"
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
must "invariants hold after kill -9 and crash recovery" "$load" check "$crash" "$cport" load_test

# Negative control: make a rotated live subject's previous key current again by
# swapping the versions of its two newest keys (3 UPDATEs: versions are unique
# and positive). Versions stay dense, one key is current and every value still
# decrypts; only the clients' record of the last rotation tells.
subject=$(psql_at "$crash" "$cport" load_test -c "
    SELECT r.subject FROM load_keys_seen r JOIN pseudo_keys.subject_key k ON k.key_id = r.key_id
    WHERE k.version > 1 ORDER BY r.seq DESC LIMIT 1")
check 1 "$([ -n "$subject" ] && echo 1 || echo 0)" "a live subject with a rotated key for the negative control"
swap_newest_versions() {
    psql_at "$crash" "$cport" load_test -v ON_ERROR_STOP=1 -v subject="$subject" <<'SQL'
BEGIN;
SELECT pseudo_keys.subject_digest(:'subject') AS digest,
       (SELECT max(version) FROM pseudo_keys.subject_key
        WHERE subject_digest = pseudo_keys.subject_digest(:'subject')) AS newest \gset
UPDATE pseudo_keys.subject_key SET version = :newest + 1 WHERE subject_digest = :'digest' AND version = :newest;
UPDATE pseudo_keys.subject_key SET version = :newest WHERE subject_digest = :'digest' AND version = :newest - 1;
UPDATE pseudo_keys.subject_key SET version = :newest - 1 WHERE subject_digest = :'digest' AND version = :newest + 1;
COMMIT;
SQL
}
swap_newest_versions
if "$load" check "$crash" "$cport" load_test; then
    echo "FAIL: the checker passed with the current key of subject $subject swapped for its previous one"; exit 1
fi
echo "ok: the checker fails when a subject's previous key is made current again (negative control)"
swap_newest_versions   # the same swap undoes it
must "invariants hold again once the swap is undone" "$load" check "$crash" "$cport" load_test
cluster stop "$crash"
