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
check "stored" "$(fhe set phones 42 9 | first)" "SET overwrites"
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
# they hold, and every slot was rewritten by each SET (none is trivial).
check "1" "$(psql_at "$dir" "$port" "$db" -c "SELECT count(DISTINCT (length(key), length(value), length(occupied))) FROM pseudo_fhe.slot")" "all slots have one size"
check "6" "$(psql_at "$dir" "$port" "$db" -c "SELECT sets FROM pseudo_fhe.store WHERE name = 'phones'")" "the server counts SETs (public), not what they did"
check "store" "$(fhe drop-store phones | first)" "drop-store"
check "0" "$(psql_at "$dir" "$port" "$db" -c "SELECT count(*) FROM pseudo_fhe.slot")" "slots dropped with the store"
