#!/usr/bin/env bash
# The pseudo-fhe client end to end against the cluster: key generation (and
# refusing to overwrite a key), store creation with the server key upload,
# private SET and GET (hit, miss, overwrite, full), errors a user sees, and
# what the database holds afterwards: ciphertexts, never the clear keys.
#   tests/fhe_cli.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
. "$(dirname "$0")/lib.sh"
build_clients
cli=target/release/pseudo-fhe
db=fhe_cli_test
key=$work/fhe_client.key
rm -f "$key"
psql -h "$dir" -p "$port" -U postgres -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql_at "$dir" "$port" "$db" -c "CREATE EXTENSION pseudo_ext"
fhe() { "$cli" --key "$key" --db "host=$dir port=$port user=postgres dbname=$db" "$@" 2>&1; }
first() { awk '{print $1}'; }

fhe keygen >/dev/null
check 600 "$(stat -c %a "$key")" "client key file is private (mode 600)"
sum=$(sha256sum "$key")
fhe keygen >/dev/null && { echo "FAIL: keygen overwrote a key"; exit 1; }
check "$sum" "$(sha256sum "$key")" "keygen refuses to overwrite an existing key"

check "store" "$(fhe create-store phones 4 8 8 | first)" "create-store uploads the server key"
check "stored" "$(fhe set phones 42 7 | first)" "SET"
check "stored" "$(fhe set phones 43 8 | first)" "second SET"
check "7" "$(fhe get phones 42 | first)" "GET hit"
check "not" "$(fhe get phones 44 | first)" "GET miss"

# Every SET rewrites every slot (key, value and occupied flag), whatever it
# stores: each slot's hashes before and after. A GET, which writes nothing,
# is the control that the comparison sees unchanged slots.
snapshot_slots() {
    psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 -c "DROP TABLE IF EXISTS slots_before" \
        -c "CREATE TABLE slots_before AS SELECT slot, md5(key) AS k, md5(value) AS v, md5(occupied) AS o FROM pseudo_fhe.slot"
}
unchanged_slots() {
    psql_at "$dir" "$port" "$db" -c "SELECT count(*) || ' slots: ' || count(*) FILTER (WHERE b.k = md5(s.key)) || ' keys, '
        || count(*) FILTER (WHERE b.v = md5(s.value)) || ' values, ' || count(*) FILTER (WHERE b.o = md5(s.occupied)) || ' flags unchanged'
        FROM pseudo_fhe.slot s JOIN slots_before b USING (slot)"
}
snapshot_slots
fhe get phones 42 >/dev/null
check "4 slots: 4 keys, 4 values, 4 flags unchanged" "$(unchanged_slots)" "control: a GET leaves every slot as it was"
check "stored" "$(fhe set phones 42 9 | first)" "SET overwrites"
check "4 slots: 0 keys, 0 values, 0 flags unchanged" "$(unchanged_slots)" "an overwriting SET rewrote every slot, not only the one it changed"
check "9" "$(fhe get phones 42 | first)" "GET after overwrite"
fhe set phones 1 1 >/dev/null; fhe set phones 2 2 >/dev/null
check "not stored: the store is full" "$(fhe set phones 3 3 | sed 's/ (.*//')" "a full store says so (decrypted by the client)"
check "8" "$(fhe get phones 43 | first)" "the full store kept its pairs"

case "$(fhe set phones 300 1)" in *"does not fit in 8 bits"*) echo "ok: a key wider than the store is refused by the client";; *) echo "FAIL: wide key"; exit 1;; esac
case "$(fhe get nosuch 1)" in *"no FHE store"*) echo "ok: unknown store";; *) echo "FAIL: unknown store"; exit 1;; esac
case "$(fhe create-store phones 4 8 8)" in *"(42710)"*) echo "ok: duplicate store name (42710)";; *) echo "FAIL: duplicate"; exit 1;; esac
rm -f "$work/other.key"
"$cli" --key "$work/other.key" keygen >/dev/null
case "$("$cli" --key "$work/other.key" --db "host=$dir port=$port user=postgres dbname=$db" get phones 42 2>&1)" in
    *"another client key"*"(22023)"*) echo "ok: a GET under another client key is refused (22023)";;
    *) echo "FAIL: other client key"; exit 1;;
esac

# What the database holds: slots are ciphertexts of the same size whatever
# they hold, and never the client's secret key. The key file holds its
# secret keys as 64-bit words of 0 or 1: 64-byte runs of them with both
# values in them are searched for in every slot and in the uploaded server key,
# and, as the control, in a table holding the key file itself.
check "1" "$(psql_at "$dir" "$port" "$db" -c "SELECT count(DISTINCT (length(key), length(value), length(occupied))) FROM pseudo_fhe.slot")" "all slots have one size"
windows=$(python3 - "$key" <<'PY'
import sys
data = open(sys.argv[1], 'rb').read()
found = []
for off in range(24, len(data) - 64):  # bincode does not align the words
    words = [int.from_bytes(data[off + 8 * i:off + 8 * i + 8], 'little') for i in range(8)]
    if all(w in (0, 1) for w in words) and 3 <= sum(words) <= 5:
        found.append(data[off:off + 64].hex())
step = max(1, len(found) // 16)
print(','.join("'\\x%s'::bytea" % w for w in found[::step][:16]))
PY
)
nwin=$(tr ',' '\n' <<<"$windows" | grep -c bytea || true)
[ "$nwin" -ge 8 ] || { echo "FAIL: only $nwin secret-key runs found in the client key file"; exit 1; }
secret_runs_in() {  # secret_runs_in TABLE COLUMN...: how many runs occur in any row
    local table=$1; shift
    local cond=""; for c in "$@"; do cond+="${cond:+ OR }position(w IN $c) > 0"; done
    psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 -f - <<SQL
SELECT count(*) FROM unnest(ARRAY[$windows]) w WHERE EXISTS (SELECT FROM $table WHERE $cond);
SQL
}
psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 -c "DROP TABLE IF EXISTS key_file_control" -c "CREATE TABLE key_file_control (b bytea)"
psql_at "$dir" "$port" "$db" -v ON_ERROR_STOP=1 -f - <<SQL
INSERT INTO key_file_control VALUES ('\\x$(od -An -v -tx1 "$key" | tr -d ' \n')'::bytea);
SQL
check "$nwin" "$(secret_runs_in key_file_control b)" "control: the search finds all $nwin secret-key runs in the key file itself"
check 0 "$(secret_runs_in pseudo_fhe.slot key value occupied)" "no slot holds any of the client's secret-key runs"
check 0 "$(secret_runs_in pseudo_fhe.store server_key)" "the uploaded server key holds none of them"
check "6" "$(psql_at "$dir" "$port" "$db" -c "SELECT sets FROM pseudo_fhe.store WHERE name = 'phones'")" "the server counts SETs (public), not what they did"
check "store" "$(fhe drop-store phones | first)" "drop-store"
check "0" "$(psql_at "$dir" "$port" "$db" -c "SELECT count(*) FROM pseudo_fhe.slot")" "slots dropped with the store"
