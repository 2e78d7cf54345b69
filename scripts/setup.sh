#!/usr/bin/env bash
# Installs what building and testing pseudo_ext needs, skipping what is there:
# Debian's PostgreSQL 15 server and headers, clang (for pgrx's bindgen),
# cargo-pgrx 0.18.1, and `cargo pgrx init` against Debian's pg_config.
# Run as root on Debian 12 with a Rust toolchain.
set -euo pipefail
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PGRX_VERSION=0.18.1

missing=()
for pkg in postgresql-15 postgresql-server-dev-15 libclang-dev clang sudo; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

if ! cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION"; then
    echo "setup: installing cargo-pgrx $PGRX_VERSION (about 9 minutes)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

if ! grep -qs "pg15 = \"$PG_CONFIG\"" "$HOME/.pgrx/config.toml"; then
    echo "setup: cargo pgrx init --pg15=$PG_CONFIG"
    cargo pgrx init --pg15="$PG_CONFIG"
fi
