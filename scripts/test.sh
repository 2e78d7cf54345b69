#!/usr/bin/env bash
# Runs every test of pseudo_ext and exits non-zero on any failure:
#   1. cargo test of the pure core (NIST CAVP + Wycheproof vectors, envelope, wrapping),
#      and a short fuzzing run of its parsers (proptest, release build)
#   2. cargo pgrx test: #[pg_test]s inside a real backend
#   3. pg_regress against a throwaway PostgreSQL 15 cluster (unix socket only)
#   4. scripted tests (tests/*.sh): dump/restore, root key failures, root key
#      rotation and the shred horizon, upgrade from the released 0.1.0, the
#      privilege matrix, the FHE client, the SQLAlchemy example, a streaming
#      replica, the release tarball, load with invariants and kill -9 crash
#      recovery
#   5. tests through a real client (Rust `postgres` crate): several sessions,
#      binary input, plaintext and key bytes at rest and in the log
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; exit 1; }
. tests/lib.sh   # CLIENT_PKGS: one package selection for every build that links TFHE-rs

WORK=/tmp/pseudo_ext_test
PORT=5499
LOGS=$WORK/logs
CLUSTER=$WORK/cluster
rm -rf "$LOGS"; mkdir -p "$LOGS"
bash scripts/cluster.sh stop "$CLUSTER" 2>/dev/null || true
rm -rf "$CLUSTER"

passed=0; failed=0; broken=()
count_cargo() {  # sums "test result: ok. N passed; M failed" lines of a log
    local p f
    p=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$1" | awk '{s+=$4} END {print s+0}')
    f=$(grep -oE '[0-9]+ failed;' "$1" | awk '{s+=$1} END {print s+0}')
    passed=$((passed + p)); failed=$((failed + f))
}
step() {  # step NAME LOG command...
    local name=$1 log=$2; shift 2
    echo "== $name"
    if "$@" >"$log" 2>&1; then echo "   ok"; else echo "   FAILED (log: $log)"; tail -40 "$log"; broken+=("$name"); fi
}

step "released install scripts unchanged (sql/released/SHA256SUMS)" "$LOGS/released.log" \
    bash -c 'cd sql/released && sha256sum -c SHA256SUMS'
if grep -q ': OK$' "$LOGS/released.log" && ! grep -q FAILED "$LOGS/released.log"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

step "core unit and vector tests (cargo test -p pseudo_core)" "$LOGS/core.log" \
    cargo test -p pseudo_core
count_cargo "$LOGS/core.log"

# Fuzzing, short run: 1,000,000 cases for each of the 5 properties in core/tests/fuzz.rs
# (the README records the last 10-million-execution run).
step "fuzzing: 5 properties x 1,000,000 cases (cargo test --release -p pseudo_core --test fuzz)" "$LOGS/fuzz.log" \
    env PSEUDO_FUZZ_CASES=1000000 cargo test --release -p pseudo_core --test fuzz
count_cargo "$LOGS/fuzz.log"

# The private key/value store on TFHE, pure crate: every GET/SET case at 4
# slots of 8 bits, decrypted and checked; the wire format's refusals.
step "FHE private key/value store, pure crate (cargo test --release, tests store and wire)" "$LOGS/fhe.log" \
    cargo test --release "${CLIENT_PKGS[@]}" --test store --test wire
count_cargo "$LOGS/fhe.log"

PGTEST_DATA=/tmp/pxpgt
rm -rf "$PGTEST_DATA"; mkdir -p "$PGTEST_DATA"; chown postgres:postgres "$PGTEST_DATA"
step "#[pg_test]s (cargo pgrx test pg15)" "$LOGS/pg_test.log" \
    cargo pgrx test pg15 --release --runas postgres --pgdata "$PGTEST_DATA"
count_cargo "$LOGS/pg_test.log"

step "build and install the extension (cargo pgrx install)" "$LOGS/install.log" \
    cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config
step "start throwaway cluster" "$LOGS/cluster.log" bash scripts/cluster.sh start "$CLUSTER" "$PORT"

REGRESS_OUT=$WORK/regress
rm -rf "$REGRESS_OUT"; mkdir -p "$REGRESS_OUT"
tests=$(ls tests/pg_regress/sql/*.sql | xargs -n1 basename | sed 's/\.sql$//' | sort)
step "pg_regress: $(echo $tests)" "$LOGS/regress.log" \
    /usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
        --inputdir=tests/pg_regress --outputdir="$REGRESS_OUT" \
        --host="$CLUSTER" --port="$PORT" --user=postgres \
        --dbname=pseudo_regress --load-extension=pseudo_ext $tests
p=$(grep -cE '\.\.\. ok|^ok ' "$LOGS/regress.log" || true)
f=$(grep -cE '\.\.\. FAILED|^not ok ' "$LOGS/regress.log" || true)
passed=$((passed + p)); failed=$((failed + f))
[ -f "$REGRESS_OUT/regression.diffs" ] && head -100 "$REGRESS_OUT/regression.diffs"

for script in dump_restore root_key root_rotation upgrade privileges fhe_cli orm replica package load; do
    case $script in
        dump_restore) what="pg_dump, restore into a fresh cluster, missing and wrong root key" ;;
        root_key) what="root key failures" ;;
        root_rotation) what="root key rotation, retirement, destruction; shred horizon; root_key_command" ;;
        upgrade) what="ALTER EXTENSION UPDATE 0.1.0 -> 0.2.0 -> 0.3.0 equals a fresh install" ;;
        privileges) what="privilege matrix: every object x 7 roles equals the README table" ;;
        fhe_cli) what="pseudo-fhe client: keygen, create-store, private SET and GET end to end" ;;
        orm) what="SQLAlchemy 2 + psycopg 3 example (examples/sqlalchemy) in a fresh virtualenv" ;;
        replica) what="streaming replica: decrypts, sees shreds after replay, FHE GET, 25006 for new keys" ;;
        package) what="release tarball (scripts/package.sh) installed on a relocated PostgreSQL without Rust" ;;
        load) what="8 clients x ${LOAD_SECONDS:-60} s of mixed load, invariants; kill -9 under load, crash recovery, invariants" ;;
    esac
    step "$what (tests/$script.sh)" "$LOGS/$script.log" bash "tests/$script.sh" "$CLUSTER" "$PORT" "$WORK"
    if grep -q '^FAIL' "$LOGS/$script.log" || ! grep -q '^ok:' "$LOGS/$script.log"; then
        failed=$((failed + 1))
    else
        passed=$((passed + $(grep -c '^ok:' "$LOGS/$script.log")))
    fi
done

step "client tests (cargo test --release, tests/client/tests/*.rs)" "$LOGS/client.log" \
    env PSEUDO_EXT_TEST_HOST="$CLUSTER" PSEUDO_EXT_TEST_PORT="$PORT" \
        PSEUDO_EXT_TEST_DATA="$CLUSTER/data" PSEUDO_EXT_TEST_LOG="$CLUSTER/server.log" \
    cargo test --release "${CLIENT_PKGS[@]}" $(ls tests/client/tests/*.rs | xargs -n1 basename | sed 's/\.rs$//; s/^/--test /') \
        -- --test-threads=1 --nocapture
count_cargo "$LOGS/client.log"

# The postmaster must not have restarted after a crashed backend during the run.
if grep -q "terminated by signal\|server process .* was terminated" "$CLUSTER/server.log"; then
    echo "== a backend crashed during the tests:"; grep -n "terminated by signal" "$CLUSTER/server.log"
    broken+=("backend crash"); failed=$((failed + 1))
fi
bash scripts/cluster.sh stop "$CLUSTER"

echo
if [ ${#broken[@]} -gt 0 ]; then
    echo "failing steps: ${broken[*]}"
    [ "$failed" -eq 0 ] && failed=${#broken[@]}
fi
echo "$passed passed, $failed failed"
[ ${#broken[@]} -eq 0 ] && [ "$failed" -eq 0 ]
