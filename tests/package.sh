#!/usr/bin/env bash
# The release artefact (scripts/package.sh) installed on a "server without
# Rust": a relocated copy of PostgreSQL 15 under WORK_DIR/server (binaries,
# libraries, share files, with any pseudo_ext files removed), the tarball
# unpacked into it as docs/packaging.md says, a fresh cluster from its initdb, and
# the extension created and used there.
#   tests/package.sh CLUSTER_DIR PORT WORK_DIR   (CLUSTER_DIR is not used)
set -euo pipefail
port=$2; work=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
tarball=$(bash "$here/../scripts/package.sh")
check 1 "$(tar -tzf "$tarball" | grep -c 'usr/lib/postgresql/15/lib/pseudo_ext.so$')" "artefact holds the library"
check 1 "$(tar -tzf "$tarball" | grep -c 'usr/share/postgresql/15/extension/pseudo_ext.control$')" "artefact holds the control file"
check 0 "$(tar -tzf "$tarball" | grep -vc '^usr/' || true)" "artefact installs only under /usr"

root=$work/server; cluster=$work/server_cluster; pport=$((port + 4))
bash "$here/../scripts/cluster.sh" stop "$cluster" 2>/dev/null || true
rm -rf "$root" "$cluster"; mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$root/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$root/usr/share/postgresql/"
rm -f "$root"/usr/lib/postgresql/15/lib/pseudo_ext.so "$root"/usr/share/postgresql/15/extension/pseudo_ext*
check 0 "$(find "$root" -name 'pseudo_ext*' | wc -l)" "the server starts without pseudo_ext"
tar -xzf "$tarball" -C "$root"
bin=$root/usr/lib/postgresql/15/bin
mkdir -p "$cluster"; chown -R postgres:postgres "$cluster"
runuser -u postgres -- "$bin/initdb" -D "$cluster/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$cluster/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$cluster'
port = $pport
CONF
runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 start >/dev/null
q() { psql -h "$cluster" -p "$pport" -U postgres -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
check "$root/usr/share/postgresql/15" "$(q -c "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'")" "the relocated server uses its own share directory"
q -c "CREATE EXTENSION pseudo_ext"
check "$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../Cargo.toml" | head -1)" "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'pseudo_ext'")" "CREATE EXTENSION from the artefact installs the packaged version"
check "packaged" "$(q -c "SELECT pseudo_decrypt(pseudo_encrypt('pkg-subject', 'packaged'))")" "encrypt and decrypt on the artefact's server"
check 1 "$(q -c "SELECT count(*) FROM pg_proc WHERE proname = 'pseudo_fhe_get'")" "the FHE store's functions are installed"
runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -m fast -w stop >/dev/null
rm -rf "$root"
