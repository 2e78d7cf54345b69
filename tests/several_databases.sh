#!/usr/bin/env bash
# Several databases sharing one root key file (as all do with the default
# path). A database's first root key epoch takes the newest key in the file:
# database A rotates (the file holds K1, K2), database B starts afterwards and
# must not adopt K1, which A then retires and destroys.
#   tests/several_databases.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
. "$(dirname "$0")/lib.sh"
q() { local db=$1; shift; psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 "$@"; }
keys=$work/shared_keys
fresh_postgres_dir "$keys"
new_key_file "$keys/root.key"
for db in sd_a sd_b; do
    q postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
        -c "ALTER DATABASE $db SET pseudo_ext.root_key_file = '$keys/root.key'"
    q $db -c "CREATE EXTENSION pseudo_ext" -c "CREATE TABLE t (id int, v pseudo_text)"
done

q sd_a -c "INSERT INTO t VALUES (1, pseudo_encrypt('sd-a', 'value of a'))"
check 2 "$(q sd_a -c "SELECT pseudo_rotate_root_key()")" "A rotates its root key: epoch 2"
check 2 "$(key_lines "$keys/root.key")" "the shared file holds the old and the new key"
q sd_b -c "INSERT INTO t VALUES (1, pseudo_encrypt('sd-b', 'value of b'))"
check 0 "$(q sd_a -c "SELECT pseudo_retire_root_key(1)")" "A retires epoch 1"
check t "$(q sd_a -c "SELECT pseudo_destroy_root_key(1)")" "A destroys the old key"
check 1 "$(key_lines "$keys/root.key")" "the shared file holds one key"
check "value of a" "$(q sd_a -c "SELECT pseudo_decrypt(v) FROM t")" "A decrypts after destroying its old key"
check "value of b" "$(q sd_b -c "SELECT pseudo_decrypt(v) FROM t")" "B, started after A's rotation, adopted the newest key and still decrypts"
for db in sd_a sd_b; do q postgres -c "DROP DATABASE $db"; done
