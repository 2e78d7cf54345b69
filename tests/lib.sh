# Helpers for the scripted tests (sourced). Each check prints "ok: ..." or
# "FAIL: ..." and exits; scripts/test.sh counts the "ok:" lines.
#   psql_at HOSTDIR PORT DB [psql args...]   quiet, unaligned, tuples only
#   check WANT GOT WHAT   WANT must not be empty: a failed query prints nothing,
#                         so "expect nothing" would pass whatever happened.
#                         Select an explicit marker instead (count(*) = 0,
#                         coalesce(x, '<NULL>')).
#   sqlstate_of HOSTDIR PORT DB STATEMENT [SETUP...]   'ok' or the SQLSTATE it failed with
psql_at() {
    local dir=$1 port=$2 db=$3; shift 3
    psql -h "$dir" -p "$port" -U postgres -X -q -At -d "$db" "$@"
}
check() {
    local want=$1 got=$2 what=$3
    if [ -z "$want" ]; then echo "FAIL: $what: empty expectation (select an explicit marker)"; exit 1; fi
    if [ "$got" != "$want" ]; then echo "FAIL: $what: got '$got', want '$want'"; exit 1; fi
    echo "ok: $what"
}
sqlstate_of() {
    local dir=$1 port=$2 db=$3 stmt=$4; shift 4
    local setup=()
    for s in "$@"; do setup+=(-c "$s"); done
    psql_at "$dir" "$port" "$db" "${setup[@]}" \
        -c "DO \$\$BEGIN PERFORM ($stmt); RAISE NOTICE 'ok'; EXCEPTION WHEN OTHERS THEN RAISE NOTICE '%', SQLSTATE; END\$\$" 2>&1 \
        | sed -n 's/^NOTICE:  //p'
}
# fresh_postgres_dir PATH: an empty directory the server's OS user owns
fresh_postgres_dir() { rm -rf "$1"; mkdir -p "$1"; chown postgres:postgres "$1"; }
# new_key_file PATH: a root key file with one random key, mode 600, owned by postgres
new_key_file() {
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"; echo >>"$1"
    chown postgres:postgres "$1"; chmod 600 "$1"
}
key_lines() { grep -cE '^[0-9a-fA-F]{64}$' "$1"; }
# The Rust clients (pseudo-fhe, the load generator) and their tests are always
# built with this one package selection: cargo unifies dependency features per
# selection, and every other selection would compile TFHE-rs again (~7 min).
CLIENT_PKGS=(-p pseudo_fhe -p pseudo_fhe_cli -p pseudo_ext_client_tests)
build_clients() { cargo build -q --release "${CLIENT_PKGS[@]}" --bins; }
