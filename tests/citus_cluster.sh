# A Citus cluster of throwaway PostgreSQL 15 clusters on unix sockets
# (sourced by tests/citus.sh and bench/citus.sh): a coordinator c and
# workers w1, w2 (w3 when a test adds it), ports BASE .. BASE+3, each with
# its own copy of one root key file (as on separate machines) and a database
# citus_test with Citus. Needs: work (directory), base (port), here (tests/).
PGBIN=$(/usr/lib/postgresql/15/bin/pg_config --bindir)
names=(c w1 w2 w3)
dir_of() { echo "$work/$1"; }
port_of() { case $1 in c) echo "$base" ;; w1) echo $((base + 1)) ;; w2) echo $((base + 2)) ;; w3) echo $((base + 3)) ;; esac; }
at() { local n=$1; shift; psql_at "$(dir_of "$n")" "$(port_of "$n")" citus_test -v ON_ERROR_STOP=1 "$@"; }
c() { at c "$@"; }
state_at() { sqlstate_of "$(dir_of "$1")" "$(port_of "$1")" citus_test "${@:2}"; }
stop_all() { for n in "${names[@]}"; do bash "$here/../scripts/cluster.sh" stop "$(dir_of "$n")" 2>/dev/null || true; done; }
# Restarts node N with its root key file setting replaced by FILE.
restart_with_key() {
    local d; d=$(dir_of "$1")
    sed -i "s|^pseudo_ext.root_key_file = .*|pseudo_ext.root_key_file = '$2'|" "$d/data/postgresql.conf"
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 restart >/dev/null
}
# Starts node N: a fresh cluster with Citus preloaded and its own copy of the
# root key file (as on separate machines), database citus_test with Citus.
#   start_node N [KEY_FILE]   the root key file to copy (default keys/root.key)
start_node() {
    local n=$1 d; d=$(dir_of "$1")
    rm -rf "$d"
    install -o postgres -g postgres -m 600 "${2:-$work/keys/root.key}" "$work/keys/$n.key"
    bash "$here/../scripts/cluster.sh" start "$d" "$(port_of "$n")"
    bash "$here/../scripts/cluster.sh" stop "$d"
    cat >>"$d/data/postgresql.conf" <<CONF
shared_preload_libraries = 'citus'
max_connections = 100
max_prepared_transactions = 200
citus.shard_count = 8
pseudo_ext.root_key_file = '$work/keys/$n.key'
# How a node reaches itself (replicating reference tables): its own socket.
citus.local_hostname = '$d'
CONF
    bash "$here/../scripts/cluster.sh" start "$d" "$(port_of "$n")"
    psql_at "$d" "$(port_of "$n")" postgres -c "CREATE DATABASE citus_test" -c "ALTER DATABASE citus_test SET citus.enable_unsafe_triggers = on"
    at "$n" -c "CREATE EXTENSION citus"
}

# Starts the coordinator and two workers from nothing, the workers added to
# the coordinator's metadata; the coordinator too (it needs its own copy of
# the key tables). Each node gets a copy of KEY_FILE, or of a new root key
# file keys/root.key when none is given.
#   start_citus_cluster [KEY_FILE]
start_citus_cluster() {
    stop_all
    if [ -z "${1:-}" ]; then
        mkdir -p "$work"; rm -rf "$work/keys"; mkdir -p "$work/keys"; chown postgres:postgres "$work/keys"
        new_key_file "$work/keys/root.key"
    fi
    for n in c w1 w2; do start_node "$n" "${1:-$work/keys/root.key}"; done
    c -c "SELECT citus_set_coordinator_host('$(dir_of c)', $(port_of c))" \
      -c "SELECT citus_add_node('$(dir_of w1)', $(port_of w1))" -c "SELECT citus_add_node('$(dir_of w2)', $(port_of w2))" >/dev/null
}
