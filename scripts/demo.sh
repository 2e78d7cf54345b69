#!/usr/bin/env bash
# Builds and installs pseudo_ext (release), starts a throwaway PostgreSQL 15
# owned by the OS user "postgres" on a unix socket, and runs a short demo:
# encrypt -> decrypt -> shred -> NULL, then context binding, key rotation and
# rewrap, root key rotation, the audit log and the configuration check; then
# the private key/value store on FHE through the pseudo-fhe client: a private
# SET and GET end to end (the database never sees the keys or values).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

DIR=/tmp/pseudo_ext_demo
PORT=5488
echo "== building and installing pseudo_ext (release build; a few minutes the first time)"
cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/tmp/pseudo_ext_demo_install.log 2>&1 \
    || { tail -40 /tmp/pseudo_ext_demo_install.log; exit 1; }
echo "== starting PostgreSQL 15 in $DIR (socket only, port $PORT)"
bash scripts/cluster.sh stop "$DIR" 2>/dev/null || true
bash scripts/cluster.sh start "$DIR" "$PORT"
bash scripts/cluster.sh psql "$DIR" "$PORT" -d postgres -q -c "DROP DATABASE IF EXISTS pseudo_demo" -c "CREATE DATABASE pseudo_demo"
echo "== demo (scripts/demo.sql)"
bash scripts/cluster.sh psql "$DIR" "$PORT" -d pseudo_demo -f scripts/demo.sql

echo "== private key/value store on FHE (pseudo-fhe client; TFHE-rs, several minutes to build the first time)"
# the same package selection as tests/lib.sh build_clients: TFHE-rs is built once
cargo build -q --release -p pseudo_fhe -p pseudo_fhe_cli -p pseudo_ext_client_tests --bins
KEY=$DIR/fhe_client.key
rm -f "$KEY"
fhe() { echo "\$ pseudo-fhe $*"; target/release/pseudo-fhe --key "$KEY" --db "host=$DIR port=$PORT user=postgres dbname=pseudo_demo" "$@"; }
fhe keygen
fhe create-store phonebook 16 16 16      # 16 slots, 16-bit keys and values
fhe set phonebook 4711 1234             # the database learns neither number
fhe set phonebook 42 99
fhe set phonebook 4711 4321             # overwrite: still one slot for 4711
fhe get phonebook 4711
fhe get phonebook 1000                  # a miss: the database cannot tell
bash scripts/cluster.sh psql "$DIR" "$PORT" -d pseudo_demo -c \
    "SELECT name, capacity, key_bits, value_bits, pg_size_pretty(server_key_bytes::bigint) AS server_key, sets FROM pseudo_fhe.stores"

cat <<TXT

The server keeps running. Connect with:
    psql -h $DIR -p $PORT -U postgres pseudo_demo
Stop it with:
    bash scripts/cluster.sh stop $DIR
TXT
