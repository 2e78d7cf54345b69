#!/usr/bin/env bash
# pg_dump of a database using pseudo_ext (after root key and subject key
# rotations and a shred), restored into a fresh cluster:
#   * without the root key: a clear error (58P01) and no key generated;
#   * with it: every value decrypts, shredded stays shredded, nothing is
#     encrypted twice (the values are byte-identical), no error on restore;
#   * with a wrong root key: F0000;
#   * a search index comes back: the same searches find the same rows, and a
#     shred after the restore removes the subject's terms;
#   * an FHE key/value store comes back whole: a private GET on the restored
#     cluster finds what a SET stored before the dump.
# The dump itself holds no plaintext.
#   tests/dump_restore.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
. "$(dirname "$0")/lib.sh"
q() { local db=$1; shift; psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 "$@"; }
dst=$work/cluster_restore; dport=$((port + 1))
r() { local db=$1; shift; psql_at "$dst" "$dport" "$db" -v ON_ERROR_STOP=1 "$@"; }
bash "$(dirname "$0")/../scripts/cluster.sh" stop "$dst" 2>/dev/null || true
rm -rf "$dst"

q postgres -c "DROP DATABASE IF EXISTS dump_src" -c "CREATE DATABASE dump_src"
q dump_src -c "CREATE EXTENSION pseudo_ext" \
           -c "CREATE TABLE t (id int PRIMARY KEY, v pseudo_text, c pseudo_text)" \
           -c "GRANT SELECT ON t TO pseudo_reader" \
           -c "INSERT INTO t SELECT i, pseudo_encrypt('dump-' || (i % 3), 'dump marker ' || i), pseudo_encrypt('dump-' || (i % 3), 'ctx marker ' || i, 't.c') FROM generate_series(1, 30) i" \
           -c "SELECT pseudo_create_search_index('dump_idx', 'lower_trim')" \
           -c "ALTER TABLE t ADD COLUMN s pseudo_text" \
           -c "UPDATE t SET s = pseudo_encrypt_searchable('dump_idx', 'dump-' || (id % 3), 'Search marker ' || (id % 5))" \
           -c "CREATE INDEX t_s_key ON t (pseudo_key_id(s))" \
           -c "SELECT pseudo_shred('dump-0')" \
           -c "SELECT pseudo_rotate('dump-1')" \
           -c "INSERT INTO t VALUES (31, pseudo_encrypt('dump-1', 'dump marker 31'), pseudo_encrypt('dump-1', 'ctx marker 31', 't.c'))" \
           -c "SELECT pseudo_rotate_root_key()" >/dev/null
build_clients
fhe_key=$work/dump_fhe.key; rm -f "$fhe_key"
fhe() { local d=$1 p=$2; shift 2; target/release/pseudo-fhe --key "$fhe_key" --db "host=$d port=$p user=postgres dbname=$1" "${@:2}"; }
target/release/pseudo-fhe --key "$fhe_key" keygen >/dev/null
fhe "$dir" "$port" dump_src create-store dumped 2 8 8 >/dev/null
fhe "$dir" "$port" dump_src set dumped 77 33 >/dev/null
pg_dump -h "$dir" -p "$port" -U postgres dump_src >"$work/dump.sql"
check 0 "$(grep -ic 'dump marker\|ctx marker\|search marker' "$work/dump.sql" || true)" "no plaintext in the dump"
check 1 "$(grep -c '^COPY pseudo_keys.subject_key' "$work/dump.sql")" "wrapped keys are in the dump"
check 1 "$(grep -c '^COPY pseudo_keys.audit_log' "$work/dump.sql")" "the audit log is in the dump"

bash "$(dirname "$0")/../scripts/cluster.sh" start "$dst" "$dport"
r postgres -c "CREATE DATABASE restored"
r restored -f "$work/dump.sql" >/dev/null 2>"$work/restore.err" || { cat "$work/restore.err"; exit 1; }
check 0 "$(grep -c 'ERROR\|WARNING' "$work/restore.err" || true)" "restore into a fresh cluster without errors"

check 58P01 "$(sqlstate_of "$dst" "$dport" restored "SELECT count(pseudo_decrypt(v)) FROM t")" "without the root key: 58P01"
check 1 "$(psql_at "$dst" "$dport" restored -c "SELECT pseudo_decrypt(v) FROM t LIMIT 1" 2>&1 | grep -c 'root key file "pseudo_ext_root.key" does not exist, but this database holds keys')" "without the root key: the error names the file"
check no "$( [ -e "$dst/data/pseudo_ext_root.key" ] && echo yes || echo no)" "without the root key: none is generated"

install -o postgres -g postgres -m 600 "$dir/data/pseudo_ext_root.key" "$dst/data/pseudo_ext_root.key"
check 21 "$(r restored -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'dump marker ' || id AND pseudo_decrypt(c, 't.c') = 'ctx marker ' || id")" "with the root key: every value decrypts"
check 10 "$(r restored -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) IS NULL AND pseudo_decrypt(c, 't.c') IS NULL")" "shredded values stay unreadable"
check "$(q dump_src -c "SELECT md5(string_agg(v::text || c::text, ',' ORDER BY id)) FROM t")" \
      "$(r restored -c "SELECT md5(string_agg(v::text || c::text, ',' ORDER BY id)) FROM t")" "values byte-identical: nothing encrypted twice"
for tbl in subject_key subject shredded_key root_key audit_log search_key search_term; do
    check "$(q dump_src -c "SELECT count(*) FROM pseudo_keys.$tbl")" "$(r restored -c "SELECT count(*) FROM pseudo_keys.$tbl")" "pseudo_keys.$tbl: no row duplicated or lost"
done
check 55000 "$(sqlstate_of "$dst" "$dport" restored "SELECT pseudo_encrypt('dump-0', 'x')")" "shredded subject refused after restore"
check t "$(r restored -c "SELECT pseudo_decrypt(pseudo_encrypt('dump-1', 'new')) = 'new'")" "restored database encrypts under restored keys"
check 2 "$(r restored -c "SELECT version FROM pseudo_subject_keys('dump-1') WHERE is_current")" "subject key versions restored"
last_audit=$(r restored -c "SELECT max(id) FROM pseudo_keys.audit_log")
new_key=$(r restored -c "SELECT pseudo_rotate('dump-2')")
check "1 rotate $new_key" "$(r restored -c "SELECT count(*) || ' ' || min(action) || ' ' || min(key_ids[1]::text) FROM pseudo_keys.audit_log WHERE id > $last_audit")" \
      "audit log sequence restored: the rotation after the restore is logged, with its key"
found="SELECT coalesce(string_agg(id::text, ',' ORDER BY id), 'none') FROM t WHERE pseudo_key_id(s) = ANY (pseudo_search('dump_idx', m)) AND pseudo_matches('dump_idx', s, m)"
searches="SELECT string_agg(m || ': ' || ($found), '; ' ORDER BY m) FROM (SELECT ' search MARKER ' || i AS m FROM generate_series(0, 4) i) x"
check "$(q dump_src -c "$searches")" "$(r restored -c "$searches")" "search index restored: the same searches find the same rows"
check "1,11,16,26" "$(r restored -c "SELECT ($found) FROM (SELECT 'search marker 1' AS m) x")" "(and they find rows: those of the live subjects)"
r restored -c "SELECT pseudo_shred('dump-1')" >/dev/null
check "0 11,26" "$(r restored -c "SELECT (SELECT count(*) FROM pseudo_keys.search_term t JOIN pseudo_keys.subject_key k USING (key_id) WHERE k.subject_digest = pseudo_keys.subject_digest('dump-1')) || ' ' || ($found) FROM (SELECT 'search marker 1' AS m) x")" \
      "a shred after the restore removes the subject's terms"
new_key_file "$work/wrong.key"
check F0000 "$(sqlstate_of "$dst" "$dport" restored "SELECT count(pseudo_decrypt(v)) FROM t" "SET pseudo_ext.root_key_file = '$work/wrong.key'")" "with a wrong root key: F0000"
# The FHE store, after the restore above (with the right root key: the store
# does not need it, but the rest of the database does).
check 1 "$(grep -c '^COPY pseudo_fhe.slot' "$work/dump.sql")" "FHE slots are in the dump"
check "postgres" "$(psql_at "$dst" "$dport" restored -c "SELECT pg_get_userbyid(m.lomowner) FROM pseudo_fhe.store s JOIN pg_largeobject_metadata m ON m.oid = s.owner_token WHERE s.name = 'dumped'")" \
      "FHE store restored with its owner token (the large object keeps its OID and owner)"
check "33" "$(fhe "$dst" "$dport" restored get dumped 77 | awk '{print $1}')" "FHE store restored: a private GET finds the pair stored before the dump"
check "stored" "$(fhe "$dst" "$dport" restored set dumped 78 34 | awk '{print $1}')" "FHE store restored: SET works (identity sequence restored too)"

bash "$(dirname "$0")/../scripts/cluster.sh" stop "$dst"

