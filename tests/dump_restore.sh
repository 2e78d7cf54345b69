#!/usr/bin/env bash
# pg_dump of a database using pseudo_ext, restored into a fresh database of the
# same cluster (same root key file): every value decrypts, shredded stays
# shredded, no key is duplicated, and the dump holds no plaintext.
#   tests/dump_restore.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
q() { local db=$1; shift; psql -h "$dir" -p "$port" -U postgres -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
check() { local want=$1 got=$2 what=$3; if [ "$got" != "$want" ]; then echo "FAIL: $what: got '$got', want '$want'"; exit 1; fi; echo "ok: $what"; }

q postgres -c "DROP DATABASE IF EXISTS dump_src" -c "DROP DATABASE IF EXISTS dump_dst" \
           -c "CREATE DATABASE dump_src" -c "CREATE DATABASE dump_dst"
q dump_src -c "CREATE EXTENSION pseudo_ext" \
           -c "CREATE TABLE t (id int PRIMARY KEY, v pseudo_text)" \
           -c "INSERT INTO t SELECT i, pseudo_encrypt('dump-' || (i % 3), 'dump marker ' || i) FROM generate_series(1, 30) i" \
           -c "SELECT pseudo_shred('dump-0')" >/dev/null
pg_dump -h "$dir" -p "$port" -U postgres dump_src >"$work/dump.sql"
check 0 "$(grep -c 'dump marker' "$work/dump.sql" || true)" "no plaintext in the dump"
check 1 "$(grep -c '^COPY pseudo_keys.subject_key' "$work/dump.sql")" "wrapped keys are in the dump"
q dump_dst -f "$work/dump.sql" >/dev/null 2>"$work/restore.err" || { cat "$work/restore.err"; exit 1; }
check 0 "$(grep -c ERROR "$work/restore.err" || true)" "restore without errors"
check 20 "$(q dump_dst -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) = 'dump marker ' || id")" "restored values decrypt"
check 10 "$(q dump_dst -c "SELECT count(*) FROM t WHERE pseudo_decrypt(v) IS NULL")" "shredded values stay unreadable"
check "$(q dump_src -c "SELECT count(*) FROM pseudo_keys.subject_key")" \
      "$(q dump_dst -c "SELECT count(*) FROM pseudo_keys.subject_key")" "no key duplicated or lost"
check 55000 "$(q dump_dst -c "DO \$\$BEGIN PERFORM pseudo_encrypt('dump-0', 'x'); RAISE NOTICE 'ok'; EXCEPTION WHEN OTHERS THEN RAISE EXCEPTION '%', SQLSTATE; END\$\$" 2>&1 | grep -oE '^ERROR:  [0-9A-Z]{5}$' | awk '{print $2}' || true)" "shredded subject refused after restore"
check t "$(q dump_dst -c "SELECT pseudo_decrypt(pseudo_encrypt('dump-1', 'new')) = 'new'")" "restored database encrypts under restored keys"
