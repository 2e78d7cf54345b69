#!/usr/bin/env bash
# ALTER EXTENSION pseudo_ext UPDATE from a real 0.1.0 install holding data,
# to 0.2.0, 0.3.0 and then to the current version: old values decrypt, shredded stay
# shredded, the new functions work, and the upgraded extension's objects (and
# their columns, constraints, triggers, privileges and comments) equal those
# of a fresh install.
# The 0.1.0 install script is the frozen copy in sql/released/.
#   tests/upgrade.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
. "$(dirname "$0")/lib.sh"
q() { local db=$1; shift; psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 "$@"; }
extdir=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --sharedir)/extension
install -m 644 "$(dirname "$0")/../sql/released/pseudo_ext--0.1.0.sql" "$extdir/pseudo_ext--0.1.0.sql"
for db in upgraded fresh; do q postgres -c "DROP DATABASE IF EXISTS $db"; done
q postgres -c "CREATE DATABASE upgraded" -c "CREATE DATABASE fresh"

q upgraded -c "CREATE EXTENSION pseudo_ext VERSION '0.1.0'" \
    -c "CREATE TABLE t (id int PRIMARY KEY, subject text, v pseudo_text)" \
    -c "INSERT INTO t SELECT i, 'up-' || (i % 4), pseudo_encrypt('up-' || (i % 4), 'upgrade value ' || i) FROM generate_series(1, 40) i" \
    -c "SELECT pseudo_shred('up-0')" >/dev/null
check 0.1.0 "$(q upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pseudo_ext'")" "installed 0.1.0"
q upgraded -c "ALTER EXTENSION pseudo_ext UPDATE TO '0.2.0'"
check 0.2.0 "$(q upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pseudo_ext'")" "updated to 0.2.0"
check 30 "$(q upgraded -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'upgrade value ' || id")" "old values decrypt after the update"
check 10 "$(q upgraded -c "SELECT count(*) FROM t WHERE subject = 'up-0' AND pseudo_decrypt(v) IS NULL")" "shredded values stay unreadable"

# the 0.2.0 functions on 0.1.0 data
q upgraded -c "SELECT pseudo_rotate('up-1')" >/dev/null
check 10 "$(q upgraded -c "SELECT count(*) FROM t WHERE pseudo_needs_rewrap(v)")" "rotation after update: old values need rewrap"
q upgraded -c "CALL pseudo_rewrap_column('t', 'v')" 2>/dev/null
check "0|30" "$(q upgraded -c "SELECT count(*) FILTER (WHERE pseudo_needs_rewrap(v)) || '|' || count(*) FILTER (WHERE pseudo_decrypt(v) = 'upgrade value ' || id) FROM t")" "column rewrapped, still decrypting"
check t "$(q upgraded -c "SELECT pseudo_decrypt(pseudo_encrypt('up-2', 'c', 'up.ctx'), 'up.ctx') = 'c'")" "context after update"
check 2 "$(q upgraded -c "SELECT pseudo_rotate_root_key()")" "root key rotation after update"
check 30 "$(q upgraded -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'upgrade value ' || id")" "values decrypt after root rotation"
check "rotate,rewrap,root_rotate" "$(q upgraded -c "SELECT string_agg(action, ',' ORDER BY id) FROM pseudo_keys.audit_log")" "actions after the update are audited"
check "1|2|true" "$(q upgraded -c "SELECT (SELECT count(*) FROM pseudo_keys.key_counts) || '|' || (SELECT count(*) FROM pseudo_keys.root_key_epochs) || '|' || (SELECT count(*) > 5 FROM pseudo_check_config())")" "admin views and config check after update"

# on to 0.3.0 (the FHE key/value store)
q upgraded -c "ALTER EXTENSION pseudo_ext UPDATE TO '0.3.0'"
check 0.3.0 "$(q upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pseudo_ext'")" "updated to 0.3.0"
check 30 "$(q upgraded -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'upgrade value ' || id")" "values decrypt after the update to 0.3.0"
check "0|true" "$(q upgraded -c "SELECT (SELECT count(*) FROM pseudo_fhe.stores) || '|' || has_function_privilege('pseudo_fhe_user', 'pseudo_fhe_get(text, bytea)', 'EXECUTE')")" "FHE store objects after the update"
# 0.3.0 stores as its functions left them (owner by name): one of a live
# role, one of a role dropped since. Their shape is all the update reads.
for r in up_fhe_alice up_fhe_gone; do q postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1; done
q postgres -c "CREATE ROLE up_fhe_alice IN ROLE pseudo_fhe_user" >/dev/null
q upgraded -c "INSERT INTO pseudo_fhe.store (name, owner, client_key_id, server_key, capacity, key_bits, value_bits)
               VALUES ('kept', 'up_fhe_alice', '\x00000000000000000000000000000000', '\x00', 1, 2, 2),
                      ('orphaned', 'up_fhe_gone', '\x00000000000000000000000000000000', '\x00', 1, 2, 2)" >/dev/null
check 55000 "$(q upgraded -c "DO \$\$ BEGIN PERFORM pseudo_fhe_get('kept', '\\x00'); EXCEPTION WHEN OTHERS THEN RAISE NOTICE '%', SQLSTATE; END \$\$" 2>&1 | sed -n 's/^NOTICE:  //p')" \
      "this library with 0.3.0's FHE tables: a clear 55000 (run ALTER EXTENSION UPDATE), not a failing query"
q upgraded -c "SELECT pseudo_rotate('up-3')" >/dev/null
q upgraded -c "CALL pseudo_rewrap_column('t', 'v')" 2>/dev/null
check "rotate,rewrap 10,root_rotate,rotate,rewrap 10" "$(q upgraded -c "SELECT string_agg(action || coalesce(' ' || (detail->>'values'), ''), ',' ORDER BY id) FROM pseudo_keys.audit_log")" \
      "with 0.3.0's SQL, rewraps are audited as 0.3.0 did (a row from pseudo_rewrap_column, none twice)"

# on to the current version (0.4.0: audit rows from the code that did the
# work; FHE stores owned through an owner token)
# The update lists the database's root keys for the other databases sharing
# the file (src/pseudo/root_key_users.rs), even if nothing loads them afterwards:
# its list is removed first, and no statement below this loads the keys.
keyfile=$(q upgraded -c "LOAD 'pseudo_ext'" -c "SHOW pseudo_ext.root_key_file")
case $keyfile in /*) ;; *) keyfile=$(q upgraded -c "SHOW data_directory")/$keyfile ;; esac
list=$keyfile.users/$(q upgraded -c "SELECT system_identifier FROM pg_control_system()")-$(q upgraded -c "SELECT oid FROM pg_database WHERE datname = current_database()")
check 1 "$(ls "$list" 2>/dev/null | wc -l)" "(with 0.3.0's SQL the new library already listed the keys it loaded)"
rm -f "$list"
# 0.3.0 let ANALYZE sample wrapped keys into pg_statistic (out of a shred's reach)
sampled="SELECT count(*) FROM pg_statistic s JOIN pg_attribute a ON a.attrelid = s.starelid AND a.attnum = s.staattnum
          WHERE (s.starelid, a.attname) IN (('pseudo_keys.subject_key'::regclass, 'wrapped_key'), ('pseudo_keys.root_key'::regclass, 'wrapped_digest_key'))"
q upgraded -c "ANALYZE pseudo_keys.subject_key, pseudo_keys.root_key"
check 2 "$(q upgraded -c "$sampled")" "(with 0.3.0's SQL, ANALYZE samples the wrapped key columns)"
q upgraded -c "ALTER EXTENSION pseudo_ext UPDATE"
check 0 "$(q upgraded -c "$sampled")" "the update to 0.4.0 removes the wrapped keys' samples from pg_statistic"
q upgraded -c "ANALYZE pseudo_keys.subject_key, pseudo_keys.root_key"
check 0 "$(q upgraded -c "$sampled")" "and ANALYZE no longer samples them"
check "$(q upgraded -c "SELECT string_agg(encode(fingerprint, 'hex'), ',' ORDER BY fingerprint) FROM pseudo_keys.root_key WHERE retired_at IS NULL")" \
      "$(LC_ALL=C sort "$list" 2>/dev/null | paste -sd,)" "the update to 0.4.0 lists the database's live root keys"
check 0.4.0 "$(q upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pseudo_ext'")" "updated to 0.4.0"
check 30 "$(q upgraded -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'upgrade value ' || id")" "values decrypt after the update to 0.4.0"
check "kept up_fhe_alice|orphaned $(q upgraded -c "SELECT current_user")" \
      "$(q upgraded -c "SELECT string_agg(s.name || ' ' || pg_get_userbyid(m.lomowner), '|' ORDER BY s.id) FROM pseudo_fhe.store s JOIN pg_largeobject_metadata m ON m.oid = s.owner_token")" \
      "each 0.3.0 store's owner token belongs to its role (a dropped role's to the updating superuser)"
check "kept" "$(q upgraded -c "SET ROLE up_fhe_alice" -c "SELECT string_agg(name, ',') FROM pseudo_fhe.stores")" "the owner sees its store in pseudo_fhe.stores"
check "2BP01" "$(q upgraded -c "DO \$\$ BEGIN DROP ROLE up_fhe_alice; RAISE NOTICE 'dropped'; EXCEPTION WHEN OTHERS THEN RAISE NOTICE '%', SQLSTATE; END \$\$" 2>&1 | sed -n 's/^NOTICE:  //p')" \
      "DROP ROLE is refused while the role owns a store"
q upgraded -c "SELECT pseudo_rotate('up-3')" >/dev/null
q upgraded -c "UPDATE t SET v = pseudo_rewrap(v) WHERE subject = 'up-3'" >/dev/null
check "rewrap 10" "$(q upgraded -c "SELECT action || ' ' || (detail->>'values') FROM pseudo_keys.audit_log ORDER BY id DESC LIMIT 1")" \
      "after the update a plain UPDATE with pseudo_rewrap is audited"
check "f" "$(q upgraded -c "SELECT to_regprocedure('pseudo_keys.log_rewrap_batch(regclass,name,bigint,uuid[])') IS NOT NULL")" \
      "log_rewrap_batch is gone"
# Equality search over the values written by 0.1.0: an index built by the
# reindex procedure finds them (the shredded subject's stay unfindable).
q upgraded -c "SELECT pseudo_create_search_index('up_idx')" -c "CALL pseudo_reindex_search_column('up_idx', 't', 'v')" 2>/dev/null >/dev/null
found="SELECT coalesce(string_agg(id::text, ',' ORDER BY id), 'none') FROM t WHERE pseudo_key_id(v) = ANY (pseudo_search('up_idx', \$1)) AND pseudo_matches('up_idx', v, \$1)"
check "7" "$(q upgraded -c "PREPARE f(text) AS $found" -c "EXECUTE f('upgrade value 7')")" "search after the update finds a value written by 0.1.0"
check none "$(q upgraded -c "PREPARE f(text) AS $found" -c "EXECUTE f('upgrade value 8')")" "a value of the subject shredded under 0.1.0 is not found"
check 30 "$(q upgraded -c "SELECT count(*) FROM pseudo_keys.search_term")" "one term per live value"

# Same objects as a fresh install. Describes every member object, then the
# details a member list does not show.
q fresh -c "CREATE EXTENSION pseudo_ext"
describe() {
    q "$1" <<'SQL'
SELECT 'member: ' || pg_describe_object(classid, objid, objsubid)
  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pseudo_ext')
UNION ALL
SELECT 'column: ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || coalesce(' statistics ' || a.attstattarget, '')
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace IN ('pseudo_keys'::regnamespace, 'pseudo_fhe'::regnamespace)
UNION ALL
SELECT 'constraint: ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace IN ('pseudo_keys'::regnamespace, 'pseudo_fhe'::regnamespace)
UNION ALL
SELECT 'trigger: ' || tgrelid::regclass || ' ' || pg_get_triggerdef(oid) FROM pg_trigger
 WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace IN ('pseudo_keys'::regnamespace, 'pseudo_fhe'::regnamespace)) AND NOT tgisinternal
UNION ALL
SELECT 'acl: ' || c.oid::regclass || ' ' || coalesce(c.relacl::text, 'default')
  FROM pg_class c WHERE c.relnamespace IN ('pseudo_keys'::regnamespace, 'pseudo_fhe'::regnamespace)
UNION ALL
SELECT 'function: ' || p.oid::regprocedure || ' ' || coalesce(p.proacl::text, 'default') || ' ' || p.provolatile::text
       || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END || CASE WHEN p.prosecdef THEN ' definer' ELSE '' END
       || ' ' || coalesce(p.proconfig::text, '') || ' ' || md5(p.prosrc)
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pseudo_ext')
UNION ALL
SELECT 'comment: ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ' ' || md5(d.description)
  FROM pg_description d JOIN pg_depend e ON e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e'
 WHERE e.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pseudo_ext')
UNION ALL
SELECT 'config table: ' || unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'pseudo_ext'
UNION ALL
SELECT 'schema acl: ' || nspname || ' ' || coalesce(nspacl::text, 'default') FROM pg_namespace WHERE nspname IN ('pseudo_keys', 'pseudo_fhe')
ORDER BY 1
SQL
}
describe upgraded >"$work/upgraded.objects"
describe fresh >"$work/fresh.objects"
check 1 "$(grep -c '^member: function pseudo_rotate_root_key()' "$work/fresh.objects")" "object list includes the 0.2.0 functions"
check 1 "$(grep -c '^member: function pseudo_fhe_set(text,bytea,bytea)' "$work/fresh.objects")" "object list includes the 0.3.0 functions"
check 1 "$(grep -c '^column: store.owner_token oid not null' "$work/fresh.objects")" "object list includes the 0.4.0 owner token column"
check 1 "$(grep -c '^column: subject_key.wrapped_key bytea not null statistics 0' "$work/fresh.objects")" "object list includes the columns' statistics targets"
check 0 "$(diff "$work/upgraded.objects" "$work/fresh.objects" | grep -c '^[<>]' || true)" \
      "upgraded = fresh install ($(wc -l <"$work/fresh.objects") objects and details compared)"
diff "$work/upgraded.objects" "$work/fresh.objects" || true
