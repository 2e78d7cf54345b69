#!/usr/bin/env bash
# Benchmark: pseudo_decrypt over ROWS rows (default 1,000,000; SUBJECTS
# subjects) distributed over 2 Citus workers, against the same query on one
# server (a plain table on the coordinator, same database, same keys), in one
# run on the same machine. Each is also given against a no-crypto baseline
# (length() of a plaintext column) in the same layout. Prints seconds (median
# of 3) and ratios; cold = a new session (new worker backends: empty key
# caches), warm = the same query again in that session. Not a test.
#
# On this 2-core machine the coordinator and both workers share the same two
# cores, so the point is where the work runs (EXPLAIN: the decrypts are in the
# workers' shard tasks), not a speed-up; with workers on their own machines the
# decrypt time divides by the number of workers.
#   bench/citus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)/tests
. tests/lib.sh
bash scripts/setup.sh >/dev/null
bash scripts/citus_install.sh
ROWS=${ROWS:-1000000}
SUBJECTS=${SUBJECTS:-10000}
work=/tmp/pseudo_ext_bench_citus
base=5570
echo "building release extension..."
cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/tmp/pseudo_ext_bench_citus_install.log 2>&1
. tests/citus_cluster.sh
start_citus_cluster
trap stop_all EXIT
c -c "CREATE EXTENSION pseudo_ext" -c "SELECT pseudo_distribute_keys()" >/dev/null

echo "loading $ROWS rows for $SUBJECTS subjects (keys made on the coordinator)..."
c -c "CREATE TABLE one_server (subject text, id int, plain text, name pseudo_text)" \
  -c "INSERT INTO one_server SELECT 'b-' || (i % $SUBJECTS), i, 'name number ' || i, pseudo_encrypt('b-' || (i % $SUBJECTS), 'name number ' || i)
      FROM generate_series(1, $ROWS) i" \
  -c "CREATE TABLE distributed (LIKE one_server)" \
  -c "SELECT create_distributed_table('distributed', 'subject')" \
  -c "INSERT INTO distributed SELECT * FROM one_server" \
  -c "VACUUM ANALYZE one_server" -c "VACUUM ANALYZE distributed" >/dev/null
c -c "SELECT count(*) FROM pseudo_keys.subject_key" | grep -qx "$SUBJECTS"
plan=$(c -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT count(pseudo_decrypt(name)) FROM distributed")
tasks=$(grep -oE 'Task Count: [0-9]+' <<<"$plan" | grep -oE '[0-9]+')
in_task=$(grep -cE 'Query: SELECT .*pseudo_decrypt\(name\)' <<<"$plan" || true)
nodes=$(c -c "SELECT string_agg(nodename || ': ' || n || ' shards', ', ' ORDER BY nodename)
              FROM (SELECT p.nodename, count(*) AS n FROM pg_dist_shard s JOIN pg_dist_shard_placement p USING (shardid)
                    WHERE s.logicalrelid = 'distributed'::regclass GROUP BY 1) x")

# seconds of: QUERY in a new session (cold), then again in it (warm)
cold_warm() {
    psql -h "$(dir_of c)" -p "$(port_of c)" -U postgres -X -q -At -d citus_test \
        -c "\\timing on" -c "$1" -c "$1" 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%.3f ", $1 / 1000}'
}
median() { sort -n | sed -n '2p'; }
declare -A t
for table in one_server distributed; do
    for q in decrypt baseline; do
        case $q in
            decrypt) sql="SELECT count(pseudo_decrypt(name)) FROM $table" ;;
            baseline) sql="SELECT count(length(plain)) FROM $table" ;;
        esac
        runs=$(for _ in 1 2 3; do cold_warm "$sql"; echo; done)
        t[$table,$q,cold]=$(awk '{print $1}' <<<"$runs" | median)
        t[$table,$q,warm]=$(awk '{print $2}' <<<"$runs" | median)
    done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "pseudo_decrypt over $ROWS rows, $SUBJECTS subjects; PostgreSQL 15 + Citus 13.2.2, $(nproc) cores shared by all nodes"
echo "distributed: $tasks shard tasks ($nodes); pseudo_decrypt inside the task query: $([ "$in_task" -gt 0 ] && echo yes || echo NO)"
echo
printf '| %-6s | %-28s | %-28s | %-22s |\n' "" "one server: s (x baseline)" "2 workers: s (x baseline)" "2 workers / one server"
printf '|%s|%s|%s|%s|\n' "--------" "------------------------------" "------------------------------" "------------------------"
for phase in cold warm; do
    one=${t[one_server,decrypt,$phase]}; dist=${t[distributed,decrypt,$phase]}
    printf '| %-6s | %-28s | %-28s | %-22s |\n' "$phase" \
        "$one ($(ratio "$one" "${t[one_server,baseline,$phase]}")x)" \
        "$dist ($(ratio "$dist" "${t[distributed,baseline,$phase]}")x)" \
        "$(ratio "$dist" "$one")x"
done
echo
echo "baseline (count(length(plain))): one server ${t[one_server,baseline,warm]} s, 2 workers ${t[distributed,baseline,warm]} s (warm)"
