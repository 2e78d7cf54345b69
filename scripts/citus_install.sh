#!/usr/bin/env bash
# Builds and installs Citus 13.2.2 (a test dependency only: tests/citus.sh)
# into Debian's PostgreSQL 15 from ../shared/citus, unless that version is
# installed already. The build tree is kept in $CITUS_BUILD so a second run
# (after PostgreSQL's package was reinstalled, say) only re-runs `make install`.
# Citus 13.2.2 supports PostgreSQL 15 (not 18), so this is 15 only.
set -euo pipefail
. "$(dirname "$0")/../tests/pg_versions.sh"
CITUS_VERSION=13.2.2
# The source: ../shared/citus beside the checkout (as on the development
# machines), else /work/shared/citus (a clone elsewhere on such a machine).
CITUS_SRC=${CITUS_SRC:-}
if [ -z "$CITUS_SRC" ]; then
    for dir in "$(cd "$(dirname "$0")/../.." && pwd)/shared/citus" /work/shared/citus; do
        if [ -f "$dir/citus-$CITUS_VERSION.tar.gz" ]; then CITUS_SRC=$dir; break; fi
    done
fi
CITUS_BUILD=${CITUS_BUILD:-/opt/pseudo_ext/citus-$CITUS_VERSION}

installed() {
    [ -f "$("$PG15_CONFIG" --pkglibdir)/citus.so" ] &&
        grep -qs "$CITUS_VERSION" "$CITUS_BUILD/.installed" 2>/dev/null
}
if installed; then
    exit 0
fi

missing=()
for pkg in libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "citus: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -f "$CITUS_BUILD/src/backend/distributed/citus.so" ]; then
    if [ -z "$CITUS_SRC" ]; then
        echo "citus: citus-$CITUS_VERSION.tar.gz not found in ../shared/citus or /work/shared/citus; set CITUS_SRC" >&2
        exit 1
    fi
    echo "citus: building Citus $CITUS_VERSION from $CITUS_SRC into $CITUS_BUILD (a few minutes)"
    (cd "$CITUS_SRC" && sha256sum -c --quiet SHA256SUMS)
    rm -rf "$CITUS_BUILD"
    mkdir -p "$CITUS_BUILD"
    tar -xzf "$CITUS_SRC/citus-$CITUS_VERSION.tar.gz" -C "$CITUS_BUILD" --strip-components=1
    (cd "$CITUS_BUILD" && patch -s -p1 < "$CITUS_SRC/pg15.20-have_createdb_privilege.patch" &&
        ./configure -q PG_CONFIG="$PG15_CONFIG" > configure.log &&
        make -s -j2 > make.log 2>&1)
fi
(cd "$CITUS_BUILD" && make -s install > install.log 2>&1)
echo "$CITUS_VERSION" > "$CITUS_BUILD/.installed"
echo "citus: Citus $CITUS_VERSION installed into $("$PG15_CONFIG" --pkglibdir)"
