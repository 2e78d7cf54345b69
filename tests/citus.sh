#!/usr/bin/env bash
# pseudo_ext on a real Citus cluster (docs/citus.md): a coordinator and two
# workers, each its own PostgreSQL 15 cluster on a unix socket with its own
# copy of the root key file (tests/citus_cluster.sh). A customer table
# distributed by its subject column: keys are one per subject on every node
# whichever node created them (router INSERT, INSERT ... SELECT in shard
# tasks, COPY through an encrypting trigger), decryption runs in the
# workers' shard tasks, a shred is immediate on every node (also in worker
# backends that had the key cached) and all-or-nothing, subject key
# rotation, column rewrap and root key rotation reach every node, a third
# worker and a rebalance keep every value readable, bad root keys on a
# worker fail loudly, roles hold on workers. Ends with its pass count.
#   tests/citus.sh WORK_DIR BASE_PORT   (uses BASE_PORT .. BASE_PORT+3)
set -euo pipefail
work=$1; base=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
passed=0
eval "lib_$(declare -f check)"
check() { lib_check "$@"; passed=$((passed + 1)); }
bash "$here/../scripts/citus_install.sh"

. "$here/citus_cluster.sh"
start_citus_cluster
[ -n "${CITUS_KEEP:-}" ] || trap stop_all EXIT
new_key_file "$work/keys/other.key"

# 1. Set-up: CREATE EXTENSION on the coordinator reaches the workers; the
# documented step makes the key tables reference tables.
c -c "CREATE EXTENSION pseudo_ext"
for n in w1 w2; do
    check 0.4.0 "$(at "$n" -c "SELECT extversion FROM pg_extension WHERE extname = 'pseudo_ext'")" "CREATE EXTENSION on the coordinator reaches $n"
done
check 55000 "$(state_at c "SELECT pseudo_distribute_keys()" "SELECT citus_remove_node('$(dir_of c)', $(port_of c))")" \
      "pseudo_distribute_keys() refuses while the coordinator has no copy of its own (55000)"
c -c "SELECT citus_set_coordinator_host('$(dir_of c)', $(port_of c))" >/dev/null
check 0A000 "$(state_at w1 "SELECT pseudo_distribute_keys()")" "pseudo_distribute_keys() on a worker: 0A000"
check 6 "$(c -c "SELECT pseudo_distribute_keys()")" "pseudo_distribute_keys() makes the four key tables and the two search tables reference tables"
check 0 "$(c -c "SELECT pseudo_distribute_keys()")" "pseudo_distribute_keys() again: nothing left to do"
check "6|18" "$(c -c "SELECT count(DISTINCT s.logicalrelid) || '|' || count(*) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
                       WHERE s.logicalrelid::text LIKE 'pseudo_keys.%'")" "each key table has a copy on each of the 3 nodes"

c -c "CREATE TABLE customer (subject text, id int, name pseudo_text, PRIMARY KEY (subject, id))" \
  -c "SELECT create_distributed_table('customer', 'subject')" \
  -c "CREATE TABLE staging (subject text, id int, name text)" \
  -c "SELECT create_distributed_table('staging', 'subject', colocate_with => 'customer')" \
  -c "INSERT INTO staging SELECT 'cs-' || i, i, 'name of ' || i FROM generate_series(1, 200) i" >/dev/null

# The wrapped keys of every node, as one digest: equal digests, equal keys.
keys_digest() { at "$1" -c "SELECT count(*) || ':' || md5(coalesce(string_agg(key_id::text || root_epoch || encode(wrapped_key, 'hex'), ',' ORDER BY key_id), ''))
                            FROM pseudo_keys.subject_key"; }
same_keys_everywhere() {
    local want; want=$(keys_digest c)
    check "$want|$want" "$(keys_digest w1)|$(keys_digest w2)" "$1"
}

# 2. Keys everywhere, consistent.
c -c "INSERT INTO customer VALUES ('cs-router', 0, pseudo_encrypt('cs-router', 'router value'))"
check 1 "$(c -c "SELECT count(*) FROM pseudo_keys.subject_key")" "a router INSERT ... VALUES creates the subject's key (on the coordinator)"
same_keys_everywhere "the router INSERT's key is on every node"
check 200 "$(c -c "WITH i AS (INSERT INTO customer SELECT subject, id, pseudo_encrypt(subject, name) FROM staging RETURNING 1) SELECT count(*) FROM i" 2>&1 | tail -1)" \
      "INSERT ... SELECT run in the workers' shard tasks creates 200 first keys (no distributed deadlock)"
check "201|201" "$(c -c "SELECT count(*) || '|' || count(DISTINCT subject_digest) FROM pseudo_keys.subject_key")" "one key per subject cluster-wide"
same_keys_everywhere "keys created for the workers' tasks are on every node"
check 201 "$(c -c "SELECT count(*) FROM pseudo_keys.audit_log WHERE action = 'create'" | head -1)" "every key creation is audited on the coordinator"
# Again for the same subjects: their keys exist, none is added.
c -c "INSERT INTO customer SELECT subject, id + 1000, pseudo_encrypt(subject, name || ' again') FROM staging" >/dev/null
check 201 "$(c -c "SELECT count(*) FROM pseudo_keys.subject_key")" "encrypting again for known subjects on workers adds no key"
c -c "DELETE FROM customer WHERE id > 1000" >/dev/null

# A client connected to a worker directly (Citus runs queries from any node):
# its first pseudo_encrypt for a new subject also creates the key through the
# coordinator, and the key is on every node.
direct_key=$(at w1 -c "SELECT pseudo_key_id(pseudo_encrypt('cs-direct', 'from a worker'))")
check "1|$direct_key" "$(c -c "SELECT count(*) || '|' || max(key_id::text) FROM pseudo_keys.subject_key WHERE key_id = '$direct_key'")" \
      "pseudo_encrypt in a session on a worker creates the new subject's key through the coordinator"
same_keys_everywhere "that key is on every node"

# A transaction that created a subject's key on the coordinator (not yet
# committed) and then needs it in a worker's shard task: the worker's request
# waits for that very transaction, which no deadlock detector sees through
# the connection in between. It fails after 10 s (58000) and never hangs.
start=$SECONDS
check 58000 "$(c -c "\set VERBOSITY sqlstate" -c "BEGIN" -c "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'" \
    -c "INSERT INTO staging SELECT 'lt-' || i, i, 'x' FROM generate_series(1, 20) i" \
    -c "INSERT INTO customer VALUES ('lt-1', 1000, pseudo_encrypt('lt-1', 'first'))" \
    -c "INSERT INTO customer SELECT subject, id, pseudo_encrypt(subject, name) FROM staging WHERE subject LIKE 'lt-%'" 2>&1 | sed -n 's/^ERROR:  //p')" \
      "a worker's key request that waits for its own transaction fails (58000) instead of hanging"
check t "$([ $((SECONDS - start)) -lt 30 ] && echo t || echo f)" "after the 10 s lock timeout, not later"
check 0 "$(c -c "SELECT count(*) FROM staging WHERE subject LIKE 'lt-%'")" "and nothing of that transaction remains"

# COPY into a distributed table whose trigger encrypts on the way in: the
# trigger runs on the workers' shards, for 50 new subjects.
c -c "CREATE TABLE signup (subject text, id int, name_plain text, name pseudo_text, PRIMARY KEY (subject, id))" \
  -c "SELECT create_distributed_table('signup', 'subject', colocate_with => 'customer')" \
  -c "CREATE FUNCTION encrypt_signup() RETURNS trigger LANGUAGE plpgsql AS
      \$\$BEGIN
          -- Rows without plaintext are left alone: Citus re-inserts existing rows
          -- (create_distributed_table on a restored table) and they must survive.
          IF NEW.name_plain IS NOT NULL THEN
              NEW.name := pseudo_encrypt(NEW.subject, NEW.name_plain); NEW.name_plain := NULL;
          END IF;
          RETURN NEW;
      END\$\$" \
  -c "CREATE TRIGGER encrypt_signup BEFORE INSERT ON signup FOR EACH ROW EXECUTE FUNCTION encrypt_signup()" >/dev/null
keys_before_copy=$(c -c "SELECT count(*) FROM pseudo_keys.subject_key")
seq 1 50 | sed 's/.*/cp-&,&,signed up &/' | c -c "COPY signup (subject, id, name_plain) FROM STDIN WITH (FORMAT csv)"
check "50|0|50" "$(c -c "SELECT count(*) || '|' || count(name_plain) || '|' || count(*) FILTER (WHERE pseudo_decrypt(name) = 'signed up ' || id) FROM signup")" \
      "COPY into a distributed table encrypts in the workers' trigger (no plaintext kept) and every value decrypts"
check "$((keys_before_copy + 50))|$((keys_before_copy + 50))" "$(c -c "SELECT count(*) || '|' || count(DISTINCT subject_digest) FROM pseudo_keys.subject_key")" "the COPY created one key per new subject"
same_keys_everywhere "the COPY's keys are on every node"

# 3. Decryption runs where the data is.
plan=$(c -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT pseudo_decrypt(name) FROM customer WHERE id > 0")
check "t|t" "$(grep -q 'Task Count: 8' <<<"$plan" && echo t || echo f)|$(grep -q 'Query: SELECT public.pseudo_decrypt(name)' <<<"$plan" && echo t || echo f)" \
      "the plan sends pseudo_decrypt inside the workers' shard tasks (8 tasks)"
check 200 "$(c -c "SELECT count(*) FROM customer c JOIN staging s USING (subject, id) WHERE pseudo_decrypt(c.name) = s.name")" \
      "every value decrypts on the workers to what was encrypted"
check "router value" "$(c -c "SELECT pseudo_decrypt(name) FROM customer WHERE subject = 'cs-router'")" "a router SELECT decrypts on its worker"
# The same rows on one server (the coordinator, a plain local table) give the same answer.
c -c "CREATE TABLE customer_local AS SELECT * FROM customer" >/dev/null
check "$(c -c "SELECT md5(string_agg(subject || ':' || pseudo_decrypt(name), ',' ORDER BY subject, id)) FROM customer_local")" \
      "$(c -c "SELECT md5(string_agg(subject || ':' || pseudo_decrypt(name), ',' ORDER BY subject, id)) FROM customer")" \
      "distributed results equal the single-server results"

# 4. Shredding is immediate on every node. A session whose worker connections
# (and their backends' key caches) outlive its transactions.
new_session() { coproc S { psql -h "$(dir_of c)" -p "$(port_of c)" -U postgres -X -q -At -d citus_test 2>&1; }; }
new_session
ask() { echo "$1" >&"${S[1]}"; local line; if read -t 30 -r line <&"${S[0]}"; then echo "$line"; else echo TIMEOUT; fi; }
check "name of 7|name of 8" "$(ask "SELECT string_agg(coalesce(pseudo_decrypt(name), '<NULL>'), '|' ORDER BY id) FROM customer WHERE subject IN ('cs-7', 'cs-8');")" \
      "a long-lived session decrypts cs-7 and cs-8 (their keys now cached in worker backends)"
check 1 "$(c -c "SELECT pseudo_shred('cs-7')")" "pseudo_shred('cs-7') on the coordinator"
check "<NULL>|name of 8" "$(ask "SELECT string_agg(coalesce(pseudo_decrypt(name), '<NULL>'), '|' ORDER BY id) FROM customer WHERE subject IN ('cs-7', 'cs-8');")" \
      "right after the shred the long-lived session's workers read cs-7 as NULL (cached key dropped), cs-8 still decrypts"
same_keys_everywhere "the shred removed the key on every node"
for n in w1 w2; do
    check 1 "$(at "$n" -c "SELECT count(*) FROM pseudo_keys.shredded_key")" "$n lists the shredded key"
done
check 55000 "$(state_at c "SELECT pseudo_encrypt('cs-7', 'x')")" "pseudo_encrypt for the shredded subject on the coordinator: 55000"
check 55000 "$(state_at c "(SELECT count(*) FROM (SELECT pseudo_encrypt(subject, 'x') FROM staging WHERE id IN (7, 9)) e)")" \
      "pseudo_encrypt for the shredded subject in a worker's shard task: 55000"
# A shred with a worker down fails and shreds nothing anywhere.
bash "$here/../scripts/cluster.sh" stop "$(dir_of w2)"
state=$(state_at c "SELECT pseudo_shred('cs-9')")
bash "$here/../scripts/cluster.sh" start "$(dir_of w2)" "$(port_of w2)"
check "failed" "$([ "$state" != ok ] && echo failed || echo "$state")" "pseudo_shred with a worker down fails ($state)"
check "name of 9" "$(c -c "SELECT pseudo_decrypt(name) FROM customer WHERE subject = 'cs-9'")" "after the failed shred cs-9 still decrypts"
c -c "SELECT recover_prepared_transactions()" >/dev/null
check "0|0" "$(at w1 -c "SELECT count(*) FROM pg_prepared_xacts")|$(at w2 -c "SELECT count(*) FROM pg_prepared_xacts")" \
      "no prepared transaction is left behind on the workers"
same_keys_everywhere "after the failed shred every node still holds the same keys"
check 1 "$(c -c "SELECT pseudo_shred('cs-9')")" "the shred succeeds once the worker is back"
check "<NULL>" "$(ask "SELECT coalesce(pseudo_decrypt(name), '<NULL>') FROM customer WHERE subject = 'cs-9';")" "and is immediate there too"

# 7. Bad root keys on a worker fail loudly on the coordinator.
restart_with_key w2 "$work/keys/missing.key"
check 58P01 "$(state_at c "(SELECT count(pseudo_decrypt(name)) FROM customer)")" "a worker without its root key file: 58P01 on the coordinator"
restart_with_key w2 "$work/keys/other.key"
check F0000 "$(state_at c "(SELECT count(pseudo_decrypt(name)) FROM customer)")" "a worker with another root key: F0000 on the coordinator"
restart_with_key w2 "$work/keys/w2.key"
# The long-lived session's connection to w2 went with the restarts: a new one.
echo '\q' >&"${S[1]}"; wait "$S_PID" 2>/dev/null || true
new_session
check 199 "$(c -c "SELECT count(pseudo_decrypt(name)) FROM customer")" "with the right root key back every value decrypts (199 live, 2 shredded)"

# 5. Rotation, rewrap and root key rotation across nodes.
check "x" "$(ask "SELECT pseudo_decrypt(pseudo_encrypt(subject, 'x')) FROM staging WHERE subject = 'cs-20';")" \
      "the long-lived session encrypts for cs-20 in a worker's task (its current key now cached there)"
new_key=$(c -c "SELECT pseudo_rotate('cs-20')")
check "$new_key" "$(ask "SELECT pseudo_key_id(pseudo_encrypt(subject, 'x')) FROM staging WHERE subject = 'cs-20';")" \
      "after pseudo_rotate on the coordinator that worker encrypts under the new key"
check 0A000 "$(state_at w1 "SELECT pseudo_rotate('cs-21')")" "pseudo_rotate on a worker: 0A000"
check 1 "$(c -c "SELECT count(*) FROM customer WHERE pseudo_needs_rewrap(name)")" "cs-20's value needs rewrapping"
check 0A000 "$(c -c "\set VERBOSITY sqlstate" -c "UPDATE customer SET name = pseudo_rewrap(name) WHERE pseudo_needs_rewrap(name)" 2>&1 | sed -n 's/^ERROR:  //p')" \
      "a plain UPDATE ... SET name = pseudo_rewrap(name) is refused by Citus (VOLATILE function in a distributed UPDATE: 0A000)"
key_20=$new_key
key_21=$(c -c "SELECT pseudo_rotate('cs-21')")
c -c "CALL pseudo_rewrap_column('customer', 'name')" >/dev/null 2>&1
check "0|$key_20|name of 20|$key_21|name of 21" \
      "$(c -c "SELECT count(*) FROM customer WHERE pseudo_needs_rewrap(name)")$(c -c "SELECT string_agg('|' || pseudo_key_id(name) || '|' || pseudo_decrypt(name), '' ORDER BY subject)
               FROM customer WHERE subject IN ('cs-20', 'cs-21')")" \
      "pseudo_rewrap_column on a distributed table rewraps every shard, on its worker"
check "$(c -c "SELECT count(DISTINCT get_shard_id_for_distribution_column('customer', s)) FROM unnest(ARRAY['cs-20', 'cs-21']) s")" \
      "$(c -c "SELECT sum(result::int) FROM run_command_on_workers(\$\$SELECT count(*) FROM pseudo_keys.audit_log WHERE action = 'rewrap'\$\$)")" \
      "each shard's rewrap is audited on its worker (one row per shard that rewrapped a value)"
# Root key rotation. The first call puts a new root key in the coordinator's
# file and refuses (55000): the workers' files lack it, and rotating anyway
# would leave them unable to decrypt. Copying that line to every worker (as
# an administrator would to each machine) lets the second call rotate and
# rewrap every node's copy of the keys.
check 55000 "$(state_at c "SELECT pseudo_rotate_root_key()")" "root key rotation refuses while the workers' root key files lack the new key (55000)"
check "2|1" "$(grep -cE '^[0-9a-f]{64}$' "$work/keys/c.key")|$(c -c "SELECT max(epoch) FROM pseudo_keys.root_key")" \
      "the refused rotation left its new key in the coordinator's file, epoch 1 still current"
for n in w1 w2; do tail -n 1 "$work/keys/c.key" >>"$work/keys/$n.key"; done
check 2 "$(c -c "SELECT pseudo_rotate_root_key()")" "pseudo_rotate_root_key() on the coordinator starts epoch 2"
same_keys_everywhere "every node's copy of the keys is rewrapped alike"
check "0|0" "$(at w1 -c "SELECT count(*) FILTER (WHERE root_epoch <> 2) FROM pseudo_keys.subject_key")|$(at w2 -c "SELECT count(*) FILTER (WHERE root_epoch <> 2) FROM pseudo_keys.subject_key")" \
      "on both workers every key is wrapped under epoch 2"
check 249 "$(ask "SELECT (SELECT count(pseudo_decrypt(name)) FROM customer) + (SELECT count(pseudo_decrypt(name)) FROM signup);")" \
      "the long-lived session decrypts everything under the new root key (199 + 50)"
c -c "SELECT pseudo_retire_root_key(1)" >/dev/null
check t "$(c -c "SELECT pseudo_destroy_root_key(1)")" "epoch 1 retired and its root key destroyed on the coordinator"
check "1|249" "$(grep -cE '^[0-9a-f]{64}$' "$work/keys/c.key")|$(c -c "SELECT (SELECT count(pseudo_decrypt(name)) FROM customer) + (SELECT count(pseudo_decrypt(name)) FROM signup)")" \
      "the coordinator's file keeps only the new key; every value still decrypts on the workers"

# 6. Operations: a third worker and a rebalance keep every value readable.
start_node w3 "$work/keys/c.key"   # the new machine gets the current root key file
c -c "SELECT citus_add_node('$(dir_of w3)', $(port_of w3))" >/dev/null
check 0.4.0 "$(at w3 -c "SELECT extversion FROM pg_extension WHERE extname = 'pseudo_ext'")" "adding a worker installs pseudo_ext there"
c -c "SELECT rebalance_table_shards(shard_transfer_mode => 'block_writes')" >/dev/null 2>&1
check t "$(c -c "SELECT count(*) > 0 FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
               WHERE s.logicalrelid = 'customer'::regclass AND n.nodeport = $(port_of w3)")" "the rebalance moved customer shards to w3"
check "$(keys_digest c)" "$(keys_digest w3)" "w3 holds the same keys"
check 249 "$(c -c "SELECT (SELECT count(pseudo_decrypt(name)) FROM customer) + (SELECT count(pseudo_decrypt(name)) FROM signup)")" "after the rebalance every value decrypts"
subject_on_w3=$(c -c "SELECT c.subject FROM customer c WHERE c.subject LIKE 'cs-%' AND get_shard_id_for_distribution_column('customer', c.subject) IN
                      (SELECT shardid FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) WHERE n.nodeport = $(port_of w3))
                      AND pseudo_decrypt(c.name) IS NOT NULL ORDER BY c.subject LIMIT 1")
check "$(c -c "SELECT pseudo_decrypt(name) FROM customer WHERE subject = '$subject_on_w3'")" \
      "$(ask "SELECT pseudo_decrypt(name) FROM customer WHERE subject = '$subject_on_w3';")" "the long-lived session reads $subject_on_w3 on w3"
check 1 "$(c -c "SELECT pseudo_shred('$subject_on_w3')")" "shred $subject_on_w3"
check "<NULL>" "$(ask "SELECT coalesce(pseudo_decrypt(name), '<NULL>') FROM customer WHERE subject = '$subject_on_w3';")" "the shred is immediate on w3 too"

# A database that holds no keys at all says so (it used to say the root key
# file was missing).
psql_at "$(dir_of c)" "$(port_of c)" postgres -q -c "DROP DATABASE IF EXISTS no_keys" -c "CREATE DATABASE no_keys" 2>/dev/null
psql_at "$(dir_of c)" "$(port_of c)" no_keys -c "CREATE EXTENSION pseudo_ext" -c "CREATE TABLE t (v pseudo_text)" \
    -c "INSERT INTO t VALUES ('$(c -c "SELECT name FROM customer WHERE subject = 'cs-10'")')"
check 42704 "$(sqlstate_of "$(dir_of c)" "$(port_of c)" no_keys "SELECT pseudo_decrypt(v) FROM t")" "decrypting in a database without keys: 42704"
msg=$(psql_at "$(dir_of c)" "$(port_of c)" no_keys -c "SELECT pseudo_decrypt(v) FROM t" 2>&1 || true)
check "t|f" "$(grep -q 'holds no keys' <<<"$msg" && echo t || echo f)|$(grep -q 'does not exist' <<<"$msg" && echo t || echo f)" \
      "its message says the database holds no keys, not that the root key file is missing"

# Equality search (docs/searching.md, "On Citus"): the search tables are
# reference tables; searchable values are written on the coordinator
# (INSERT ... VALUES evaluates the function there), searched across the
# shards through each shard's expression index, and a shred takes the
# subject's terms off every node. Inside a shard task a term write is refused
# (a write to a reference table there deadlocks, and at commit crashed
# Citus's commit of the worker's part: segfault in ConnectionModifiedPlacement).
c -c "SELECT pseudo_create_search_index('cs_email', 'lower_trim')" \
  -c "CREATE TABLE contact (subject text, id int, email pseudo_text, PRIMARY KEY (subject, id))" \
  -c "SELECT create_distributed_table('contact', 'subject', colocate_with => 'customer')" \
  -c "CREATE INDEX contact_email_key ON contact (pseudo_key_id(email))" >/dev/null
for i in $(seq 20 39); do
    c -c "INSERT INTO contact VALUES ('ct-$i', $i, pseudo_encrypt_searchable('cs_email', 'ct-$i', 'Mail$((i % 4))@Example.com'))" >/dev/null
done
terms_everywhere() { for n in c w1 w2 w3; do at "$n" -c "SELECT count(*) FROM pseudo_keys.search_term"; done | paste -sd,; }
check "20,20,20,20" "$(terms_everywhere)" "one term per searchable value, on every node"
found="SELECT coalesce(string_agg(id::text, ',' ORDER BY id), 'none') FROM contact WHERE pseudo_key_id(email) = ANY (pseudo_search('cs_email', 'mail1@example.com')) AND pseudo_matches('cs_email', email, 'mail1@example.com')"
check "21,25,29,33,37" "$(c -c "$found")" "a search on the coordinator finds the rows on every shard"
check "t" "$(c -c "EXPLAIN (COSTS OFF) $found" | grep -q 'contact_email_key' && echo t || echo f)" "through the shards' expression indexes"
check 0A000 "$(c -c '\set VERBOSITY sqlstate' -c "INSERT INTO contact SELECT subject, id + 1000, pseudo_encrypt_searchable('cs_email', subject, 'x@example.com') FROM customer WHERE id < 5" 2>&1 | sed -n 's/^ERROR:  //p' | head -1)" \
      "a searchable write inside shard tasks (INSERT ... SELECT) is refused (0A000)"
check "20,20,20,20" "$(terms_everywhere)" "and wrote nothing"
check 1 "$(c -c "SELECT pseudo_shred('ct-25')")" "shred ct-25"
check "19,19,19,19" "$(terms_everywhere)" "the shred removed its term on every node"
check "21,29,33,37" "$(c -c "$found")" "the search no longer finds its row"

# 6 (part). Roles hold on workers: Citus propagates roles and grants.
c -c "CREATE ROLE citus_reader LOGIN" -c "GRANT pseudo_reader TO citus_reader" -c "GRANT SELECT ON customer TO citus_reader" \
  -c "CREATE ROLE citus_nobody LOGIN" -c "GRANT SELECT ON customer TO citus_nobody" >/dev/null
for n in w1 w2 w3; do
    check "true|false" "$(at "$n" -c "SELECT pg_has_role('citus_reader', 'pseudo_reader', 'MEMBER') || '|' || pg_has_role('citus_nobody', 'pseudo_reader', 'MEMBER')")" \
          "on $n citus_reader is a pseudo_reader and citus_nobody is not"
    check 42501 "$(state_at "$n" "(SELECT count(*) FROM pseudo_keys.subject_key)" "SET ROLE citus_reader")" "on $n a pseudo_reader cannot read the key tables"
done
check 198 "$(c -c "SET ROLE citus_reader" -c "SELECT count(pseudo_decrypt(name)) FROM customer" | tail -1)" "a pseudo_reader decrypts across the workers"
check 42501 "$(state_at c "(SELECT count(pseudo_decrypt(name)) FROM customer)" "SET ROLE citus_nobody")" "a role without pseudo_reader cannot (42501)"

# 6 (end). pg_dump of the coordinator, restored into a new Citus cluster by the
# documented steps (docs/citus.md): every value decrypts, shredded ones stay
# NULL, the keys are on every node again and a shred still reaches them all.
want_live=$(c -c "SELECT (SELECT count(pseudo_decrypt(name)) FROM customer) + (SELECT count(pseudo_decrypt(name)) FROM signup)")
want_keys=$(keys_digest c)
pg_dump -h "$(dir_of c)" -p "$(port_of c)" -U postgres -Fc -f "$work/citus_test.dump" citus_test
echo '\q' >&"${S[1]}"; wait "$S_PID" 2>/dev/null || true
install -o postgres -g postgres -m 600 "$work/keys/c.key" "$work/keys/current.key"
start_citus_cluster "$work/keys/current.key"
c -c "CREATE ROLE citus_reader LOGIN" -c "CREATE ROLE citus_nobody LOGIN" >/dev/null
pg_restore -l "$work/citus_test.dump" | grep -v ' EXTENSION - citus$' >"$work/restore.list"
pg_restore -h "$(dir_of c)" -p "$(port_of c)" -U postgres -d citus_test --exit-on-error -L "$work/restore.list" "$work/citus_test.dump"
c -c "SELECT pseudo_distribute_keys()" -c "SELECT create_distributed_table('customer', 'subject')" \
  -c "SELECT create_distributed_table('staging', 'subject', colocate_with => 'customer')" \
  -c "SELECT create_distributed_table('signup', 'subject', colocate_with => 'customer')" >/dev/null 2>&1
check "$want_live" "$(c -c "SELECT (SELECT count(pseudo_decrypt(name)) FROM customer) + (SELECT count(pseudo_decrypt(name)) FROM signup)")" \
      "after pg_dump and restore into a new Citus cluster every value decrypts ($want_live), shredded ones stay NULL"
check "$want_keys" "$(keys_digest c)" "the restored coordinator holds the same keys"
same_keys_everywhere "and so does every new worker"
check 1 "$(c -c "SELECT pseudo_shred('cs-30')")" "a shred in the restored cluster"
check "<NULL>" "$(c -c "SELECT coalesce(pseudo_decrypt(name), '<NULL>') FROM customer WHERE subject = 'cs-30'")" "the shred reaches cs-30's worker"
same_keys_everywhere "and every node's copy of the keys"

echo "citus: $passed passed"
