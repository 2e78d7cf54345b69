#!/usr/bin/env bash
# Root key rotation, retirement and destruction, and the shred horizon:
#   dump before shredding, shred, rotate and retire the root key, destroy the
#   old one; the old dump restored with the remaining root key cannot reveal
#   the shredded subject (while the old key still existed, it could).
# Also: an interrupted rotation leaves every value readable, and
# pseudo_ext.root_key_command as the root key source.
#   tests/root_rotation.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
. "$(dirname "$0")/lib.sh"
q() { local db=$1; shift; psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 "$@"; }
keys=$work/rotation_keys
fresh_postgres_dir "$keys"
new_key_file "$keys/root.key"
for db in horizon_src horizon_before horizon_after cmd_db; do q postgres -c "DROP DATABASE IF EXISTS $db"; done
q postgres -c "CREATE DATABASE horizon_src" \
           -c "ALTER DATABASE horizon_src SET pseudo_ext.root_key_file = '$keys/root.key'"

q horizon_src -c "CREATE EXTENSION pseudo_ext" \
    -c "CREATE TABLE t (id int PRIMARY KEY, subject text, v pseudo_text)" \
    -c "INSERT INTO t SELECT i, CASE WHEN i % 2 = 0 THEN 'h-alice' ELSE 'h-bob' END, pseudo_encrypt(CASE WHEN i % 2 = 0 THEN 'h-alice' ELSE 'h-bob' END, 'horizon secret ' || i) FROM generate_series(1, 10) i"
pg_dump -h "$dir" -p "$port" -U postgres horizon_src >"$work/horizon_before_shred.sql"
cp -p "$keys/root.key" "$keys/backup_of_epoch_1.key"
check 1 "$(q horizon_src -c "SELECT pseudo_shred('h-alice')")" "alice shredded (her one key destroyed)"

# An interrupted rotation: the new key reaches the file first, the database
# change never commits; every value stays readable and the key is reused.
q horizon_src -c "BEGIN" -c "SELECT pseudo_rotate_root_key()" -c "ROLLBACK" >/dev/null
check 2 "$(key_lines "$keys/root.key")" "aborted rotation left its new key in the file"
check 5 "$(q horizon_src -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'horizon secret ' || id")" "after an aborted rotation bob still decrypts"
q horizon_src -c "SELECT pseudo_rotate_root_key(), pg_sleep(60)" >/dev/null 2>&1 &
for _ in $(seq 1 100); do
    n=$(q horizon_src -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pseudo_rotate_root_key(), pg_sleep%' AND wait_event = 'PgSleep'")
    [ "$n" = 1 ] && break; sleep 0.1
done
q horizon_src -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pseudo_rotate_root_key(), pg_sleep%' AND pid <> pg_backend_pid()" >/dev/null
wait || true
check 1 "$(q horizon_src -c "SELECT max(epoch) FROM pseudo_keys.root_key")" "terminated rotation did not commit"
check 5 "$(q horizon_src -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'horizon secret ' || id")" "after a terminated rotation bob still decrypts"

check 2 "$(q horizon_src -c "SELECT pseudo_rotate_root_key()")" "rotation to epoch 2"
check 2 "$(key_lines "$keys/root.key")" "rotation reused the pending key instead of adding another"
check "1:0,2:1" "$(q horizon_src -c "SELECT string_agg(epoch || ':' || keys_wrapped, ',' ORDER BY epoch) FROM pseudo_keys.root_key_epochs")" "every key rewrapped under epoch 2"

# Before the old root key is destroyed the shred horizon is still open: the
# pre-shred dump restored with the old key reveals alice.
q postgres -c "CREATE DATABASE horizon_before" -c "ALTER DATABASE horizon_before SET pseudo_ext.root_key_file = '$keys/backup_of_epoch_1.key'"
q horizon_before -f "$work/horizon_before_shred.sql" >/dev/null 2>&1
check 5 "$(q horizon_before -c "SELECT count(*) FROM t WHERE subject = 'h-alice' AND pseudo_decrypt(v) = 'horizon secret ' || id")" "old dump + old root key: alice readable (horizon open)"

check 0 "$(q horizon_src -c "SELECT pseudo_retire_root_key(1)")" "retire epoch 1: nothing left to rewrap"
check 1 "$(q horizon_src -c "SELECT count(*) FROM pseudo_check_config() WHERE setting LIKE 'root key of retired epoch%'")" "pseudo_check_config flags the retired root key still in the source"
check t "$(q horizon_src -c "SELECT pseudo_destroy_root_key(1)")" "destroy epoch 1's root key"
check 1 "$(key_lines "$keys/root.key")" "old root key removed from the file"
check 600 "$(stat -c %a "$keys/root.key")" "rewritten root key file is still mode 600"
check 0 "$(grep -c -f <(grep -E '^[0-9a-f]{64}$' "$keys/backup_of_epoch_1.key") "$keys/root.key" || true)" "the file no longer holds the epoch 1 key"
check 5 "$(q horizon_src -c "SELECT count(*) FROM t WHERE subject = 'h-bob' AND pseudo_decrypt(v) = 'horizon secret ' || id")" "source database: bob still decrypts"
check 5 "$(q horizon_src -c "SELECT count(*) FROM t WHERE subject = 'h-alice' AND pseudo_decrypt(v) IS NULL")" "source database: alice reads NULL"
check "root_rotate,root_retire,root_destroy" "$(q horizon_src -c "SELECT string_agg(action, ',' ORDER BY id) FROM pseudo_keys.audit_log WHERE action LIKE 'root%'")" "root key actions audited"
check 0 "$(q horizon_src -c "SELECT count(*) FROM pseudo_check_config() WHERE setting LIKE 'root key of retired epoch%'")" "no retired root key left in the source"

# After retirement and destruction the horizon is closed: the same old dump,
# restored with the root key that exists now, cannot reveal alice.
q postgres -c "CREATE DATABASE horizon_after" -c "ALTER DATABASE horizon_after SET pseudo_ext.root_key_file = '$keys/root.key'"
q horizon_after -f "$work/horizon_before_shred.sql" >/dev/null 2>&1
check F0000 "$(sqlstate_of "$dir" "$port" horizon_after "SELECT count(pseudo_decrypt(v)) FROM t WHERE subject = 'h-alice'")" "old dump + current root key: alice cannot be decrypted (F0000)"
check 0 "$(q horizon_after -c "SELECT count(*) FROM t WHERE subject = 'h-alice' AND v::text LIKE '%' || encode(convert_to('horizon secret', 'UTF8'), 'hex') || '%'")" "no plaintext in the restored values"

# pseudo_ext.root_key_command: the key source is a command's standard output.
cp "$keys/root.key" "$keys/kms.keys"; chown postgres:postgres "$keys/kms.keys"
cat >"$keys/kms.sh" <<SH
#!/bin/sh
cat "$keys/kms.keys"
SH
chmod 755 "$keys/kms.sh"
q postgres -c "CREATE DATABASE cmd_db" -c "ALTER DATABASE cmd_db SET pseudo_ext.root_key_command = '$keys/kms.sh'" \
           -c "ALTER DATABASE cmd_db SET pseudo_ext.root_key_file = '$keys/never_created.key'"
q cmd_db -c "CREATE EXTENSION pseudo_ext" -c "CREATE TABLE t (v pseudo_text)" -c "INSERT INTO t SELECT pseudo_encrypt('c-' || i, 'cmd value') FROM generate_series(1, 5) i"
check 5 "$(q cmd_db -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'cmd value'")" "command source: values decrypt in a new session"
check no "$( [ -e "$keys/never_created.key" ] && echo yes || echo no)" "command source: no root key file written"
check 55000 "$(sqlstate_of "$dir" "$port" cmd_db "SELECT pseudo_rotate_root_key()")" "command source: rotation without a new key in the command output (55000)"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >>"$keys/kms.keys"; echo >>"$keys/kms.keys"
check 2 "$(q cmd_db -c "SELECT pseudo_rotate_root_key()")" "command source: rotation picks up the new key"
check 5 "$(q cmd_db -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'cmd value'")" "command source: values decrypt after rotation"
check 0 "$(q cmd_db -c "SELECT pseudo_retire_root_key(1)" 2>/dev/null)" "command source: retirement"
check 55000 "$(sqlstate_of "$dir" "$port" cmd_db "SELECT pseudo_destroy_root_key(1)")" "command source: destruction is left to the key source (55000)"
printf '#!/bin/sh\nexit 3\n' >"$keys/fail.sh"; chmod 755 "$keys/fail.sh"
check 58030 "$(sqlstate_of "$dir" "$port" cmd_db "SELECT count(pseudo_decrypt(v)) FROM t" "SET pseudo_ext.root_key_command = '$keys/fail.sh'")" "failing command (58030)"
printf '#!/bin/sh\necho not-a-key\n' >"$keys/bad.sh"; chmod 755 "$keys/bad.sh"
# A command that hangs and ignores SIGINT and SIGTERM: killed (with what it
# started) at pseudo_ext.root_key_command_timeout (58030), or at once when the
# statement is cancelled (57014), never holding the backend until it is done.
# (A killed process whose parent died first stays a zombie here: nothing in a
# container reaps orphans. Zombies do not count as left running.)
cat >"$keys/hang.sh" <<SH
#!/bin/sh
trap '' INT TERM
echo \$\$ >>"$keys/hang.pids"
sleep 30
cat "$keys/kms.keys"
SH
chmod 755 "$keys/hang.sh"; rm -f "$keys/hang.pids"
hung() {  # hung SETTING...: SQLSTATE and whole seconds of a decrypt needing the hung command
    local sets=() t0; for s in "$@"; do sets+=(-c "$s"); done
    t0=$(date +%s%N)
    local state; state=$(psql_at "$dir" "$port" cmd_db -c '\set VERBOSITY sqlstate' -c "SET pseudo_ext.root_key_command = '$keys/hang.sh'" \
        "${sets[@]}" -c "SELECT count(pseudo_decrypt(v)) FROM t" 2>&1 | grep -oE 'ERROR: +[0-9A-Z]{5}' | tr -s ' ')
    echo "$state in $(( ($(date +%s%N) - t0) / 1000000000 )) s"
}
check "ERROR: 58030 in 1 s" "$(hung "SET pseudo_ext.root_key_command_timeout = '1s'")" "a hung command is killed at root_key_command_timeout (58030)"
check "ERROR: 57014 in 1 s" "$(hung "SET statement_timeout = '1s'")" "a hung command is killed when its statement is cancelled (57014)"
check "2 started, 0 left" "$(wc -l <"$keys/hang.pids") started, $(while read -r pid; do ps -o stat= -p "$pid" | grep -v '^Z'; done <"$keys/hang.pids" | wc -l) left" \
      "no hung command (or what it started) outlives its statement"
check F0000 "$(sqlstate_of "$dir" "$port" cmd_db "SELECT count(pseudo_decrypt(v)) FROM t" "SET pseudo_ext.root_key_command = '$keys/bad.sh'")" "command printing no key (F0000)"
q cmd_db -c "DROP ROLE IF EXISTS rr_plain" -c "CREATE ROLE rr_plain"
check 1 "$(psql_at "$dir" "$port" cmd_db -c "SELECT count(pseudo_key_id(v)) FROM t" -c "SET ROLE rr_plain" -c "SHOW pseudo_ext.root_key_command" 2>&1 | grep -c 'must be superuser')" "once loaded, the command is hidden from non-superusers"
check t "$(q cmd_db -c "SELECT risk LIKE '%shared_preload_libraries%' FROM pseudo_check_config() WHERE setting = 'pseudo_ext.root_key_command'")" "pseudo_check_config: command set without shared_preload_libraries is flagged"
check 0 "$(grep -c -f <(grep -E '^[0-9a-f]{64}$' "$keys/kms.keys") "$dir/server.log" || true)" "no root key in the server log"
q postgres -c "DROP ROLE rr_plain"
