#!/usr/bin/env bash
# A streaming replica (pg_basebackup -R of the test cluster, a second cluster
# on a unix socket) with the same root key file: it decrypts what the primary
# wrote; a shred on the primary makes the values NULL on the replica after
# replay, also in a session that had the key cached; a search on the replica
# finds what the primary indexed, and not the shredded subject's rows after
# replay; an FHE GET answers on the replica; writes are refused there (25006).
#   tests/replica.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
PGBIN=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)
rdir=$work/replica; rport=$((port + 3))
keys=$work/replica_keys
bash "$here/../scripts/cluster.sh" stop "$rdir" 2>/dev/null || true
rm -rf "$rdir" "$keys"; mkdir -p "$rdir" "$keys"; chown postgres:postgres "$rdir" "$keys"
p() { psql_at "$dir" "$port" replica_test -v ON_ERROR_STOP=1 "$@"; }
r() { psql_at "$rdir" "$rport" replica_test "$@"; }

# The root key lives outside both data directories; both servers read the same file.
new_key_file "$keys/root.key"
psql_at "$dir" "$port" postgres -c "DROP DATABASE IF EXISTS replica_test" -c "CREATE DATABASE replica_test" \
    -c "ALTER DATABASE replica_test SET pseudo_ext.root_key_file = '$keys/root.key'"
p -c "CREATE EXTENSION pseudo_ext" -c "CREATE TABLE t (id int PRIMARY KEY, subject text, v pseudo_text)" \
  -c "INSERT INTO t SELECT i, 'rep-' || (i % 2), pseudo_encrypt('rep-' || (i % 2), 'replica value ' || i) FROM generate_series(1, 20) i" \
  -c "SELECT pseudo_create_search_index('rep_idx')" -c "ALTER TABLE t ADD COLUMN s pseudo_text" \
  -c "UPDATE t SET s = pseudo_encrypt_searchable('rep_idx', subject, 'mail ' || (id % 5))" -c "CREATE INDEX ON t (pseudo_key_id(s))" >/dev/null
build_clients
fhe() { target/release/pseudo-fhe --key "$work/replica_fhe.key" --db "host=$1 port=$2 user=postgres dbname=replica_test" "${@:3}"; }
rm -f "$work/replica_fhe.key"; target/release/pseudo-fhe --key "$work/replica_fhe.key" keygen >/dev/null
fhe "$dir" "$port" create-store rep 2 8 8 >/dev/null
fhe "$dir" "$port" set rep 5 55 >/dev/null
# A database with the extension but no key yet, its root key file not yet created.
psql_at "$dir" "$port" postgres -c "DROP DATABASE IF EXISTS replica_fresh" -c "CREATE DATABASE replica_fresh" \
    -c "ALTER DATABASE replica_fresh SET pseudo_ext.root_key_file = '$keys/fresh.key'"
psql_at "$dir" "$port" replica_fresh -c "CREATE EXTENSION pseudo_ext"

runuser -u postgres -- "$PGBIN/pg_basebackup" -h "$dir" -p "$port" -U postgres -D "$rdir/data" -R -X stream -c fast
cat >>"$rdir/data/postgresql.conf" <<CONF
port = $rport
unix_socket_directories = '$rdir'
CONF
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$rdir/data" -l "$rdir/server.log" -w -t 60 start >/dev/null
# A failing check exits the script: the standby is stopped however it ends.
trap 'bash "$here/../scripts/cluster.sh" stop "$rdir"' EXIT
check t "$(r -c "SELECT pg_is_in_recovery()")" "replica is a hot standby"
check 20 "$(r -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'replica value ' || id")" "the replica decrypts what the primary wrote (same root key file)"

found="SELECT coalesce(string_agg(id::text, ',' ORDER BY id), 'none') FROM t WHERE pseudo_key_id(s) = ANY (pseudo_search('rep_idx', 'mail 2')) AND pseudo_matches('rep_idx', s, 'mail 2')"
check "2,7,12,17" "$(r -c "$found")" "a search on the replica finds what the primary indexed"
check 25006 "$(sqlstate_of "$rdir" "$rport" replica_test "SELECT pseudo_encrypt_searchable('rep_idx', 'rep-1', 'x')")" "a searchable value cannot be written on the replica (25006)"

# A session on the replica that has rep-0's key cached across the shred.
coproc SB { psql -h "$rdir" -p "$rport" -U postgres -X -q -At -d replica_test 2>&1; }
# A read that times out leaves what it got so far (maybe nothing): say TIMEOUT.
ask() { echo "$1" >&"${SB[1]}"; local line; if read -t 20 -r line <&"${SB[0]}"; then echo "$line"; else echo TIMEOUT; fi; }
check "replica value 2" "$(ask "SELECT pseudo_decrypt(v) FROM t WHERE id = 2;")" "long-lived replica session decrypts (key now cached)"
check "2,7,12,17" "$(ask "$found;")" "long-lived replica session searches (index key cached)"

check 1 "$(p -c "SELECT pseudo_shred('rep-0')")" "shred on the primary"
lsn=$(p -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
    [ "$(r -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break; sleep 0.1
done
check "0|10" "$(r -c "SELECT count(*) FILTER (WHERE subject = 'rep-0' AND pseudo_decrypt(v) IS NOT NULL) || '|' || count(*) FILTER (WHERE subject = 'rep-1' AND pseudo_decrypt(v) IS NOT NULL) FROM t")" \
      "after replay a new replica session reads the shredded subject as NULL, the other decrypts"
check "<NULL>" "$(ask "SELECT coalesce(pseudo_decrypt(v), '<NULL>') FROM t WHERE id = 2;")" "after replay the long-lived replica session reads NULL too (cache invalidated by replayed WAL)"
check "7,17" "$(ask "$found;")" "after replay the long-lived replica session's search finds only the live subject's rows"
check "7,17" "$(r -c "$found")" "and so does a new session's"
echo "\\q" >&"${SB[1]}"; wait "$SB_PID" 2>/dev/null || true

check 25006 "$(sqlstate_of "$rdir" "$rport" replica_test "SELECT pseudo_encrypt('rep-new', 'x')")" "a first key cannot be created on the replica (25006, read-only transaction)"
# Nothing is created before that refusal: no root key file for a database
# without keys, which would later reject the primary's key.
check 25006 "$(sqlstate_of "$rdir" "$rport" replica_fresh "SELECT pseudo_encrypt('fresh-1', 'x')")" "a database's first key cannot be created on the replica (25006)"
check no "$( [ -e "$keys/fresh.key" ] && echo yes || echo no)" "the refused first key created no root key file"
check 25006 "$(sqlstate_of "$dir" "$port" replica_fresh "SELECT pseudo_encrypt('fresh-1', 'x')" "SET default_transaction_read_only = on")" "nor in a read-only transaction on the primary (25006)"
check no "$( [ -e "$keys/fresh.key" ] && echo yes || echo no)" "the read-only transaction created no root key file"
psql_at "$dir" "$port" replica_fresh -c "CREATE TABLE t AS SELECT pseudo_encrypt('fresh-1', 'first on the primary') AS v"
lsn=$(p -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
    [ "$(r -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break; sleep 0.1
done
check "first on the primary" "$(psql_at "$rdir" "$rport" replica_fresh -c "SELECT pseudo_decrypt(v) FROM t")" "the replica decrypts the database's first value, under the primary's root key"
check "55" "$(fhe "$rdir" "$rport" get rep 5 | awk '{print $1}')" "a private FHE GET answers on the replica"
