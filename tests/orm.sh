#!/usr/bin/env bash
# The SQLAlchemy 2.x + psycopg 3 example (examples/sqlalchemy) against the
# cluster, in a virtualenv this script creates (pinned requirements).
#   tests/orm.sh CLUSTER_DIR PORT WORK_DIR
set -euo pipefail
dir=$1; port=$2; work=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
venv=$work/venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/../examples/sqlalchemy/requirements.txt"
psql_at "$dir" "$port" postgres -c "DROP DATABASE IF EXISTS orm_test" -c "CREATE DATABASE orm_test"
cd "$here/../examples/sqlalchemy"
"$venv/bin/python" test_orm.py "postgresql+psycopg://postgres@/orm_test?host=$dir&port=$port"
