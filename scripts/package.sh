#!/usr/bin/env bash
# Builds the release artefact: a tarball of the files a PostgreSQL 15 server
# needs (the library, the control file, the install and upgrade scripts),
# laid out from / like Debian's PostgreSQL, for servers without Rust:
#   sudo tar -xzf dist/pseudo_ext-<version>-pg15-linux-x86_64.tar.gz -C /
# Prints the tarball's path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cargo pgrx package --pg-config /usr/lib/postgresql/15/bin/pg_config >/tmp/pseudo_ext_package.log 2>&1 \
    || { tail -30 /tmp/pseudo_ext_package.log; exit 1; }
staged=target/release/pseudo_ext-pg15
mkdir -p dist
out=dist/pseudo_ext-$version-pg15-linux-$(uname -m).tar.gz
tar -czf "$out" --owner=0 --group=0 -C "$staged" usr
echo "$out"
