#!/usr/bin/env bash
# Builds the release artefact for one PostgreSQL major version: a tarball of
# the files a server needs (the library, the control file, the install and
# upgrade scripts), laid out from / like Debian's and the PGDG packages'
# PostgreSQL (/usr/lib/postgresql/N/lib, /usr/share/postgresql/N/extension),
# for servers without Rust:
#   sudo tar -xzf dist/pseudo_ext-<version>-pg<N>-linux-x86_64.tar.gz -C /
#   scripts/package.sh [PG_CONFIG]   the server to build for (default: Debian's 15)
# Prints the tarball's path.
set -euo pipefail
cd "$(dirname "$0")/.."
pg_config=${1:-${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}}
bash scripts/setup.sh >/dev/null
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
major=$("$pg_config" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
log=/tmp/pseudo_ext_package_pg$major.log
cargo pgrx package --pg-config "$pg_config" >"$log" 2>&1 || { tail -30 "$log"; exit 1; }
# cargo pgrx stages the files at the paths this pg_config names; the tarball
# puts them where a Debian/PGDG server of that version looks for them.
staged=target/release/pseudo_ext-pg$major
layout=target/release/pseudo_ext-pg$major-debian
rm -rf "$layout"
mkdir -p "$layout/usr/lib/postgresql/$major/lib" "$layout/usr/share/postgresql/$major/extension"
cp "$staged$("$pg_config" --pkglibdir)/pseudo_ext.so" "$layout/usr/lib/postgresql/$major/lib/"
cp "$staged$("$pg_config" --sharedir)"/extension/pseudo_ext* "$layout/usr/share/postgresql/$major/extension/"
mkdir -p dist
out=dist/pseudo_ext-$version-pg$major-linux-$(uname -m).tar.gz
tar -czf "$out" --owner=0 --group=0 -C "$layout" usr
echo "$out"
