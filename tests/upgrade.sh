#!/usr/bin/env bash
# ALTER EXTENSION pseudo_ext UPDATE from a real 0.1.0 install holding data,
# to 0.2.0 and then to the current version: old values decrypt, shredded stay
# shredded, the new functions work, and the upgraded extension's objects (and
# their columns, constraints, triggers, privileges and comments) equal those
# of a fresh install.
# The 0.1.0 install script is the frozen copy in sql/released/.
#   tests/upgrade.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
. "$(dirname "$0")/lib.sh"
q() { local db=$1; shift; psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 "$@"; }
extdir=$(/usr/lib/postgresql/15/bin/pg_config --sharedir)/extension
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

# on to the current version (0.3.0: the FHE key/value store)
q upgraded -c "ALTER EXTENSION pseudo_ext UPDATE"
check 0.3.0 "$(q upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'pseudo_ext'")" "updated to 0.3.0"
check 30 "$(q upgraded -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'upgrade value ' || id")" "values decrypt after the update to 0.3.0"
check "0|true" "$(q upgraded -c "SELECT (SELECT count(*) FROM pseudo_fhe.stores) || '|' || has_function_privilege('pseudo_fhe_user', 'pseudo_fhe_get(text, bytea)', 'EXECUTE')")" "FHE store objects after the update"

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
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
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
check 0 "$(diff "$work/upgraded.objects" "$work/fresh.objects" | grep -c '^[<>]' || true)" \
      "upgraded = fresh install ($(wc -l <"$work/fresh.objects") objects and details compared)"
diff "$work/upgraded.objects" "$work/fresh.objects" || true
