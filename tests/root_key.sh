#!/usr/bin/env bash
# Root key failures give clear errors and never a silently generated key:
# missing file (58P01), wrong key (F0000), loose permissions (F0000),
# malformed file (F0000), unreadable file (58030). Each check is a new
# session, so no key is served from a backend cache.
#   tests/root_key.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
. "$(dirname "$0")/lib.sh"
keys=$work/root_keys
fresh_postgres_dir "$keys"
q() { psql -h "$dir" -p "$port" -U postgres -X -q -At -d rootkey_test "$@"; }
sqlstate() {  # sqlstate SETTING STATEMENT -> SQLSTATE or ok
    sqlstate_of "$dir" "$port" rootkey_test "$2" "SET pseudo_ext.root_key_file = '$1'"
}
newkey() {  # newkey PATH MODE [OWNER]
    new_key_file "$1"; chown "${3:-postgres}:${3:-postgres}" "$1"; chmod "$2" "$1"
}

psql -h "$dir" -p "$port" -U postgres -X -q -d postgres -c "DROP DATABASE IF EXISTS rootkey_test" -c "CREATE DATABASE rootkey_test"
newkey "$keys/good.key" 600
q -c "CREATE EXTENSION pseudo_ext" -c "CREATE TABLE t (v pseudo_text)"
q -c "SET pseudo_ext.root_key_file = '$keys/good.key'" -c "INSERT INTO t SELECT pseudo_encrypt('rk-subject', 'rk value')"
check "rk value" "$(q -c "SET pseudo_ext.root_key_file = '$keys/good.key'" -c "SELECT pseudo_decrypt(v) FROM t")" "configured root key decrypts"

check 58P01 "$(sqlstate "$keys/missing.key" "SELECT pseudo_decrypt(v) FROM t")" "missing root key file: decrypt"
check 58P01 "$(sqlstate "$keys/missing.key" "SELECT pseudo_encrypt('rk-new-subject', 'x')")" "missing root key file: encrypt"
check no "$( [ -e "$keys/missing.key" ] && echo yes || echo no)" "no root key generated while keys exist"

newkey "$keys/other.key" 600
check F0000 "$(sqlstate "$keys/other.key" "SELECT pseudo_decrypt(v) FROM t")" "wrong root key"
cp -p "$keys/good.key" "$keys/open.key"; chmod 644 "$keys/open.key"
check F0000 "$(sqlstate "$keys/open.key" "SELECT pseudo_decrypt(v) FROM t")" "root key readable by others"
printf 'not a key\n' >"$keys/bad.key"; chown postgres:postgres "$keys/bad.key"; chmod 600 "$keys/bad.key"
check F0000 "$(sqlstate "$keys/bad.key" "SELECT pseudo_decrypt(v) FROM t")" "malformed root key file"
{ echo "# comment lines and other keys are allowed"; cat "$keys/other.key" "$keys/good.key"; } >"$keys/two.key"
chown postgres:postgres "$keys/two.key"; chmod 600 "$keys/two.key"
check ok "$(sqlstate "$keys/two.key" "SELECT count(pseudo_decrypt(v)) FROM t")" "a file holding several keys finds this database's key"
{ cat "$keys/good.key"; echo "not a key"; } >"$keys/line2.key"; chown postgres:postgres "$keys/line2.key"; chmod 600 "$keys/line2.key"
check 1 "$(q -c "SET pseudo_ext.root_key_file = '$keys/line2.key'" -c "SELECT pseudo_decrypt(v) FROM t" 2>&1 | grep -c 'line 2 is not 64 hexadecimal digits')" "a malformed line is named by number, not shown"
newkey "$keys/root_owned.key" 600 root
check 58030 "$(sqlstate "$keys/root_owned.key" "SELECT pseudo_decrypt(v) FROM t")" "unreadable root key file"
# A key row altered in the table: the error names the wrapped key that does
# not unwrap (XX001, data corrupted), not a pseudo_text value. The row is put
# back afterwards.
good() { q -c "SET pseudo_ext.root_key_file = '$keys/good.key'" "$@" 2>&1; }
flip() { echo "set_byte($1, 20, get_byte($1, 20) # 1)"; }
q -c "UPDATE pseudo_keys.root_key SET wrapped_digest_key = $(flip wrapped_digest_key)"
check XX001 "$(sqlstate "$keys/good.key" "SELECT pseudo_decrypt(v) FROM t")" "altered wrapped digest key: data corrupted"
check 1 "$(good -c "SELECT pseudo_decrypt(v) FROM t" | grep -c 'pseudo_ext: the wrapped digest key of root key epoch 1 does not unwrap')" \
      "altered wrapped digest key: the message says which key, not that a value was altered"
q -c "UPDATE pseudo_keys.root_key SET wrapped_digest_key = $(flip wrapped_digest_key)"
check "rk value" "$(good -c "SELECT pseudo_decrypt(v) FROM t")" "wrapped digest key put back: decrypts"
q -c "UPDATE pseudo_keys.subject_key SET wrapped_key = $(flip wrapped_key)"
check XX001 "$(sqlstate "$keys/good.key" "SELECT pseudo_decrypt(v) FROM t")" "altered wrapped subject key: data corrupted"
check 1 "$(good -c "SELECT pseudo_decrypt(v) FROM t" | grep -c "pseudo_ext: a subject's wrapped key does not unwrap under the root key of its epoch")" \
      "altered wrapped subject key: the message says so, not that the value was altered"
q -c "UPDATE pseudo_keys.subject_key SET wrapped_key = $(flip wrapped_key)"
check "rk value" "$(good -c "SELECT pseudo_decrypt(v) FROM t")" "wrapped subject key put back: decrypts"
as_plain() { psql -h "$dir" -p "$port" -U postgres -X -q -At -d rootkey_test "$@" 2>&1; }
q -c "DROP ROLE IF EXISTS rk_plain" -c "CREATE ROLE rk_plain"
check 1 "$(as_plain -c "LOAD 'pseudo_ext'" -c "SET ROLE rk_plain" -c "SET pseudo_ext.root_key_file = '/tmp/x'" \
      | grep -c 'permission denied to set parameter')" "non-superuser cannot set the root key file"
# Set before the library is loaded, the value is a placeholder; loading the
# library discards it, since it was set by a role without the privilege.
check pseudo_ext_root.key "$(as_plain -c "SET ROLE rk_plain" -c "SET pseudo_ext.root_key_file = '/tmp/x'" -c "RESET ROLE" \
      -c "LOAD 'pseudo_ext'" -c "SHOW pseudo_ext.root_key_file" | grep -v WARNING)" "placeholder set by a non-superuser is discarded on load"
# The root key file's path is a superuser-only setting: a role that may not
# SHOW it does not learn it from an error either (58P01 names the setting).
psql_at "$dir" "$port" postgres -c "DROP ROLE IF EXISTS rk_reader" -c "CREATE ROLE rk_reader LOGIN IN ROLE pseudo_reader" \
    -c "ALTER DATABASE rootkey_test SET pseudo_ext.root_key_file = '$keys/missing.key'"
q -c "GRANT SELECT ON t TO rk_reader"
missing_as() { psql -h "$dir" -p "$port" -U "$1" -X -q -At -d rootkey_test -c "SELECT pseudo_decrypt(v) FROM t" 2>&1 | grep -c "$2" || true; }
check "1 0" "$(missing_as rk_reader 'root key file (pseudo_ext.root_key_file) does not exist') $(missing_as rk_reader "$keys")" \
      "missing root key file, as a reader: the message names the setting, not the path"
check 1 "$(missing_as postgres "root key file \"$keys/missing.key\" does not exist")" "missing root key file, as a superuser: the message names the path"
psql_at "$dir" "$port" postgres -c "ALTER DATABASE rootkey_test RESET pseudo_ext.root_key_file"

# A database's first key (and root key file) inside a two-phase transaction:
# PREPARE is refused (0A000), so nothing is left for ROLLBACK PREPARED, and
# the session goes on encrypting (0.3.0 prepared it, and after ROLLBACK
# PREPARED the same session failed with 58P01).
psql -h "$dir" -p "$port" -U postgres -X -q -d postgres -c "DROP DATABASE IF EXISTS twophase_fresh" -c "CREATE DATABASE twophase_fresh" \
    -c "ALTER DATABASE twophase_fresh SET pseudo_ext.root_key_file = '$keys/twophase.key'"
psql_at "$dir" "$port" twophase_fresh -c "CREATE EXTENSION pseudo_ext"
check "t | ERROR: 0A000 | ERROR: 42704 | after" "$(psql_at "$dir" "$port" twophase_fresh -c '\set VERBOSITY sqlstate' -c "BEGIN" \
      -c "SELECT pseudo_encrypt('tp-p', 'x') IS NOT NULL" -c "PREPARE TRANSACTION 'tp_fresh'" -c "ROLLBACK PREPARED 'tp_fresh'" \
      -c "SELECT pseudo_decrypt(pseudo_encrypt('tp-p', 'after'))" 2>&1 | tr -s ' ' | paste -sd '|' | sed 's/|/ | /g')" \
      "a first key in a prepared transaction: PREPARE refused (0A000), the session then encrypts"
psql -h "$dir" -p "$port" -U postgres -X -q -d postgres -c "DROP DATABASE twophase_fresh"
psql -h "$dir" -p "$port" -U postgres -X -q -d postgres -c "DROP DATABASE rootkey_test" -c "DROP ROLE rk_plain, rk_reader"
