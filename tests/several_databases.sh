#!/usr/bin/env bash
# Several databases sharing one root key file (as all do with the default
# path). A database's first root key epoch takes the newest key in the file,
# and pseudo_destroy_root_key refuses a key that another database sharing
# the file still uses (each lists its keys in <file>.users, see
# src/pseudo/root_key_users.rs). Three databases rotate in different orders:
#   A and B start on K1; A rotates (K2); C starts on K2; A retires K1 and may
#   not destroy it (B uses it); B rotates (adopts K2) and retires K1; now A
#   destroys K1. C rotates (K3), A rotates (adopts K3) and retires K2: A may
#   not destroy K2 while B uses it; once B is dropped, it may.
#   tests/several_databases.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
. "$(dirname "$0")/lib.sh"
q() { local db=$1; shift; psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 "$@"; }
sqlstate() {  # sqlstate DB SQL: the SQLSTATE the statement fails with, or "ok"
    q "$1" -c "DO \$\$ BEGIN PERFORM ($2); RAISE NOTICE 'ok'; EXCEPTION WHEN OTHERS THEN RAISE NOTICE '%', SQLSTATE; END \$\$" 2>&1 |
        sed -n 's/^NOTICE:  //p'
}
keys=$work/shared_keys
fresh_postgres_dir "$keys"
new_key_file "$keys/root.key"
fps() { q "$1" -c "SELECT string_agg(encode(fingerprint, 'hex'), ',' ORDER BY epoch) FROM pseudo_keys.root_key WHERE retired_at IS NULL"; }
for db in sd_a sd_b sd_c; do
    q postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
        -c "ALTER DATABASE $db SET pseudo_ext.root_key_file = '$keys/root.key'"
    q $db -c "CREATE EXTENSION pseudo_ext" -c "CREATE TABLE t (id int, v pseudo_text)"
done

q sd_a -c "INSERT INTO t VALUES (1, pseudo_encrypt('sd-a', 'value of a'))"
q sd_b -c "INSERT INTO t VALUES (1, pseudo_encrypt('sd-b', 'value of b'))"
check "$(fps sd_a)" "$(fps sd_b)" "A and B start on the same key K1"
check 2 "$(q sd_a -c "SELECT pseudo_rotate_root_key()")" "A rotates its root key: epoch 2"
check 2 "$(key_lines "$keys/root.key")" "the shared file holds K1 and K2"
q sd_c -c "INSERT INTO t VALUES (1, pseudo_encrypt('sd-c', 'value of c'))"
check "$(fps sd_a | cut -d, -f2)" "$(fps sd_c)" "C, started after A's rotation, adopted the newest key K2"
check 0 "$(q sd_a -c "SELECT pseudo_retire_root_key(1)")" "A retires epoch 1"
check 55000 "$(sqlstate sd_a "SELECT pseudo_destroy_root_key(1)")" "A may not destroy K1: B still uses it"
check 1 "$(q sd_a -c "SELECT pseudo_destroy_root_key(1)" 2>&1 | grep -c 'still used by another database sharing the root key file: "sd_b"')" \
      "the error names the database that still uses the key"
check 2 "$(key_lines "$keys/root.key")" "the refused destruction left the file as it was"
check 2 "$(q sd_b -c "SELECT pseudo_rotate_root_key()")" "B rotates: epoch 2"
check "$(fps sd_c)" "$(fps sd_b | cut -d, -f2)" "B adopted K2, the key A added, without adding one"
check 2 "$(key_lines "$keys/root.key")" "B added no key to the file"
check 0 "$(q sd_b -c "SELECT pseudo_retire_root_key(1)")" "B retires epoch 1"
check t "$(q sd_a -c "SELECT pseudo_destroy_root_key(1)")" "now A destroys K1: no database uses it"
check 1 "$(key_lines "$keys/root.key")" "the shared file holds K2"
check 2 "$(q sd_c -c "SELECT pseudo_rotate_root_key()")" "C rotates: epoch 2 on a new key K3"
check 3 "$(q sd_a -c "SELECT pseudo_rotate_root_key()")" "A rotates: epoch 3 adopts K3"
check 0 "$(q sd_a -c "SELECT pseudo_retire_root_key(2)")" "A retires epoch 2 (K2)"
check 0 "$(q sd_c -c "SELECT pseudo_retire_root_key(1)")" "C retires epoch 1 (K2)"
check 55000 "$(sqlstate sd_c "SELECT pseudo_destroy_root_key(1)")" "C may not destroy K2: B still uses it"
for db in sd_a sd_b sd_c; do
    check "value of ${db#sd_}" "$(q $db -c "SELECT pseudo_decrypt(v) FROM t")" "${db#sd_} decrypts its value"
done
# A dropped database's list no longer counts (and is removed).
q postgres -c "DROP DATABASE sd_b"
check t "$(q sd_c -c "SELECT pseudo_destroy_root_key(1)")" "once B is dropped, C destroys K2"
check 1 "$(key_lines "$keys/root.key")" "the shared file holds K3 only"
check 2 "$(ls "$keys/root.key.users" | grep -cE '^[0-9]+-[0-9]+$')" "the dropped database's list is gone, A's and C's remain"
for db in sd_a sd_c; do
    check "value of ${db#sd_}" "$(q $db -c "SELECT pseudo_decrypt(v) FROM t")" "${db#sd_} still decrypts after every destruction"
done
# A list of another cluster sharing the file (another system identifier)
# counts too; without it the same destruction goes through.
check 4 "$(q sd_a -c "SELECT pseudo_rotate_root_key()")" "A rotates: epoch 4 on a new key K4"
check 3 "$(q sd_c -c "SELECT pseudo_rotate_root_key()")" "C rotates: epoch 3 adopts K4"
k3=$(q sd_a -c "SELECT encode(fingerprint, 'hex') FROM pseudo_keys.root_key WHERE epoch = 3")
echo "$k3" >"$keys/root.key.users/1-424242"
for step in "sd_a 3" "sd_c 2"; do set -- $step; q $1 -c "SELECT pseudo_retire_root_key($2)" >/dev/null; done
check 1 "$(q sd_a -c "SELECT pseudo_destroy_root_key(3)" 2>&1 | grep -c 'database OID 424242 of another cluster (system identifier 1)')" \
      "a list of another cluster holding K3 stops A from destroying it"
rm "$keys/root.key.users/1-424242"
check t "$(q sd_a -c "SELECT pseudo_destroy_root_key(3)")" "without that list, A destroys K3"
for db in sd_a sd_c; do
    check "value of ${db#sd_}" "$(q $db -c "SELECT pseudo_decrypt(v) FROM t")" "${db#sd_} decrypts on K4"
    q postgres -c "DROP DATABASE $db"
done
