#!/usr/bin/env bash
# A throwaway PostgreSQL cluster owned by the OS user "postgres", listening
# on a unix socket inside its own directory only (no TCP). The server is the
# one $PG_CONFIG names (default: Debian's PostgreSQL 15).
#   cluster.sh start DIR PORT   initdb if needed, start, wait until ready
#   cluster.sh stop DIR         stop (fast) if running
#   cluster.sh psql DIR PORT [psql args...]
set -euo pipefail
PGBIN=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)
cmd=${1:?usage: cluster.sh start|stop|psql DIR [PORT]}
dir=${2:?directory}
port=${3:-5499}

as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }

case "$cmd" in
start)
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
        cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = off
max_connections = 40
max_prepared_transactions = 10
CONF
    fi
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    ;;
psql)
    shift 3
    psql -h "$dir" -p "$port" -U postgres -X -v ON_ERROR_STOP=1 "$@"
    ;;
*)
    echo "unknown command $cmd" >&2; exit 2 ;;
esac
