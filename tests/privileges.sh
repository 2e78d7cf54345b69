#!/usr/bin/env bash
# The privilege matrix: every function and every table, view and sequence of
# the extension (tests/privileges/cells.txt, checked to be complete against
# pg_depend), called or read as superuser, extension owner, pseudo_admin,
# pseudo_writer, pseudo_reader, pseudo_searcher, pseudo_fhe_user (owning the FHE store the
# cells use) and a plain login role. Each call runs in a
# transaction that is rolled back; a procedure (which commits) gets a fresh
# copy of the sample table for each role instead. The sample's subject key is
# rotated and committed first, so its values really need rewrapping. The
# resulting table must equal the one in docs/security.md between the privilege-matrix
# markers.
#   tests/privileges.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
db=priv_matrix
keys=$work/priv_keys
fresh_postgres_dir "$keys"
as() { local role=$1; shift; psql -h "$dir" -p "$port" -U "$role" -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

psql_at "$dir" "$port" postgres -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $db" \
    -c "DROP ROLE IF EXISTS pm_owner, pm_admin, pm_writer, pm_reader, pm_searcher, pm_fhe, pm_plain" \
    -c "CREATE ROLE pm_owner SUPERUSER LOGIN" \
    -c "CREATE DATABASE $db OWNER pm_owner" \
    -c "ALTER DATABASE $db SET pseudo_ext.root_key_file = '$keys/root.key'"
as pm_owner -c "CREATE EXTENSION pseudo_ext" \
    -c "SELECT pseudo_create_search_index('pm_idx')" \
    -c "CREATE TABLE pm_sample (v pseudo_text, c pseudo_text)" \
    -c "INSERT INTO pm_sample VALUES (pseudo_encrypt('pm-a', 'x'), pseudo_encrypt('pm-a', 'y', 'ctx'))" \
    -c "GRANT SELECT, UPDATE ON pm_sample TO PUBLIC" \
    -c "SELECT pseudo_rotate_root_key(), pseudo_retire_root_key(1)" \
    -c "SELECT pseudo_rotate('pm-a')" >/dev/null
check "1 of 1" "$(as pm_owner -c "SELECT count(*) FILTER (WHERE pseudo_needs_rewrap(v) AND pseudo_needs_rewrap(c)) || ' of ' || count(*) FROM pm_sample")" \
      "setup: the sample's values need rewrapping (a committed subject key rotation)"
psql_at "$dir" "$port" postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE pm_admin LOGIN IN ROLE pseudo_admin" \
    -c "CREATE ROLE pm_writer LOGIN IN ROLE pseudo_writer" \
    -c "CREATE ROLE pm_reader LOGIN IN ROLE pseudo_reader" \
    -c "CREATE ROLE pm_searcher LOGIN IN ROLE pseudo_searcher" \
    -c "CREATE ROLE pm_fhe LOGIN IN ROLE pseudo_fhe_user" \
    -c "CREATE ROLE pm_plain LOGIN"

# An FHE store owned by pm_fhe (1 slot of 2-bit keys and values: cheap), and
# a key and a value for it, made by the client.
build_clients
cli=$here/../target/release/pseudo-fhe
rm -f "$work/pm_fhe.key"
"$cli" --key "$work/pm_fhe.key" keygen >/dev/null
"$cli" --key "$work/pm_fhe.key" --db "host=$dir port=$port user=pm_fhe dbname=$db" create-store pm_store 1 2 2 >/dev/null
k=$("$cli" --key "$work/pm_fhe.key" encrypt 2 1)
set_k=$("$cli" --key "$work/pm_fhe.key" encrypt-set-key 2 1)
set_v=$("$cli" --key "$work/pm_fhe.key" encrypt-set-value 2 3)
# On standard input: the three ciphertexts in hex are longer than one
# command-line argument may be (128 KiB).
as postgres <<SQL
CREATE TABLE pm_fhe_input AS SELECT server_key AS sk, '$k'::bytea AS k, '$set_k'::bytea AS set_k, '$set_v'::bytea AS set_v
    FROM pseudo_fhe.store WHERE name = 'pm_store';
GRANT SELECT ON pm_fhe_input TO PUBLIC;
SQL

# Completeness: the cell list names every member object.
grep -v '^#' "$here/privileges/cells.txt" | grep -E '^(function|table|view|sequence) ' \
    | sed -E 's/^[a-z]+ //; s/ \|.*$//' | sort >"$work/priv_listed"
as postgres >"$work/priv_members" <<'SQL'
SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pseudo_ext')
UNION ALL
SELECT c.oid::regclass::text FROM pg_class c
 WHERE c.relnamespace IN ('pseudo_keys'::regnamespace, 'pseudo_fhe'::regnamespace) AND c.relkind IN ('r', 'v', 'S')
ORDER BY 1
SQL
sort -o "$work/priv_members" "$work/priv_members"
comm -3 "$work/priv_listed" "$work/priv_members" >"$work/priv_unlisted"
check "0 differences, $(wc -l <"$work/priv_listed") objects" "$(wc -l <"$work/priv_unlisted") differences, $(wc -l <"$work/priv_members") objects" \
      "cells.txt lists every function, table, view and sequence of the extension"

roles=(postgres pm_owner pm_admin pm_writer pm_reader pm_searcher pm_fhe pm_plain)
mapfile -t rows < <(grep -v '^#' "$here/privileges/cells.txt" | grep ' | ')
declare -A cell
for role in "${roles[@]}"; do
    script=$work/priv_$role.sql
    { echo '\set VERBOSITY sqlstate'
      for i in "${!rows[@]}"; do
          stmt=${rows[$i]#* | }
          echo "\\echo CELL $i"
          case $stmt in
              priv:*) echo "SELECT CASE WHEN has_function_privilege('$role', '${stmt#priv:}', 'EXECUTE') THEN 'ok' ELSE 'ERROR:  42501' END;" ;;
              call:*) echo "DROP TABLE IF EXISTS pm_call_$role;"
                      echo "CREATE TABLE pm_call_$role AS SELECT * FROM pm_sample;"
                      echo "GRANT SELECT, UPDATE ON pm_call_$role TO PUBLIC;"
                      echo "SET ROLE $role;"; stmt=${stmt#call:}; echo "${stmt//pm_sample/pm_call_$role};"; echo "RESET ROLE;" ;;
              *) echo "BEGIN;"; echo "SET LOCAL ROLE $role;"; echo "$stmt;"; echo "ROLLBACK;" ;;
          esac
      done; } >"$script"
    current=""
    while IFS= read -r line; do
        case $line in
            CELL\ *) current=${line#CELL }; cell[$role,$current]=ok ;;
            *ERROR:\ \ [0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]*)
                code=$(sed -E 's/.*ERROR:  ([0-9A-Z]{5}).*/\1/' <<<"$line")
                [ "${cell[$role,$current]}" = ok ] && cell[$role,$current]=$code ;;
        esac
    done < <(psql -h "$dir" -p "$port" -U postgres -X -At -d "$db" -f "$script" 2>&1)
done

{ echo "| object | superuser | owner | pseudo_admin | pseudo_writer | pseudo_reader | pseudo_searcher | pseudo_fhe_user | plain login |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for i in "${!rows[@]}"; do
      line="| \`${rows[$i]%% | *}\` |"
      for role in "${roles[@]}"; do line+=" ${cell[$role,$i]} |"; done
      echo "$line"
  done; } >"$work/privilege_matrix.md"
echo "matrix: ${#rows[@]} objects x ${#roles[@]} roles = $(( ${#rows[@]} * ${#roles[@]} )) cells"
sed -n '/<!-- privilege-matrix:start -->/,/<!-- privilege-matrix:end -->/p' "$here/../docs/security.md" | sed '1d;$d' >"$work/privilege_matrix.readme"
if ! diff -u "$work/privilege_matrix.readme" "$work/privilege_matrix.md"; then
    echo "FAIL: the privilege matrix differs from docs/security.md (generated table: $work/privilege_matrix.md)"; exit 1
fi
echo "ok: privilege matrix ($(( ${#rows[@]} * ${#roles[@]} )) cells) equals the table in docs/security.md"
# The cells did what they say: the superuser's procedure call rewrapped its
# copy; every rolled-back cell left the sample as it was.
check "0 1" "$(as postgres -c "SELECT (SELECT count(*) FROM pm_call_postgres WHERE pseudo_needs_rewrap(v)) || ' ' || (SELECT count(*) FROM pm_sample WHERE pseudo_needs_rewrap(v))")" \
      "the superuser's pseudo_rewrap_column rewrapped its copy; the sample still needs rewrapping"
psql_at "$dir" "$port" postgres -c "DROP DATABASE $db" -c "DROP ROLE pm_owner, pm_admin, pm_writer, pm_reader, pm_searcher, pm_fhe, pm_plain"
